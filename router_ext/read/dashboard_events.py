"""Event lists and counts for the dashboard's live and approvals views (blocking queries).

Each is bounded by an index range and a LIMIT: a text search reads one window of ids per call
and says where to continue, the rate chart reads only the last minutes.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from sqlalchemy import Engine, func, or_, select

from router_ext.read.dashboard import escape_like, fetch
from router_ext.read.reader import EVENTS
from router_ext.records import Row

# A text search reads ids newest first in windows of this many, and stops once it has a page
# or has spent SEARCH_BUDGET_S; the page then offers to search further back from where it
# stopped, so one request never scans the whole table (a word found nowhere costs the budget).
SEARCH_WINDOW = 10_000
SEARCH_BUDGET_S = 0.04
# Without text, the filters (app, session, type) go through their (column, id) indexes: one
# window this wide, as it always was.
LIST_WINDOW = 100_000


def _event_filters(query: Any, filters: dict[str, list[str]]) -> Any:
    for column, values in filters.items():
        if values:
            query = query.where(EVENTS.c[column].in_(values))
    return query


def search_events(engine: Engine, *, q: str, filters: dict[str, list[str]], before_id: int,
                  limit: int) -> dict[str, Any]:
    """Newest matching events below before_id whose payload or summary contains q."""
    base = _event_filters(select(EVENTS), filters)
    if q:
        like = f"%{escape_like(q)}%"
        base = base.where(or_(EVENTS.c.payload.ilike(like, escape="\\"),
                              EVENTS.c.summary.ilike(like, escape="\\"),
                              EVENTS.c.tool_name.ilike(like, escape="\\")))
    rows: list[Row] = []
    top, floor = before_id, before_id
    window = SEARCH_WINDOW if q else LIST_WINDOW
    deadline = time.monotonic() + (SEARCH_BUDGET_S if q else 0.0)
    with engine.connect() as conn:
        while len(rows) < limit and floor > 0:
            floor = max(top - window, 0)
            query = base.where(EVENTS.c.id < top, EVENTS.c.id >= floor).order_by(
                EVENTS.c.id.desc()).limit(limit - len(rows))
            result = conn.execute(query)
            keys = tuple(result.keys())
            rows += [dict(zip(keys, r, strict=True)) for r in result]
            top = floor
            if time.monotonic() > deadline:
                break
    # A full page continues below its last row; a short one continues below what was read.
    next_before = rows[-1]["id"] if len(rows) == limit else (floor or None)
    return {"rows": rows, "next_before_id": next_before, "scanned_to_id": floor}


def last_matching_id(engine: Engine, filters: dict[str, list[str]]) -> int:
    """The newest id matching the filters (the point a resumed stream has caught up to)."""
    query = _event_filters(select(func.max(EVENTS.c.id)), filters)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def rate(engine: Engine, *, filters: dict[str, list[str]], since_ms: int, bucket_ms: int,
         lanes: int) -> dict[str, Any]:
    """Event counts per time bucket overall and for the busiest session/agent lanes."""
    e = EVENTS.c
    bucket = ((e.timestamp - since_ms) // bucket_ms).label("b")
    query = _event_filters(select(e.session_id, e.agent_id, e.source_app, bucket,
                                  func.count().label("n")), filters)
    query = query.where(e.timestamp >= since_ms).group_by(
        e.session_id, e.agent_id, e.source_app, bucket)
    totals: Counter[int] = Counter()
    per_lane: dict[tuple[str, str, str], Counter[int]] = {}
    for row in fetch(engine, query.limit(200_000)):
        b = int(row["b"])
        totals[b] += row["n"]
        key = (row["session_id"], row["agent_id"] or "", row["source_app"])
        per_lane.setdefault(key, Counter())[b] += row["n"]
    busiest = sorted(per_lane.items(), key=lambda kv: -sum(kv[1].values()))[:lanes]
    return {
        "since_ms": since_ms, "bucket_ms": bucket_ms,
        "totals": sorted(totals.items()),
        "lanes": [{"session_id": k[0], "agent_id": k[1], "source_app": k[2],
                   "buckets": sorted(v.items())} for k, v in busiest],
    }


def approvals(engine: Engine, *, pending: bool, limit: int, before_id: int | None) -> list[Row]:
    """Human-in-the-loop requests: pending ones oldest first, resolved ones newest first."""
    e = EVENTS.c
    query = select(EVENTS).where(e.hitl_status.is_not(None))
    query = query.where(e.hitl_status == "pending") if pending else query.where(
        e.hitl_status != "pending")
    if before_id is not None:
        query = query.where(e.id < before_id)
    order = e.id.asc() if pending else e.id.desc()
    return fetch(engine, query.order_by(order).limit(limit))
