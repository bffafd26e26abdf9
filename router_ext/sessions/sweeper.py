"""Marks running sessions that stopped reporting as abandoned, through the writer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, bindparam, select, update

from router_ext.errors import RouterExtError
from router_ext.sessions.state import SESSIONS

if TYPE_CHECKING:
    from router_ext.runtime import RouterExt

log = logging.getLogger(__name__)
Abandoned = list[dict[str, Any]]
MAX_PER_SWEEP = 5_000


class Sweeper:
    """Every `interval` seconds, abandons sessions idle longer than session_idle_seconds."""

    def __init__(self, core: RouterExt, interval: float | None = None) -> None:
        self.core = core
        self.idle_ms = int(core.settings.session_idle_seconds * 1000)
        # Often enough that a session is abandoned within ~25% of the idle time.
        self.interval = interval or min(60.0, max(0.5, core.settings.session_idle_seconds / 4))
        self.on_abandoned: list[Callable[[Abandoned], None]] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Begin sweeping in the background."""
        self._task = asyncio.create_task(self._loop(), name="router-ext-session-sweeper")

    async def stop(self) -> None:
        """Stop sweeping."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sweep()
            except RouterExtError:  # shutting down or the database is away: try next time
                log.warning("session sweep skipped", exc_info=True)
            except Exception:
                log.exception("session sweep failed")

    async def sweep(self, now_ms: int | None = None) -> Abandoned:
        """Abandon idle sessions now; returns what was abandoned."""
        cutoff = (now_ms if now_ms is not None else int(time.time() * 1000)) - self.idle_ms
        rows: Abandoned = await self.core.writer.run(lambda conn: (_abandon(conn, cutoff), []))
        if rows:
            for callback in self.on_abandoned:
                try:
                    callback(rows)
                except Exception:
                    log.exception("abandoned-session callback failed")
        return rows


def _abandon(conn: Connection, cutoff_ms: int) -> Abandoned:
    idle = and_(SESSIONS.c.status == "running", SESSIONS.c.last_event_at < cutoff_ms)
    query = select(SESSIONS.c.id, SESSIONS.c.source, SESSIONS.c.label, SESSIONS.c.started_at,
                   SESSIONS.c.last_event_at).where(idle).limit(MAX_PER_SWEEP)
    found = [dict(r._mapping) for r in conn.execute(query)]
    if not found:
        return []
    params = [{"b_id": r["id"], "completed_at": r["last_event_at"],
               "duration_ms": max(0, r["last_event_at"] - r["started_at"])} for r in found]
    statement = (update(SESSIONS)
                 .where(and_(SESSIONS.c.id == bindparam("b_id"), SESSIONS.c.status == "running"))
                 .values(status="abandoned", success=False, error="abandoned: no events for "
                         "longer than the idle time"))
    conn.execute(statement, params)
    for r in found:
        r["duration_s"] = (r["last_event_at"] - r["started_at"]) / 1000
    return found
