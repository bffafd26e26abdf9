"""Replay from the database, then live from the bus, with no gap and no duplicate at the seam.

Every streaming surface (gRPC Subscribe, WebSocket /stream, Server-Sent Events) reads through
:func:`follow_batches`, so they share one correct implementation of the seam. It hands over
everything that queued up for a subscriber since it last asked, so a transport can send a
backlog as one message and a busy server wakes each subscriber once per backlog, not once per
event; :func:`follow` is the same stream one event at a time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from router_ext.read.reader import Reader
from router_ext.records import StoredEvent
from router_ext.stream.bus import Bus, BusClosed, EventFilter, SubscriberBehind, Subscription

REPLAY_PAGE = 1000


@dataclass(frozen=True, slots=True)
class DirectDelivery:
    """How a transport sends live events from the bus's own callback, without its task.

    Waking a subscriber's task costs more than writing its frame: with a wall of viewers
    every commit woke each one to write a few KB. When the reader is parked waiting and
    `ready()` says the connection takes a write now, the bus hands the fresh events to
    `deliver`, which must send them synchronously and completely; otherwise the task wakes
    and sends them the usual way (waiting for a slow client, cutting it off, heartbeats).
    """

    ready: Callable[[], bool]
    deliver: Callable[[list[StoredEvent]], None]


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
    direct: DirectDelivery | None = None,
) -> AsyncIterator[list[StoredEvent] | Heartbeat]:
    """Yield stored events after `after_id` (None: live only), then live ones, forever.

    Each item is a non-empty list of events in order (a replay page, or everything that queued
    up for this subscriber since it last asked), or a Heartbeat when idle. Asking for the next
    item means the previous list was delivered: that is the cursor a cut-off reports.
    `live_from_id` is the newest committed id when the caller started (used as the cursor when
    there is no replay). Ends with SubscriberBehind or BusClosed from the bus. With `direct`,
    live events may instead go out through it while this generator waits (never before the
    seam is closed, never while the caller is still sending what was yielded).
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
        if direct is not None:
            def push() -> bool:
                nonlocal last
                if not sub.waiting or not direct.ready():
                    return False
                try:
                    fresh = _fresh(sub.drain_nowait(), last)
                except (SubscriberBehind, BusClosed):
                    return False  # the reader wakes and meets it in get()
                if fresh:
                    direct.deliver(fresh)
                    last = _delivered(sub, fresh, last)
                    sub.postpone_idle(heartbeat_seconds)  # heartbeats are for idle streams
                return not (sub.behind or sub.closed)  # a cut-off is the reader's to report

            sub.push = push
        while True:
            queued = await sub.get(timeout=heartbeat_seconds)
            if not queued:
                yield Heartbeat(last)
                continue
            fresh = _fresh(queued, last)
            if not fresh:
                continue
            yield fresh
            last = _delivered(sub, fresh, last)
    finally:
        sub.push = None
        bus.unsubscribe(sub)


def _fresh(queued: list[StoredEvent], last: int) -> list[StoredEvent]:
    """Queued events not yet delivered: the replay already sent events up to `last`, and
    they are queued too (ids only grow: skip them)."""
    if not queued or (queued[0].kind == "event" and queued[0].id > last):
        return queued
    return [e for e in queued if e.kind != "event" or e.id > last]


def _delivered(sub: Subscription, fresh: list[StoredEvent], last: int) -> int:
    """Record the newest event id in `fresh` as delivered; returns the new cursor."""
    for event in reversed(fresh):
        if event.kind == "event":
            last = sub.last_delivered_id = event.id
            break
    return last


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
