"""A budget asking running Ralph loops to stop, through the loops' own stop mechanism.

The request is the event `POST /api/ralph/{loop}/stop` stores (router_ext/web/ralph_control.py:
source_app "ralph", hook_event_type "stop_requested", session_id the loop id), so the loop reads
it between tasks exactly as it reads a person's, and the dashboard shows who asked and why.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sqlalchemy import Connection, select

from router_ext.alerts.rules import Rule
from router_ext.ingest.normalize import build_row
from router_ext.read.sessions import active_loops
from router_ext.sessions.state import SESSIONS

if TYPE_CHECKING:
    from router_ext.runtime import RouterExt

SOURCE = "ralph"  # as router_ext.web.ralph_control (checked by a test)
STOP = "stop_requested"
REQUESTED_BY = "router-ext alerts"


def loops_in_scope(conn: Connection, rule: Rule, subject: str, since_ms: int) -> list[str]:
    """Running Ralph loops a budget's subject covers (every loop for scope `all`)."""
    running = [str(loop["loop"]) for loop in active_loops(conn, since_ms)]
    if rule.scope == "all":
        return running
    if rule.scope == "loop":
        return [loop for loop in running if loop == subject]
    if rule.scope == "project":
        query = select(SESSIONS.c.loop_id).where(
            SESSIONS.c.source == "ralph", SESSIONS.c.project == subject,
            SESSIONS.c.loop_id.in_(running)).distinct()
        return sorted(str(loop) for (loop,) in conn.execute(query))
    return []  # per-user budgets do not know which loops a person runs


async def request_stops(core: RouterExt, rule: Rule, subject: str, why: str) -> list[str]:
    """Store a stop request for each running loop the rule covers; returns their ids."""
    since = int((time.time() - core.settings.session_idle_seconds) * 1000)

    def find() -> list[str]:
        with core.reader.engine.connect() as conn:
            return loops_in_scope(conn, rule, subject, since)

    loops = await core.reader.call(find)
    if loops:
        rows = [build_row(source_app=SOURCE, session_id=loop, hook_event_type=STOP,
                          payload={"loop_id": loop, "reason": f"alert {rule.name}: {why}",
                                   "requested_by": REQUESTED_BY}) for loop in loops]
        await core.ingest(rows, "internal")
    return loops
