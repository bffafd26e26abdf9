"""Retention: delete old events by age and by database size, in small batches, through the writer.

Each batch is one short transaction queued on the writer like any insert, so ingest waits for
at most one batch; the pruner queues the next batch only after the previous one committed,
which lets every insert that arrived meanwhile go first. What is never deleted: pending
human-in-the-loop requests, and `harness_sessions` (sessions and their totals live there, not
in events). What a batch deletes is first folded into hourly rollups (router_ext.store.rollups)
so the dashboard's counts survive. SQLite gives the freed pages back to the file system with
incremental vacuum; PostgreSQL's autovacuum makes them reusable.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import Connection, Engine, and_, delete, func, or_, select, text

from router_ext.settings import Settings
from router_ext.store import rollups, sizes
from router_ext.store.counts import PER_SESSION
from router_ext.store.db import passive_checkpoint
from router_ext.store.inserts import PG_LOCK_KEY
from router_ext.store.writer import EVENTS, Writer

log = logging.getLogger(__name__)
DAY_MS = 86_400_000
# A size-bound prune goes down to this share of the bound, so it does not run for a few rows
# every time the database grows by one batch.
LOW_WATER = 0.9
# Freed SQLite pages given back per writer transaction (2 MiB with 4 KiB pages).
VACUUM_PAGES = 512
SIZE_ROUNDS = 3
# Deleting rewrites many pages; left to the 64 MiB autocheckpoint, the WAL they fill is copied
# back in one ~150 ms stall that every insert behind it waits for. A passive checkpoint every
# couple of thousand rows copies the same pages in small steps (bench/bench_retention.py).
CHECKPOINT_ROWS = 2_000


@dataclass
class RetentionState:
    """What the pruner did last, for /health and `router-ext doctor`."""

    enabled: bool
    retention_days: float
    max_db_bytes: int
    running: bool = False
    last_run_at: float | None = None
    last_duration_seconds: float | None = None
    last_deleted: dict[str, int] = field(default_factory=lambda: {"age": 0, "size": 0})
    deleted_total: int = 0
    reclaimed_bytes_total: int = 0
    last_error: str | None = None


def _deletable() -> Any:
    """Not a pending request, and not the newest event: SQLite numbers the next event from
    max(id), and ids are every stream's resume cursor, so they must never go back."""
    newest = select(func.max(EVENTS.c.id)).scalar_subquery()
    return and_(or_(EVENTS.c.hitl_status.is_(None), EVENTS.c.hitl_status != "pending"),
                EVENTS.c.id < newest)


def _delete(conn: Connection, query: Any) -> tuple[int, list[Any]]:
    if conn.dialect.name == "postgresql":
        # The insert lock: replicas' pruners take turns, so no batch is rolled up twice.
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
    ids = list(conn.execute(query).scalars())
    if ids:
        rollups.fold(conn, ids)
        conn.execute(delete(EVENTS).where(EVENTS.c.id.in_(ids)))
    return len(ids), []


def older_than(cutoff_ms: int, limit: int) -> Any:
    """A writer op deleting up to `limit` events with a timestamp before `cutoff_ms`, and the
    per-session tool counts of hours a day older still (late events for them are unlikely)."""
    query = select(EVENTS.c.id).where(EVENTS.c.timestamp < cutoff_ms, _deletable()).order_by(
        EVENTS.c.timestamp).limit(limit)
    stale = delete(PER_SESSION).where(PER_SESSION.c.bucket_ms < cutoff_ms - DAY_MS)

    def op(conn: Connection) -> tuple[int, list[Any]]:
        conn.execute(stale)
        return _delete(conn, query)

    return op


def oldest(limit: int) -> Any:
    """A writer op deleting the `limit` oldest events (by id)."""
    query = select(EVENTS.c.id).where(_deletable()).order_by(EVENTS.c.id).limit(limit)
    return lambda conn: _delete(conn, query)


def _vacuum_step(conn: Connection) -> tuple[int, list[Any]]:
    raw = conn.connection.driver_connection
    before = raw.execute("PRAGMA freelist_count").fetchone()[0]  # type: ignore[union-attr]
    # The pragma frees one page per step, and the driver's execute() takes one step (measured:
    # one page); executescript() steps it to the end. Nothing else is in this transaction.
    raw.executescript(f"PRAGMA incremental_vacuum({VACUUM_PAGES});")  # type: ignore[union-attr]
    after = raw.execute("PRAGMA freelist_count").fetchone()[0]  # type: ignore[union-attr]
    return before - after, []


class Pruner:
    """Runs the retention policy every `retention_interval_seconds` while the server runs."""

    def __init__(self, writer: Writer, reader_engine: Engine, settings: Settings,
                 registry: CollectorRegistry) -> None:
        self.writer = writer
        self.engine = reader_engine
        self.settings = settings
        self.state = RetentionState(settings.retention_enabled, settings.retention_days,
                                    settings.max_db_bytes)
        self._task: asyncio.Task[None] | None = None
        self.deleted = Counter("harness_retention_deleted_rows",
                               "Rows deleted by the retention policy, by table and reason",
                               ["table", "reason"], registry=registry)
        for reason in ("age", "size"):
            self.deleted.labels("events", reason)
        self.last_run = Gauge("harness_retention_last_run_timestamp_seconds",
                              "When the retention policy last finished (Unix seconds)",
                              registry=registry)
        self.reclaimed = Counter("harness_retention_reclaimed_bytes",
                                 "Bytes of freed pages given back to the file system (SQLite)",
                                 registry=registry)

    async def start(self) -> None:
        """Begin the periodic runs (none when no bound is set)."""
        if self.settings.retention_enabled:
            self._task = asyncio.create_task(self._loop(), name="router-ext-retention")

    async def stop(self) -> None:
        """Stop between batches; a batch already queued still commits."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            # The first run waits one interval too: starting up (HITL re-arming, replays from
            # clients that were cut off) should not queue behind a long prune.
            await asyncio.sleep(self.settings.retention_interval_seconds)
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the next run tries again; the server keeps serving
                log.exception("retention run failed")
                self.state.last_error = f"{exc.__class__.__name__}: {exc}"

    def status(self) -> dict[str, Any]:
        """The state as JSON."""
        return asdict(self.state)

    async def run_once(self, now_ms: int | None = None) -> dict[str, int]:
        """Apply both bounds once; returns rows deleted by reason."""
        started = time.monotonic()
        self.state.running = True
        try:
            deleted = {"age": await self._by_age(now_ms), "size": await self._by_size()}
            if any(deleted.values()) and self.writer_is_sqlite:
                await self._reclaim()
        finally:
            self.state.running = False
        self.state.last_error = None
        self.state.last_run_at = time.time()
        self.state.last_duration_seconds = round(time.monotonic() - started, 3)
        self.state.last_deleted = deleted
        self.state.deleted_total += sum(deleted.values())
        self.last_run.set(self.state.last_run_at)
        if any(deleted.values()):
            log.info("retention deleted %d events by age and %d by size", deleted["age"],
                     deleted["size"])
        return deleted

    @property
    def writer_is_sqlite(self) -> bool:
        """SQLite gives space back by incremental vacuum; PostgreSQL by autovacuum."""
        return self.settings.backend == "sqlite"

    async def _batches(self, make_op: Any, reason: str, limit: int | None = None) -> int:
        total, batch, unsaved = 0, self.settings.retention_batch, 0
        while limit is None or total < limit:
            size = batch if limit is None else min(batch, limit - total)
            n = int(await self._paced(make_op(size)))
            total += n
            self.deleted.labels("events", reason).inc(n)
            unsaved += n
            if self.writer_is_sqlite and unsaved >= CHECKPOINT_ROWS:
                await self.writer.run(passive_checkpoint)
                unsaved = 0
            if n < size:
                break
        return total

    async def _by_age(self, now_ms: int | None) -> int:
        if self.settings.retention_days <= 0:
            return 0
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        cutoff = now - int(self.settings.retention_days * DAY_MS)
        return await self._batches(lambda n: older_than(cutoff, n), "age")

    async def _by_size(self) -> int:
        bound = self.settings.max_db_bytes
        total = 0
        if bound <= 0:
            return 0
        for _ in range(SIZE_ROUNDS):
            used, rows = await asyncio.to_thread(sizes.used_bytes, self.engine, bound)
            if used <= bound or rows == 0:
                break
            per_row = used / rows
            wanted = math.ceil((used - bound * LOW_WATER) / per_row)
            n = await self._batches(oldest, "size", limit=wanted)
            total += n
            if n < wanted:
                log.warning("the database is over ROUTER_EXT_MAX_DB_BYTES with no event "
                            "left to delete (sessions and pending requests are kept)")
                break
        return total

    async def _paced(self, op: Any) -> Any:
        """Run a write, then rest as long as it took: the writer prunes half the time at most,
        so an insert arriving meanwhile finds it free more often than not."""
        started = time.monotonic()
        result = await self.writer.run(op)
        await asyncio.sleep(time.monotonic() - started)
        return result

    async def _reclaim(self) -> None:
        page = await asyncio.to_thread(sizes.page_size, self.engine)
        reclaimed = 0
        for _ in range(100_000):  # bounded: 200 GiB of freed pages at most per run
            freed = int(await self._paced(_vacuum_step))
            if freed <= 0:
                break
            reclaimed += freed
            self.state.reclaimed_bytes_total += freed * page
            self.reclaimed.inc(freed * page)
        if reclaimed:
            # The file shrinks when a checkpoint copies the vacuum back, not at its commit.
            await self.writer.run(passive_checkpoint)


def ensure_incremental_vacuum(engine: Engine, settings: Settings) -> bool:
    """Switch an existing SQLite file to auto_vacuum=INCREMENTAL when retention is on.

    New files get the mode from the writer's connection pragmas; a file made before needs one
    VACUUM (a full rewrite), done here before the writer starts. Returns True when it ran.
    """
    if settings.backend != "sqlite" or not settings.retention_enabled:
        return False
    with engine.connect() as conn:
        if conn.exec_driver_sql("PRAGMA auto_vacuum").scalar() == 2:
            return False
        log.info("switching the SQLite file to incremental vacuum (one full VACUUM)")
        raw = conn.connection.driver_connection
        raw.execute("PRAGMA auto_vacuum=INCREMENTAL")  # type: ignore[union-attr]
        raw.execute("VACUUM")  # type: ignore[union-attr]
    return True


def count_older(engine: Engine, cutoff_ms: int) -> int:
    """How many events a run by age would delete now (for `router-ext doctor`)."""
    with engine.connect() as conn:
        query = select(func.count()).select_from(EVENTS).where(EVENTS.c.timestamp < cutoff_ms,
                                                               _deletable())
        return int(conn.execute(query).scalar() or 0)
