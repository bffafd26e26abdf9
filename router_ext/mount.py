"""Mount router-ext into an existing Starlette or FastAPI application (an LLM router).

    from router_ext import mount
    mount(app, registry=REGISTRY)          # the registry the router's own /metrics exposes

router-ext's routes are appended after the app's own (so the app's `/` and `/metrics` win), its
core starts and stops inside the app's lifespan, and its collectors are registered in the given
registry, so the router's `/metrics` carries the harness metrics with no second endpoint.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry
from starlette.applications import Starlette
from starlette.routing import Mount

from router_ext.runtime import RouterExt, running
from router_ext.settings import Settings
from router_ext.web.app import build_routes, exception_handlers, middleware


def mount(app: Starlette, settings: Settings | None = None,
          registry: CollectorRegistry | None = None, prefix: str = "", *,
          grpc_port: int | None = None) -> RouterExt:
    """Add router-ext's routes and lifespan to `app`; returns the core (`app.state.router_ext`).

    `settings` defaults to :meth:`Settings.from_env`; `registry` to prometheus_client's global
    REGISTRY, which is what most routers expose. `prefix` (e.g. "/harness") puts every route
    under it. gRPC is served too when `grpc_port` is given (0 picks a free port).
    """
    if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
        raise ValueError("prefix must start with '/' and not end with it, e.g. '/harness'")
    core = RouterExt(settings or Settings.from_env(),
                     registry if registry is not None else REGISTRY)
    inner = Starlette(routes=build_routes(core), middleware=middleware(core),
                      exception_handlers=exception_handlers())
    inner.state.router_ext = core
    app.router.routes.append(Mount(prefix, app=inner))
    app.state.router_ext = core
    _wrap_lifespan(app, core, grpc_port)
    return core


def _wrap_lifespan(app: Starlette, core: RouterExt, grpc_port: int | None) -> None:
    original = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(target: Any) -> AsyncIterator[Any]:
        # router-ext starts first and stops last, so the app can use it throughout.
        async with running(core, grpc_port=grpc_port), original(target) as state:
            yield state

    app.router.lifespan_context = lifespan
