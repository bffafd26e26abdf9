"""Redaction at ingest: every stored text column of every event, whatever the transport.

The shapes live in router_ext_client.redact, shared with the clients. Rows are redacted in
place in RouterExt.ingest, before the writer sees them, so the database, every stream and the
answer to the sender carry markers only. On by default (ROUTER_EXT_REDACT=0 turns it off);
ROUTER_EXT_REDACT_PATTERNS adds patterns. `harness_redacted_values_total{kind}` counts the
values replaced here and the markers that arrive already made by a client.
"""

from __future__ import annotations

import bisect
import itertools
import json
import logging
from typing import Any

from ahocorasick_rs import AhoCorasick
from prometheus_client import CollectorRegistry, Counter

from router_ext.records import PAYLOAD_CACHE, Row
from router_ext.settings import Settings
from router_ext_client.redact import SHAPES, TRIGGERS, Redactor, load_patterns

log = logging.getLogger(__name__)
JSON_COLUMNS = ("payload", "chat", "human_in_the_loop", "extra")
TEXT_COLUMNS = ("summary",)
COLUMNS = JSON_COLUMNS + TEXT_COLUMNS
KINDS_CAP = 64  # custom kinds come from a file; the label stays bounded anyway
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def build_redactor(settings: Settings, search: TriggerSearch | None = None
                   ) -> Redactor | None:
    """The redactor the settings ask for, pre-scanning with `search` (a new one by default);
    None when redaction is off."""
    if not settings.redact:
        return None
    extra = load_patterns(settings.redact_patterns_path) if settings.redact_patterns_path \
        else []
    redactor = Redactor(extra)
    redactor.any_trigger = search or TriggerSearch()
    return redactor


class TriggerSearch:
    """Whether lowered text holds any redaction trigger word, in one pass over it.

    The pre-scan decides for every event whether it needs the patterns at all; as one substring
    search per trigger word it was the largest single line of the ingest profile.
    """

    def __init__(self) -> None:
        self._automaton = AhoCorasick(list(TRIGGERS))

    def __call__(self, lowered: str) -> bool:
        return bool(self._automaton.find_matches_as_indexes(lowered))

    def each(self, texts: list[str]) -> list[bool]:
        """For each text, whether its lowered form holds a trigger: one search for them all.

        The search lets go of the interpreter lock, and taking it back waits up to the switch
        interval (5 ms) while the writer thread runs Python: one call per event of a batch
        measured 1,053 us a call beside a busy thread against 3.9 us alone, so a batch is
        searched once, joined by a character no trigger holds.
        """
        lowered = [text.lower() for text in texts]
        starts = list(itertools.accumulate((len(t) + 1 for t in lowered), initial=0))
        found = [False] * len(texts)
        for _pattern, start, _end in self._automaton.find_matches_as_indexes("\0".join(lowered)):
            found[bisect.bisect_right(starts, start) - 1] = True
        return found


class Redaction:
    """Applies the redactor to rows and counts what it replaced."""

    def __init__(self, settings: Settings, registry: CollectorRegistry) -> None:
        self.search = TriggerSearch()
        self.redactor = build_redactor(settings, self.search)
        self.counter = Counter("harness_redacted_values", "Secret values replaced by a "
                               "marker at ingest, or arriving already marked by a client",
                               ["kind"], registry=registry)
        for kind, *_ in SHAPES:
            self.counter.labels(kind)
        self.counter.labels("secret-field")
        self._children: dict[str, Any] = {}

    def apply(self, rows: list[Row]) -> None:
        """Redact every row in place."""
        redactor = self.redactor
        if redactor is None:
            return
        counts: dict[str, int] = {}
        cells = [(row, column) for row in rows for column in COLUMNS if row.get(column)]
        if len(cells) > 1 and not redactor.custom:
            # Only the texts the batch's one search flagged can hold anything to redact.
            flags = self.search.each([row[column] for row, column in cells])
            cells = [cell for cell, flag in zip(cells, flags, strict=True) if flag]
        for row, column in cells:
            self._cell(redactor, row, column, counts)
        for kind, n in counts.items():
            self._count(kind, n)

    @staticmethod
    def _cell(redactor: Redactor, row: Row, column: str, counts: dict[str, int]) -> None:
        text = row[column]
        if column in TEXT_COLUMNS:
            if redactor.might_hold(text):
                row[column] = redactor.text(text, counts)
            return
        new = redactor.scrub_json(text, counts, _encode)
        if new is not text:
            row[column] = new
            if column == "payload":
                row.pop(PAYLOAD_CACHE, None)  # decoded again from the redacted text

    def _count(self, kind: str, n: int) -> None:
        child = self._children.get(kind)
        if child is None:
            label = kind if len(self._children) < KINDS_CAP else "other"
            child = self._children.setdefault(kind, self.counter.labels(label))
        child.inc(n)
