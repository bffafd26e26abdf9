"""GET /metrics: the Prometheus exposition of the core's registry.

Needs the read role when a token grants it (ROUTER_EXT_READ_TOKEN, ROUTER_EXT_ADMIN_TOKEN or
ROUTER_EXT_TOKEN; Prometheus sends it with `authorization: {credentials: ...}` in its scrape
config). The scrape runs in a thread because the database gauges query the database.
"""

from __future__ import annotations

import asyncio

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from router_ext.runtime import RouterExt


def routes(core: RouterExt) -> list[BaseRoute]:
    """The /metrics route."""

    async def metrics(request: Request) -> Response:
        body = await asyncio.to_thread(generate_latest, core.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", metrics, methods=["GET"])]
