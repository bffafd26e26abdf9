"""Hourly counts the dashboard reads, kept up to date by the writer inside the insert transaction.

Counting a month of events at read time reads a month of events; these tables turn that into
a few hundred small rows. Each insert batch is tallied in memory and added with one upsert
per table, in the same transaction as the events, so a count never disagrees with what was
committed and survives restarts. Retention never lowers them: they count every event stored.

`tools` follows the sessions' rule for calls reported twice (hooks and OpenTelemetry): per
session and hour, the larger of the two counts. The per-session numbers live in
`session_tool_counts`; when one side grows, the hourly count moves by how much the maximum moved.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, case, func, select
from sqlalchemy.dialects import postgresql

from router_ext.otlp.values import flag
from router_ext.records import FoldNotes, Row, decoded_payload
from router_ext.store.db import sqlite_cursor
from router_ext.store.many_rows import execute_values, write_rows
from router_ext.store.models import Event, EventCount, SessionToolCount

EVENTS = Event.__table__  # type: ignore[attr-defined]
COUNTS = EventCount.__table__  # type: ignore[attr-defined]
PER_SESSION = SessionToolCount.__table__  # type: ignore[attr-defined]
HOUR_MS = 3_600_000
TOOL_END_TYPES = ("PostToolUse", "PostToolUseFailure")
FAILURE_TYPE = "PostToolUseFailure"
SPAWN_TYPE = "SubagentStart"
OTLP_TOOL_RESULT = "claude_code.tool_result"
# Types whose payload a count needs; every other event is counted from its columns alone.
PAYLOAD_TYPES = (FAILURE_TYPE, SPAWN_TYPE, OTLP_TOOL_RESULT)
Key = tuple[str, int, str, str]  # kind, hour, name, detail
SessionKey = tuple[int, str, str, str]  # hour, session, tool, outcome


@dataclass
class Tally:
    """A batch's counts before they are added: plain counts, and per-session tool calls."""

    counts: Counter[Key] = field(default_factory=Counter)
    last: dict[Key, int] = field(default_factory=dict)
    hooks: Counter[SessionKey] = field(default_factory=Counter)
    otlp: Counter[SessionKey] = field(default_factory=Counter)

    def count(self, key: Key, at: int, n: int = 1) -> None:
        """Add n to key, remembering the newest time counted."""
        self.counts[key] += n
        self.last[key] = max(self.last.get(key, at), at)


def first_line(value: Any) -> str:
    """An error's first line, as the top-errors table shows it (200 characters at most)."""
    text = value if isinstance(value, str) else json.dumps(value)
    return (text.strip().splitlines() or [""])[0][:200]


def _payload(row: Row) -> dict[str, Any]:
    value = decoded_payload(row)
    return value if isinstance(value, dict) else {}


def tally(rows: Iterable[Row]) -> Tally:
    """Count what the dashboard needs from these events (no database access)."""
    out = Tally()
    for row in rows:
        kind = row["hook_event_type"]
        if kind not in TOOL_END_TYPES and kind not in PAYLOAD_TYPES:
            continue
        at = int(row["timestamp"])
        hour = at // HOUR_MS * HOUR_MS
        tool = str(row.get("tool_name") or "unknown")[:256]
        session = str(row["session_id"])
        if kind in TOOL_END_TYPES:
            out.hooks[(hour, session, tool, kind)] += 1
            out.count(("tools", hour, tool, kind), at, 0)  # the count moves with the maximum
        if kind == FAILURE_TYPE:
            error = first_line(_payload(row).get("error"))
            out.count(("errors", hour, str(row.get("tool_name") or "tool")[:256], error), at)
        elif kind == SPAWN_TYPE:
            agent = str(_payload(row).get("agent_type") or "unknown")[:256]
            out.count(("subagents", hour, agent, ""), at)
        elif kind == OTLP_TOOL_RESULT:
            ok = flag(_payload(row).get("success")) is not False
            outcome = TOOL_END_TYPES[0] if ok else FAILURE_TYPE
            out.otlp[(hour, session, tool, outcome)] += 1
            out.count(("tools", hour, tool, outcome), at, 0)
    return out


# SQLite has one writer (ours): plain SQL through the driver skips SQLAlchemy's per-statement
# work, which cost more than the counting itself for a one-event transaction.
_SQLITE_SESSIONS = (
    "INSERT INTO session_tool_counts (bucket_ms, session_id, tool, outcome, hooks, otlp)",
    "ON CONFLICT (bucket_ms, session_id, tool, outcome) DO UPDATE "
    "SET hooks = hooks + excluded.hooks, otlp = otlp + excluded.otlp "
    "RETURNING bucket_ms, session_id, tool, outcome, hooks, otlp")
_SQLITE_COUNTS = (
    "INSERT INTO event_counts (kind, bucket_ms, name, detail, count, last_ms)",
    "ON CONFLICT (kind, bucket_ms, name, detail) DO UPDATE "
    "SET count = count + excluded.count, last_ms = max(last_ms, excluded.last_ms)")


@functools.cache
def _core_statements() -> tuple[Any, Any]:
    """The same two upserts for other databases (PostgreSQL), built once."""
    per_session = postgresql.insert(PER_SESSION)
    c = PER_SESSION.c
    sessions = per_session.on_conflict_do_update(
        index_elements=["bucket_ms", "session_id", "tool", "outcome"],
        set_={"hooks": c.hooks + per_session.excluded.hooks,
              "otlp": c.otlp + per_session.excluded.otlp},
    ).returning(c.hooks, c.otlp, sort_by_parameter_order=True)
    hourly = postgresql.insert(COUNTS)
    c = COUNTS.c
    totals = hourly.on_conflict_do_update(
        index_elements=["kind", "bucket_ms", "name", "detail"],
        set_={"count": c.count + hourly.excluded["count"],
              "last_ms": func.greatest(c.last_ms, hourly.excluded.last_ms)})
    return sessions, totals


_SESSION_COLUMNS = ("bucket_ms", "session_id", "tool", "outcome", "hooks", "otlp")
_COUNT_COLUMNS = ("kind", "bucket_ms", "name", "detail", "count", "last_ms")


def _upsert_sessions(conn: Connection, rows: list[tuple[Any, ...]]) -> list[tuple[int, int]]:
    """Add the per-session rows; each key's numbers after adding, in order."""
    cursor = sqlite_cursor(conn)
    if cursor is not None:
        # A multi-row RETURNING comes back in SQLite's order, so each row names its key.
        returned = execute_values(cursor, rows, *_SQLITE_SESSIONS)
        after = {tuple(r[:4]): (r[4], r[5]) for r in returned}
        return [after[row[:4]] for row in rows]
    params = [dict(zip(_SESSION_COLUMNS, row, strict=True)) for row in rows]
    return [(int(h), int(o)) for h, o in conn.execute(_core_statements()[0], params)]


def _tool_deltas(conn: Connection, tally_: Tally) -> None:
    """Add the per-session counts; move each hourly tool count by how much its max moved.

    One upsert returns each key's new numbers (the old ones are those minus what was added),
    so no lookup precedes it; the keys of a batch are distinct.
    """
    keys = sorted(tally_.hooks.keys() | tally_.otlp.keys())
    if not keys:
        return
    rows = [(*k, tally_.hooks[k], tally_.otlp[k]) for k in keys]
    for key, (hooks, otlp) in zip(keys, _upsert_sessions(conn, rows), strict=True):
        added_hooks, added_otlp = tally_.hooks[key], tally_.otlp[key]
        moved = max(hooks, otlp) - max(hooks - added_hooks, otlp - added_otlp)
        if moved:
            hour, _session, tool, outcome = key
            tally_.counts[("tools", hour, tool, outcome)] += moved


def _upsert_counts(conn: Connection, tally_: Tally) -> None:
    # Keys whose count did not move still carry their newest time (a call both sides reported).
    rows = [(*k, n, tally_.last.get(k, k[1])) for k, n in tally_.counts.items()]
    if rows:
        write_rows(conn, rows, _SQLITE_COUNTS, _core_statements()[1], _COUNT_COLUMNS)


def add(conn: Connection, rows: Iterable[Row]) -> None:
    """Count these just-stored events into the hourly tables (inside the caller's transaction)."""
    tally_ = tally(rows)
    _tool_deltas(conn, tally_)
    _upsert_counts(conn, tally_)


def add_rolled_up(conn: Connection, rows: Iterable[dict[str, Any]]) -> None:
    """Add `event_rollups`-shaped rows: counts of events no longer stored (pruned before this
    table existed, or imported from an export)."""
    tally_ = Tally()
    for row in rows:
        key = (row["kind"], int(row["bucket_ms"]), row["name"], row["detail"])
        tally_.count(key, key[1], int(row["count"]))
    _upsert_counts(conn, tally_)


def backfill(conn: Connection, chunk: int = 50_000) -> int:
    """Count every stored event (what a database had before these tables); returns how many
    events were read. Reads in id order, `chunk` rows at a time."""
    e = EVENTS.c
    wanted = (*TOOL_END_TYPES, *PAYLOAD_TYPES)
    payload = case((e.hook_event_type.in_(PAYLOAD_TYPES), e.payload), else_="{}")
    after, seen = 0, 0
    while True:
        query = select(e.id, e.session_id, e.tool_name, e.hook_event_type, e.timestamp,
                       payload.label("payload")).where(
            e.id > after, e.hook_event_type.in_(wanted)).order_by(e.id).limit(chunk)
        rows = [dict(r._mapping) for r in conn.execute(query)]
        if not rows:
            return seen
        add(conn, rows)
        seen += len(rows)
        after = rows[-1]["id"]


def totals(conn: Connection, kind: str, start: int, end: int | None = None
           ) -> dict[tuple[str, str], tuple[int, int]]:
    """(name, detail) -> (count, newest time) of `kind` over the hours from the one holding
    `start` up to (not including) the one starting at or after `end`."""
    c = COUNTS.c
    query = select(c.name, c.detail, func.sum(c.count), func.max(c.last_ms)).where(
        c.kind == kind, c.bucket_ms >= start // HOUR_MS * HOUR_MS)
    if end is not None:
        query = query.where(c.bucket_ms < end)
    query = query.group_by(c.name, c.detail)
    return {(name, detail): (int(n), int(last)) for name, detail, n, last in conn.execute(query)
            if n}


class WithCounts:
    """The in-transaction step: count the batch, then run the next step (the sessions fold)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, conn: Connection, rows: list[Row]) -> FoldNotes | None:
        add(conn, rows)
        return self.inner(conn, rows)
