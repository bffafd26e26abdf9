"""ExportLogsServiceRequest -> event rows: one row per log record.

The event type is the record's event name: Claude Code's `claude_code.api_request` (its body),
else `event_name` / the `event.name` attribute (OpenTelemetry events, GenAI events), else
`otlp.log`. The session is `session.id`, else `gen_ai.conversation.id`, else the trace id,
else the sender's name, so a service that knows nothing of sessions still gets its records
grouped. Only Claude Code records are checked for meaning (:mod:`router_ext.otlp.claude`);
anything else is stored as sent.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from router_ext.errors import InvalidInput
from router_ext.otlp import claude
from router_ext.otlp.resource import CLAUDE_CODE_PREFIX, Sender
from router_ext.otlp.rows import META, Scope, Translation, make_row, refuse, scopes, uid
from router_ext.otlp.values import any_value, attributes, hex_id, text, to_ms

GENERIC = "otlp.log"
SUMMARY_LIMIT = 500
SESSION_KEYS = ("session.id", "gen_ai.conversation.id")


def event_name(record: LogRecord, attrs: dict[str, Any]) -> str:
    """What kind of event a record is."""
    body = record.body.string_value if record.body.WhichOneof("value") == "string_value" else ""
    event = record.event_name or text(attrs.get("event.name")) or ""
    if event and body.endswith(event) and body.startswith(CLAUDE_CODE_PREFIX):
        return body
    return event or GENERIC


def session_of(sender: Sender, attrs: dict[str, Any], trace_id: str | None) -> str:
    """The session a record belongs to (see the module docstring)."""
    return sender.lookup(attrs, SESSION_KEYS) or trace_id or sender.source_app


def columns_of(sender: Sender, attrs: dict[str, Any]) -> dict[str, Any]:
    """Event columns a record fills: model, tool and agent (Claude Code's or GenAI names)."""
    return {
        "model_name": text(attrs.get("model")) or text(attrs.get("gen_ai.request.model"))
        or text(attrs.get("gen_ai.response.model")),
        "tool_name": text(attrs.get("tool_name")) or text(attrs.get("gen_ai.tool.name")),
        "tool_use_id": text(attrs.get("tool_use_id")) or text(attrs.get("gen_ai.tool.call.id")),
        "agent_id": text(attrs.get("agent_id")) or text(attrs.get("gen_ai.agent.id")),
        "host": sender.lookup(attrs, ("host.name",)),
    }


def _meta(sender: Sender, scope: str, record: LogRecord, name: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"signal": "log", "scope": scope, "resource": sender.attrs}
    body = any_value(record.body)
    if body is not None and body != name:
        meta["body"] = body
    if record.severity_text or record.severity_number:
        meta["severity"] = record.severity_text or int(record.severity_number)
    for key, raw in (("trace_id", record.trace_id), ("span_id", record.span_id)):
        if hex_id(raw):
            meta[key] = hex_id(raw)
    return meta


def translate(request: ExportLogsServiceRequest, *, source_app: str = "",
              limit: int) -> Translation:
    """Every usable record as a row; the others counted as rejected, with reasons."""
    out = Translation()
    for scope in scopes(request.resource_logs, "scope_logs", source_app):
        for record in scope.batch.log_records:
            try:
                out.rows.append(_row(scope, record, limit))
            except InvalidInput as exc:
                refuse(out, exc, "log record")
    return out


def _row(scope: Scope, record: LogRecord, limit: int) -> dict[str, Any]:
    sender = scope.sender
    attrs = attributes(record.attributes)
    name = event_name(record, attrs)
    if name.startswith(CLAUDE_CODE_PREFIX) and sender.is_claude_code(scope.name):
        claude.check(name, attrs)
    meta = _meta(sender, scope.name, record, name)
    body = meta.get("body")
    return make_row(
        sender, session_id=session_of(sender, attrs, meta.get("trace_id")), name=name,
        payload={**attrs, META: meta},
        timestamp_ms=to_ms(record.time_unix_nano or record.observed_time_unix_nano),
        event_uid=uid(scope.resource_bytes, scope.name.encode(),
                      record.SerializeToString(deterministic=True)),
        limit=limit, summary=body[:SUMMARY_LIMIT] if isinstance(body, str) else None,
        columns=columns_of(sender, attrs))
