"""The Starlette application, its lifespan, and the middleware every route shares."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.types import Receive, Scope, Send

from router_ext.access import Access
from router_ext.errors import RouterExtError
from router_ext.runtime import ReadyCallback, RouterExt, running
from router_ext.web import (
    alerts,
    dashboard,
    dashboard_api,
    events,
    health,
    hitl,
    hooks_http,
    otlp,
    pai,
    ralph_control,
    reports,
    stream_ws,
)
from router_ext.web.body import error_response
from router_ext.web.lean_events import LeanEvents
from router_ext.web.metrics_harness import routes as metrics_harness_routes
from router_ext.web.prometheus import routes as prometheus_routes
from router_ext.web.security import AccessGuard, HostGuard, OriginGuard
from router_ext.web.security import ticket as stream_ticket
from router_ext.web.snapshot import routes as snapshot_routes
from router_ext.web.socketio_mpm import MpmSocketIO


def build_routes(core: RouterExt) -> list[BaseRoute]:
    """Every router-ext route, in match order (usable for mounting into another app)."""
    routes: list[BaseRoute] = []
    routes += health.routes(core)
    routes += events.routes(core)  # the well-known dashboard's /events API
    routes += hitl.routes(core)
    routes += stream_ws.routes(core)
    routes += hooks_http.routes(core)  # Claude Code HTTP hooks
    routes += pai.routes(core)  # PAI and claude-mpm
    routes += otlp.routes(core)  # OpenTelemetry exporters (Claude Code's own telemetry)
    routes += metrics_harness_routes(core)
    routes += prometheus_routes(core)
    routes += snapshot_routes(core)
    routes += dashboard_api.routes(core)
    routes += ralph_control.routes(core)
    routes += stream_ticket.routes(core)
    routes += reports.routes(core)  # usage reports, the status line
    routes += alerts.routes(core)  # alert rules and episodes
    routes.append(Mount("/socket.io", app=MpmSocketIO(core).app))  # claude-mpm's Socket.IO
    routes += dashboard.routes(core)  # `/` and `/dashboard/`; keep last
    return routes


async def _router_ext_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RouterExtError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": "http", "detail": exc.detail}, status_code=exc.status_code)


def middleware(core: RouterExt) -> list[Middleware]:
    """The Host allow list, CORS from an explicit allow list (never a wildcard by default),
    cross-site refusal, then roles and the stream cap (router_ext.web.security)."""
    access = Access.of(core)
    stack = [Middleware(HostGuard, access=access)]
    if core.settings.cors_origins:
        stack.append(Middleware(
            CORSMiddleware, allow_origins=list(core.settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["authorization", "content-type"],
        ))
    stack += [Middleware(OriginGuard, access=access), Middleware(AccessGuard, access=access)]
    return stack


def exception_handlers() -> dict[Any, Any]:
    """JSON bodies for every error a route raises."""
    return {RouterExtError: _router_ext_error, HTTPException: _http_error}


def create_app(core: RouterExt, *, grpc_port: int | None = None,
               on_ready: ReadyCallback | None = None) -> Starlette:
    """The standalone HTTP app; its lifespan runs the core and, optionally, gRPC."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with running(core, grpc_port=grpc_port, on_ready=on_ready):
            yield

    app = RouterExtApp(routes=build_routes(core), middleware=middleware(core),
                       exception_handlers=exception_handlers(), lifespan=lifespan)
    app.lean = LeanEvents(core)
    app.state.router_ext = core
    return app


class RouterExtApp(Starlette):
    """The standalone app: POST /events from programs skips the stack (web/lean_events.py)."""

    lean: LeanEvents | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lean = self.lean
        if lean is not None and lean.takes(scope):
            await lean(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
