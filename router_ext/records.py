"""Event rows as the writer stores them, and their encodings for each surface.

A row is a plain dict keyed by `events` column names. Plain dicts go straight into the
writer's executemany; :class:`StoredEvent` wraps a committed row and caches its JSON and
protobuf forms so a fan-out to many subscribers encodes each event once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from router_ext.ingest.fields import MAX_SAFE_INT, dumps_stored, has_lone_surrogate, loads_stored
from router_ext.v1 import types_pb2

Row = dict[str, Any]
# A row may carry its payload already decoded under this key (not a column), so the sessions
# fold, the metrics listener and to_api do not decode the JSON text normalize just produced.
PAYLOAD_CACHE = "_payload"
Kind = Literal["event", "update"]
T = TypeVar("T")

# The columns a row may carry besides `id`.
COLUMNS = (
    "event_uid", "source_app", "session_id", "hook_event_type", "payload", "timestamp",
    "received_at", "model_name", "chat", "summary", "human_in_the_loop",
    "human_in_the_loop_status", "hitl_status", "host", "agent_id", "tool_name", "tool_use_id",
    "extra",
)


def _loads(text: str | None) -> Any:
    # Rows stored before the field rules may hold NaN/Infinity or a `\ud800` escape: they are
    # read as null and U+FFFD, so every answer stays valid JSON and encodable as UTF-8.
    if text is None:
        return None
    try:
        return loads_stored(text)
    except (ValueError, RecursionError):
        return text  # not JSON at all (a damaged row): shown as the text it is


def _payload_json(text: str) -> str:
    """The stored payload text, spliced as is unless an older row needs it made valid."""
    if "NaN" in text or "Infinity" in text or has_lone_surrogate(text):
        return dumps_stored(_loads(text))
    return text


def _dict(text: str | None) -> dict[str, Any] | None:
    value = _loads(text)
    return value if isinstance(value, dict) and value else None


def _float(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _int(value: Any) -> int:
    number = _float(value)
    return int(number) if 0 <= number <= MAX_SAFE_INT else 0


def decoded_payload(row: Row) -> Any:
    """The payload as a JSON value, from the cache when normalize left it there."""
    cached = row.get(PAYLOAD_CACHE)
    return cached if isinstance(cached, dict) else _loads(row["payload"])


def to_api(row: Row) -> dict[str, Any]:
    """The /events JSON shape: the well-known dashboard's fields plus ours."""
    out = _api_fields(row)
    out["payload"] = decoded_payload(row)
    return out


def to_api_json(row: Row) -> str:
    """:func:`to_api` as JSON text, with the stored payload text spliced in as it is.

    The payload was checked to be a JSON object at ingest; decoding it only to encode it again
    was most of the cost of a 300-event page. `payload` comes last (normalize keeps it out of
    `extra`, so it is there once); JSON readers do not mind the order.
    """
    head = dumps_stored(_api_fields(row))
    return f'{head[:-1]},"payload":{_payload_json(row["payload"])}}}'


def _api_fields(row: Row) -> dict[str, Any]:
    out: dict[str, Any] = {}
    extra = _loads(row.get("extra"))
    if extra and isinstance(extra, dict):
        out.update(extra)
    out.update({
        "id": row["id"],
        "event_uid": row["event_uid"],
        "source_app": row["source_app"],
        "session_id": row["session_id"],
        "hook_event_type": row["hook_event_type"],
        "timestamp": row["timestamp"],
    })
    for key in ("model_name", "summary", "host", "agent_id", "tool_name", "tool_use_id"):
        if row.get(key) is not None:
            out[key] = row[key]
    if row.get("chat") is not None:
        out["chat"] = _loads(row["chat"])
    if row.get("human_in_the_loop") is not None:
        out["humanInTheLoop"] = _loads(row["human_in_the_loop"])
    if row.get("human_in_the_loop_status") is not None:
        out["humanInTheLoopStatus"] = _loads(row["human_in_the_loop_status"])
    return out


def _hitl_proto(text: str | None) -> types_pb2.HumanInTheLoop | None:
    data = _dict(text)
    if data is None:
        return None
    choices = data.get("choices")
    return types_pb2.HumanInTheLoop(
        question=str(data.get("question") or ""),
        type=str(data.get("type") or ""),
        choices=[str(c) for c in choices] if isinstance(choices, list) else [],
        timeout_seconds=_float(data.get("timeout")),
        response_websocket_url=str(data.get("responseWebSocketUrl") or ""),
        requires_response=bool(data.get("requiresResponse", False)),
    )


def _hitl_status_proto(text: str | None) -> types_pb2.HumanInTheLoopStatus | None:
    data = _dict(text)
    if data is None:
        return None
    response = data.get("response")
    return types_pb2.HumanInTheLoopStatus(
        status=str(data.get("status") or ""),
        response_json="" if response is None else json.dumps(response),
        responded_by=str(data.get("respondedBy") or ""),
        responded_at_ms=_int(data.get("respondedAt")),
        delivery=str(data.get("delivery") or ""),
        delivery_error=str(data.get("deliveryError") or ""),
    )


def to_proto(row: Row) -> types_pb2.Event:
    """The protobuf Event for a stored row."""
    msg = types_pb2.Event(
        id=row["id"],
        event_uid=row["event_uid"],
        source_app=row["source_app"],
        session_id=row["session_id"],
        hook_event_type=row["hook_event_type"],
        payload_json=_payload_json(row["payload"]),
        timestamp_ms=row["timestamp"],
        model_name=row.get("model_name") or "",
        host=row.get("host") or "",
        agent_id=row.get("agent_id") or "",
        tool_name=row.get("tool_name") or "",
        tool_use_id=row.get("tool_use_id") or "",
        summary=row.get("summary") or "",
        chat_json=row.get("chat") or "",
    )
    hitl = _hitl_proto(row.get("human_in_the_loop"))
    if hitl is not None:
        msg.human_in_the_loop.CopyFrom(hitl)
    status = _hitl_status_proto(row.get("human_in_the_loop_status"))
    if status is not None:
        msg.human_in_the_loop_status.CopyFrom(status)
    return msg


@dataclass(slots=True)
class SessionNote:
    """What one event did to its harness session, noted by the sessions fold."""

    source: str
    started: bool = False
    ended: str | None = None  # the session's final status when this event ended it
    duration_s: float = 0.0
    label: str | None = None
    # The tool call this event was the first report of (hooks and OTLP report the same call).
    tool: str | None = None
    tool_outcome: str | None = None  # success | failure | denied
    tool_seconds: float | None = None


@dataclass(slots=True)
class FoldNotes:
    """What the sessions fold changed in one transaction, for the steps after commit."""

    sessions: dict[str, SessionNote] = field(default_factory=dict)  # by event_uid
    # Tokens and cost the batch added to the totals, per model (runs counted once).
    usage: dict[str, dict[str, Any]] = field(default_factory=dict)
    unpriced: list[str] = field(default_factory=list)
    # Growth of the counts only OpenTelemetry reports (lines, commits...), summed.
    counters: dict[str, float] = field(default_factory=dict)
    # Growth per (user, project): cost_usd, tokens, sessions, tool_failures.
    attributed: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    # Each session's change in counted usage, per model, signed (a Ralph task adopting the
    # session it ran moves that usage from one to the other): the usage_ledger rows.
    increments: list[dict[str, Any]] = field(default_factory=list)

    @staticmethod
    def merged(first: FoldNotes | None, second: FoldNotes | None) -> FoldNotes | None:
        """Both notes as one (a batch committed in parts); None when neither has any."""
        if first is None or second is None:
            return first or second
        return FoldNotes({**first.sessions, **second.sessions},
                         _sum_by_key(first.usage, second.usage),
                         first.unpriced + second.unpriced,
                         _sum(first.counters, second.counters),
                         _sum_by_key(first.attributed, second.attributed),
                         first.increments + second.increments)


def _sum(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """Two maps of numbers added key by key (a missing or null value counts 0)."""
    out = dict(first)
    for name, value in second.items():
        out[name] = (out.get(name) or 0) + (value or 0)
    return out


def _sum_by_key(first: dict[Any, dict[str, Any]], second: dict[Any, dict[str, Any]]
                ) -> dict[Any, dict[str, Any]]:
    """Two maps of number maps (per model, per user and project) added key by key."""
    out = dict(first)
    for key, values in second.items():
        out[key] = _sum(out.get(key, {}), values)
    return out


@dataclass(slots=True)
class StoredEvent:
    """A committed row on its way to subscribers; encodings are built once, on first use."""

    row: Row
    kind: Kind = "event"
    _json: str | None = field(default=None, repr=False)
    _proto: types_pb2.Event | None = field(default=None, repr=False)
    # Each transport's own encoding (a gRPC message, a WebSocket frame), built once.
    _encoded: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def id(self) -> int:
        """The event's id (the stream cursor)."""
        return int(self.row["id"])

    @property
    def interim(self) -> bool:
        """An update that another will follow: a HITL answer still on its way to the agent.
        Clients of the well-known dashboard append every message, so they get only the last."""
        status = self.row.get("human_in_the_loop_status") if self.kind == "update" else None
        return isinstance(status, str) and '"delivery":"sending"' in status

    def json(self) -> str:
        """The /events JSON object, encoded."""
        if self._json is None:
            self._json = to_api_json(self.row)
        return self._json

    def proto(self) -> types_pb2.Event:
        """The protobuf Event."""
        if self._proto is None:
            self._proto = to_proto(self.row)
        return self._proto

    def encoded(self, name: str, build: Callable[[StoredEvent], T]) -> T:
        """`build(self)`, computed on first use and kept under `name`: the same event object
        goes to every subscriber, so a transport encodes it once for all of them."""
        try:
            return self._encoded[name]
        except KeyError:
            value = self._encoded[name] = build(self)
            return value
