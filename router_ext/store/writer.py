"""The one writer: a bounded queue drained into one transaction per batch (group commit).

Callers await an ack that resolves only after the transaction holding their rows committed.
All database writes go through here, which also keeps SQLite 3.40's WAL from ever seeing two
writers at once. Database work runs on one dedicated thread so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc

from router_ext.errors import Overloaded, Unavailable, Unstorable
from router_ext.ingest.fields import repair_text
from router_ext.records import COLUMNS, PAYLOAD_CACHE, FoldNotes, Row, StoredEvent
from router_ext.store.db import passive_checkpoint
from router_ext.store.inserts import EVENTS, Ack, insert_rows, last_event_id

log = logging.getLogger(__name__)
T = TypeVar("T")
__all__ = ["EVENTS", "Ack", "BatchHook", "CommitListener", "Committed", "TransactionObserver",
           "WriteOp", "Writer"]


@dataclass(slots=True)
class Committed:
    """One committed transaction, as every step after the commit receives it."""

    events: list[StoredEvent]
    # What the in-transaction step (the sessions fold) noted; None for HITL updates.
    notes: FoldNotes | None = None


# Runs inside the insert transaction with the rows just stored (the sessions fold).
BatchHook = Callable[[Connection, list[Row]], FoldNotes | None]
# Runs on the event loop after commit with what was stored or updated (bus, metrics).
CommitListener = Callable[[Committed], None]
# Told once for every insert batch that committed: its rows (stored, found already stored or
# refused alone), and the seconds from leaving the queue to commit, on the loop's clock (the
# hand-offs to the writer thread and back, and any wait for the interpreter lock, included).
# A batch split to find a refused row is told once; a batch the database failed is not told.
TransactionObserver = Callable[[int, float], None]
# An arbitrary write, run in its own transaction; returns (result, rows to announce as updates).
WriteOp = Callable[[Connection], tuple[Any, list[Row]]]
# A batch's acks, the rows stored, and what the in-transaction step noted.
_Outcome = tuple[list[Ack], list[Row], FoldNotes | None]
# Failures of the database itself (down, locked, full, wrong schema): no row is to blame, so
# the whole batch is refused as retryable instead of being split. Anything else (a value the
# driver cannot bind or the column refuses: sqlite3.ProgrammingError, DataError, Overflow...)
# is searched for row by row.
SERVER_FAULTS = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.ProgrammingError,
                 sa_exc.DisconnectionError, sa_exc.TimeoutError, sqlite3.OperationalError,
                 sqlite3.InterfaceError, OSError)
_ROW_KEYS = frozenset({*COLUMNS, PAYLOAD_CACHE})
# How often (at most) the SQLite writer copies the WAL back, after acknowledging a batch. A
# checkpoint costs ~2.5 ms plus ~1.4 ms per MiB of WAL; a quarter second of POST /events keeps
# it near 10 ms, which only the requests arriving meanwhile wait for. Left to SQLite's
# 64 MiB autocheckpoint, one ran inside a commit every few seconds: POST /events p99 67-80 ms
# against 21-25 ms this way (wrk, 32 connections; docs/benchmarks.md).
CHECKPOINT_SECONDS = 0.25
# Group commit under sustained load. A transaction costs ~0.3 ms of CPU whatever it holds
# (BEGIN/COMMIT, the dedupe lookup, the in-transaction steps' reads, the hop to the writer
# thread and back), so a steady trickle committed one event at a time spent most of its CPU
# there. When the last batch committed less than GATHER_WHEN_BUSY_SECONDS ago and fewer than
# GATHER_BELOW_ROWS rows wait, the writer waits GATHER_SECONDS for more first. An idle
# server commits at once. Measured in turn with the build before: 1,000 PublishStream
# events/s took 65-67% of a core against 93-97%, and POST /events under wrk 3,154-3,813
# events/s at 237-294 us of CPU each against 2,797-3,121 at 336-372 us (docs/benchmarks.md).
GATHER_SECONDS = 0.002
GATHER_WHEN_BUSY_SECONDS = 0.005
GATHER_BELOW_ROWS = 16


@dataclass(slots=True)
class _Insert:
    rows: list[Row]
    future: asyncio.Future[list[Ack]]


@dataclass(slots=True)
class _Op:
    fn: WriteOp
    future: asyncio.Future[Any]


def _told(what: str, callback: Callable[..., None], *args: Any) -> None:
    """Call a listener or observer after commit; its bug is logged and must not stop the
    writer, fail a caller or keep the listeners after it from being told."""
    try:
        callback(*args)
    except Exception:
        log.exception("%s %r failed", what, callback)


class Writer:
    """Owns every write. Start with :meth:`start`, stop (draining) with :meth:`stop`."""

    def __init__(self, engine: Engine, *, max_queue: int, batch_max: int) -> None:
        self._engine = engine
        self._max_queue = max_queue
        self._batch_max = batch_max
        self._queue: deque[_Insert | _Op] = deque()
        self._queued_rows = 0
        self._wakeup = asyncio.Event()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="router-ext-writer")
        self._task: asyncio.Task[None] | None = None
        self._conn: Connection | None = None  # used only on the writer thread
        self._closing = False
        # Set by the composition root (router_ext.runtime), which also orders the listeners.
        self.in_transaction: BatchHook | None = None
        self.listeners: list[CommitListener] = []
        self.on_transaction: TransactionObserver | None = None
        # Told after every Writer.run transaction commits, before its updates are announced:
        # such a write may change or delete stored events without naming them (retention, an
        # import), so a copy of stored rows kept after commit cannot trust itself past one.
        self.op_listeners: list[Callable[[], None]] = []
        self.last_id = 0
        self.batches_committed = 0
        self.checkpoint_seconds = CHECKPOINT_SECONDS if engine.dialect.name == "sqlite" else 0.0
        self._checkpoint_at = 0.0
        self.gather_seconds = GATHER_SECONDS
        self.gather_when_busy_seconds = GATHER_WHEN_BUSY_SECONDS
        self._last_commit_end = float("-inf")

    @property
    def depth(self) -> int:
        """Rows waiting to be written."""
        return self._queued_rows

    async def start(self) -> None:
        """Read the current last id and begin draining."""
        loop = asyncio.get_running_loop()
        self.last_id = await loop.run_in_executor(self._thread, self._read_last_id)
        self._task = asyncio.create_task(self._run(), name="router-ext-writer")

    async def stop(self) -> None:
        """Refuse new writes, commit everything queued, then release the thread."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close_connection)
        self._thread.shutdown(wait=True)

    async def insert(self, rows: list[Row]) -> list[Ack]:
        """Store rows (deduplicated by event_uid); resolves once they are committed."""
        if self._closing:
            raise Unavailable("the server is shutting down")
        if self._queued_rows + len(rows) > self._max_queue:
            raise Overloaded(f"the write queue is full ({self._max_queue} rows); retry later")
        future: asyncio.Future[list[Ack]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Insert(rows, future))
        self._queued_rows += len(rows)
        self._wakeup.set()
        return await future

    async def run(self, fn: WriteOp) -> Any:
        """Run a write in its own transaction on the writer thread; returns fn's result."""
        if self._closing:
            raise Unavailable("the server is shutting down")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(_Op(fn, future))
        self._wakeup.set()
        return await future

    # -- the drain loop -------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            head = self._queue[0]
            if isinstance(head, _Op):
                self._queue.popleft()
                await self._run_op(loop, head)
            else:
                if self._gather_first(loop):
                    await asyncio.sleep(self.gather_seconds)
                await self._run_inserts(loop, self._take_inserts())
                self._last_commit_end = loop.time()

    def _gather_first(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Wait for more rows before this batch? Only while busy, and only for a small one."""
        return (self.gather_seconds > 0 and not self._closing
                and self._queued_rows < GATHER_BELOW_ROWS
                and loop.time() - self._last_commit_end < self.gather_when_busy_seconds)

    def _take_inserts(self) -> list[_Insert]:
        batch: list[_Insert] = []
        count = 0
        while self._queue and isinstance(self._queue[0], _Insert):
            item = self._queue[0]
            if batch and count + len(item.rows) > self._batch_max:
                break
            self._queue.popleft()
            batch.append(item)
            count += len(item.rows)
        return batch

    async def _run_inserts(self, loop: asyncio.AbstractEventLoop, batch: list[_Insert]) -> None:
        rows = [row for item in batch for row in item.rows]
        started = loop.time()
        try:
            acks, stored, notes = await loop.run_in_executor(self._thread,
                                                             self._commit_isolating, rows)
        except Exception as exc:  # the database failed: every caller in the batch learns it
            log.exception("insert batch of %d rows failed", len(rows))
            error = Unavailable(f"the database write failed: {exc.__class__.__name__}")
            for item in batch:
                self._queued_rows -= len(item.rows)
                if not item.future.done():
                    item.future.set_exception(error)
            return
        self.batches_committed += 1
        offset = 0
        for item in batch:
            self._queued_rows -= len(item.rows)
            if not item.future.done():
                item.future.set_result(acks[offset:offset + len(item.rows)])
            offset += len(item.rows)
        self._observe(len(rows), loop.time() - started)
        self._announce(Committed([StoredEvent(row) for row in stored], notes))
        # One turn of the loop before the next commit: the callers answer, then the bus's round
        # (scheduled by the announcement) sends, and only then may the writer thread run again.
        # A commit beside the round would contend with it for the interpreter lock.
        await asyncio.sleep(0)
        if self.checkpoint_seconds and stored:
            await self._checkpoint_when_due(loop)

    async def _checkpoint_when_due(self, loop: asyncio.AbstractEventLoop) -> None:
        """Copy the WAL back now that the batch's callers have their acks, at most once a
        `checkpoint_seconds`, so no commit carries SQLite's own (large) checkpoint."""
        now = loop.time()
        if now < self._checkpoint_at:
            return
        self._checkpoint_at = now + self.checkpoint_seconds
        try:
            await loop.run_in_executor(self._thread, self._commit_op, passive_checkpoint)
        except Exception:  # the next one, or SQLite's own, catches up
            log.exception("WAL checkpoint failed")

    async def _run_op(self, loop: asyncio.AbstractEventLoop, op: _Op) -> None:
        try:
            result, updated = await loop.run_in_executor(self._thread, self._commit_op, op.fn)
        except Exception as exc:
            if not op.future.done():
                op.future.set_exception(exc)
            return
        for told in self.op_listeners:
            told()
        if not op.future.done():
            op.future.set_result(result)
        self._announce(Committed([StoredEvent(row, "update") for row in updated]))

    def _observe(self, rows: int, seconds: float) -> None:
        if self.on_transaction is not None:
            _told("transaction observer", self.on_transaction, rows, seconds)

    def _announce(self, batch: Committed) -> None:
        if not batch.events:
            return
        for listener in self.listeners:
            _told("commit listener", listener, batch)

    # -- on the writer thread ---------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        if self._engine.dialect.name != "sqlite":
            # A database server can restart under us: the pool pre-pings what it hands out.
            with self._engine.begin() as conn:
                yield conn
            return
        # SQLite: one connection for the writer's lifetime; checking one out of the pool and
        # back in cost ~0.2 ms, which a single-event transaction would pay every time.
        if self._conn is None or self._conn.invalidated:
            self._conn = self._engine.connect()
        with self._conn.begin():
            yield self._conn

    def _read_last_id(self) -> int:
        with self._transaction() as conn:
            return last_event_id(conn)

    def _close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _commit_isolating(self, rows: list[Row]) -> _Outcome:
        """Commit the batch; if a row makes it fail, commit the rest and fail that row alone.

        A failed batch is split in halves, each committed in its own transaction, down to the
        rows that fail by themselves: those get an :class:`Unstorable` ack, the others commit
        (ack still means committed). A fault of the database itself fails the whole batch.
        """
        try:
            return self._commit_rows(rows)
        except SERVER_FAULTS:
            raise
        except Exception as exc:
            if len(rows) == 1:
                return [self._refused(rows[0], exc)], [], None
            log.warning("a batch of %d rows failed (%s); splitting it to find the row",
                        len(rows), exc.__class__.__name__)
        acks: list[Ack] = []
        stored: list[Row] = []
        notes: FoldNotes | None = None
        middle = len(rows) // 2
        for part in (rows[:middle], rows[middle:]):
            _reset(part)
            part_acks, part_stored, part_notes = self._commit_isolating(part)
            acks += part_acks
            stored += part_stored
            notes = FoldNotes.merged(notes, part_notes)
        return acks, stored, notes

    @staticmethod
    def _refused(row: Row, exc: Exception) -> Ack:
        log.warning("event %r was refused by the database: %s: %s", row.get("event_uid"),
                    exc.__class__.__name__, exc)
        detail = repair_text(f"{exc.__class__.__name__}: {exc}")[:300]
        error = Unstorable(f"the event could not be stored: {detail}")
        return Ack(0, str(row.get("event_uid")), False, error)

    def _commit_rows(self, rows: list[Row]) -> _Outcome:
        notes = None
        with self._transaction() as conn:
            acks, fresh = insert_rows(conn, rows)
            if fresh and self.in_transaction is not None:
                notes = self.in_transaction(conn, fresh)
        if fresh:
            self.last_id = max(self.last_id, fresh[-1]["id"])
        return acks, fresh, notes

    def _commit_op(self, fn: WriteOp) -> tuple[Any, list[Row]]:
        with self._transaction() as conn:
            return fn(conn)


def _reset(rows: list[Row]) -> None:
    """Remove what a rolled-back attempt left on the rows (ids, batch-hook notes)."""
    for row in rows:
        for key in [k for k in row if k not in _ROW_KEYS]:
            del row[key]
