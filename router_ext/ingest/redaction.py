"""Redaction at ingest: every stored text column of every event, whatever the transport.

The shapes live in router_ext_client.redact, shared with the clients. Rows are redacted in
place in RouterExt.ingest, before the writer sees them, so the database, every stream and the
answer to the sender carry markers only. On by default (ROUTER_EXT_REDACT=0 turns it off);
ROUTER_EXT_REDACT_PATTERNS adds patterns. `harness_redacted_values_total{kind}` counts the
values replaced here and the markers that arrive already made by a client.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from ahocorasick_rs import AhoCorasick
from prometheus_client import CollectorRegistry, Counter

from router_ext.records import PAYLOAD_CACHE, Row
from router_ext.settings import Settings
from router_ext_client.redact import SHAPES, TRIGGERS, Redactor, load_patterns

log = logging.getLogger(__name__)
JSON_COLUMNS = ("payload", "chat", "human_in_the_loop", "extra")
TEXT_COLUMNS = ("summary",)
KINDS_CAP = 64  # custom kinds come from a file; the label stays bounded anyway
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def build_redactor(settings: Settings) -> Redactor | None:
    """The redactor the settings ask for; None when redaction is off."""
    if not settings.redact:
        return None
    extra = load_patterns(settings.redact_patterns_path) if settings.redact_patterns_path \
        else []
    redactor = Redactor(extra)
    redactor.any_trigger = trigger_search()
    return redactor


def trigger_search() -> Callable[[str], bool]:
    """Whether lowered text holds any redaction trigger word, in one pass over it.

    The pre-scan decides for every event whether it needs the patterns at all; as one substring
    search per trigger word it was the largest single line of the ingest profile.
    """
    automaton = AhoCorasick(list(TRIGGERS))
    return lambda lowered: bool(automaton.find_matches_as_indexes(lowered))


class Redaction:
    """Applies the redactor to rows and counts what it replaced."""

    def __init__(self, settings: Settings, registry: CollectorRegistry) -> None:
        self.redactor = build_redactor(settings)
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
        for row in rows:
            self._row(redactor, row, counts)
        for kind, n in counts.items():
            self._count(kind, n)

    @staticmethod
    def _row(redactor: Redactor, row: Row, counts: dict[str, int]) -> None:
        for column in JSON_COLUMNS:
            text = row.get(column)
            if text:
                new = redactor.scrub_json(text, counts, _encode)
                if new is not text:
                    row[column] = new
                    if column == "payload":
                        row.pop(PAYLOAD_CACHE, None)  # decoded again from the redacted text
        for column in TEXT_COLUMNS:
            text = row.get(column)
            if text and redactor.might_hold(text):
                row[column] = redactor.text(text, counts)

    def _count(self, kind: str, n: int) -> None:
        child = self._children.get(kind)
        if child is None:
            label = kind if len(self._children) < KINDS_CAP else "other"
            child = self._children.setdefault(kind, self.counter.labels(label))
        child.inc(n)
