"""OTLP test traffic: the captured and documented exports, and senders for gRPC and HTTP."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path
from typing import Any

import httpx
from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from tests.support import ServerProcess

FIXTURES = Path(__file__).with_name("fixtures")
CAPTURED = FIXTURES / "claude-code-2.1.328"
DOCUMENTED = FIXTURES / "documented"
CAPTURED_SESSION = "3ed38665-b29b-4bbd-b2ba-c76cf7198b24"  # otlp-export.jsonl's session
DOCUMENTED_SESSION = "7c1e4b2a-93d5-4f8e-b6a0-2d9f5c3e81a7"  # otel-*.json's session
REQUESTS = {"logs": logs_service_pb2.ExportLogsServiceRequest,
            "metrics": metrics_service_pb2.ExportMetricsServiceRequest,
            "traces": trace_service_pb2.ExportTraceServiceRequest}
RESPONSES = {"logs": logs_service_pb2.ExportLogsServiceResponse,
             "metrics": metrics_service_pb2.ExportMetricsServiceResponse,
             "traces": trace_service_pb2.ExportTraceServiceResponse}
STUBS = {"logs": logs_service_pb2_grpc.LogsServiceStub,
         "metrics": metrics_service_pb2_grpc.MetricsServiceStub,
         "traces": trace_service_pb2_grpc.TraceServiceStub}


def message(kind: str, body: dict[str, Any]) -> Any:
    """An OTLP JSON document (as the fixtures hold it) as a request message."""
    return json_format.ParseDict(body, REQUESTS[kind](), ignore_unknown_fields=True)


def captured() -> list[tuple[str, Any]]:
    """Claude Code 2.1.328's export, request by request: (signal, message)."""
    out = []
    for line in (CAPTURED / "otlp-export.jsonl").read_text().splitlines():
        item = json.loads(line)
        out.append((item["kind"], message(item["kind"], item["body"])))
    return out


def documented() -> list[tuple[str, Any]]:
    """The documented logs and metrics export (a user with email and organization)."""
    return [(kind, message(kind, json.loads((DOCUMENTED / f"otel-{kind}.json").read_text())))
            for kind in ("logs", "metrics")]


def export_grpc(server: ServerProcess, kind: str, request: Message,
                metadata: tuple[tuple[str, str], ...] = ()) -> Any:
    """Export over gRPC; returns the response message."""
    with server.channel() as channel:
        return STUBS[kind](channel).Export(request, timeout=10, metadata=metadata)


def export_http(url: str, kind: str, request: Message, *, encoding: str = "protobuf",
                gzipped: bool = False, headers: dict[str, str] | None = None) -> httpx.Response:
    """POST /v1/<kind> as protobuf or OTLP JSON (hex ids), optionally gzip-compressed."""
    if encoding == "protobuf":
        body, content_type = request.SerializeToString(), "application/x-protobuf"
    else:
        body, content_type = json.dumps(otlp_json(request)).encode(), "application/json"
    sent = {"content-type": content_type, **(headers or {})}
    if gzipped:
        body = gzip.compress(body)
        sent["content-encoding"] = "gzip"
    return httpx.post(f"{url}/v1/{kind}", content=body, headers=sent, timeout=10)


def otlp_json(request: Message) -> dict[str, Any]:
    """OTLP's JSON encoding: protobuf JSON with trace and span ids as hex."""
    def fix(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: fix(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        if key in ("traceId", "spanId", "parentSpanId") and value:
            import base64

            return base64.b64decode(value).hex()
        return value

    return fix(json_format.MessageToDict(request))  # type: ignore[no-any-return]


def session(server: ServerProcess, session_id: str) -> dict[str, Any] | None:
    """The session row as the dashboard API serves it, or None."""
    answer = httpx.get(f"{server.url}/api/ui/sessions/{session_id}", timeout=5)
    return answer.json()["session"] if answer.status_code == 200 else None


def wait_session(server: ServerProcess, session_id: str, check: Any,
                 timeout: float = 30) -> dict[str, Any]:
    """Poll the session until `check(row)` holds (exports arrive on their own schedule)."""
    deadline = time.monotonic() + timeout
    row = session(server, session_id)
    while not (row and check(row)):
        assert time.monotonic() < deadline, f"session {session_id} never matched: {row}"
        time.sleep(0.2)
        row = session(server, session_id)
    return row


def metric(text: str, name: str, **labels: str) -> float:
    """One sample of the Prometheus exposition (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name + ("{" if labels else " ")) and all(
                f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _attribute_lists(kind: str, request: Any) -> list[Any]:
    if kind == "logs":
        return [r.attributes for rl in request.resource_logs for sl in rl.scope_logs
                for r in sl.log_records]
    if kind == "metrics":
        return [p.attributes for rm in request.resource_metrics for sm in rm.scope_metrics
                for m in sm.metrics for p in getattr(m, m.WhichOneof("data")).data_points]
    return [s.attributes for rs in request.resource_spans for ss in rs.scope_spans
            for s in ss.spans]


def renamed(kind: str, request: Message, session_id: str) -> Any:
    """A copy of an export whose records and points all name `session_id`."""
    copy = REQUESTS[kind]()
    copy.CopyFrom(request)
    for attrs in _attribute_lists(kind, copy):
        for pair in attrs:
            if pair.key == "session.id":
                pair.value.string_value = session_id
    return copy


def shifted_to_now(kind: str, request: Message) -> Any:
    """A copy of an export whose times are moved so that its newest time is now."""
    copy = REQUESTS[kind]()
    copy.CopyFrom(request)
    if kind == "logs":
        items = [r for rl in copy.resource_logs for sl in rl.scope_logs for r in sl.log_records]
        fields = ("time_unix_nano", "observed_time_unix_nano")
    else:
        items = [p for rm in copy.resource_metrics for sm in rm.scope_metrics
                 for m in sm.metrics for p in getattr(m, m.WhichOneof("data")).data_points]
        fields = ("start_time_unix_nano", "time_unix_nano")
    newest = max(getattr(item, f) for item in items for f in fields)
    offset = time.time_ns() - newest
    for item in items:
        for f in fields:
            if getattr(item, f):
                setattr(item, f, getattr(item, f) + offset)
    return copy
