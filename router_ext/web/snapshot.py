"""GET /api/metrics (one snapshot) and GET /api/metrics/stream (SSE, sent only when it changes).

The snapshot itself comes from :class:`router_ext.read.snapshot.SnapshotHub`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import BaseRoute, Route

from router_ext.read.snapshot import REFRESH_SECONDS
from router_ext.runtime import RouterExt
from router_ext.stream.bus import BusClosed, EventFilter, SubscriberBehind, Subscription


def routes(core: RouterExt) -> list[BaseRoute]:
    """The /api/metrics routes."""
    hub = core.snapshot
    heartbeat = core.settings.heartbeat_seconds

    async def snapshot(request: Request) -> JSONResponse:
        return JSONResponse({**await hub.get(), "generated_at": int(time.time() * 1000)})

    def subscribe() -> Subscription:
        # A bus subscription wakes the stream on commits and ends it on shutdown.
        return core.bus.subscribe(EventFilter.of(), transport="sse")

    async def events() -> AsyncIterator[str]:
        sub = subscribe()
        last = ""
        quiet = 0.0
        try:
            while True:
                text = json.dumps(await hub.get(), separators=(",", ":"), sort_keys=True)
                if text != last:
                    last, quiet = text, 0.0
                    yield f"event: metrics\ndata: {text}\n\n"
                elif quiet >= heartbeat:
                    quiet = 0.0
                    yield ": keep-alive\n\n"
                started = time.monotonic()
                try:
                    await sub.get(timeout=min(heartbeat, REFRESH_SECONDS))
                except SubscriberBehind:  # only a wake-up signal here: start a fresh one
                    core.bus.unsubscribe(sub)
                    sub = subscribe()
                except BusClosed:
                    return
                await asyncio.sleep(hub.min_interval)  # let a burst of commits settle
                quiet += time.monotonic() - started
        finally:
            core.bus.unsubscribe(sub)

    async def stream(request: Request) -> StreamingResponse:
        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache", "x-accel-buffering": "no"})

    return [
        Route("/api/metrics", snapshot, methods=["GET"]),
        Route("/api/metrics/stream", stream, methods=["GET"]),
    ]
