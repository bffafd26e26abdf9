"""The composition root: builds the server's parts and wires them, in order, in one place.

An event's path: an adapter (web/, grpc/) parses and calls :meth:`RouterExt.ingest`; the
writer (store/) commits a batch with the sessions fold inside the same transaction; then, in
the order registered in :meth:`RouterExt._wire`, every post-commit step sees the
:class:`~router_ext.store.writer.Committed` batch: live fan-out (stream/), the Prometheus
catalog (metrics/), HITL timeouts (hitl/), the dashboard snapshot (read/) and the alert rules
(alerts/).
Nothing registers itself; everything that runs after a commit is listed here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from router_ext.alerts.service import AlertService
from router_ext.errors import RouterExtError
from router_ext.hitl.service import HitlService
from router_ext.ingest.redaction import Redaction
from router_ext.metrics.db_gauges import DbGauges
from router_ext.metrics.harness import HarnessMetrics
from router_ext.metrics.ingest import IngestMetrics
from router_ext.metrics.labels import Capped, event_type
from router_ext.metrics.telemetry import TelemetryMetrics
from router_ext.read.reader import MAX_PAGE, Reader
from router_ext.read.recent import RecentEvents
from router_ext.read.snapshot import SnapshotHub
from router_ext.records import Row
from router_ext.reports.ledger import WithLedger
from router_ext.sessions.fold import SessionFold
from router_ext.sessions.pricing import PriceTable
from router_ext.sessions.sweeper import Sweeper
from router_ext.settings import Settings
from router_ext.store import schema
from router_ext.store.counts import WithCounts
from router_ext.store.db import make_engine
from router_ext.store.pg_fanout import Sequencer
from router_ext.store.retention import Pruner, ensure_incremental_vacuum
from router_ext.store.writer import Ack, Committed, Writer
from router_ext.stream.bus import Bus

if TYPE_CHECKING:
    from router_ext.grpc.server import GrpcServer

log = logging.getLogger(__name__)
Hook = Callable[[], Awaitable[None]]
ReadyCallback = Callable[[str, int, int], None]


class RouterExt:
    """One per process. Adapters call :meth:`ingest`, read through :attr:`reader`, stream
    from :attr:`bus`, answer HITL requests through :attr:`hitl`."""

    def __init__(self, settings: Settings, registry: CollectorRegistry | None = None) -> None:
        self.settings = settings
        self.registry = registry if registry is not None else CollectorRegistry()
        self.metrics = IngestMetrics(self.registry, settings.backend)
        self.redaction = Redaction(settings, self.registry)  # secrets never reach the writer
        self.writer_engine = make_engine(settings, writer=True)
        self.reader_engine = make_engine(settings, writer=False)
        self.reader = Reader(self.reader_engine)
        self.writer = Writer(self.writer_engine, max_queue=settings.write_queue_size,
                             batch_max=settings.write_batch_max)
        self.bus = Bus(settings.subscriber_queue_size)
        self.started_at = time.time()
        # Started in order after the writer, stopped in reverse before it.
        self.on_start: list[Hook] = []
        self.on_stop: list[Hook] = []
        self._source_label = Capped(50)
        # labels() takes a lock and builds a key on every call: the children are kept instead.
        self._received_children: dict[tuple[str, str, str], Any] = {}
        self._duration_children: dict[str, Any] = {}
        self.bus.on_drop.append(
            lambda sub: self.metrics.dropped.labels(sub.transport, "slow_consumer").inc())
        self.bus.on_count.append(
            lambda transport, n: self.metrics.subscribers.labels(transport).set(n))
        self.metrics.queue_depth.set_function(lambda: self.writer.depth)
        self.writer.on_transaction = self.metrics.observe_write
        prices = PriceTable.load(settings.prices_path)
        self.harness = HarnessMetrics(self.registry, prices)
        self.telemetry = TelemetryMetrics(self.registry, self.harness.model_label,
                                          settings.attribution_labels)
        self.hitl = HitlService(self)
        self.snapshot = SnapshotHub(self)
        self.sweeper = Sweeper(self)
        self.pruner = Pruner(self.writer, self.reader_engine, settings, self.registry)
        self.schema: schema.SchemaState | None = None
        self.alerts = AlertService(self)
        self.sequencer: Sequencer | None = None
        self._wire(SessionFold(prices))

    def _wire(self, fold: SessionFold) -> None:
        """Every step around a commit, in the order it runs."""
        # Inside the insert transaction: a session row never disagrees with its events, nor
        # the usage ledger (usage over time, for reports and budgets) with the session row.
        self.writer.in_transaction = WithCounts(WithLedger(fold))  # + the dashboard's counts
        # After commit, in order. Live fan-out first, so subscribers hear of an event as soon
        # as possible. PostgreSQL replicas share one database: the bus is fed in id order from
        # every replica's commits (LISTEN/NOTIFY); SQLite has one process, so commits go in.
        if self.settings.backend == "postgresql":
            self.sequencer = Sequencer(self.reader, self.bus, self.settings.database_url)
            self.writer.listeners.append(self.sequencer.on_commit)
        else:
            self.writer.listeners.append(self._publish)
        # The newest pages of /events/recent, kept as JSON (SQLite: this process sees every write).
        self.recent = RecentEvents.wired(self.reader, self.writer, MAX_PAGE,
                                         enabled=self.settings.backend == "sqlite")
        self.writer.listeners.append(self.harness.on_commit)  # Prometheus catalog
        self.writer.listeners.append(self.telemetry.on_commit)  # OTLP counts, attribution
        self.writer.listeners.append(self.hitl.on_commit)  # arm timeouts of new requests
        self.writer.listeners.append(self.snapshot.on_commit)  # dashboard numbers are stale
        self.writer.listeners.append(self.alerts.on_commit)  # budgets due, hosts' spool sizes
        # Outside the write path.
        self.sweeper.on_abandoned.append(self.harness.on_abandoned)
        self.registry.register(DbGauges(self.reader_engine, self.settings))
        self.on_start += [self.sweeper.start, self.hitl.arm_stored, self.alerts.start]
        self.on_stop += [self.sweeper.stop, self.hitl.stop, self.alerts.stop]
        self.on_start.append(self.pruner.start)  # retention: small delete batches via the writer
        self.on_stop.append(self.pruner.stop)

    def _publish(self, batch: Committed) -> None:
        self.bus.publish(batch.events)

    @property
    def last_id(self) -> int:
        """The newest committed event id this process knows of: its own commits, and on
        PostgreSQL also every other replica's that it has published to its streams."""
        if self.sequencer is not None:
            return max(self.writer.last_id, self.sequencer.upto)
        return self.writer.last_id

    async def start(self) -> None:
        """Bring the schema up to date, start the writer and every registered component."""
        self.schema = await asyncio.to_thread(schema.prepare, self.writer_engine,
                                              auto_upgrade=self.settings.db_auto_upgrade)
        await asyncio.to_thread(ensure_incremental_vacuum, self.writer_engine, self.settings)
        await self.writer.start()
        if self.sequencer is not None:
            await self.sequencer.start(self.writer.last_id)
        for hook in self.on_start:
            await hook()

    async def stop(self) -> None:
        """End streams, stop components, drain the writer, close the database."""
        self.bus.close()
        for hook in reversed(self.on_stop):
            try:
                await hook()
            except Exception:
                log.exception("stop hook %r failed", hook)
        await self.writer.stop()
        if self.sequencer is not None:
            await self.sequencer.stop()
        self.writer_engine.dispose()
        self.reader_engine.dispose()

    async def ingest(self, rows: list[Row], transport: str) -> list[Ack]:
        """Store normalized rows; returns one ack per row once committed.

        A row the database refused by itself has an ack with `error` set (the others are
        committed); `ack.committed()` raises it for callers that store one row.
        """
        started = time.perf_counter()
        self.redaction.apply(rows)
        try:
            acks = await self.writer.insert(rows)
        except RouterExtError as exc:
            self.reject(transport, exc)
            raise
        self._duration(transport).observe(time.perf_counter() - started)
        self._count(transport, rows, acks)
        return acks

    def _count(self, transport: str, rows: list[Row], acks: list[Ack]) -> None:
        """Count a batch's outcomes in one pass, with one counter update per (source, type)
        pair rather than per row (batches are mostly uniform)."""
        duplicates = 0
        received: dict[tuple[str, str], int] = {}
        for row, ack in zip(rows, acks, strict=True):
            if ack.error is not None:
                self.reject(transport, ack.error)
            elif ack.duplicate:
                duplicates += 1
            else:
                key = (row["source_app"], row["hook_event_type"])
                received[key] = received.get(key, 0) + 1
        if duplicates:
            self.metrics.duplicate.labels(transport).inc(duplicates)
        for (source, kind), n in received.items():
            self._received(transport, source, kind).inc(n)

    def _duration(self, transport: str) -> Any:
        child = self._duration_children.get(transport)
        if child is None:  # transports are a handful of fixed names
            child = self._duration_children[transport] = \
                self.metrics.ingest_duration.labels(transport)
        return child

    def _received(self, transport: str, source: str, kind: str) -> Any:
        key = (transport, source, kind)
        child = self._received_children.get(key)
        if child is None:
            child = self.metrics.received.labels(transport, self._source_label(source),
                                                 event_type(kind))
            if len(self._received_children) < 10_000:  # bounded whatever the senders send
                self._received_children[key] = child
        return child

    def reject(self, transport: str, exc: RouterExtError) -> None:
        """Count a refused request under a bounded reason."""
        reason = {"too_large": "too_large", "unauthorized": "unauthorized",
                  "overloaded": "rate_limited", "unavailable": "unavailable"}.get(exc.kind,
                                                                                  "invalid")
        self.metrics.rejected.labels(transport, reason).inc()


@contextlib.asynccontextmanager
async def running(core: RouterExt, *, grpc_port: int | None,
                  on_ready: ReadyCallback | None = None) -> AsyncIterator[GrpcServer | None]:
    """Start the core (and gRPC when a port is given); stop both in the right order."""
    from router_ext.grpc.server import GrpcServer  # the adapter imports this module

    await core.start()
    grpc_server = None
    try:
        if grpc_port is not None:
            grpc_server = GrpcServer(core)
            bound = await grpc_server.start(core.settings.host, grpc_port)
            if on_ready is not None:
                on_ready(core.settings.host, core.settings.http_port, bound)
        yield grpc_server
    finally:
        core.bus.close()  # end live streams first so the grace period is not spent on them
        if grpc_server is not None:
            await grpc_server.stop()
        await core.stop()
