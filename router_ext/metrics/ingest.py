"""Prometheus collectors for the ingest path, registered in a registry passed in."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from router_ext._version import __version__
from router_ext.ingest.fields import REPAIRS

INGEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
# Rows per writer batch: powers of two past ROUTER_EXT_WRITE_BATCH_MAX's default (2,000).
WRITE_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
WRITE_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
TRANSPORTS = ("http", "grpc", "ws", "otlp")
STREAM_TRANSPORTS = ("ws", "grpc", "sse")
REJECT_REASONS = ("invalid", "unauthorized", "too_large", "rate_limited", "unavailable")
REPAIR_KINDS = ("lone_surrogate", "nul")


class RepairsCollector(Collector):
    """harness_input_repaired_total{what}: values kept after repair (fields.REPAIRS)."""

    def collect(self) -> Iterator[CounterMetricFamily]:
        """One sample per kind of repair, read at scrape time."""
        family = CounterMetricFamily(
            "harness_input_repaired",
            "Characters replaced by U+FFFD in accepted input, by what they were",
            labels=["what"])
        for kind in sorted({*REPAIR_KINDS, *REPAIRS}):
            family.add_metric([kind], REPAIRS.get(kind, 0))
        yield family


class IngestMetrics:
    """Counters and histograms that every adapter updates."""

    def __init__(self, registry: CollectorRegistry, storage_backend: str) -> None:
        self.registry = registry
        self.received = Counter(
            "harness_events_received", "Events accepted, by transport, source and event type",
            ["transport", "source", "event_type"], registry=registry)
        self.rejected = Counter(
            "harness_events_rejected", "Events refused, by transport and reason",
            ["transport", "reason"], registry=registry)
        self.duplicate = Counter(
            "harness_events_duplicate", "Events acknowledged as already stored, by transport",
            ["transport"], registry=registry)
        self.ingest_duration = Histogram(
            "harness_ingest_duration_seconds", "Time from request to committed ack",
            ["transport"], buckets=INGEST_BUCKETS, registry=registry)
        self.queue_depth = Gauge(
            "harness_write_queue_depth", "Rows waiting for the writer", registry=registry)
        # Beside the ingest duration these show how much of an ingest is the write (see
        # docs/sessions-and-metrics.md).
        self.write_batch_rows = Histogram(
            "harness_write_batch_rows",
            "Rows per committed writer batch (stored, repeated or refused alone)",
            buckets=WRITE_BATCH_BUCKETS, registry=registry)
        self.write_duration = Histogram(
            "harness_write_duration_seconds",
            "Time from a batch leaving the write queue to its commit, hand-offs included",
            buckets=WRITE_BUCKETS, registry=registry)
        self.subscribers = Gauge(
            "harness_stream_subscribers", "Live stream subscribers, by transport",
            ["transport"], registry=registry)
        self.dropped = Counter(
            "harness_stream_messages_dropped",
            "Subscribers cut off for falling behind (they resume from their last id)",
            ["transport", "reason"], registry=registry)
        registry.register(RepairsCollector())
        build = Info("harness_build", "router-ext build information", registry=registry)
        build.info({"version": __version__, "storage_backend": storage_backend})
        for transport in TRANSPORTS:
            self.duplicate.labels(transport)
            self.ingest_duration.labels(transport)
            for reason in REJECT_REASONS:
                self.rejected.labels(transport, reason)
        for transport in STREAM_TRANSPORTS:
            self.subscribers.labels(transport).set(0)
            self.dropped.labels(transport, "slow_consumer")

    def observe_write(self, rows: int, seconds: float) -> None:
        """One writer transaction of `rows` rows committed in `seconds`."""
        self.write_batch_rows.observe(rows)
        self.write_duration.observe(seconds)
