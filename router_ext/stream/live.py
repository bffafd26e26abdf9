"""Replay from the database, then live from the bus, with no gap and no duplicate at the seam.

Every streaming surface (gRPC Subscribe, WebSocket /stream, Server-Sent Events) reads through
:func:`follow_batches`, so they share one correct implementation of the seam. It hands over
everything that queued up for a subscriber since it last asked, so a transport can send a
backlog as one message and a busy server wakes each subscriber once per backlog, not once per
event; :func:`follow` is the same stream one event at a time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from router_ext.read.reader import Reader
from router_ext.records import StoredEvent
from router_ext.stream.bus import Bus, EventFilter

REPLAY_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Nothing happened for a while; `last_id` is the newest id the subscriber has seen."""

    last_id: int


async def _replay(reader: Reader, flt: EventFilter, after_id: int
                  ) -> AsyncIterator[list[StoredEvent]]:
    """Stored events after `after_id`, a page at a time (never an empty page)."""
    last = after_id
    while True:
        rows = await reader.events_after(last, flt, REPLAY_PAGE)
        if rows:
            yield [StoredEvent(row) for row in rows]
            last = rows[-1]["id"]
        if len(rows) < REPLAY_PAGE:
            return


async def follow_batches(
    reader: Reader,
    bus: Bus,
    flt: EventFilter,
    *,
    after_id: int | None,
    live_from_id: int,
    include_updates: bool = True,
    heartbeat_seconds: float = 15.0,
    transport: str = "grpc",
    queue_size: int | None = None,
) -> AsyncIterator[list[StoredEvent] | Heartbeat]:
    """Yield stored events after `after_id` (None: live only), then live ones, forever.

    Each item is a non-empty list of events in order (a replay page, or everything that queued
    up for this subscriber since it last asked), or a Heartbeat when idle. Asking for the next
    item means the previous list was delivered: that is the cursor a cut-off reports.
    `live_from_id` is the newest committed id when the caller started (used as the cursor when
    there is no replay). Ends with SubscriberBehind or BusClosed from the bus.
    """
    last = live_from_id if after_id is None else after_id
    if after_id is not None:
        async for page in _replay(reader, flt, last):
            yield page
            last = page[-1].id
    sub = bus.subscribe(flt, include_updates=include_updates, queue_size=queue_size,
                        transport=transport)
    sub.last_delivered_id = last
    try:
        if after_id is not None:
            # Close the seam: rows committed between the last page and subscribing.
            async for page in _replay(reader, flt, last):
                yield page
                last = sub.last_delivered_id = page[-1].id
        while True:
            queued = await sub.get(timeout=heartbeat_seconds)
            if not queued:
                yield Heartbeat(last)
                continue
            fresh = queued
            if queued[0].kind != "event" or queued[0].id <= last:
                # Events the replay already sent are queued too (ids only grow: skip them).
                fresh = [e for e in queued if e.kind != "event" or e.id > last]
                if not fresh:
                    continue
            yield fresh
            for event in reversed(fresh):
                if event.kind == "event":
                    last = sub.last_delivered_id = event.id
                    break
    finally:
        bus.unsubscribe(sub)


async def follow(reader: Reader, bus: Bus, flt: EventFilter, **options: Any
                 ) -> AsyncIterator[StoredEvent | Heartbeat]:
    """:func:`follow_batches` (same options) one event at a time."""
    batches = follow_batches(reader, bus, flt, **options)
    try:
        async for item in batches:
            if isinstance(item, Heartbeat):
                yield item
            else:
                for event in item:
                    yield event
    finally:
        await batches.aclose()  # type: ignore[attr-defined]
