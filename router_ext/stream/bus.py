"""In-process fan-out of committed events to live subscribers.

Each subscriber has its own bounded queue. Publishing never waits: a subscriber whose queue is
full is marked as behind and ended with the id to resume from, so one slow reader can neither
slow ingestion nor the other readers, and never loses an event without being told.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from router_ext.records import StoredEvent

log = logging.getLogger(__name__)
# Seconds of wakeup window per subscriber, by what waking one costs the event loop, so that
# wakeups keep to about half of it. A WebSocket viewer written to from the bus's round costs
# ~30 us (the wall: 59-68% of a core for 20 rounds a second of 1,000 viewers). A gRPC
# subscriber costs several times that: its task wakes, and grpc.aio sends the message and
# handles its completion (42-81 us a message for a bare grpc.aio server, bench_floors.py). With
# the server on a core of its own (bench_subscribe_latency.py --pin), 100 gRPC subscribers at
# 1,000 events/s saturated it at 50 us each (p99 1.4-2.1 s) and left it 6-18% idle at 250 and
# 400 us (p99 62-435 ms), in turn (docs/benchmarks.md, live fan-out).
COALESCE_PER_SUBSCRIBER = 50e-6
COALESCE_BY_TRANSPORT = {"grpc": 250e-6}
COALESCE_MAX = 0.050  # the most a wakeup waits for the one before


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
        return self.admits(row["source_app"], row["session_id"], row["hook_event_type"])

    def admits(self, source_app: object, session_id: object, hook_event_type: object) -> bool:
        """True when an event with these three fields passes every non-empty set."""
        return ((not self.source_apps or source_app in self.source_apps)
                and (not self.session_ids or session_id in self.session_ids)
                and (not self.hook_event_types or hook_event_type in self.hook_event_types))


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
    # Set while the reader waits in get(); the first offer wakes it, later ones cost nothing.
    _waiter: asyncio.Future[None] | None = None
    # When the current wait ends with nothing, and the one timer that checks it.
    _idle_until: float = 0.0
    _idle_timer: asyncio.TimerHandle | None = None
    last_delivered_id: int = 0
    behind: bool = False
    closed: bool = False
    # Set by a reader that can deliver without its task running (live.DirectDelivery): the
    # bus calls it instead of waking the reader; it returns False when the reader must wake.
    push: Callable[[], bool] | None = None

    def offer(self, events: list[StoredEvent]) -> bool:
        """Queue events; False (and marked behind) when they do not all fit. Those that fit
        are queued, so the reader gets everything up to the cut-off. The caller wakes the
        reader (:meth:`wake`)."""
        if self.behind or self.closed:
            return True
        room = self.limit - len(self._queue)
        if len(events) > room:
            self._queue.extend(events[:max(room, 0)])
            self.behind = True
            return False
        self._queue.extend(events)
        return True

    @property
    def waiting(self) -> bool:
        """True while the reader is parked in get()."""
        return self._waiter is not None and not self._waiter.done()

    def deliver(self) -> None:
        """Hand queued events over: through `push` when it takes them, else by waking the
        reader. A failing push wakes the reader, which then meets the same state itself."""
        push = self.push
        if push is not None:
            try:
                if push():
                    return
            except Exception:
                log.exception("direct delivery failed; waking the reader instead")
        self.wake()

    def wake(self) -> None:
        """Wake the reader waiting in get(), if any, when there is something to hand it
        (a reader woken for nothing would take it for an idle timeout)."""
        waiter = self._waiter
        if (waiter is not None and not waiter.done()
                and (self._queue or self.behind or self.closed)):
            waiter.set_result(None)

    def drain_nowait(self) -> list[StoredEvent]:
        """Everything queued now, without waiting (raises when cut off)."""
        items = list(self._queue)
        self._queue.clear()
        self._check_state(items)
        return items

    async def get(self, timeout: float | None = None) -> list[StoredEvent]:
        """Wait for events (an empty list after `timeout` seconds with nothing). Raises
        SubscriberBehind or BusClosed.

        Everything queued by the time the reader runs comes at once: under load a reader is
        woken once per backlog, not once per event. (A bare future rather than
        asyncio.wait_for, which on Python 3.11 starts a task for every wait.)
        """
        if not self._queue and not self.behind and not self.closed:
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            self._idle_until = math.inf  # a timer left by an earlier wait must not end this
            if timeout is not None:
                self._idle_until = until = loop.time() + timeout
                timer = self._idle_timer
                if timer is None or timer.when() > until:  # none yet, or set for later
                    if timer is not None:
                        timer.cancel()
                    self._idle_timer = loop.call_at(until, self._idle_check)
            try:
                await waiter
            finally:
                self._waiter = None
            if not self._queue and not self.behind and not self.closed:
                return []
        return self.drain_nowait()

    def _idle_check(self) -> None:
        """The idle timer: end the wait once `timeout` passed since it began, else re-arm.

        One timer per subscriber, re-armed only when it fires, instead of one per wait: a
        busy subscriber waits many times a second, and a timer per wait meant a heap push,
        a cancellation and an object that outlived the young generation each time.
        """
        self._idle_timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return  # not waiting now: the next wait arms a new timer
        loop = asyncio.get_running_loop()
        if loop.time() >= self._idle_until:
            waiter.set_result(None)
        elif self._idle_until != math.inf:
            self._idle_timer = loop.call_at(self._idle_until, self._idle_check)

    def postpone_idle(self, seconds: float) -> None:
        """Events went out without waking the reader: its wait is not idle until `seconds`
        from now."""
        with contextlib.suppress(RuntimeError):  # no loop, no reader waiting
            self._idle_until = asyncio.get_running_loop().time() + seconds

    def stop_idle_timer(self) -> None:
        """Cancel a pending idle timer (the subscriber is gone)."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _check_state(self, items: list[StoredEvent]) -> None:
        if not (self.behind or self.closed) or items:
            # What is already queued is handed over first; the error comes on the next call.
            return
        if self.behind:
            raise SubscriberBehind(self.last_delivered_id)
        raise BusClosed(self.last_delivered_id)


class Bus:
    """Publish committed events to every matching subscription.

    Waking a subscriber's task costs the same whether it then sends one event or a hundred,
    and with many subscribers and frequent commits those wakeups are the cost of fan-out. So
    subscribers that were woken less than a short window ago are woken again only when it
    ends, with everything committed meanwhile: the window is each subscriber's share by its
    transport (COALESCE_BY_TRANSPORT, else COALESCE_PER_SUBSCRIBER) added up, at most
    COALESCE_MAX, which keeps wakeups to a bounded share of the event loop, and a commit after
    a quiet spell is delivered at once.
    """

    def __init__(self, default_queue_size: int) -> None:
        self._subs: set[Subscription] = set()
        self._by_transport: dict[str, int] = {}
        self._window = 0.0
        self._due: set[Subscription] = set()  # offered events since their last wakeup
        self._timer: asyncio.Handle | None = None
        self._last_wake = float("-inf")
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
        self._count(transport, +1)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Forget a subscriber (idempotent)."""
        sub.stop_idle_timer()
        if sub in self._subs:
            self._subs.discard(sub)
            self._count(sub.transport, -1)

    def count(self, transport: str | None = None) -> int:
        """How many subscribers, optionally of one transport."""
        return len(self._subs) if transport is None else self._by_transport.get(transport, 0)

    def window(self) -> float:
        """Seconds a wakeup waits after the one before: its subscribers' share, capped."""
        return self._window

    def publish(self, events: list[StoredEvent]) -> None:
        """Offer events to every subscriber (a commit listener of the writer).

        Subscribers with the same filter share one list of matching events, so the filter
        runs once per distinct filter, not once per subscriber.
        """
        matching: dict[tuple[EventFilter, bool], list[StoredEvent]] = {}
        for sub in tuple(self._subs):
            key = (sub.filter, sub.include_updates)
            mine = matching.get(key)
            if mine is None:
                mine = matching[key] = [
                    e for e in events
                    if (sub.include_updates or e.kind != "update") and sub.filter.matches(e.row)]
            if not mine:
                continue
            self._due.add(sub)
            if not sub.offer(mine):
                for hook in self.on_drop:
                    hook(sub)
        if self._due:
            self._wake_due_soon()

    def _wake_due_soon(self) -> None:
        if self._timer is not None:
            return  # a wakeup is already scheduled; these events go with it
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # published outside the event loop (no reader can wait there)
            self._wake_due()
            return
        at = self._last_wake + self._window
        if at <= loop.time():
            # On the next turn, not now: the writer resolves its callers before it publishes,
            # so their answers go out before a round that with many viewers takes tens of ms.
            self._timer = loop.call_soon(self._wake_due)
        else:
            self._timer = loop.call_at(at, self._wake_due)

    def _wake_due(self) -> None:
        self._timer = None
        with contextlib.suppress(RuntimeError):
            self._last_wake = asyncio.get_running_loop().time()
        due, self._due = self._due, set()
        for sub in due:
            sub.deliver()

    def close(self) -> None:
        """End every subscription (server shutdown)."""
        self.closed = True
        for sub in self._subs:
            sub.closed = True
            sub.wake()

    def _count(self, transport: str, change: int) -> None:
        self._by_transport[transport] = self._by_transport.get(transport, 0) + change
        self._window = min(COALESCE_MAX, sum(
            n * COALESCE_BY_TRANSPORT.get(name, COALESCE_PER_SUBSCRIBER)
            for name, n in self._by_transport.items()))
        for hook in self.on_count:
            hook(transport, self.count(transport))
