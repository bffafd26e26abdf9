"""Build the grpc.aio server: services, health, reflection, access, limits and keepalive."""

from __future__ import annotations

from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from router_ext.access import Access
from router_ext.grpc import otlp, stream
from router_ext.grpc.access import AccessInterceptor
from router_ext.grpc.ingest import IngestServicer
from router_ext.grpc.malformed import TolerantRegistrar
from router_ext.grpc.query import QueryServicer
from router_ext.runtime import RouterExt
from router_ext.settings import BATCH_FACTOR
from router_ext.v1 import (
    ingest_pb2,
    ingest_pb2_grpc,
    query_pb2,
    query_pb2_grpc,
    stream_pb2,
)

SERVICE_NAMES = (
    ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name,
    stream_pb2.DESCRIPTOR.services_by_name["StreamService"].full_name,
    query_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name,
    *otlp.SERVICE_NAMES,
)


def server_options(max_message_bytes: int) -> list[tuple[str, Any]]:
    """Message limits and keepalive that suit long-lived Subscribe streams."""
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", 64 * 1024 * 1024),
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", 20_000),
        ("grpc.http2.max_pings_without_data", 0),
    ]


class GrpcServer:
    """The gRPC half of the process; shares the core with the HTTP app."""

    def __init__(self, core: RouterExt) -> None:
        self.core = core
        settings = core.settings
        self.server = grpc.aio.server(
            options=server_options(settings.max_body_bytes * BATCH_FACTOR),
            interceptors=[AccessInterceptor(Access.of(core))],
        )
        self.ingest = IngestServicer(core)
        # Every service is registered through it: bytes that do not parse are INVALID_ARGUMENT.
        registrar: Any = TolerantRegistrar(self.server)
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(self.ingest, registrar)
        stream.add_to_server(core, registrar)
        query_pb2_grpc.add_QueryServiceServicer_to_server(QueryServicer(core), registrar)
        otlp.add_to_server(core, registrar)  # OTLP exporters' default port is this one
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, registrar)
        if settings.grpc_reflection:
            reflection.enable_server_reflection(
                (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), registrar)
        self.port = 0

    async def start(self, host: str, port: int) -> int:
        """Bind and start; returns the bound port (useful with port 0)."""
        self.port = self.server.add_insecure_port(f"{host}:{port}")
        if self.port == 0:
            raise OSError(f"cannot bind gRPC to {host}:{port}")
        await self.server.start()
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        return self.port

    async def stop(self, grace: float = 5.0) -> None:
        """Report NOT_SERVING, end publish streams, let in-flight calls finish, then stop."""
        await self.health.enter_graceful_shutdown()
        self.ingest.shutdown()
        await self.server.stop(grace)
