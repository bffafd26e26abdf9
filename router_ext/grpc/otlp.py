"""OTLP/gRPC: the collector's LogsService, MetricsService and TraceService on router-ext's port.

So `OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT=http://HOST:4317` works as
it is. Each Export calls :func:`router_ext.otlp.signals.export`, as OTLP/HTTP does. A full
write queue answers RESOURCE_EXHAUSTED with a google.rpc.RetryInfo detail, which OTLP
exporters read as "retry after this delay"; without it they would drop the data.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from router_ext.errors import InvalidInput, Overloaded, RouterExtError, Unavailable
from router_ext.otlp.signals import LOGS, METRICS, TRACES, TRANSPORT, Signal, export
from router_ext.runtime import RouterExt

RETRY_AFTER_SECONDS = 5
SERVICE_NAMES = (
    logs_service_pb2.DESCRIPTOR.services_by_name["LogsService"].full_name,
    metrics_service_pb2.DESCRIPTOR.services_by_name["MetricsService"].full_name,
    trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name,
)


def retry_status(exc: RouterExtError) -> grpc.Status:
    """The error's status with a RetryInfo detail (for errors worth retrying)."""
    detail = error_details_pb2.RetryInfo(retry_delay=Duration(seconds=RETRY_AFTER_SECONDS))
    status = status_pb2.Status(code=exc.grpc_code.value[0], message=exc.message)
    status.details.add().Pack(detail)
    return rpc_status.to_status(status)


def _parse(signal: Signal, raw: bytes) -> Any:
    try:
        return signal.request.FromString(raw)
    except DecodeError as exc:
        raise InvalidInput(f"not a valid {signal.request.DESCRIPTOR.name}: {exc}") from exc


def _handler(core: RouterExt, signal: Signal) -> grpc.RpcMethodHandler:
    # Requests arrive as bytes and are parsed here, so a message that does not parse is
    # INVALID_ARGUMENT (grpc's own deserializer would answer INTERNAL).
    async def export_call(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await export(core, signal, _parse(signal, raw))
        except (Overloaded, Unavailable) as exc:
            await context.abort_with_status(retry_status(exc))
        except RouterExtError as exc:
            if isinstance(exc, InvalidInput):
                core.reject(TRANSPORT, exc)
            await context.abort(exc.grpc_code, exc.message)
        raise AssertionError("unreachable")  # abort raises

    return grpc.unary_unary_rpc_method_handler(
        export_call, response_serializer=signal.response.SerializeToString)


def add_to_server(core: RouterExt, server: grpc.aio.Server) -> None:
    """Register the three OTLP services."""
    for name, signal in zip(SERVICE_NAMES, (LOGS, METRICS, TRACES), strict=True):
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            name, {"Export": _handler(core, signal)}),))


__all__ = ["SERVICE_NAMES", "add_to_server", "retry_status"]
