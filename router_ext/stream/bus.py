"""In-process fan-out of committed events to live subscribers.

Each subscriber has its own bounded queue. Publishing never waits: a subscriber whose queue is
full is marked as behind and ended with the id to resume from, so one slow reader can neither
slow ingestion nor the other readers, and never loses an event without being told.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from router_ext.records import StoredEvent


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a subscriber wants; an empty set matches everything."""

    source_apps: frozenset[str] = frozenset()
    session_ids: frozenset[str] = frozenset()
    hook_event_types: frozenset[str] = frozenset()

    @classmethod
    def of(cls, source_apps: Iterable[str] = (), session_ids: Iterable[str] = (),
           hook_event_types: Iterable[str] = ()) -> EventFilter:
        """Build from any iterables, ignoring empty strings."""
        return cls(frozenset(s for s in source_apps if s), frozenset(s for s in session_ids if s),
                   frozenset(s for s in hook_event_types if s))

    def matches(self, row: dict[str, object]) -> bool:
        """True when the row passes every non-empty set."""
        return (
            (not self.source_apps or row["source_app"] in self.source_apps)
            and (not self.session_ids or row["session_id"] in self.session_ids)
            and (not self.hook_event_types or row["hook_event_type"] in self.hook_event_types)
        )


class SubscriberBehind(Exception):
    """The subscriber fell behind and was cut off; resume with after_id=resume_after_id."""

    def __init__(self, resume_after_id: int) -> None:
        super().__init__(f"subscriber fell behind; resume with after_id={resume_after_id}")
        self.resume_after_id = resume_after_id


class BusClosed(Exception):
    """The server is shutting down; resume with after_id=resume_after_id elsewhere or later."""

    def __init__(self, resume_after_id: int) -> None:
        super().__init__(f"server shutting down; resume with after_id={resume_after_id}")
        self.resume_after_id = resume_after_id


@dataclass(eq=False)
class Subscription:
    """One subscriber's queue. Read with :meth:`get`; ids only grow for kind "event"."""

    filter: EventFilter
    include_updates: bool
    limit: int
    transport: str
    _queue: deque[StoredEvent] = field(default_factory=deque)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    last_delivered_id: int = 0
    behind: bool = False
    closed: bool = False

    def offer(self, event: StoredEvent) -> bool:
        """Queue an event; False (and marked behind) when the queue is full."""
        if self.behind or self.closed:
            return True
        if len(self._queue) >= self.limit:
            self.behind = True
            self._ready.set()
            return False
        self._queue.append(event)
        self._ready.set()
        return True

    def drain_nowait(self) -> list[StoredEvent]:
        """Everything queued now, without waiting (raises when cut off)."""
        items = list(self._queue)
        self._queue.clear()
        self._ready.clear()
        self._check_state(items)
        return items

    async def get(self, timeout: float | None = None) -> list[StoredEvent]:
        """Wait for events (an empty list on timeout). Raises SubscriberBehind or BusClosed."""
        if not self._queue and not self.behind and not self.closed:
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return []
        return self.drain_nowait()

    def _check_state(self, items: list[StoredEvent]) -> None:
        if not (self.behind or self.closed):
            return
        # Hand over what is already queued first; the error comes on the next call.
        if items:
            self._ready.set()
            return
        if self.behind:
            raise SubscriberBehind(self.last_delivered_id)
        raise BusClosed(self.last_delivered_id)


class Bus:
    """Publish committed events to every matching subscription."""

    def __init__(self, default_queue_size: int) -> None:
        self._subs: set[Subscription] = set()
        self._default_queue_size = default_queue_size
        self.closed = False
        self.on_drop: list[Callable[[Subscription], None]] = []
        self.on_count: list[Callable[[str, int], None]] = []

    def subscribe(self, flt: EventFilter, *, include_updates: bool = True,
                  queue_size: int | None = None, transport: str = "grpc") -> Subscription:
        """Register a subscriber; it receives events committed from now on."""
        sub = Subscription(flt, include_updates, queue_size or self._default_queue_size,
                           transport)
        if self.closed:
            sub.closed = True
        self._subs.add(sub)
        self._count(transport)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Forget a subscriber (idempotent)."""
        if sub in self._subs:
            self._subs.discard(sub)
            self._count(sub.transport)

    def count(self, transport: str | None = None) -> int:
        """How many subscribers, optionally of one transport."""
        return sum(1 for s in self._subs if transport is None or s.transport == transport)

    def publish(self, events: list[StoredEvent]) -> None:
        """Offer events to every subscriber (a commit listener of the writer)."""
        for sub in tuple(self._subs):
            for event in events:
                if event.kind == "update" and not sub.include_updates:
                    continue
                if sub.filter.matches(event.row) and not sub.offer(event):
                    for hook in self.on_drop:
                        hook(sub)
                    break

    def close(self) -> None:
        """End every subscription (server shutdown)."""
        self.closed = True
        for sub in self._subs:
            sub.closed = True
            sub._ready.set()

    def _count(self, transport: str) -> None:
        for hook in self.on_count:
            hook(transport, self.count(transport))
