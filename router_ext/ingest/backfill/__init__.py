"""Backfill: Claude Code transcript folders, JSONL hook logs and PAI's capture-all-events logs
into events and sessions.

:func:`discover` walks the given paths; :func:`import_paths` stores what it finds through a
core's writer, in batches, so the sessions fold runs exactly as for live events. Uids come from
content, so importing the same files twice stores nothing the second time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from router_ext.errors import InvalidInput, RouterExtError
from router_ext.ingest.backfill.hooklogs import hook_log_events, is_hook_log
from router_ext.ingest.backfill.pai_logs import is_pai_log, pai_log_events
from router_ext.ingest.backfill.transcripts import ImportedEvent, transcript_events
from router_ext.ingest.normalize import build_row

if TYPE_CHECKING:
    from router_ext.runtime import RouterExt

BATCH = 500
log = logging.getLogger(__name__)


@dataclass
class ImportReport:
    """What an import did."""

    transcripts: int = 0
    hook_logs: int = 0
    pai_logs: int = 0
    events: int = 0
    stored: int = 0
    duplicates: int = 0
    sessions: set[str] = field(default_factory=set)
    counters: dict[str, int] = field(default_factory=lambda: {"malformed_lines": 0,
                                                              "refused": 0})

    def as_dict(self) -> dict[str, int]:
        """Numbers for printing."""
        return {"transcripts": self.transcripts, "hook_logs": self.hook_logs,
                "pai_logs": self.pai_logs,
                "events": self.events, "stored": self.stored, "duplicates": self.duplicates,
                "sessions": len(self.sessions), **self.counters}


def discover(paths: Iterable[Path]) -> Iterator[tuple[str, Path]]:
    """("transcript" | "hooklog" | "pai", file) for every importable file under the paths."""
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            if is_pai_log(path):
                yield "pai", path
            elif is_hook_log(path):
                yield "hooklog", path
            elif path.suffix == ".jsonl" and "subagents" not in path.parts:
                yield "transcript", path  # subagent files are read with their session


def events(paths: Iterable[Path], report: ImportReport,
           idle_seconds: float) -> Iterator[ImportedEvent]:
    """Every event the files describe."""
    finished_before = int((time.time() - idle_seconds) * 1000)
    for kind, path in discover(paths):
        if kind == "hooklog":
            report.hook_logs += 1
            yield from hook_log_events(path, report.counters)
        elif kind == "pai":
            report.pai_logs += 1
            yield from pai_log_events(path, report.counters)
        else:
            report.transcripts += 1
            yield from transcript_events(path, finished_before_ms=finished_before,
                                         stats=report.counters)


async def import_paths(core: RouterExt, paths: Iterable[Path], *,
                       source_app: str = "claude-code") -> ImportReport:
    """Store the events of every file under `paths` (through the writer); returns a report."""
    report = ImportReport()
    batch = []
    for event in events(paths, report, core.settings.session_idle_seconds):
        report.events += 1
        try:  # the same field rules as every other input; a refused event is counted, skipped
            row = build_row(source_app=event.source_app or source_app,
                            session_id=event.session_id,
                            hook_event_type=event.hook_event_type, payload=event.payload,
                            event_uid=event.event_uid, timestamp=event.timestamp)
        except InvalidInput as exc:
            _refused(report, event.event_uid, exc)
            continue
        report.sessions.add(event.session_id)
        batch.append(row)
        if len(batch) >= BATCH:
            await _store(core, batch, report)
            batch = []
    if batch:
        await _store(core, batch, report)
    return report


async def _store(core: RouterExt, rows: list[dict[str, object]], report: ImportReport) -> None:
    acks = await core.ingest(rows, "import")
    for ack in acks:
        if ack.error is not None:
            _refused(report, ack.event_uid, ack.error)
        elif ack.duplicate:
            report.duplicates += 1
        else:
            report.stored += 1


def _refused(report: ImportReport, uid: str, exc: RouterExtError) -> None:
    log.warning("import: event %s refused: %s", uid, exc.message)
    report.counters["refused"] = report.counters.get("refused", 0) + 1
