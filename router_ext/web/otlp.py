"""OTLP/HTTP: POST /v1/logs, /v1/metrics, /v1/traces (also under /otlp/ for routers that mount it).

Bodies are `application/x-protobuf` or `application/json` (OTLP's JSON: hex ids), optionally
gzip-compressed; the answer uses the request's encoding and carries partial success when some
records were refused. Errors are JSON naming the problem (with OTLP's `code` and `message` as
well); a full write queue answers 429 with Retry-After, which OTLP exporters honour.

The same routes are served on a port of their own (4318 by default, the `http/protobuf`
convention): :class:`OtlpPortGate` answers 404 there for anything else.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from router_ext.errors import Overloaded, RouterExtError, Unavailable
from router_ext.otlp.decode import PROTOBUF, inflate, media_type, parse, to_json
from router_ext.otlp.signals import SIGNALS, TRANSPORT, Signal, export, request_limit
from router_ext.runtime import RouterExt
from router_ext.web.body import read_body

PREFIXES = ("", "/otlp")
PATHS = frozenset(f"{prefix}/v1/{name}" for prefix in PREFIXES for name in SIGNALS)
RETRY_AFTER_SECONDS = 5


def error_response(exc: RouterExtError) -> JSONResponse:
    """Our JSON error body plus google.rpc.Status's fields; 429/503 say when to retry."""
    body: dict[str, Any] = {**exc.to_dict(), "code": exc.grpc_code.value[0],
                            "message": exc.message}
    if isinstance(exc, Overloaded | Unavailable):
        status = 429 if isinstance(exc, Overloaded) else 503
        return JSONResponse(body, status_code=status,
                            headers={"retry-after": str(RETRY_AFTER_SECONDS)})
    return JSONResponse(body, status_code=exc.http_status)


def _encode(message: Any, kind: str) -> Response:
    if kind == PROTOBUF:
        return Response(message.SerializeToString(), media_type=PROTOBUF)
    return Response(to_json(message), media_type="application/json")


def routes(core: RouterExt) -> list[Route]:
    """The OTLP/HTTP routes."""
    limit = request_limit(core)

    def receiver(signal: Signal) -> Any:
        async def receive(request: Request) -> Response:
            try:
                kind = media_type(request.headers.get("content-type"))
                raw = await read_body(request, limit)
                body = inflate(raw, request.headers.get("content-encoding"), limit)
                message = parse(signal.new_request(), body, kind)
            except RouterExtError as exc:
                core.reject(TRANSPORT, exc)
                return error_response(exc)
            try:
                return _encode(await export(core, signal, message), kind)
            except RouterExtError as exc:  # counted by core.ingest
                return error_response(exc)

        return receive

    return [Route(path, receiver(SIGNALS[path.rsplit("/", 1)[1]]), methods=["POST"])
            for path in sorted(PATHS)]


class OtlpPortGate:
    """On the OTLP port, only the OTLP routes exist; every other port passes through."""

    def __init__(self, app: ASGIApp, port: int) -> None:
        self.app = app
        self.port = port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        if (scope["type"] in ("http", "websocket") and server and server[1] == self.port
                and scope["path"] not in PATHS):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            response = JSONResponse({"error": "not_found", "detail": "this port serves OTLP "
                                     "only: POST /v1/logs, /v1/metrics, /v1/traces"},
                                    status_code=404)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
