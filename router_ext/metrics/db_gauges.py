"""Gauges read from the database when Prometheus scrapes (a custom collector).

Values are cached for a second so a burst of scrapes costs one set of queries.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, text

from router_ext.metrics.labels import SOURCES
from router_ext.read import sessions as queries
from router_ext.settings import Settings

log = logging.getLogger(__name__)
CACHE_SECONDS = 1.0


class ScrapeCache(Collector):
    """A collector whose values come from a query run at scrape time, cached a second so a
    burst of scrapes costs one set of queries. Subclasses give `_query` and `_families`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: tuple[float, dict[str, Any]] | None = None

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """Names only: registering must not touch the database."""
        return iter(self._families({}))

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Current values."""
        return iter(self._families(self._values()))

    def _values(self) -> dict[str, Any]:
        with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < CACHE_SECONDS:
                return self._cached[1]
            try:
                values = self._query()
            except Exception:  # a scrape must still answer when the database does not
                log.warning("%s unavailable", type(self).__name__, exc_info=True)
                values = self._unavailable()
            self._cached = (now, values)
            return values

    def _unavailable(self) -> dict[str, Any]:
        return {}

    def _query(self) -> dict[str, Any]:
        raise NotImplementedError

    def _families(self, values: dict[str, Any]) -> list[GaugeMetricFamily]:
        raise NotImplementedError


class DbGauges(ScrapeCache):
    """harness_sessions_active, harness_ralph_loops_active, harness_hitl_pending,
    harness_db_size_bytes, harness_db_up."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        super().__init__()
        self.engine = engine
        self.settings = settings

    def _unavailable(self) -> dict[str, Any]:
        return {"up": 0}

    def _query(self) -> dict[str, Any]:
        since = int(time.time() * 1000 - self.settings.session_idle_seconds * 1000)
        with self.engine.connect() as conn:
            return {
                "up": 1,
                "active": queries.active_sessions(conn),
                "loops": len(queries.active_loops(conn, since)),
                "hitl": queries.hitl_pending(conn),
                "size": self._size(conn),
            }

    def _size(self, conn: Any) -> int | None:
        path = self.settings.sqlite_path()
        if path is not None:
            return sum(os.path.getsize(p) for p in (str(path), f"{path}-wal")
                       if os.path.exists(p))
        if self.settings.backend == "postgresql":
            return int(conn.execute(text("SELECT pg_database_size(current_database())"))
                       .scalar() or 0)
        return None

    def _families(self, values: dict[str, Any]) -> list[GaugeMetricFamily]:
        active = GaugeMetricFamily("harness_sessions_active", "Sessions running now, by source",
                                   labels=["source"])
        for source in SOURCES:
            if values:
                active.add_metric([source], values.get("active", {}).get(source, 0))
        loops = GaugeMetricFamily("harness_ralph_loops_active",
                                  "Ralph loops that reported within the idle time and have "
                                  "not completed")
        hitl = GaugeMetricFamily("harness_hitl_pending",
                                 "Human-in-the-loop requests waiting for an answer")
        size = GaugeMetricFamily("harness_db_size_bytes", "Database size on disk",
                                 labels=["backend"])
        up = GaugeMetricFamily("harness_db_up", "1 when the database answered the last scrape")
        if values:
            up.add_metric([], values["up"])
        if values.get("up"):
            loops.add_metric([], values["loops"])
            hitl.add_metric([], values["hitl"])
            if values.get("size") is not None:
                size.add_metric([self.settings.backend], values["size"])
        return [active, loops, hitl, size, up]
