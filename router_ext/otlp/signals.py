"""The three OTLP signals, and the one function both receivers (gRPC, HTTP) call.

:func:`export` translates a request (pure, in logs/metrics/traces), stores the usable rows in
one writer submission, and answers with OTLP's partial success when some records were refused.
Refusing a whole request (it does not parse, the writer is full) is the adapters' business:
they map the raised :class:`~router_ext.errors.RouterExtError` to their status codes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_pb
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb

from router_ext.otlp import logs, metrics, traces
from router_ext.otlp.rows import Translation
from router_ext.settings import BATCH_FACTOR

if TYPE_CHECKING:
    from router_ext.runtime import RouterExt

TRANSPORT = "otlp"


@dataclass(frozen=True)
class Signal:
    """One OTLP signal: its request and response messages and its translation."""

    name: str  # logs | metrics | traces: the path /v1/<name>
    request: type[Message]
    response: type[Message]
    rejected_field: str  # the partial_success counter's name
    translate: Callable[..., Translation]

    def new_request(self) -> Any:
        """An empty request message to parse into."""
        return self.request()

    def answer(self, translation: Translation) -> Any:
        """The response: empty when everything was stored, else partial_success."""
        response = self.response()
        if translation.rejected:
            partial = response.partial_success
            setattr(partial, self.rejected_field, translation.rejected)
            partial.error_message = translation.message
        return response


LOGS = Signal("logs", logs_pb.ExportLogsServiceRequest, logs_pb.ExportLogsServiceResponse,
              "rejected_log_records", logs.translate)
METRICS = Signal("metrics", metrics_pb.ExportMetricsServiceRequest,
                 metrics_pb.ExportMetricsServiceResponse, "rejected_data_points",
                 metrics.translate)
TRACES = Signal("traces", trace_pb.ExportTraceServiceRequest,
                trace_pb.ExportTraceServiceResponse, "rejected_spans", traces.translate)
SIGNALS = {s.name: s for s in (LOGS, METRICS, TRACES)}


def request_limit(core: RouterExt) -> int:
    """The largest accepted OTLP request: a batch, as large as a gRPC message may be."""
    return core.settings.max_body_bytes * BATCH_FACTOR


async def export(core: RouterExt, signal: Signal, request: Any) -> Any:
    """Store what can be used of one export request; returns the OTLP response message."""
    translation = signal.translate(request, source_app=core.settings.otlp_source_app,
                                   limit=core.settings.max_body_bytes)
    if translation.rejected:
        core.metrics.rejected.labels(TRANSPORT, "invalid").inc(translation.rejected)
    if translation.rows:
        await core.ingest(translation.rows, TRANSPORT)
    return signal.answer(translation)
