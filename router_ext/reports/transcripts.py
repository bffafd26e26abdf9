"""Report entries straight from Claude Code transcripts: one per API response, no server.

A projects folder (`~/.claude/projects`) holds `<project>/<session>.jsonl` and each session's
subagents as `<project>/<session>/subagents/*.jsonl`. Claude Code writes one line per content
block of a streamed response, each repeating the response's usage, and the first of them carries
only the output tokens streamed so far. So every response counts once across all files: lines are
grouped by message.id + requestId (:func:`router_ext_client.usage.response_key`), the line with
the most output tokens (the complete one) is its usage, and the response is dated by its first
line. Files are read in the order of their first timestamp, so a resumed session that repeats
earlier responses leaves them with the session that made them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from router_ext.reports.entries import Entry, projects_dir, timestamp_ms
from router_ext.sessions.pricing import PriceTable
from router_ext_client.lines import assistant_response, json_object_line
from router_ext_client.usage import ModelUsage


@dataclass(frozen=True, slots=True)
class TranscriptFile:
    """One transcript and the session and project it belongs to."""

    path: Path
    project: str
    session_id: str


def transcript_files(root: str | Path, project: str | None = None) -> list[TranscriptFile]:
    """Every transcript under a projects folder (subagents with their session)."""
    base = projects_dir(root)
    found = []
    for path in sorted(base.rglob("*.jsonl")):
        parts = path.relative_to(base).parts
        if len(parts) < 2 or (project is not None and parts[0] != project):
            continue
        session = path.stem if len(parts) == 2 else parts[1]
        found.append(TranscriptFile(path, parts[0], session))
    return found


def first_timestamp(path: Path) -> int | None:
    """The first timestamp in a transcript (they are written in time order)."""
    with path.open("rb") as handle:
        for line in handle:
            obj = json_object_line(line) if line.strip() else None
            stamp = timestamp_ms(obj.get("timestamp")) if obj else None
            if stamp is not None:
                return stamp
    return None


class Responses:
    """Collects responses across files, each once, in the order they were first seen."""

    def __init__(self) -> None:
        self.by_key: dict[str, Entry] = {}
        self.malformed_lines = 0

    @property
    def entries(self) -> list[Entry]:
        """The responses seen so far, in first-seen order."""
        return list(self.by_key.values())

    def add_lines(self, lines: Iterable[bytes | str], source: TranscriptFile) -> None:
        """Fold a file's lines in."""
        for line in lines:
            if not line.strip():
                continue
            obj = json_object_line(line)
            if obj is None:
                self.malformed_lines += 1
            else:
                self.add_object(obj, source)

    def add_object(self, obj: dict[str, Any], source: TranscriptFile) -> None:
        """Fold one decoded line in: a new response, or a longer line of a known one."""
        response = assistant_response(obj)
        at = timestamp_ms(obj.get("timestamp"))
        if response is None or at is None:
            return
        key, model, message = response
        usage = ModelUsage.from_api_usage(message.get("usage"))
        known = self.by_key.get(key)
        if known is None:
            self.by_key[key] = Entry(at, source.session_id, source.project, model, usage)
        elif usage.output_tokens > known.usage.output_tokens:
            known.usage = usage  # the complete line of a streamed response


def price_entries(entries: Iterable[Entry], prices: PriceTable) -> set[str]:
    """Set each entry's cost from the table; returns the models it has no price for."""
    unpriced: set[str] = set()
    for entry in entries:
        cost = prices.model_cost(entry.model, entry.usage)
        if cost is None:
            unpriced.add(entry.model)
        entry.cost = cost or 0.0
    return unpriced


def read_entries(root: str | Path, prices: PriceTable, *,
                 project: str | None = None) -> tuple[list[Entry], set[str]]:
    """Every response under a projects folder, priced; and the models with no price."""
    files = transcript_files(root, project)
    stamped = [(first_timestamp(f.path), n, f) for n, f in enumerate(files)]
    # Files without a timestamp last, as ccusage orders them.
    stamped.sort(key=lambda item: (item[0] is None, item[0] or 0, item[1]))
    responses = Responses()
    for _, _, source in stamped:
        with source.path.open("rb") as handle:
            responses.add_lines(handle, source)
    entries = responses.entries
    return entries, price_entries(entries, prices)
