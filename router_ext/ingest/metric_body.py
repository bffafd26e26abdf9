"""The /metrics/harness body (Ralph loops, the harness API) as an event row.

A metric is stored as an ordinary event: `source_app` is its source (ralph, api, ...),
`hook_event_type` its event name, `session_id` the loop or job it belongs to, and `payload`
the body itself, so it streams and replays like every other event.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf.json_format import MessageToDict

from router_ext.errors import InvalidInput
from router_ext.ingest.normalize import MAX_NAME, MAX_UID, build_row, parse_timestamp
from router_ext.records import Row
from router_ext.v1 import types_pb2

STRING_FIELDS = ("source", "event", "label", "task_id", "task_title", "error", "model",
                 "claude_session_id", "project", "host", "session_id", "event_uid")
INT_FIELDS = ("duration_ms", "exit_code", "num_turns", "completed_tasks", "failed_tasks",
              "input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens")
TOKEN_KEYS = ("input", "output", "cache_read", "cache_creation")


def _check_types(body: dict[str, Any]) -> None:
    for name in STRING_FIELDS:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidInput(f"'{name}' must be a string, got {type(value).__name__}",
                               field=name)
        limit = MAX_UID if name == "event_uid" else 65_536 if name in (
            "error", "task_title") else MAX_NAME
        if isinstance(value, str) and len(value) > limit:
            raise InvalidInput(f"'{name}' is longer than {limit} characters", field=name)
    for name in (*INT_FIELDS, "cost_usd"):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise InvalidInput(f"'{name}' must be a number, got {type(value).__name__}",
                               field=name)
    success = body.get("success")
    if success is not None and not isinstance(success, bool):
        raise InvalidInput("'success' must be true or false", field="success")
    tokens = body.get("tokens")
    if tokens is not None and not isinstance(tokens, dict):
        raise InvalidInput("'tokens' must be an object", field="tokens")


def from_metric_dict(body: Any) -> Row:
    """Validate a /metrics/harness body and turn it into an event row."""
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    for name in ("source", "event"):
        if not body.get(name):
            raise InvalidInput(f"'{name}' is required", field=name)
    _check_types(body)
    session = body.get("session_id") or body.get("task_id") or body.get("label") or body["source"]
    return build_row(
        source_app=body["source"],
        session_id=session,
        hook_event_type=body["event"],
        payload=body,
        event_uid=body.get("event_uid"),
        timestamp=parse_timestamp(body.get("timestamp")),
        model_name=body.get("model"),
        host=body.get("host"),
    )


def from_metric_proto(msg: types_pb2.HarnessMetric) -> Row:
    """A protobuf HarnessMetric as an event row (same rules as the JSON body)."""
    body: dict[str, Any] = MessageToDict(msg, preserving_proto_field_name=True)
    extra = body.pop("extra_json", None)
    if extra:
        try:
            extra_value = json.loads(extra)
        except ValueError as exc:
            raise InvalidInput(f"'extra_json' is not valid JSON: {exc}",
                               field="extra_json") from exc
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
