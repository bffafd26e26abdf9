"""Every accepted wire format becomes an event row here, and only here.

Each function validates as it goes and raises :class:`InvalidInput` naming the field, so an
adapter never writes half of a bad request.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from router_ext.errors import InvalidInput, TooLarge
from router_ext.records import PAYLOAD_CACHE, Row
from router_ext.v1 import types_pb2
from router_ext_client.uid import new_uid

# Fields of the /events body that map to columns; any other top-level field is kept in `extra`.
EVENT_FIELDS = frozenset({
    "event_uid", "source_app", "session_id", "hook_event_type", "payload", "timestamp",
    "model_name", "chat", "summary", "humanInTheLoop", "humanInTheLoopStatus", "host",
    "agent_id", "tool_name", "tool_use_id", "id",
})
MAX_NAME = 256
MAX_UID = 128
HITL_TYPES = ("permission", "question", "choice")


def now_ms() -> int:
    """Unix time in milliseconds."""
    return time.time_ns() // 1_000_000


def parse_timestamp(value: Any, field: str = "timestamp") -> int | None:
    """Unix milliseconds from a number (s or ms) or an ISO 8601 string; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidInput(f"'{field}' must be a number or an ISO 8601 string", field=field)
    if isinstance(value, int | float):
        if value < 0:
            raise InvalidInput(f"'{field}' must not be negative", field=field)
        # Seconds are < 1e11 until the year 5138; milliseconds are larger than that today.
        return int(value * 1000) if value < 1e11 else int(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidInput(f"'{field}' is not an ISO 8601 time: {value!r}",
                               field=field) from exc
        return int(parsed.timestamp() * 1000)
    raise InvalidInput(f"'{field}' must be a number or an ISO 8601 string", field=field)


def _text(value: Any, name: str, *, required: bool, limit: int = MAX_NAME) -> str | None:
    if value is None or value == "":
        if required:
            raise InvalidInput(f"'{name}' is required", field=name)
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"'{name}' must be a string, got {type(value).__name__}", field=name)
    if len(value) > limit:
        raise TooLarge(f"'{name}' is longer than {limit} characters", field=name)
    return value


def _int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"'{name}' must be a number, got {type(value).__name__}", field=name)
    if isinstance(value, float) and not value.is_integer():
        value = int(value)
    if value < 0:
        raise InvalidInput(f"'{name}' must not be negative", field=name)
    return int(value)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def parse_json_object(text: str, name: str, *, limit: int) -> dict[str, Any]:
    """Decode JSON text that must be an object."""
    if len(text) > limit:
        raise TooLarge(f"'{name}' is larger than the limit of {limit} bytes", field=name)
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"'{name}' is not valid JSON: {exc}", field=name) from exc
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
    _text(value.get("question"), "humanInTheLoop.question", required=True, limit=65_536)
    choices = value.get("choices")
    if kind == "choice" and not (
        isinstance(choices, list) and choices and all(isinstance(c, str) for c in choices)
    ):
        raise InvalidInput(
            "'humanInTheLoop.choices' must be a non-empty list of strings for type choice",
            field="humanInTheLoop.choices",
        )
    timeout = value.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
    ):
        raise InvalidInput("'humanInTheLoop.timeout' must be a positive number of seconds",
                           field="humanInTheLoop.timeout")
    _text(value.get("responseWebSocketUrl"), "humanInTheLoop.responseWebSocketUrl",
          required=False, limit=2048)
    return {**value, "type": kind}


def _derived(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    return value if isinstance(value, str) and value else None


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
    """A complete row; tool, agent and model ids come from the payload when not given."""
    hitl = optional.get("human_in_the_loop")
    row: Row = {
        "event_uid": event_uid or new_uid(),
        "source_app": source_app,
        "session_id": session_id,
        "hook_event_type": hook_event_type,
        "payload": payload_text if payload_text is not None else _dumps(payload),
        "timestamp": timestamp or now_ms(),
        "received_at": now_ms(),
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


def from_events_body(body: Any, *, max_payload_bytes: int) -> Row:
    """The well-known dashboard's `POST /events` body."""
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    payload = body.get("payload")
    if payload is None:
        raise InvalidInput("'payload' is required", field="payload")
    if not isinstance(payload, dict):
        raise InvalidInput("'payload' must be an object", field="payload")
    payload_text = _dumps(payload)
    if len(payload_text) > max_payload_bytes:
        raise TooLarge(f"'payload' is larger than the limit of {max_payload_bytes} bytes",
                       field="payload")
    chat = body.get("chat")
    if chat is not None and not isinstance(chat, list):
        raise InvalidInput("'chat' must be a list of messages", field="chat")
    extra = {k: v for k, v in body.items() if k not in EVENT_FIELDS}
    return build_row(
        source_app=_text(body.get("source_app"), "source_app", required=True) or "",
        session_id=_text(body.get("session_id"), "session_id", required=True) or "",
        hook_event_type=_text(body.get("hook_event_type"), "hook_event_type",
                              required=True) or "",
        payload=payload,
        payload_text=payload_text,
        event_uid=_text(body.get("event_uid"), "event_uid", required=False, limit=MAX_UID),
        timestamp=_int(body.get("timestamp"), "timestamp"),
        model_name=_text(body.get("model_name"), "model_name", required=False),
        chat=None if chat is None else _dumps(chat),
        summary=_text(body.get("summary"), "summary", required=False, limit=65_536),
        human_in_the_loop=validate_hitl(body.get("humanInTheLoop")),
        host=_text(body.get("host"), "host", required=False),
        agent_id=_text(body.get("agent_id"), "agent_id", required=False),
        tool_name=_text(body.get("tool_name"), "tool_name", required=False),
        tool_use_id=_text(body.get("tool_use_id"), "tool_use_id", required=False),
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


def _proto_name(value: str, name: str) -> str:
    if not value:
        raise InvalidInput(f"'{name}' is required", field=name)
    if len(value) > MAX_NAME:
        raise TooLarge(f"'{name}' is longer than {MAX_NAME} characters", field=name)
    return value


def _proto_optional(value: str, name: str, limit: int = MAX_NAME) -> str | None:
    if len(value) > limit:
        raise TooLarge(f"'{name}' is longer than {limit} characters", field=name)
    return value or None


def _proto_chat(text: str) -> str | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"'chat_json' is not valid JSON: {exc}", field="chat_json") from exc
    if not isinstance(value, list):
        raise InvalidInput("'chat_json' must be a JSON array", field="chat_json")
    return text


def from_proto(msg: types_pb2.Event, *, max_payload_bytes: int) -> Row:
    """A protobuf Event from a gRPC client.

    This is the gRPC ingest hot path, so it builds the row directly (each field is read from
    the message once) instead of going through build_row's keyword arguments; events carrying
    a human-in-the-loop request take build_row for its pending status.
    """
    payload_text = msg.payload_json or "{}"
    payload = parse_json_object(payload_text, "payload_json", limit=max_payload_bytes)
    if "\n" in payload_text or "\r" in payload_text:
        # Stored payload text is kept on one line: SSE and the /events pages splice it as is.
        payload_text = _dumps(payload)
    if msg.timestamp_ms < 0:
        raise InvalidInput("'timestamp_ms' must not be negative", field="timestamp_ms")
    fields: dict[str, Any] = {
        "source_app": _proto_name(msg.source_app, "source_app"),
        "session_id": _proto_name(msg.session_id, "session_id"),
        "hook_event_type": _proto_name(msg.hook_event_type, "hook_event_type"),
        "event_uid": _proto_optional(msg.event_uid, "event_uid", MAX_UID) or new_uid(),
        "model_name": (_proto_optional(msg.model_name, "model_name")
                       or _derived(payload, "model")),
        "chat": _proto_chat(msg.chat_json),
        "summary": msg.summary or None,
        "host": _proto_optional(msg.host, "host"),
        "agent_id": _proto_optional(msg.agent_id, "agent_id") or _derived(payload, "agent_id"),
        "tool_name": (_proto_optional(msg.tool_name, "tool_name")
                      or _derived(payload, "tool_name")),
        "tool_use_id": (_proto_optional(msg.tool_use_id, "tool_use_id")
                        or _derived(payload, "tool_use_id")),
    }
    if msg.HasField("human_in_the_loop"):
        hitl = validate_hitl(_hitl_from_proto(msg.human_in_the_loop))
        return build_row(payload=payload, payload_text=payload_text,
                         timestamp=msg.timestamp_ms or None, human_in_the_loop=hitl, **fields)
    received = now_ms()
    fields.update(payload=payload_text, timestamp=msg.timestamp_ms or received,
                  received_at=received, human_in_the_loop=None, human_in_the_loop_status=None,
                  hitl_status=None, extra=None)
    return fields
