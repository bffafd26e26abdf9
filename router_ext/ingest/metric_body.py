"""The /metrics/harness body (Ralph loops, the harness API) as an event row.

A metric is stored as an ordinary event: `source_app` is its source (ralph, api, ...),
`hook_event_type` its event name, `session_id` the loop or job it belongs to, and `payload`
the body itself, so it streams and replays like every other event.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.json_format import MessageToDict

from router_ext.errors import InvalidInput
from router_ext.ingest import fields
from router_ext.ingest.fields import MAX_EVENT_TYPE, MAX_NAME, MAX_TEXT, MAX_UID
from router_ext.ingest.normalize import build_row
from router_ext.records import Row
from router_ext.v1 import types_pb2

# Each checked field and its longest accepted length; every other field is kept as sent.
STRING_LIMITS = {"source": MAX_NAME, "event": MAX_EVENT_TYPE, "label": MAX_NAME,
                 "task_id": MAX_NAME, "task_title": MAX_TEXT, "error": MAX_TEXT,
                 "model": MAX_NAME, "claude_session_id": MAX_NAME, "project": MAX_NAME,
                 "host": MAX_NAME, "session_id": MAX_NAME, "event_uid": MAX_UID}
INT32 = 2**31 - 1
# Whole-number fields and their ranges (exit codes may be negative: killed by a signal).
INT_RANGES = {"duration_ms": (0, fields.MAX_SAFE_INT), "exit_code": (-INT32 - 1, INT32),
              "num_turns": (0, INT32), "completed_tasks": (0, INT32),
              "failed_tasks": (0, INT32), "input_tokens": (0, fields.MAX_SAFE_INT),
              "output_tokens": (0, fields.MAX_SAFE_INT),
              "cache_read_tokens": (0, fields.MAX_SAFE_INT),
              "cache_creation_tokens": (0, fields.MAX_SAFE_INT)}
TOKEN_KEYS = ("input", "output", "cache_read", "cache_creation")


def _checked(body: dict[str, Any]) -> dict[str, Any]:
    """The body with its known fields checked (and repaired) under the field rules."""
    out = dict(body)
    for name, limit in STRING_LIMITS.items():
        value = fields.identifier(body.get(name), name, limit=limit)
        if value is not None:
            out[name] = value
    for name, (low, high) in INT_RANGES.items():
        number = fields.integer(body.get(name), name, minimum=low, maximum=high)
        if number is not None:
            out[name] = number
    cost = fields.number(body.get("cost_usd"), "cost_usd")
    if cost is not None:
        out["cost_usd"] = cost
    success = body.get("success")
    if success is not None and not isinstance(success, bool):
        raise InvalidInput("'success' must be true or false", field="success")
    tokens = body.get("tokens")
    if tokens is not None:
        if not isinstance(tokens, dict):
            raise InvalidInput("'tokens' must be an object", field="tokens")
        for key in TOKEN_KEYS:
            if key in tokens:
                fields.integer(tokens[key], f"tokens.{key}")
    return out


def from_metric_dict(body: Any) -> Row:
    """Validate a /metrics/harness body and turn it into an event row."""
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    for name in ("source", "event"):
        if not body.get(name):
            raise InvalidInput(f"'{name}' is required", field=name)
    body = _checked(body)
    session = body.get("session_id") or body.get("task_id") or body.get("label") or body["source"]
    return build_row(
        source_app=body["source"],
        session_id=session,
        hook_event_type=body["event"],
        payload=body,
        event_uid=body.get("event_uid"),
        timestamp=fields.timestamp_ms(body.get("timestamp")),
        model_name=body.get("model"),
        host=body.get("host"),
    )


def from_metric_proto(msg: types_pb2.HarnessMetric) -> Row:
    """A protobuf HarnessMetric as an event row (same rules as the JSON body)."""
    body: dict[str, Any] = MessageToDict(msg, preserving_proto_field_name=True)
    extra = body.pop("extra_json", None)
    if extra:
        extra_value = fields.parse_json(extra, "extra_json", limit=len(extra))
        if not isinstance(extra_value, dict):
            raise InvalidInput("'extra_json' must be a JSON object", field="extra_json")
        body = {**extra_value, **body}
    for key in ("duration_ms", "timestamp_ms"):
        if key in body:
            body[key] = int(body[key])
    if "timestamp_ms" in body:
        body["timestamp"] = body.pop("timestamp_ms")
    tokens = body.get("tokens")
    if isinstance(tokens, dict):
        body["tokens"] = {k: int(v) for k, v in tokens.items() if k in TOKEN_KEYS}
    return from_metric_dict(body)
