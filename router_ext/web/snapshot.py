"""GET /api/metrics (one snapshot) and GET /api/metrics/stream (SSE, sent only when it changes).

One :class:`SnapshotHub` per core computes the snapshot at most once per `min_interval` however
many browsers watch; commits mark it stale, and it is recomputed now and then anyway because
its 24-hour windows move with the clock.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import BaseRoute, Route

from router_ext.read import sessions as queries
from router_ext.records import StoredEvent
from router_ext.runtime import RouterExt
from router_ext.stream.bus import BusClosed, EventFilter, SubscriberBehind, Subscription
from router_ext.web.metrics_harness import DAY_MS, day_start_ms, month_start_ms

REFRESH_SECONDS = 30.0


def build_snapshot(engine: Any, idle_seconds: float) -> dict[str, Any]:
    """The dashboard's headline numbers."""
    now = int(time.time() * 1000)
    day = now - DAY_MS
    with engine.connect() as conn:
        tasks = queries.tasks(conn, day)
        return {
            "active_tasks": tasks["active"],
            "active_sessions": queries.active_sessions(conn),
            "active_ralph_loops": len(queries.active_loops(conn, now - int(idle_seconds * 1000))),
            "completed_24h": tasks["completed"],
            "failed_24h": tasks["failed"],
            "success_rate_24h": tasks["success_rate"],
            "tool_usage_24h": queries.tool_usage(conn, day),
            "cost_usd": {"last_24h": queries.cost_since(conn, day),
                         "today": queries.cost_since(conn, day_start_ms()),
                         "month": queries.cost_since(conn, month_start_ms())},
            "tokens_24h": queries.tokens_since(conn, day),
            "top_errors": queries.top_errors(conn, day),
            "hitl_pending": queries.hitl_pending(conn),
        }


class SnapshotHub:
    """Shares one snapshot between every viewer; knows when it may have changed."""

    def __init__(self, core: RouterExt, min_interval: float = 1.0) -> None:
        self.core = core
        self.min_interval = min_interval
        self._lock = asyncio.Lock()
        self._value: dict[str, Any] | None = None
        self._at = 0.0
        self._stale = True
        core.writer.listeners.append(self._on_commit)

    def _on_commit(self, _events: list[StoredEvent]) -> None:
        self._stale = True

    async def get(self) -> dict[str, Any]:
        """The current snapshot (recomputed when stale, at most once per min_interval)."""
        async with self._lock:
            age = time.monotonic() - self._at
            if self._value is None or (self._stale and age >= self.min_interval) or \
                    age >= REFRESH_SECONDS:
                self._stale = False
                settings = self.core.settings
                self._value = await self.core.reader.call(
                    build_snapshot, self.core.reader.engine, settings.session_idle_seconds)
                self._at = time.monotonic()
            return self._value


def routes(core: RouterExt) -> list[BaseRoute]:
    """The /api/metrics routes."""
    hub = SnapshotHub(core)
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
