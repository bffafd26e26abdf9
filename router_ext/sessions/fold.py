"""The sessions fold: a writer batch hook that turns fresh event rows into harness_sessions.

It runs inside the insert transaction, so a session row never disagrees with the events that
made it. Per batch: load the touched sessions in one query, apply every event in memory, link
Ralph tasks and jobs to the Claude Code session they ran (`claude_session_id`), then write each
changed row once. What changed is returned as :class:`~router_ext.records.FoldNotes`, which the
writer hands to the steps after commit (the metrics catalog).
"""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Iterable
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, insert, select, update

from router_ext.records import FoldNotes, Row, SessionNote
from router_ext.sessions import usage as su
from router_ext.sessions.apply import Target, apply_hook, apply_task, target
from router_ext.sessions.pricing import PriceTable
from router_ext.sessions.state import (
    COLUMN_NAMES,
    COUNTS,
    SESSIONS,
    TELEMETRY_COUNTS,
    SessionState,
)
from router_ext.sessions.telemetry import apply_otlp
from router_ext.store.db import sqlite_cursor
from router_ext.store.many_rows import execute_values, write_rows
from router_ext_client.usage import ModelMap

log = logging.getLogger(__name__)
CHUNK = 500


class SessionFold:
    """Callable as a writer batch hook: `fold(conn, fresh_rows)`."""

    def __init__(self, prices: PriceTable) -> None:
        self.prices = prices

    def __call__(self, conn: Connection, rows: list[Row]) -> FoldNotes | None:
        targets = [(row, target(row)) for row in rows]
        wanted = {t.session_id for _, t in targets if t is not None}
        if not wanted:
            return None
        states = _load(conn, _BY_ID, wanted)
        notes = FoldNotes()
        for row, tgt in targets:
            if tgt is None:
                continue
            state = states.get(tgt.session_id) or _create(states, tgt, int(row["timestamp"]))
            note = self._apply(state, row, tgt, notes.unpriced)
            if note is not None:
                notes.sessions[row["event_uid"]] = note
        for state in states.values():
            state.settle()
        _link(conn, states)
        _write(conn, states.values())
        notes.usage = _usage_growth(states.values())
        notes.counters = _counter_growth(states.values())
        notes.attributed = _attributed_growth(states.values())
        notes.increments = _increments(states.values())
        return notes

    def _apply(self, state: SessionState, row: Row, tgt: Target,
               unpriced: list[str]) -> SessionNote | None:
        was_ended = state.ended
        state.tool_note = None
        try:
            if tgt.kind == "hook":
                unpriced += apply_hook(state, row, self.prices)
            elif tgt.kind == "otlp":
                unpriced += apply_otlp(state, row, self.prices)
            else:
                unpriced += apply_task(state, row, self.prices)
        except (TypeError, ValueError, KeyError):  # a strange payload must not fail the batch
            log.exception("could not fold event %s into session %s", row.get("event_uid"),
                          state.id)
            return None
        note = SessionNote(state.source)
        if state.tool_note is not None:
            note.tool, note.tool_outcome, note.tool_seconds = (
                state.tool_note.tool, state.tool_note.outcome, state.tool_note.seconds)
        if state.started:
            note.started = True
            state.started = False
        if state.ended and not was_ended:
            note.ended = state.cols["status"]
            note.duration_s = (state.cols.get("duration_ms") or 0) / 1000
            note.label = state.cols.get("label")
        return note


def _create(states: dict[str, SessionState], tgt: Target, ts: int) -> SessionState:
    state = SessionState.create(tgt.session_id, tgt.source, ts)
    states[tgt.session_id] = state
    return state


class Lookup(NamedTuple):
    """One way to find session rows by a list of keys, as a statement and as plain SQL."""

    statement: Any  # SQLAlchemy, for PostgreSQL
    sql: str  # SQLite through the driver; {marks} becomes one ? per key


_COLS = ", ".join(COLUMN_NAMES)
# Built once: constructing statements per batch costs more than running them.
_BY_ID_SELECT = select(SESSIONS).where(SESSIONS.c.id.in_(bindparam("keys", expanding=True)))
_BY_ID = Lookup(_BY_ID_SELECT, f"SELECT {_COLS} FROM harness_sessions WHERE id IN ({{marks}})")
_INTERACTIVE_BY_ID = Lookup(_BY_ID_SELECT.where(SESSIONS.c.source == "interactive"),
                            _BY_ID.sql + " AND source = 'interactive'")
_PARENTS_OF = Lookup(
    select(SESSIONS).where(SESSIONS.c.claude_session_id.in_(bindparam("keys", expanding=True)),
                           SESSIONS.c.source != "interactive"),
    f"SELECT {_COLS} FROM harness_sessions WHERE claude_session_id IN ({{marks}}) "
    "AND source != 'interactive'")
_INSERT = insert(SESSIONS)
_UPDATE = update(SESSIONS).where(SESSIONS.c.id == bindparam("b_id"))
_SQLITE_INSERT = f"INSERT INTO harness_sessions ({_COLS})"
# SQLite rewrites the index entry of every indexed column an UPDATE sets, even to the value it
# had. Measured on the writer's hook mix: setting every column wrote 19.6 WAL pages a one-event
# commit, setting the unindexed columns and only the indexed ones that moved 13.3 (58.7 against
# 51.8 at 32 events). So changed sessions are updated in groups by which indexed columns moved.
_INDEXED = tuple(c for c in COLUMN_NAMES
                 if c != "id" and any(c in ix.columns for ix in SESSIONS.indexes))
_UNINDEXED = tuple(c for c in COLUMN_NAMES if c != "id" and c not in _INDEXED)


def _load(conn: Connection, lookup: Lookup, keys: Iterable[str]) -> dict[str, SessionState]:
    found: dict[str, SessionState] = {}
    unique = sorted(set(keys))
    cursor = sqlite_cursor(conn)  # SQLAlchemy's per-statement work was most of the fold
    for start in range(0, len(unique), CHUNK):
        chunk = unique[start:start + CHUNK]
        if cursor is not None:
            sql = lookup.sql.format(marks=", ".join("?" * len(chunk)))
            rows: Iterable[dict[str, Any]] = (dict(zip(COLUMN_NAMES, r, strict=True))
                                              for r in cursor.execute(sql, chunk))
        else:
            rows = (dict(r._mapping) for r in conn.execute(lookup.statement, {"keys": chunk}))
        for cols in rows:
            state = SessionState.load(cols)
            found[state.id] = state
    return found


def _link(conn: Connection, states: dict[str, SessionState]) -> None:
    """Join parents (Ralph tasks, jobs) and the interactive sessions they ran.

    Queries only when a link can exist: a child already linked names its parent (`loop_id`),
    a new interactive session may have been reported by its parent first, and a parent names
    its child (`claude_session_id`).
    """
    known_parents = {str(s.cols["loop_id"]) for s in states.values() if s.linked}
    new_children = [s.id for s in states.values() if s.source == "interactive" and s.is_new]
    for pid, parent in _load(conn, _BY_ID, known_parents - set(states)).items():
        states.setdefault(pid, parent)
    if new_children:
        for pid, parent in _load(conn, _PARENTS_OF, new_children).items():
            states.setdefault(pid, parent)
    parents = [s for s in states.values()
               if s.source != "interactive" and s.cols.get("claude_session_id")]
    wanted = {str(p.cols["claude_session_id"]) for p in parents} - set(states)
    if wanted:
        states.update(_load(conn, _INTERACTIVE_BY_ID, wanted))
    for parent in parents:
        child = states.get(str(parent.cols["claude_session_id"]))
        if child is not None and child.source == "interactive":
            _adopt(parent, child)


def _adopt(parent: SessionState, child: SessionState) -> None:
    child.cols["loop_id"] = parent.id
    for name in COUNTS:
        parent.cols[name] = max(int(parent.cols[name] or 0), int(child.cols[name] or 0))
    if not parent.cols.get("project"):
        parent.cols["project"] = child.cols.get("project")
    # The run's own totals (from `claude -p`) win; without them the hook-reported usage counts.
    if su.bigger(child.models, parent.models):
        parent.models = copy.deepcopy(child.models)


def _write(conn: Connection, states: Iterable[SessionState]) -> None:
    inserts: list[list[Any]] = []
    changed: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (row now, row as loaded)
    for state in states:
        row = state.row()
        if state.is_new:
            inserts.append([row[c] for c in COLUMN_NAMES])
        elif row != state.original:
            changed.append((row, state.original))
    write_rows(conn, inserts, (_SQLITE_INSERT, ""), _INSERT, COLUMN_NAMES)
    cursor = sqlite_cursor(conn)
    if cursor is not None:
        _update_sqlite(cursor, changed)
    elif changed:
        # executemany: the SET clause comes from the parameter keys.
        params = [{**{k: v for k, v in r.items() if k != "id"}, "b_id": r["id"]}
                  for r, _ in changed]
        conn.execute(_UPDATE, params)


def _update_sqlite(cursor: Any, changed: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    """Update changed sessions: one statement per set of indexed columns that moved."""
    groups: dict[tuple[str, ...], list[list[Any]]] = {}
    for row, original in changed:
        moved = tuple(c for c in _INDEXED if row[c] != original.get(c))
        groups.setdefault(moved, []).append([row["id"], *(row[c] for c in _UNINDEXED + moved)])
    for moved, values in groups.items():
        execute_values(cursor, values, *_update_statement(moved))


@functools.cache
def _update_statement(moved: tuple[str, ...]) -> tuple[str, str]:
    """The text before and after the VALUES of a multi-row update (SQLite 3.33's UPDATE FROM)."""
    columns = _UNINDEXED + moved
    names = ", ".join(f"v_{c}" for c in columns)
    sets = ", ".join(f"{c} = v.v_{c}" for c in columns)
    return (f"WITH v(v_id, {names}) AS (",
            f") UPDATE harness_sessions SET {sets} FROM v WHERE harness_sessions.id = v.v_id")


def _increments(states: Iterable[SessionState]) -> list[dict[str, Any]]:
    """Per session and model, what this batch changed in the usage it counts, at its last
    event's time (zero changes left out)."""
    out = []
    for state in states:
        for model, delta in su.change(state.counted(before=False),
                                      state.counted(before=True)).items():
            out.append({"at": int(state.cols["last_event_at"]), "session_id": state.id,
                        "source": state.source, "project": state.cols.get("project"),
                        "loop_id": state.cols.get("loop_id"), "model": model,
                        **su.ledger_columns(delta)})
    return out


def _usage_growth(states: Iterable[SessionState]) -> dict[str, dict[str, Any]]:
    """Tokens and cost this batch added to the totals, once per run (children excluded)."""
    new: ModelMap = {}
    old: ModelMap = {}
    for state in states:
        su.add_into(new, state.counted(before=False))
        su.add_into(old, state.counted(before=True))
    return {m: u.to_dict() for m, u in su.growth(new, old).items()}


def _grown(state: SessionState, column: str) -> float:
    before = 0.0 if state.is_new else float(state.original.get(column) or 0)
    return max(0.0, float(state.cols.get(column) or 0) - before)


def _counter_growth(states: Iterable[SessionState]) -> dict[str, float]:
    """How much the counts only OpenTelemetry reports grew in this batch (all sessions)."""
    out: dict[str, float] = {}
    for state in states:
        for column in (*TELEMETRY_COUNTS, "active_seconds"):
            grown = _grown(state, column)
            if grown:
                out[column] = out.get(column, 0.0) + grown
    return out


def attribution_key(cols: dict[str, Any]) -> tuple[str, str]:
    """(user, project) of a session for grouped metrics; `unknown` where it was not said."""
    user = cols.get("user_email") or cols.get("user_account_uuid") or "unknown"
    return str(user), str(cols.get("project") or "unknown")


def _attributed_growth(states: Iterable[SessionState]) -> dict[tuple[str, str], dict[str, float]]:
    """Cost, tokens, new sessions and tool failures this batch added, per (user, project)."""
    out: dict[tuple[str, str], dict[str, float]] = {}
    for state in states:
        grown = su.growth(state.counted(before=False), state.counted(before=True))
        values = {"cost_usd": sum(u.cost_usd or 0.0 for u in grown.values()),
                  "tokens": float(su.tokens(grown).total_tokens),
                  "sessions": 1.0 if state.is_new else 0.0,
                  "tool_failures": _grown(state, "tool_failures_count")}
        if any(values.values()):
            entry = out.setdefault(attribution_key(state.cols), dict.fromkeys(values, 0.0))
            for name, value in values.items():
                entry[name] += value
    return out
