"""Alerts as Prometheus metrics, and the gauges the shipped Prometheus alerting rules need.

    harness_alerts_firing{rule,kind}                 episodes firing now, per rule
    harness_alert_episodes_total{rule,kind}          episodes begun
    harness_alert_webhook_deliveries_total{outcome}  delivered | failed
    harness_hitl_oldest_pending_timestamp_seconds    when the oldest waiting request was made
    harness_session_oldest_activity_timestamp_seconds{source}
                                                     the last event of the quietest running session
    harness_ralph_consecutive_failures{label}        the longest run of failed tasks ending now
    harness_host_spool_bytes{host}                   the spool size each host last reported

Timestamps are gauges (PromQL computes ages with time()); rule names, labels and hosts are
capped so the series stay bounded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import Engine, func, select

from router_ext.alerts.evaluate import EVENTS, FAILED, LOOP_LOOKBACK_MS
from router_ext.metrics.db_gauges import ScrapeCache
from router_ext.metrics.labels import SOURCES, Capped
from router_ext.sessions.state import SESSIONS


class AlertMetrics:
    """The counters and gauges the alert service updates."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.rules = Capped(100)
        self.firing = Gauge("harness_alerts_firing", "Alert episodes firing now, by rule",
                            ["rule", "kind"], registry=registry)
        self.episodes = Counter("harness_alert_episodes", "Alert episodes begun, by rule",
                                ["rule", "kind"], registry=registry)
        self.deliveries = Counter("harness_alert_webhook_deliveries",
                                  "Alert webhook deliveries, by outcome", ["outcome"],
                                  registry=registry)
        for outcome in ("delivered", "failed"):
            self.deliveries.labels(outcome)

    def label(self, rule: str) -> str:
        """A rule name, or `other` past the cap."""
        return self.rules(rule)


def _ralph_streaks(conn: Any, now_ms: int) -> dict[str, int]:
    query = (select(SESSIONS.c.label, SESSIONS.c.loop_id, SESSIONS.c.status)
             .where(SESSIONS.c.source == "ralph", SESSIONS.c.completed_at.is_not(None),
                    SESSIONS.c.completed_at >= now_ms - LOOP_LOOKBACK_MS)
             .order_by(SESSIONS.c.completed_at.desc()))
    streak: dict[str, int] = {}
    ended: set[str] = set()
    by_label: dict[str, int] = {}
    for label, loop, status in conn.execute(query):
        loop = str(loop)
        if loop in ended:
            continue
        if status in FAILED:
            streak[loop] = streak.get(loop, 0) + 1
            name = str(label or "none")
            by_label[name] = max(by_label.get(name, 0), streak[loop])
        else:
            ended.add(loop)
    return by_label


class AlertGauges(ScrapeCache):
    """Scrape-time gauges read from the database (cached a second) and the spool reports."""

    def __init__(self, engine: Engine, spool_bytes: Callable[[], dict[str, int]]) -> None:
        super().__init__()
        self.engine = engine
        self.spool_bytes = spool_bytes
        self.labels = Capped(50)
        self.hosts = Capped(200)

    def _query(self) -> dict[str, Any]:
        now_ms = int(time.time() * 1000)
        with self.engine.connect() as conn:
            oldest = conn.execute(select(func.min(EVENTS.c.received_at)).where(
                EVENTS.c.hitl_status == "pending")).scalar()
            quiet: dict[str, int] = dict(conn.execute(select(SESSIONS.c.source, func.min(
                SESSIONS.c.last_event_at)).where(SESSIONS.c.status == "running")
                .group_by(SESSIONS.c.source)).all())
            return {"hitl": oldest, "quiet": quiet, "ralph": _ralph_streaks(conn, now_ms)}

    def _families(self, values: dict[str, Any]) -> list[GaugeMetricFamily]:
        hitl = GaugeMetricFamily("harness_hitl_oldest_pending_timestamp_seconds",
                                 "When the oldest approval request still waiting was made")
        quiet = GaugeMetricFamily("harness_session_oldest_activity_timestamp_seconds",
                                  "The last event of the running session quiet the longest",
                                  labels=["source"])
        ralph = GaugeMetricFamily("harness_ralph_consecutive_failures",
                                  "Failed Ralph tasks in a row at the end of a loop, the "
                                  "longest per label", labels=["label"])
        spool = GaugeMetricFamily("harness_host_spool_bytes",
                                  "Bytes each reporting host last said its spool holds",
                                  labels=["host"])
        if values.get("hitl") is not None:
            hitl.add_metric([], values["hitl"] / 1000)
        for source, last in (values.get("quiet") or {}).items():
            if source in SOURCES:
                quiet.add_metric([source], last / 1000)
        for label, count in (values.get("ralph") or {}).items():
            ralph.add_metric([self.labels(label)], count)
        if values:
            for host, size in self.spool_bytes().items():
                spool.add_metric([self.hosts(host)], size)
        return [hitl, quiet, ralph, spool]
