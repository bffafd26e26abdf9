"""Reads behind the PAI observability API: sessions of the newest events, tools, agents."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select

from router_ext.read.reader import Reader
from router_ext.records import to_api
from router_ext.store.models import Event
from router_ext.stream.bus import EventFilter

EVENTS = Event.__table__  # type: ignore[attr-defined]

# Sessions are listed from this many newest events, so the list stays fast at any table size.
SESSION_WINDOW = 20_000
FAILURE_EVENTS = ("PostToolUseFailure",)
DONE_EVENTS = ("PostToolUse", "PostToolUseFailure")


def _session_summary(row: Any) -> dict[str, Any]:
    return {"session_id": row.session_id, "source_app": row.source_app,
            "event_count": int(row.n), "first_timestamp": row.first_ts,
            "last_timestamp": row.last_ts, "last_event_id": row.last_id}


def _summary_query() -> Any:
    return select(EVENTS.c.session_id, func.max(EVENTS.c.source_app).label("source_app"),
                  func.count().label("n"), func.min(EVENTS.c.timestamp).label("first_ts"),
                  func.max(EVENTS.c.timestamp).label("last_ts"),
                  func.max(EVENTS.c.id).label("last_id"))


class PaiQueries:
    """The read side of the PAI API, run on the reader engine."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    def sessions(self, limit: int) -> list[dict[str, Any]]:
        """The sessions of the newest events, most recently active first."""
        floor = select(func.coalesce(func.max(EVENTS.c.id), 0) - SESSION_WINDOW).scalar_subquery()
        query = (_summary_query().where(EVENTS.c.id > floor).group_by(EVENTS.c.session_id)
                 .order_by(func.max(EVENTS.c.id).desc()).limit(limit))
        with self.reader.engine.connect() as conn:
            return [_session_summary(r) for r in conn.execute(query)]

    def session(self, session_id: str, limit: int) -> dict[str, Any] | None:
        """One session's summary and its newest `limit` events, oldest first."""
        query = _summary_query().where(EVENTS.c.session_id == session_id).group_by(
            EVENTS.c.session_id)
        with self.reader.engine.connect() as conn:
            found = conn.execute(query).first()
        if found is None:
            return None
        rows = self.reader.recent_sync(EventFilter.of(session_ids=[session_id]), limit)
        return {**_session_summary(found), "events": [to_api(r) for r in rows]}

    def tools(self, since_ms: int) -> list[dict[str, Any]]:
        """Per tool: events, completed calls and failures since a time."""
        done = func.sum(case((EVENTS.c.hook_event_type.in_(DONE_EVENTS), 1), else_=0))
        failed = func.sum(case((EVENTS.c.hook_event_type.in_(FAILURE_EVENTS), 1), else_=0))
        query = (select(EVENTS.c.tool_name, func.count().label("n"), done.label("done"),
                        failed.label("failed"))
                 .where(EVENTS.c.timestamp >= since_ms, EVENTS.c.tool_name.is_not(None))
                 .group_by(EVENTS.c.tool_name).order_by(func.count().desc()))
        with self.reader.engine.connect() as conn:
            return [{"tool_name": r.tool_name, "events": int(r.n), "calls": int(r.done or 0),
                     "failures": int(r.failed or 0)} for r in conn.execute(query)]

    def agents(self, since_ms: int) -> list[dict[str, Any]]:
        """Per source app: events, sessions, subagents and the newest time, since a time."""
        query = (select(EVENTS.c.source_app, func.count().label("n"),
                        func.count(func.distinct(EVENTS.c.session_id)).label("sessions"),
                        func.count(func.distinct(EVENTS.c.agent_id)).label("agents"),
                        func.max(EVENTS.c.timestamp).label("last_ts"))
                 .where(EVENTS.c.timestamp >= since_ms).group_by(EVENTS.c.source_app)
                 .order_by(func.count().desc()))
        with self.reader.engine.connect() as conn:
            return [{"source_app": r.source_app, "events": int(r.n),
                     "sessions": int(r.sessions), "subagents": int(r.agents),
                     "last_timestamp": r.last_ts} for r in conn.execute(query)]
