"""The dashboard's headline numbers, shared by every viewer.

One :class:`SnapshotHub` per server computes the snapshot at most once per `min_interval` however
many browsers watch; commits mark it stale, and it is recomputed now and then anyway because
its 24-hour windows move with the clock.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from router_ext.read import sessions as queries
from router_ext.read.analytics import tool_counts, tool_rows, top_errors
from router_ext.read.windows import DAY_MS, day_start_ms, month_start_ms
from router_ext.store.writer import Committed

if TYPE_CHECKING:
    from router_ext.runtime import RouterExt

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
            "tool_usage_24h": tool_rows(tool_counts(engine, day, now), limit=1000),
            "cost_usd": {"last_24h": queries.cost_since(conn, day),
                         "today": queries.cost_since(conn, day_start_ms()),
                         "month": queries.cost_since(conn, month_start_ms())},
            "tokens_24h": queries.tokens_since(conn, day),
            "top_errors": top_errors(engine, day, limit=10),
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

    def on_commit(self, _batch: Committed) -> None:
        """Anything committed may change the numbers (a commit listener)."""
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
