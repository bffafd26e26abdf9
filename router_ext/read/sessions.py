"""Read-side questions about sessions: what is active, what finished, what it cost.

Plain functions over a Connection so the HTTP routes, the snapshot and the scrape-time gauges
share them. Interactive sessions run by a Ralph task or job (`loop_id` set) are left out of
sums: their usage is already in the task's row.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from sqlalchemy import Connection, and_, case, func, not_, or_, select

from router_ext.sessions.state import SESSIONS
from router_ext.store.models import Event

EVENTS = Event.__table__  # type: ignore[attr-defined]
LOOP_EVENTS = ("session_started", "task_started", "task_completed", "task_failed",
               "session_completed")
COUNTED = not_(and_(SESSIONS.c.source == "interactive", SESSIONS.c.loop_id.is_not(None)))
TASK_SOURCES = ("ralph", "api")
# Who ran a session: the email its OpenTelemetry export named, else the account id.
USER = func.coalesce(SESSIONS.c.user_email, SESSIONS.c.user_account_uuid, "unknown")
TOKENS = (SESSIONS.c.input_tokens + SESSIONS.c.output_tokens + SESSIONS.c.cache_read_tokens
          + SESSIONS.c.cache_creation_tokens)


def active_sessions(conn: Connection) -> dict[str, int]:
    """Running sessions by source."""
    query = (select(SESSIONS.c.source, func.count()).where(SESSIONS.c.status == "running")
             .group_by(SESSIONS.c.source))
    return {str(source): int(n) for source, n in conn.execute(query)}


def active_loops(conn: Connection, since_ms: int) -> list[dict[str, Any]]:
    """Ralph loops that reported since `since_ms` and have not said session_completed."""
    query = (select(EVENTS.c.hook_event_type, EVENTS.c.payload, EVENTS.c.timestamp)
             .where(EVENTS.c.source_app == "ralph", EVENTS.c.timestamp >= since_ms,
                    EVENTS.c.hook_event_type.in_(LOOP_EVENTS))
             .order_by(EVENTS.c.id).limit(20_000))
    loops: dict[str, dict[str, Any]] = {}
    for name, payload, ts in conn.execute(query):
        try:
            body = json.loads(payload)
        except ValueError:
            continue
        loop = str(body.get("session_id") or body.get("label") or "ralph")
        state = loops.setdefault(loop, {"loop": loop, "label": body.get("label")})
        state.update(last_event=name, last_event_at=ts,
                     completed_tasks=body.get("completed_tasks", state.get("completed_tasks")),
                     failed_tasks=body.get("failed_tasks", state.get("failed_tasks")))
    return [s for s in loops.values() if s["last_event"] != "session_completed"]


def _outcomes(conn: Connection, since_ms: int, *, group: Any = None) -> list[Any]:
    finished = SESSIONS.c.completed_at >= since_ms
    columns = [
        func.sum(case((and_(finished, SESSIONS.c.status == "completed"), 1), else_=0)),
        func.sum(case((and_(finished, SESSIONS.c.status.in_(("failed", "cancelled",
                                                               "abandoned"))), 1), else_=0)),
        func.sum(case((SESSIONS.c.status == "running", 1), else_=0)),
        func.coalesce(func.sum(SESSIONS.c.cost_usd), 0.0),
        func.count(),
        func.coalesce(func.sum(TOKENS), 0),
        func.coalesce(func.sum(SESSIONS.c.tool_failures_count), 0),
    ]
    active = or_(SESSIONS.c.last_event_at >= since_ms, SESSIONS.c.status == "running")
    query = select(*([group] if group is not None else []), *columns).where(COUNTED, active)
    if group is not None:
        query = query.group_by(group).order_by(func.count().desc()).limit(50)
    return list(conn.execute(query))


def _row(values: Any) -> dict[str, Any]:
    completed, failed, running, cost, count = (int(values[0] or 0), int(values[1] or 0),
                                               int(values[2] or 0), float(values[3] or 0),
                                               int(values[4] or 0))
    done = completed + failed
    return {"completed": completed, "failed": failed, "running": running, "sessions": count,
            "success_rate": round(completed / done, 4) if done else None,
            "cost_usd": round(cost, 6), "tokens": int(values[5] or 0),
            "tool_failures": int(values[6] or 0)}


def breakdown(conn: Connection, since_ms: int, column: str) -> list[dict[str, Any]]:
    """Outcomes, cost, tokens and tool failures grouped by source, project, label or user."""
    rows = _outcomes(conn, since_ms, group=USER if column == "user" else SESSIONS.c[column])
    return [{column: r[0], **_row(r[1:])} for r in rows]


def totals(conn: Connection, since_ms: int) -> dict[str, Any]:
    """Outcomes and cost of everything active since `since_ms`."""
    return _row(_outcomes(conn, since_ms)[0])


def tasks(conn: Connection, since_ms: int) -> dict[str, Any]:
    """Ralph tasks and harness jobs: started, completed and failed since `since_ms`."""
    query = (select(SESSIONS.c.status, func.count())
             .where(SESSIONS.c.source.in_(TASK_SOURCES),
                    or_(SESSIONS.c.started_at >= since_ms, SESSIONS.c.completed_at >= since_ms,
                        SESSIONS.c.status == "running"))
             .group_by(SESSIONS.c.status))
    counts = Counter({str(s): int(n) for s, n in conn.execute(query)})
    done = counts["completed"] + counts["failed"] + counts["cancelled"] + counts["abandoned"]
    return {"active": counts["running"], "completed": counts["completed"],
            "failed": done - counts["completed"],
            "success_rate": round(counts["completed"] / done, 4) if done else None}


def cost_since(conn: Connection, since_ms: int) -> float:
    """Cost of sessions active since `since_ms` (a session counts wholly where it was active)."""
    query = select(func.coalesce(func.sum(SESSIONS.c.cost_usd), 0.0)).where(
        COUNTED, SESSIONS.c.last_event_at >= since_ms)
    return round(float(conn.execute(query).scalar() or 0.0), 6)


def tokens_since(conn: Connection, since_ms: int) -> dict[str, int]:
    """Token totals by kind for sessions active since `since_ms`."""
    names = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens")
    query = select(*[func.coalesce(func.sum(SESSIONS.c[n]), 0) for n in names]).where(
        COUNTED, SESSIONS.c.last_event_at >= since_ms)
    values = conn.execute(query).one()
    return {n: int(v or 0) for n, v in zip(names, values, strict=True)}


def recent_sessions(conn: Connection, limit: int = 20) -> list[dict[str, Any]]:
    """The newest sessions (linked children left out)."""
    query = select(SESSIONS).where(COUNTED).order_by(SESSIONS.c.started_at.desc()).limit(limit)
    return [session_json(dict(r._mapping)) for r in conn.execute(query)]


def hitl_pending(conn: Connection) -> int:
    """Human-in-the-loop requests waiting for an answer."""
    query = select(func.count()).select_from(EVENTS).where(EVENTS.c.hitl_status == "pending")
    return int(conn.execute(query).scalar() or 0)


def session_json(row: dict[str, Any]) -> dict[str, Any]:
    """A harness_sessions row for JSON: per-model usage decoded, cost a number."""
    out = dict(row)
    usage = out.pop("model_usage", None)
    try:
        out["model_usage"] = json.loads(usage) if usage else {}
    except ValueError:
        out["model_usage"] = {}
    out["cost_usd"] = float(row.get("cost_usd") or 0.0)
    return out
