"""ExportTraceServiceRequest -> event rows: one row per span.

Spans from any service (GenAI instrumentations, Claude Code's tracing beta) are stored with
their service as source_app, the span name as summary and their GenAI attributes in the model
and tool columns. The event type is `gen_ai.<operation>` for GenAI spans
(`gen_ai.operation.name`), else `otlp.span`. Spans are stored, never folded into sessions:
Claude Code reports the same requests as log events, which are.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from router_ext.errors import InvalidInput
from router_ext.otlp.logs import columns_of, session_of
from router_ext.otlp.resource import Sender
from router_ext.otlp.rows import META, Scope, Translation, make_row, refuse, scopes, uid
from router_ext.otlp.values import attributes, hex_id, text, to_ms

GENERIC = "otlp.span"
MAX_SPAN_EVENTS = 50
KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
STATUS = {0: "unset", 1: "ok", 2: "error"}


def _meta(sender: Sender, scope: str, span: Span) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "signal": "span", "scope": scope, "resource": sender.attrs, "name": span.name,
        "kind": KINDS.get(span.kind, str(span.kind)), "trace_id": hex_id(span.trace_id),
        "span_id": hex_id(span.span_id), "parent_span_id": hex_id(span.parent_span_id),
        "start_ms": to_ms(span.start_time_unix_nano), "end_ms": to_ms(span.end_time_unix_nano),
        "status": STATUS.get(span.status.code, str(span.status.code)),
    }
    if span.status.message:
        meta["status_message"] = span.status.message
    if span.events:
        meta["events"] = [{"name": e.name, "time_ms": to_ms(e.time_unix_nano),
                           "attributes": attributes(e.attributes)}
                          for e in span.events[:MAX_SPAN_EVENTS]]
    return meta


def translate(request: ExportTraceServiceRequest, *, source_app: str = "",
              limit: int) -> Translation:
    """Every span as a row; spans that cannot be stored are counted as rejected."""
    out = Translation()
    for scope in scopes(request.resource_spans, "scope_spans", source_app):
        for span in scope.batch.spans:
            try:
                out.rows.append(_row(scope, span, limit))
            except InvalidInput as exc:
                refuse(out, exc, f"span {span.name[:40]!r}")
    return out


def _row(scope: Scope, span: Span, limit: int) -> dict[str, Any]:
    sender = scope.sender
    attrs = attributes(span.attributes)
    meta = _meta(sender, scope.name, span)
    operation = text(attrs.get("gen_ai.operation.name"))
    duration = max(0, (span.end_time_unix_nano - span.start_time_unix_nano) // 1_000_000)
    return make_row(
        sender, session_id=session_of(sender, attrs, meta["trace_id"]),
        name=f"gen_ai.{operation}" if operation else GENERIC,
        payload={**attrs, "duration_ms": attrs.get("duration_ms", duration), META: meta},
        timestamp_ms=to_ms(span.start_time_unix_nano),
        event_uid=uid(scope.resource_bytes, scope.name.encode(),
                      span.SerializeToString(deterministic=True)),
        limit=limit, summary=span.name[:500] or None, columns=columns_of(sender, attrs))
