"""Reads for the human-in-the-loop lifecycle: the requests still waiting for an answer."""

from __future__ import annotations

from sqlalchemy import Engine, select

from router_ext.records import Row
from router_ext.store.models import Event

EVENTS = Event.__table__  # type: ignore[attr-defined]


def pending_requests(engine: Engine) -> list[Row]:
    """Every stored request whose status is still `pending` (id, times, request, status)."""
    query = select(EVENTS.c.id, EVENTS.c.received_at, EVENTS.c.human_in_the_loop,
                   EVENTS.c.human_in_the_loop_status).where(EVENTS.c.hitl_status == "pending")
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]
