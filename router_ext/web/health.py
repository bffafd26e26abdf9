"""GET /health: liveness with uptime, storage backend, the newest event id, the schema
revision and what retention last did."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from router_ext._version import __version__
from router_ext.runtime import RouterExt


def routes(core: RouterExt) -> list[Route]:
    """The health route."""

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({
            "status": "ok",
            "version": __version__,
            "uptime_seconds": round(time.time() - core.started_at, 3),
            "storage_backend": core.settings.backend,
            "last_event_id": core.last_id,
            "write_queue_depth": core.writer.depth,
            "schema": core.schema.as_dict() if core.schema is not None else None,
            "retention": core.pruner.status(),
        })

    return [Route("/health", health, methods=["GET"])]
