"""Replay from the database, then live from the bus, with no gap and no duplicate at the seam.

Every streaming surface (gRPC Subscribe, WebSocket /stream, Server-Sent Events) reads through
:func:`follow`, so they share one correct implementation of the seam.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from router_ext.read.reader import Reader
from router_ext.records import StoredEvent
from router_ext.stream.bus import Bus, EventFilter

REPLAY_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Nothing happened for a while; `last_id` is the newest id the subscriber has seen."""

    last_id: int


async def _replay(reader: Reader, flt: EventFilter, after_id: int) -> AsyncIterator[StoredEvent]:
    last = after_id
    while True:
        rows = await reader.events_after(last, flt, REPLAY_PAGE)
        for row in rows:
            yield StoredEvent(row)
            last = row["id"]
        if len(rows) < REPLAY_PAGE:
            return


async def follow(
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
) -> AsyncIterator[StoredEvent | Heartbeat]:
    """Yield stored events after `after_id` (None: live only), then live ones, forever.

    `live_from_id` is the newest committed id when the caller started (used as the cursor when
    there is no replay). Ends with SubscriberBehind or BusClosed from the bus.
    """
    last = live_from_id if after_id is None else after_id
    if after_id is not None:
        async for event in _replay(reader, flt, last):
            yield event
            last = event.id
    sub = bus.subscribe(flt, include_updates=include_updates, queue_size=queue_size,
                        transport=transport)
    sub.last_delivered_id = last
    try:
        if after_id is not None:
            # Close the seam: rows committed between the last page and subscribing.
            async for event in _replay(reader, flt, last):
                yield event
                last = sub.last_delivered_id = event.id
        while True:
            batch = await sub.get(timeout=heartbeat_seconds)
            if not batch:
                yield Heartbeat(last)
                continue
            for event in batch:
                if event.kind == "event":
                    if event.id <= last:
                        continue  # already replayed from the database
                    yield event
                    last = sub.last_delivered_id = event.id
                else:
                    yield event
    finally:
        bus.unsubscribe(sub)
