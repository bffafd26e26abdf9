"""Read-side queries over `events` and `harness_sessions`, run on a reader pool off the loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Engine, Select, func, literal_column, select, text

from router_ext.records import Row
from router_ext.store.models import Event, HarnessSession
from router_ext.stream.bus import EventFilter

T = TypeVar("T")
EVENTS = Event.__table__  # type: ignore[attr-defined]
SESSIONS = HarnessSession.__table__  # type: ignore[attr-defined]
MAX_PAGE = 1000


def _filtered(query: Select[Any], flt: EventFilter) -> Select[Any]:
    if flt.source_apps:
        query = query.where(EVENTS.c.source_app.in_(sorted(flt.source_apps)))
    if flt.session_ids:
        query = query.where(EVENTS.c.session_id.in_(sorted(flt.session_ids)))
    if flt.hook_event_types:
        query = query.where(EVENTS.c.hook_event_type.in_(sorted(flt.hook_event_types)))
    return query


def _distinct_values(engine: Engine, column: str) -> list[str]:
    # A skip-scan over the column's index: one index probe per distinct value, so it stays fast
    # however many rows share each value (a plain DISTINCT reads the whole index).
    sql = text(
        f"WITH RECURSIVE v(x) AS ("
        f" SELECT (SELECT min({column}) FROM events)"
        f" UNION ALL SELECT (SELECT min({column}) FROM events WHERE {column} > v.x)"
        f" FROM v WHERE v.x IS NOT NULL) SELECT x FROM v WHERE x IS NOT NULL LIMIT 1000"
    )
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(sql)]


class Reader:
    """Queries the stored data. Every public method is a coroutine that runs in a thread."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking query function off the event loop."""
        return await asyncio.to_thread(fn, *args)

    # -- events ---------------------------------------------------------------------------

    def _rows(self, query: Select[Any]) -> list[Row]:
        with self.engine.connect() as conn:
            result = conn.execute(query)
            keys = tuple(result.keys())  # zip per row: ~3x cheaper than dict(row._mapping)
            return [dict(zip(keys, r, strict=True)) for r in result]

    def events_after_sync(self, after_id: int, flt: EventFilter, limit: int) -> list[Row]:
        """Events with id > after_id, oldest first."""
        query = select(EVENTS).where(EVENTS.c.id > after_id).order_by(EVENTS.c.id).limit(limit)
        return self._rows(_filtered(query, flt))

    async def events_after(self, after_id: int, flt: EventFilter, limit: int) -> list[Row]:
        """Events with id > after_id, oldest first."""
        return await self.call(self.events_after_sync, after_id, flt, limit)

    def recent_sync(self, flt: EventFilter, limit: int, offset: int = 0,
                    before_id: int | None = None, after_id: int | None = None) -> list[Row]:
        """The newest `limit` matching events (skipping `offset`), returned oldest first."""
        query = _filtered(select(EVENTS), flt)
        if before_id is not None:
            query = query.where(EVENTS.c.id < before_id)
        if after_id is not None:
            query = query.where(EVENTS.c.id > after_id)
        query = query.order_by(EVENTS.c.id.desc()).limit(limit).offset(offset)
        return list(reversed(self._rows(query)))

    async def recent(self, flt: EventFilter, limit: int, offset: int = 0,
                     before_id: int | None = None, after_id: int | None = None) -> list[Row]:
        """The newest `limit` matching events (skipping `offset`), returned oldest first."""
        return await self.call(self.recent_sync, flt, limit, offset, before_id, after_id)

    def event_sync(self, event_id: int) -> Row | None:
        """One event by id."""
        rows = self._rows(select(EVENTS).where(EVENTS.c.id == event_id))
        return rows[0] if rows else None

    async def event(self, event_id: int) -> Row | None:
        """One event by id."""
        return await self.call(self.event_sync, event_id)

    def filter_options_sync(self, session_limit: int = 300) -> dict[str, list[str]]:
        """Distinct source apps and event types, and the most recently active sessions."""
        recent = (
            select(SESSIONS.c.id)
            .where(SESSIONS.c.source == "interactive")
            .order_by(SESSIONS.c.last_event_at.desc())
            .limit(session_limit)
        )
        with self.engine.connect() as conn:
            sessions = [row[0] for row in conn.execute(recent)]
        if not sessions:  # before any fold has run, fall back to the newest events
            window = select(EVENTS.c.session_id, func.max(EVENTS.c.id).label("m")).where(
                EVENTS.c.id > select(func.coalesce(func.max(EVENTS.c.id), 0) - 50_000)
                .scalar_subquery()
            ).group_by(EVENTS.c.session_id).order_by(literal_column("m").desc()).limit(
                session_limit)
            with self.engine.connect() as conn:
                sessions = [row[0] for row in conn.execute(window)]
        return {
            "source_apps": _distinct_values(self.engine, "source_app"),
            "session_ids": sessions,
            "hook_event_types": _distinct_values(self.engine, "hook_event_type"),
        }

    async def filter_options(self, session_limit: int = 300) -> dict[str, list[str]]:
        """Distinct source apps and event types, and the most recently active sessions."""
        return await self.call(self.filter_options_sync, session_limit)

    # -- sessions -------------------------------------------------------------------------

    def sessions_sync(self, *, source: str = "", project: str = "", label: str = "",
                      status: str = "", limit: int = 100, started_before_ms: int = 0) -> list[Row]:
        """Sessions, newest start first."""
        query = select(SESSIONS)
        for column, value in (("source", source), ("project", project), ("label", label),
                              ("status", status)):
            if value:
                query = query.where(SESSIONS.c[column] == value)
        if started_before_ms:
            query = query.where(SESSIONS.c.started_at < started_before_ms)
        return self._rows(query.order_by(SESSIONS.c.started_at.desc()).limit(limit))

    async def sessions(self, **kwargs: Any) -> list[Row]:
        """Sessions, newest start first."""
        return await asyncio.to_thread(lambda: self.sessions_sync(**kwargs))

    def session_sync(self, session_id: str) -> Row | None:
        """One session by id."""
        rows = self._rows(select(SESSIONS).where(SESSIONS.c.id == session_id))
        return rows[0] if rows else None

    async def session(self, session_id: str) -> Row | None:
        """One session by id."""
        return await self.call(self.session_sync, session_id)
