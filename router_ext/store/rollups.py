"""Fold events about to be pruned into hourly rollups, inside the pruning transaction.

Finished tool calls (by tool and outcome) and subagent spawns (by agent type) of pruned events
are kept here, so an export carries the counts of what it no longer holds. The dashboard reads
`event_counts` instead (router_ext.store.counts), which the writer keeps for every event ever
stored; importing an export's rollups adds what they raised to those counts as well.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from router_ext.store import counts as hourly
from router_ext.store.counts import HOUR_MS, SPAWN_TYPE, TOOL_END_TYPES
from router_ext.store.models import Event, EventRollup

EVENTS = Event.__table__  # type: ignore[attr-defined]
ROLLUPS = EventRollup.__table__  # type: ignore[attr-defined]
Key = tuple[str, int, str, str]  # kind, bucket_ms, name, detail


def _tool_counts(conn: Connection, ids: Sequence[int]) -> Counter[Key]:
    e = EVENTS.c
    query = select(e.timestamp, e.tool_name, e.hook_event_type).where(
        e.id.in_(ids), e.hook_event_type.in_(TOOL_END_TYPES))
    return Counter(("tools", ts // HOUR_MS * HOUR_MS, tool or "unknown", kind)
                   for ts, tool, kind in conn.execute(query))


def _agent_type(payload: str) -> str:
    try:
        data = json.loads(payload)
    except ValueError:
        return "unknown"
    value = data.get("agent_type") if isinstance(data, dict) else None
    return str(value or "unknown")[:256]


def _spawn_counts(conn: Connection, ids: Sequence[int]) -> Counter[Key]:
    e = EVENTS.c
    query = select(e.timestamp, e.payload).where(e.id.in_(ids), e.hook_event_type == SPAWN_TYPE)
    return Counter(("subagents", ts // HOUR_MS * HOUR_MS, _agent_type(payload), "")
                   for ts, payload in conn.execute(query))


def _add(conn: Connection, counts: Counter[Key]) -> None:
    r = ROLLUPS.c
    for (kind, bucket, name, detail), n in counts.items():
        match = (r.kind == kind, r.bucket_ms == bucket, r.name == name, r.detail == detail)
        changed = conn.execute(update(ROLLUPS).where(*match).values(count=r.count + n))
        if changed.rowcount == 0:  # one writer (SQLite) or the prune lock (PostgreSQL)
            conn.execute(insert(ROLLUPS).values(kind=kind, bucket_ms=bucket, name=name,
                                                detail=detail, count=n))


def fold(conn: Connection, ids: Sequence[int]) -> int:
    """Add the counts of these events (about to be deleted) to the rollups; returns rows added."""
    counts = _tool_counts(conn, ids) + _spawn_counts(conn, ids)
    _add(conn, counts)
    return sum(counts.values())


def counts(conn: Connection, kind: str, start: int, end: int) -> Counter[tuple[str, str]]:
    """Rolled-up (name, detail) counts of `kind` in hours starting within [start, end)."""
    r = ROLLUPS.c
    query = select(r.name, r.detail, func.sum(r.count)).where(
        r.kind == kind, r.bucket_ms >= start, r.bucket_ms < end).group_by(r.name, r.detail)
    return Counter({(name, detail): int(n) for name, detail, n in conn.execute(query)})


def restore(conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
    """Put exported rollup rows back; a stored count is only ever raised (importing twice, or
    into a database that pruned the same hours, changes nothing). Returns rows changed."""
    r, raised = ROLLUPS.c, []
    for row in rows:
        match = (r.kind == row["kind"], r.bucket_ms == row["bucket_ms"], r.name == row["name"],
                 r.detail == row["detail"])
        stored = conn.execute(select(r.count).where(*match)).scalar()
        if stored is None:
            conn.execute(insert(ROLLUPS).values(**row))
        elif int(row["count"]) > stored:
            conn.execute(update(ROLLUPS).where(*match).values(count=row["count"]))
        else:
            continue
        raised.append({**row, "count": int(row["count"]) - int(stored or 0)})
    # The dashboard's hourly counts cover pruned events too: they grow by what was raised.
    hourly.add_rolled_up(conn, raised)
    return len(raised)
