"""The JSONL export: events and sessions as portable lines, and reading them back idempotently.

    {"router_ext_export": 1, "schema": "0002", "exported_at": ms, "filters": {...}}
    {"event": {"event_uid": ..., every events column but id}}        ... in id order
    {"session": {every harness_sessions column}}                     ...
    {"rollup": {kind, bucket_ms, name, detail, count}}                ... (no --source-app)
    {"end": {"events": n, "sessions": m, "rollups": k}}

Ids are not exported: each database numbers its events itself (in export order). Import stores
events through the writer deduplicated by `event_uid` (without the sessions fold: the sessions
come whole from the file), and a session replaces the stored one only when it is newer
(`last_event_at`), so importing a file twice, or into a database that has some of it, changes
nothing that should not change. Rollups (the counts of events retention already pruned) go
along so the dashboard's analytics stay whole; they have no source, so a --source-app export
leaves them out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, insert, select, update

from router_ext.records import COLUMNS, Row
from router_ext.store import counts as hourly
from router_ext.store import rollups
from router_ext.store.inserts import insert_rows
from router_ext.store.models import HarnessSession
from router_ext.store.writer import EVENTS, Writer

SESSIONS = HarnessSession.__table__  # type: ignore[attr-defined]
FORMAT = 1
PAGE = 1_000
MARKER = "router_ext_export"


@dataclass(frozen=True)
class Filters:
    """Which events and sessions an export holds; None means unbounded."""

    since_ms: int | None = None
    until_ms: int | None = None
    source_app: str | None = None

    def _bounded(self, query: Any, ends_after: Any, starts_before: Any, source: Any) -> Any:
        if self.since_ms is not None:
            query = query.where(ends_after >= self.since_ms)
        if self.until_ms is not None:
            query = query.where(starts_before < self.until_ms)
        if self.source_app is not None and source is not None:
            query = query.where(source == self.source_app)
        return query

    def events(self, query: Any) -> Any:
        """Events whose timestamp is in [since, until) from that source."""
        c = EVENTS.c
        return self._bounded(query, c.timestamp, c.timestamp, c.source_app)

    def sessions(self, query: Any) -> Any:
        """Sessions active in [since, until) from that source."""
        c = SESSIONS.c
        return self._bounded(query, c.last_event_at, c.started_at, c.source_app)

    def rollups(self, query: Any) -> Any | None:
        """Rollup hours in [since, until); None when a source is asked for (they have none)."""
        if self.source_app is not None:
            return None
        c = rollups.ROLLUPS.c
        return self._bounded(query, c.bucket_ms, c.bucket_ms, None)


def _line(out: IO[str], value: dict[str, Any]) -> None:
    out.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n")


def _pages(conn: Connection, filters: Filters) -> Iterator[list[Row]]:
    after = 0
    while True:
        query = filters.events(select(EVENTS).where(EVENTS.c.id > after)).order_by(
            EVENTS.c.id).limit(PAGE)
        rows = [dict(r._mapping) for r in conn.execute(query)]
        if not rows:
            return
        yield rows
        after = rows[-1]["id"]


def export(engine: Engine, out: IO[str], filters: Filters, schema_revision: str | None,
           now_ms: int) -> dict[str, int]:
    """Write the export to `out`; returns how many events and sessions it holds."""
    counts = {"events": 0, "sessions": 0, "rollups": 0}
    _line(out, {MARKER: FORMAT, "schema": schema_revision, "exported_at": now_ms,
                "filters": asdict(filters)})
    with engine.connect() as conn:
        for rows in _pages(conn, filters):
            for row in rows:
                _line(out, {"event": {k: row[k] for k in COLUMNS}})
            counts["events"] += len(rows)
        query = filters.sessions(select(SESSIONS)).order_by(SESSIONS.c.started_at,
                                                             SESSIONS.c.id)
        for session in conn.execute(query):
            _line(out, {"session": dict(session._mapping)})
            counts["sessions"] += 1
        query = filters.rollups(select(rollups.ROLLUPS))
        if query is not None:
            for rollup in conn.execute(query):
                _line(out, {"rollup": dict(rollup._mapping)})
                counts["rollups"] += 1
    _line(out, {"end": counts})
    return counts


def is_export(path: Path) -> bool:
    """True when the file starts with an export header line."""
    if not path.is_file():
        return False
    with path.open("rb") as f:
        first = f.readline(4096)
    try:
        head = json.loads(first)
    except ValueError:
        return False
    return isinstance(head, dict) and MARKER in head


@dataclass
class ImportReport:
    """What importing export files did."""

    export_files: int = 0
    events: int = 0
    stored: int = 0
    duplicates: int = 0
    sessions: int = 0
    sessions_stored: int = 0
    sessions_kept: int = 0
    rollups: int = 0
    complete: bool = True

    def as_dict(self) -> dict[str, Any]:
        """Numbers for printing."""
        return asdict(self)


def _restore_sessions(conn: Connection, sessions: list[Row]) -> tuple[int, int]:
    stored = kept = 0
    ids = [s["id"] for s in sessions]
    query = select(SESSIONS.c.id, SESSIONS.c.last_event_at).where(SESSIONS.c.id.in_(ids))
    newest: dict[str, int] = dict(conn.execute(query).tuples().all())
    for session in sessions:
        known = newest.get(session["id"])
        if known is None:
            conn.execute(insert(SESSIONS).values(**session))
        elif session["last_event_at"] > known:
            conn.execute(update(SESSIONS).where(SESSIONS.c.id == session["id"]).values(
                **session))
        else:
            kept += 1
            continue
        stored += 1
    return stored, kept


class _Batch:
    def __init__(self) -> None:
        self.events: list[Row] = []
        self.sessions: list[Row] = []
        self.rollups: list[Row] = []

    def __len__(self) -> int:
        return len(self.events) + len(self.sessions) + len(self.rollups)

    def op(self, report: ImportReport) -> Any:
        events, sessions, counts = self.events, self.sessions, self.rollups

        def write(conn: Connection) -> tuple[None, list[Row]]:
            if events:
                acks, fresh = insert_rows(conn, events)
                hourly.add(conn, fresh)  # the dashboard's hourly counts, as the writer keeps
                report.stored += len(fresh)
                report.duplicates += len(acks) - len(fresh)
            if sessions:
                stored, kept = _restore_sessions(conn, sessions)
                report.sessions_stored += stored
                report.sessions_kept += kept
            if counts:
                rollups.restore(conn, counts)
            return None, []

        return write


def _entries(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        f.readline()  # the header
        for number, text in enumerate(f, start=2):
            try:
                entry = json.loads(text)
            except ValueError:
                raise ValueError(f"{path}:{number}: not a JSON line") from None
            yield entry


def _event_row(value: dict[str, Any]) -> Row:
    missing = [k for k in ("event_uid", "source_app", "session_id", "hook_event_type",
                           "payload", "timestamp", "received_at") if value.get(k) is None]
    if missing:
        raise ValueError(f"an exported event lacks {', '.join(missing)}")
    return {k: value.get(k) for k in COLUMNS}


def _session_row(value: dict[str, Any]) -> Row:
    # Columns a newer version added are left out; the ones this schema has are kept.
    row = {k: v for k, v in value.items() if k in SESSIONS.c}
    if not row.get("id") or row.get("last_event_at") is None:
        raise ValueError("an exported session lacks id or last_event_at")
    return row


async def import_file(writer: Writer, path: Path, report: ImportReport) -> None:
    """Store one export file's events and sessions through `writer` (a transaction per page)."""
    report.export_files += 1
    batch, ended = _Batch(), False
    for entry in _entries(path):
        if "event" in entry:
            batch.events.append(_event_row(entry["event"]))
            report.events += 1
        elif "session" in entry:
            batch.sessions.append(_session_row(entry["session"]))
            report.sessions += 1
        elif "rollup" in entry:
            batch.rollups.append(dict(entry["rollup"]))
            report.rollups += 1
        elif "end" in entry:
            ended = True
        if len(batch) >= PAGE:
            await writer.run(batch.op(report))
            batch = _Batch()
    if len(batch):
        await writer.run(batch.op(report))
    report.complete = report.complete and ended
