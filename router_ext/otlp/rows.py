"""What every OTLP signal's translation shares: the result with its rejections, and rows.

An OTLP record becomes one `events` row. Its payload is the record's attributes as sent, plus
one reserved key, `otlp`, holding what the record says besides attributes (signal, scope,
resource, body, ids). The event_uid is a hash of the record and its resource, so an exporter
retrying a request it believes failed stores nothing twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from router_ext.errors import InvalidInput, TooLarge
from router_ext.ingest.fields import dumps
from router_ext.ingest.normalize import MAX_NAME, build_row
from router_ext.otlp.resource import Sender
from router_ext.records import Row

META = "otlp"  # the payload key router-ext adds; everything else is the sender's
MAX_EVENT_TYPE = 128
MAX_PROBLEMS = 5
OPTIONAL_COLUMNS = ("model_name", "host", "tool_name", "tool_use_id", "agent_id")


@dataclass
class Translation:
    """Rows to store, and how many records were refused and why (OTLP's partial success)."""

    rows: list[Row] = field(default_factory=list)
    rejected: int = 0
    problems: list[str] = field(default_factory=list)

    def reject(self, count: int, problem: str) -> None:
        """Refuse `count` records (or data points) for one reason."""
        self.rejected += count
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    @property
    def message(self) -> str:
        """The partial-success error message: the first few reasons."""
        more = " (and more)" if self.rejected > len(self.problems) else ""
        return "; ".join(self.problems) + more


@dataclass(frozen=True, slots=True)
class Scope:
    """One instrumentation scope's batch, with the sender it came from."""

    sender: Sender
    resource_bytes: bytes  # the resource, serialized: part of every event_uid
    name: str
    batch: Any  # ScopeLogs | ScopeMetrics | ScopeSpans


def scopes(resources: Iterable[Any], field_name: str, source_app: str) -> Iterator[Scope]:
    """Every scope batch of a request (`field_name`: scope_logs, scope_metrics, scope_spans)."""
    for item in resources:
        sender = Sender.of(item.resource, source_app)
        resource_bytes = item.resource.SerializeToString(deterministic=True)
        for batch in getattr(item, field_name):
            yield Scope(sender, resource_bytes, batch.scope.name, batch)


def uid(*parts: bytes) -> str:
    """A stable event_uid for content: retries of one record map to one row."""
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return "otlp-" + digest.hexdigest()


def _name(value: str, field_name: str, limit: int = MAX_NAME) -> str:
    if len(value) > limit:
        raise TooLarge(f"'{field_name}' is longer than {limit} characters: {value[:40]!r}...",
                       field=field_name)
    return value


def make_row(sender: Sender, *, session_id: str, name: str, payload: dict[str, Any],
             timestamp_ms: int, event_uid: str, limit: int, summary: str | None = None,
             columns: dict[str, Any] | None = None) -> Row:
    """One event row, or InvalidInput/TooLarge naming what does not fit."""
    text = dumps(payload)  # values.py made every number finite
    if len(text) > limit:
        raise TooLarge(f"a {name} record's attributes are larger than {limit} bytes",
                       field="attributes")
    fitting: dict[str, Any] = {k: v for k, v in (columns or {}).items()
               if k in OPTIONAL_COLUMNS and isinstance(v, str) and 0 < len(v) <= MAX_NAME}
    row = build_row(
        source_app=_name(sender.source_app, "service.name"),
        session_id=_name(session_id or sender.source_app, "session.id"),
        hook_event_type=_name(name, "event.name", MAX_EVENT_TYPE),
        payload=payload, payload_text=text, event_uid=event_uid,
        timestamp=timestamp_ms or None, summary=summary, **fitting)
    for column in OPTIONAL_COLUMNS:  # build_row may take these from the payload as sent
        value = row.get(column)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_NAME):
            row[column] = None
    return row


def refuse(translation: Translation, exc: InvalidInput, what: str, count: int = 1) -> None:
    """Record an InvalidInput raised for one record as a rejection."""
    translation.reject(count, f"{what}: {exc.message}")
