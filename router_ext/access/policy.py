"""Which role each route and RPC needs, in one table for every transport.

None means open to anyone: liveness, the dashboard's static files, CORS preflights, the gRPC
health and reflection services. Everything not listed is admin, so a new state-changing route is
closed until it is placed here.
"""

from __future__ import annotations

import re

from router_ext.access.roles import ADMIN, INGEST, READ

NEEDS_INGEST = frozenset({INGEST})
NEEDS_READ = frozenset({READ})
NEEDS_ADMIN = frozenset({ADMIN})
INGEST_OR_READ = frozenset({INGEST, READ})

INGEST_PATHS = frozenset({"/events", "/hooks/claude-code", "/api/events", "/metrics/harness"})
# OTLP/HTTP receivers (router_ext.web.otlp): exporters post protobuf or JSON here.
OTLP_PATH = re.compile(r"(/otlp)?/v1/(logs|metrics|traces)")
TICKET_PATH = "/api/ui/ticket"
# GET routes that stream; with WebSockets they take a stream ticket and count against the cap.
STREAM_PATHS = frozenset({"/api/events/stream", "/api/metrics/stream"})
OPEN_GET = frozenset({"", "/", "/health", "/dashboard"})
# The Ralph loop reads its own stop flag with the credential it reports with.
RALPH_CONTROL = re.compile(r"/api/ralph/[^/]+/control")
SAFE_METHODS = frozenset({"GET", "HEAD"})
# Socket.IO (claude-mpm): ingest or read lets a client in; its events check which it has.
SOCKETIO_PREFIX = "/socket.io"

GRPC_OPEN = ("/grpc.health.v1.Health/", "/grpc.reflection.")
GRPC_INGEST = (".IngestService/", "opentelemetry.proto.collector.")
GRPC_READ = (".StreamService/", ".QueryService/")


def http_roles(method: str, path: str, *, websocket: bool = False) -> frozenset[str] | None:
    """The roles that may make this request (any one will do), or None when it is open."""
    if is_socketio(path):
        return None if method == "OPTIONS" else INGEST_OR_READ
    if websocket:
        return NEEDS_READ
    if method == "OPTIONS":
        return None
    if method in SAFE_METHODS:
        if path in OPEN_GET or path.startswith("/dashboard/"):
            return None
        return INGEST_OR_READ if RALPH_CONTROL.fullmatch(path) else NEEDS_READ
    if path in INGEST_PATHS or OTLP_PATH.fullmatch(path):
        return NEEDS_INGEST
    return NEEDS_READ if path == TICKET_PATH else NEEDS_ADMIN


def is_socketio(path: str) -> bool:
    """True for Engine.IO requests (polling and the WebSocket upgrade) under /socket.io."""
    return path == SOCKETIO_PREFIX or path.startswith(SOCKETIO_PREFIX + "/")


def is_stream(method: str, path: str, *, websocket: bool = False) -> bool:
    """True for the requests that hold a stream open (counted against max_streams)."""
    return websocket or (method == "GET" and path in STREAM_PATHS)


def grpc_roles(method: str) -> frozenset[str] | None:
    """The roles for a full gRPC method name (`/pkg.Service/Method`), None when open."""
    if method.startswith(GRPC_OPEN):
        return None
    if any(part in method for part in GRPC_INGEST):
        return NEEDS_INGEST
    if any(part in method for part in GRPC_READ):
        return NEEDS_READ
    return NEEDS_ADMIN
