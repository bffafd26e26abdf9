"""Every accepted wire format becomes an event row here, and only here.

Each function applies the field rules (router_ext.ingest.fields) as it goes and raises
:class:`InvalidInput` naming the field, so an adapter never writes half of a bad request.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from router_ext.errors import InvalidInput, TooLarge
from router_ext.ingest import fields
from router_ext.ingest.fields import MAX_EVENT_TYPE, MAX_NAME, MAX_UID
from router_ext.records import PAYLOAD_CACHE, Row
from router_ext.v1 import types_pb2
from router_ext_client.uid import new_uid

# Fields of the /events body that map to columns; any other top-level field is kept in `extra`.
EVENT_FIELDS = frozenset({
    "event_uid", "source_app", "session_id", "hook_event_type", "payload", "timestamp",
    "model_name", "chat", "summary", "humanInTheLoop", "humanInTheLoopStatus", "host",
    "agent_id", "tool_name", "tool_use_id", "id",
})
# Fields of a flat body stored in columns of their own rather than in its payload.
OWN_COLUMNS = frozenset({"chat", "humanInTheLoop", "humanInTheLoopStatus"})
__all__ = ["MAX_EVENT_TYPE", "MAX_NAME", "MAX_UID", "build_row", "from_events_body",
           "from_proto", "now_ms", "parse_json_object", "parse_timestamp", "validate_hitl"]
HITL_TYPES = ("permission", "question", "choice")
MAX_CHOICES = 100
MAX_CHOICE = 1024
_dumps = fields.dumps


def now_ms() -> int:
    """Unix time in milliseconds."""
    return time.time_ns() // 1_000_000


def parse_timestamp(value: Any, field: str = "timestamp") -> int | None:
    """Unix milliseconds from epoch ms, epoch s or ISO 8601 (see fields.timestamp_ms)."""
    return fields.timestamp_ms(value, field)


def parse_json_object(text: str, name: str, *, limit: int) -> dict[str, Any]:
    """Decode JSON text that must be an object, under the field rules."""
    value = fields.parse_json(text, name, limit=limit)
    if not isinstance(value, dict):
        raise InvalidInput(f"'{name}' must be a JSON object", field=name)
    return value


def validate_hitl(value: Any) -> dict[str, Any] | None:
    """Check a humanInTheLoop object: question, type, choices, timeout, responseWebSocketUrl."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInput("'humanInTheLoop' must be an object", field="humanInTheLoop")
    kind = value.get("type", "question")
    if kind not in HITL_TYPES:
        raise InvalidInput(
            f"'humanInTheLoop.type' must be one of {', '.join(HITL_TYPES)}",
            field="humanInTheLoop.type",
        )
    out = {**value, "type": kind,
           "question": fields.text(value.get("question"), "humanInTheLoop.question",
                                   required=True)}
    choices = value.get("choices")
    if choices is not None or kind == "choice":
        out["choices"] = _choices(choices, required=kind == "choice")
    timeout = fields.timeout_seconds(value.get("timeout"), "humanInTheLoop.timeout")
    if timeout is not None:
        out["timeout"] = timeout
    url = fields.identifier(value.get("responseWebSocketUrl"),
                            "humanInTheLoop.responseWebSocketUrl", limit=fields.MAX_URL)
    if url is not None:
        out["responseWebSocketUrl"] = url
    return out


def _choices(value: Any, *, required: bool) -> list[str]:
    name = "humanInTheLoop.choices"
    if not isinstance(value, list) or (required and not value) or not all(
            isinstance(c, str) for c in value):
        raise InvalidInput(f"'{name}' must be a non-empty list of strings for type choice",
                           field=name)
    if len(value) > MAX_CHOICES:
        raise TooLarge(f"'{name}' has more than {MAX_CHOICES} choices", field=name)
    return [fields.text(c, f"{name}[{i}]", required=True, limit=MAX_CHOICE) or ""
            for i, c in enumerate(value)]


def _derived(payload: Mapping[str, Any], key: str) -> str | None:
    # A column copied from the payload only when it fits the column; the payload keeps it all.
    value = payload.get(key)
    if isinstance(value, str) and value and len(value) <= MAX_NAME and "\x00" not in value:
        return value
    return None


def build_row(
    *,
    source_app: str,
    session_id: str,
    hook_event_type: str,
    payload: dict[str, Any],
    payload_text: str | None = None,
    event_uid: str | None = None,
    timestamp: int | None = None,
    extra: dict[str, Any] | None = None,
    **optional: Any,
) -> Row:
    """A complete row; tool, agent and model ids come from the payload when not given.

    Identifiers and the timestamp are checked here whoever calls. A payload given without its
    text comes from inside the process (a file import, a metric body) and is checked here too;
    `payload_text` is passed only by adapters whose payload went through fields.parse_json.
    """
    if payload_text is None:
        payload = fields.check_value(payload, "payload")
        payload_text = _dumps(payload)
    hitl = optional.get("human_in_the_loop")
    received = now_ms()
    row: Row = {
        "event_uid": fields.identifier(event_uid, "event_uid", limit=MAX_UID) or new_uid(),
        "source_app": fields.required_identifier(source_app, "source_app"),
        "session_id": fields.required_identifier(session_id, "session_id"),
        "hook_event_type": fields.required_identifier(hook_event_type, "hook_event_type",
                                                      MAX_EVENT_TYPE),
        "payload": payload_text,
        "timestamp": fields.integer(timestamp, "timestamp") or received,
        "received_at": received,
        "model_name": optional.get("model_name") or _derived(payload, "model"),
        "chat": optional.get("chat"),
        "summary": optional.get("summary"),
        "human_in_the_loop": None if hitl is None else _dumps(hitl),
        "human_in_the_loop_status": None,
        "hitl_status": None,
        "host": optional.get("host"),
        "agent_id": optional.get("agent_id") or _derived(payload, "agent_id"),
        "tool_name": optional.get("tool_name") or _derived(payload, "tool_name"),
        "tool_use_id": optional.get("tool_use_id") or _derived(payload, "tool_use_id"),
        "extra": _dumps(extra) if extra else None,
    }
    row[PAYLOAD_CACHE] = payload
    if hitl is not None:
        status = {"status": "pending", "requestedAt": row["received_at"]}
        row["human_in_the_loop_status"] = _dumps(status)
        row["hitl_status"] = "pending"
    return row


def payload_text_of(payload: Any, limit: int, name: str = "payload") -> str:
    """The stored text of a payload that must be an object, within `limit` bytes."""
    if payload is None:
        raise InvalidInput(f"'{name}' is required", field=name)
    if not isinstance(payload, dict):
        raise InvalidInput(f"'{name}' must be an object", field=name)
    text = _dumps(payload)
    if len(text) > limit:
        raise TooLarge(f"'{name}' is larger than the limit of {limit} bytes", field=name)
    return text


def from_events_body(body: Any, *, max_payload_bytes: int) -> Row:
    """The well-known dashboard's `POST /events` body (decoded by fields.parse_json)."""
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    flat = "payload" not in body
    # A flat body (PAI's hook library sends no `payload`) is kept as sent as the payload, its
    # ISO timestamp and `agent_type` included; the row gets the normalised values.
    payload = {k: v for k, v in body.items() if k not in OWN_COLUMNS} if flat \
        else body.get("payload")
    payload_text = payload_text_of(payload, max_payload_bytes)
    chat = body.get("chat")
    if chat is not None and not isinstance(chat, list):
        raise InvalidInput("'chat' must be a list of messages", field="chat")
    extra = None if flat else {k: v for k, v in body.items() if k not in EVENT_FIELDS}
    return build_row(
        source_app=body.get("source_app"),  # type: ignore[arg-type]  # checked by build_row
        session_id=body.get("session_id"),  # type: ignore[arg-type]
        hook_event_type=body.get("hook_event_type"),  # type: ignore[arg-type]
        payload=payload,  # type: ignore[arg-type]  # an object: checked by payload_text_of
        payload_text=payload_text,
        event_uid=body.get("event_uid"),
        timestamp=fields.timestamp_ms(body.get("timestamp")),
        model_name=fields.identifier(body.get("model_name"), "model_name"),
        chat=None if chat is None else _dumps(chat),
        summary=fields.text(body.get("summary"), "summary"),
        human_in_the_loop=validate_hitl(body.get("humanInTheLoop")),
        host=fields.identifier(body.get("host"), "host"),
        agent_id=fields.identifier(body.get("agent_id"), "agent_id"),
        tool_name=fields.identifier(body.get("tool_name"), "tool_name"),
        tool_use_id=fields.identifier(body.get("tool_use_id"), "tool_use_id"),
        extra=extra or None,
    )


def _hitl_from_proto(msg: types_pb2.HumanInTheLoop) -> dict[str, Any]:
    data: dict[str, Any] = {"question": msg.question, "type": msg.type or "question"}
    if msg.choices:
        data["choices"] = list(msg.choices)
    if msg.timeout_seconds:
        data["timeout"] = msg.timeout_seconds
    if msg.response_websocket_url:
        data["responseWebSocketUrl"] = msg.response_websocket_url
    if msg.requires_response:
        data["requiresResponse"] = True
    return data


def _proto_chat(text: str) -> str | None:
    if not text:
        return None
    value = fields.parse_json(text, "chat_json", limit=len(text))
    if not isinstance(value, list):
        raise InvalidInput("'chat_json' must be a JSON array", field="chat_json")
    return _dumps(value)


def _proto_id(value: str, name: str, limit: int = MAX_NAME) -> str | None:
    return fields.identifier(value, name, limit=limit)


def from_proto(msg: types_pb2.Event, *, max_payload_bytes: int) -> Row:
    """A protobuf Event from a gRPC client.

    This is the gRPC ingest hot path, so it builds the row directly (each field is read from
    the message once) instead of going through build_row's keyword arguments; events carrying
    a human-in-the-loop request take build_row for its pending status.
    """
    payload_text = msg.payload_json or "{}"
    payload = parse_json_object(payload_text, "payload_json", limit=max_payload_bytes)
    if "\n" in payload_text or "\r" in payload_text or fields.has_lone_surrogate(payload_text):
        # Stored payload text is kept on one line (SSE and the /events pages splice it as is)
        # and holds what the decoded payload holds (a repaired surrogate included).
        payload_text = _dumps(payload)
    timestamp = fields.integer(msg.timestamp_ms, "timestamp_ms")
    row: dict[str, Any] = {
        "source_app": fields.required_identifier(msg.source_app, "source_app"),
        "session_id": fields.required_identifier(msg.session_id, "session_id"),
        "hook_event_type": fields.required_identifier(msg.hook_event_type, "hook_event_type",
                                                      MAX_EVENT_TYPE),
        "event_uid": _proto_id(msg.event_uid, "event_uid", MAX_UID) or new_uid(),
        "model_name": _proto_id(msg.model_name, "model_name") or _derived(payload, "model"),
        "chat": _proto_chat(msg.chat_json),
        "summary": fields.text(msg.summary, "summary"),
        "host": _proto_id(msg.host, "host"),
        "agent_id": _proto_id(msg.agent_id, "agent_id") or _derived(payload, "agent_id"),
        "tool_name": _proto_id(msg.tool_name, "tool_name") or _derived(payload, "tool_name"),
        "tool_use_id": (_proto_id(msg.tool_use_id, "tool_use_id")
                        or _derived(payload, "tool_use_id")),
    }
    if msg.HasField("human_in_the_loop"):
        hitl = validate_hitl(_hitl_from_proto(msg.human_in_the_loop))
        return build_row(payload=payload, payload_text=payload_text,
                         timestamp=timestamp or None, human_in_the_loop=hitl, **row)
    received = now_ms()
    row.update(payload=payload_text, timestamp=timestamp or received, received_at=received,
               human_in_the_loop=None, human_in_the_loop_status=None, hitl_status=None,
               extra=None)
    row[PAYLOAD_CACHE] = payload
    return row
