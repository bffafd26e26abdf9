"""Live fan-out between replicas that share one PostgreSQL database (LISTEN/NOTIFY).

Every insert transaction on PostgreSQL takes one advisory lock before drawing ids and sends
`NOTIFY router_ext_events, '<newest id>'` before it commits (see router_ext.store.inserts), so ids
become visible in increasing order across all replicas and every replica hears of every commit.

Each replica then feeds its bus through a :class:`Sequencer`, which publishes strictly in id
order: its own commits right away, after first catching up (from the database) on anything
another replica committed before them; other replicas' commits when their notification
arrives. A subscriber on any replica therefore sees every event exactly once, in id order, and
the replay/live seam in router_ext.stream.live stays gap-free. Updates (HITL answers) are sent as
`u<id>,<id>...` and republished as updates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from router_ext.read.reader import Reader
from router_ext.records import StoredEvent
from router_ext.store.inserts import PG_CHANNEL as CHANNEL
from router_ext.store.writer import Committed
from router_ext.stream.bus import Bus, EventFilter

log = logging.getLogger(__name__)
PAGE = 1000
RECONNECT_MAX_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 5


def dsn(database_url: str) -> str:
    """A libpq URL from a SQLAlchemy one (drops the +driver part)."""
    scheme, _, rest = database_url.partition("://")
    return "postgresql://" + rest if scheme.startswith("postgres") else database_url


class Sequencer:
    """Publishes committed events to the bus in id order, whichever replica committed them."""

    def __init__(self, reader: Reader, bus: Bus, database_url: str) -> None:
        self.reader = reader
        self.bus = bus
        self.dsn = dsn(database_url)
        self.upto = 0
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._listener: asyncio.Task[None] | None = None

    async def start(self, last_id: int) -> None:
        """Begin listening; everything up to `last_id` counts as already published."""
        self.upto = last_id
        self._listener = asyncio.create_task(self._listen(), name="router-ext-pg-listen")

    async def stop(self) -> None:
        """Stop listening and finish pending publications."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- local commits (a writer listener, called on the loop after commit) ------------------

    def on_commit(self, batch: Committed) -> None:
        """Queue this replica's committed events (and updates) for ordered publication."""
        updates = [e for e in batch.events if e.kind == "update"]
        fresh = [e for e in batch.events if e.kind == "event"]
        if updates:
            self.bus.publish(updates)
            self._spawn(self._notify_updates([e.id for e in updates]))
        if fresh:
            self._spawn(self._publish_local(fresh))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish_local(self, events: list[StoredEvent]) -> None:
        async with self._lock:
            # Ids below ours were committed before ours (the advisory lock orders commits).
            await self._catch_up(events[0].id - 1)
            new = [e for e in events if e.id > self.upto]
            if new:
                self.bus.publish(new)
                self.upto = new[-1].id

    async def _catch_up(self, until: int) -> None:
        while self.upto < until:
            rows = await self.reader.events_after(self.upto, EventFilter(), PAGE)
            rows = [r for r in rows if r["id"] <= until]
            if not rows:
                return  # ids skipped by the sequence (a rolled-back batch)
            self.bus.publish([StoredEvent(r) for r in rows])
            self.upto = rows[-1]["id"]

    # -- other replicas ---------------------------------------------------------------------

    async def on_notify(self, payload: str) -> None:
        """Handle one notification: `<newest id>` or `u<id>,<id>...`."""
        if payload.startswith("u"):
            ids = [int(x) for x in payload[1:].split(",") if x]
            rows = [row for i in ids if (row := await self.reader.event(i)) is not None]
            if rows:
                self.bus.publish([StoredEvent(r, "update") for r in rows])
            return
        async with self._lock:
            await self._catch_up(int(payload))

    async def _notify_updates(self, ids: list[int]) -> None:
        import psycopg

        payload = "u" + ",".join(str(i) for i in ids)
        try:
            async with await psycopg.AsyncConnection.connect(
                    self.dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS) as conn:
                await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
        except Exception:  # other replicas miss a live update; it is still in the database
            log.exception("could not announce updated events %s", ids)

    async def _listen(self) -> None:
        import psycopg

        delay = 0.2
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                        self.dsn, autocommit=True,
                        connect_timeout=CONNECT_TIMEOUT_SECONDS) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    delay = 0.2
                    await self._resync()  # whatever was committed while not listening
                    async for note in conn.notifies():
                        await self.on_notify(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("LISTEN connection lost (%s); reconnecting in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(RECONNECT_MAX_SECONDS, delay * 2)

    async def _resync(self) -> None:
        rows = await self.reader.recent(EventFilter(), 1)
        if rows:
            async with self._lock:
                await self._catch_up(rows[-1]["id"])
