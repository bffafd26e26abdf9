"""Bus: filters, bounded per-subscriber queues, cut-off with a resume id, callbacks, close."""

from __future__ import annotations

import asyncio

import pytest

from router_ext.records import StoredEvent
from router_ext.stream.bus import (
    COALESCE_BY_TRANSPORT,
    COALESCE_MAX,
    COALESCE_PER_SUBSCRIBER,
    Bus,
    BusClosed,
    EventFilter,
    SubscriberBehind,
    Subscription,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]


def stored(id_: int, source: str = "app", session: str = "s1", kind: str = "Stop",
           *, update: bool = False) -> StoredEvent:
    row = {"id": id_, "source_app": source, "session_id": session, "hook_event_type": kind}
    return StoredEvent(row, "update" if update else "event")


def ids(events: list[StoredEvent]) -> list[int]:
    return [e.id for e in events]


def test_filter_sets_are_anded_and_empty_ones_match_everything() -> None:
    row: dict[str, object] = {"source_app": "a", "session_id": "s1", "hook_event_type": "Stop"}
    assert EventFilter().matches(row)
    assert EventFilter.of(source_apps=["", "a"], hook_event_types=[""]).matches(row)
    assert EventFilter.of(source_apps=["", "a"]).source_apps == frozenset({"a"})
    assert EventFilter.of(source_apps=["a", "b"], session_ids=["s1"]).matches(row)
    assert not EventFilter.of(source_apps=["a"], session_ids=["s2"]).matches(row)
    assert not EventFilter.of(hook_event_types=["PreToolUse"]).matches(row)


async def test_each_subscriber_gets_only_what_its_filter_and_kind_allow() -> None:
    bus = Bus(100)
    everything = bus.subscribe(EventFilter())
    app_b = bus.subscribe(EventFilter.of(source_apps=["b"]))
    s2_stops = bus.subscribe(EventFilter.of(session_ids=["s2"], hook_event_types=["Stop"]))
    no_updates = bus.subscribe(EventFilter(), include_updates=False)
    bus.publish([stored(1), stored(2, source="b"), stored(3, session="s2"),
                 stored(4, session="s2", kind="PreToolUse"), stored(2, source="b", update=True)])
    assert [(e.id, e.kind) for e in await everything.get(1)] == [
        (1, "event"), (2, "event"), (3, "event"), (4, "event"), (2, "update")]
    assert [(e.id, e.kind) for e in await app_b.get(1)] == [(2, "event"), (2, "update")]
    assert ids(await s2_stops.get(1)) == [3]
    assert ids(await no_updates.get(1)) == [1, 2, 3, 4]


async def test_get_waits_for_a_publish_and_times_out_empty() -> None:
    bus = Bus(10)
    sub = bus.subscribe(EventFilter())
    assert await sub.get(timeout=0.01) == []
    waiting = asyncio.ensure_future(sub.get(timeout=10))
    await asyncio.sleep(0)
    assert not waiting.done()
    bus.publish([stored(7)])
    assert ids(await waiting) == [7]


async def test_each_wait_times_out_after_its_own_timeout_from_its_own_start() -> None:
    """The idle timer outlives a wait that events ended; the next wait still gets exactly
    its own timeout, longer or shorter than the last one's."""
    loop = asyncio.get_running_loop()
    bus = Bus(10)
    sub = bus.subscribe(EventFilter())
    waiting = asyncio.ensure_future(sub.get(timeout=0.2))
    await asyncio.sleep(0.1)
    bus.publish([stored(1)])
    assert ids(await waiting) == [1]
    started = loop.time()
    assert await sub.get(timeout=0.3) == []  # not at the first wait's deadline, 0.1 s from now
    assert loop.time() - started >= 0.3
    waiting = asyncio.ensure_future(sub.get(timeout=30))
    await asyncio.sleep(0)
    bus.publish([stored(2)])
    assert ids(await waiting) == [2]
    started = loop.time()
    assert await asyncio.wait_for(sub.get(timeout=0.05), 5) == []  # sooner than the 30 s timer
    assert loop.time() - started >= 0.05
    waiting = asyncio.ensure_future(sub.get(timeout=0.05))
    await asyncio.sleep(0)
    bus.publish([stored(3)])
    assert ids(await waiting) == [3]
    waiting = asyncio.ensure_future(sub.get())  # no timeout: the 0.05 s timer must not end it
    await asyncio.sleep(0.15)
    assert not waiting.done()
    bus.publish([stored(4)])
    assert ids(await waiting) == [4]
    bus.unsubscribe(sub)


async def test_a_slow_subscriber_is_cut_off_alone_with_its_resume_id() -> None:
    bus = Bus(100)
    dropped: list[Subscription] = []
    bus.on_drop.append(dropped.append)
    slow = bus.subscribe(EventFilter(), queue_size=3, transport="ws")
    fast = bus.subscribe(EventFilter())
    bus.publish([stored(1), stored(2)])
    got = slow.drain_nowait()
    slow.last_delivered_id = got[-1].id  # what a consumer records as it delivers
    bus.publish([stored(n) for n in range(3, 9)])
    bus.publish([stored(9)])
    assert dropped == [slow]  # told once, not once per lost event
    assert slow.behind and not fast.behind
    # What was queued before the overflow is still handed over, then the cut-off.
    assert ids(await slow.get(1)) == [3, 4, 5]
    slow.last_delivered_id = 5
    with pytest.raises(SubscriberBehind) as behind:
        await slow.get(1)
    assert behind.value.resume_after_id == 5
    assert ids(await fast.get(1)) == list(range(1, 10))


async def test_non_matching_events_do_not_fill_a_queue() -> None:
    bus = Bus(100)
    sub = bus.subscribe(EventFilter.of(session_ids=["mine"]), queue_size=2)
    bus.publish([stored(n, session="other") for n in range(1, 50)])
    bus.publish([stored(50, session="mine"), stored(51, session="mine")])
    assert not sub.behind
    assert ids(sub.drain_nowait()) == [50, 51]


def test_on_count_reports_subscribers_per_transport() -> None:
    bus = Bus(10)
    counts: list[tuple[str, int]] = []
    bus.on_count.append(lambda transport, n: counts.append((transport, n)))
    a = bus.subscribe(EventFilter(), transport="ws")
    bus.subscribe(EventFilter(), transport="ws")
    c = bus.subscribe(EventFilter(), transport="grpc")
    bus.unsubscribe(a)
    bus.unsubscribe(a)  # idempotent: no second report
    bus.unsubscribe(c)
    assert counts == [("ws", 1), ("ws", 2), ("grpc", 1), ("ws", 1), ("grpc", 0)]
    assert (bus.count(), bus.count("ws"), bus.count("grpc")) == (1, 1, 0)


def test_the_window_adds_up_each_subscribers_share_by_transport_up_to_the_cap() -> None:
    bus = Bus(10)
    viewers = [bus.subscribe(EventFilter(), transport="ws") for _ in range(10)]
    grpc_share = COALESCE_BY_TRANSPORT["grpc"]
    assert grpc_share > COALESCE_PER_SUBSCRIBER  # a gRPC wakeup costs more than a viewer's
    assert bus.window() == pytest.approx(10 * COALESCE_PER_SUBSCRIBER)
    subscribers = [bus.subscribe(EventFilter(), transport="grpc") for _ in range(20)]
    assert bus.window() == pytest.approx(10 * COALESCE_PER_SUBSCRIBER + 20 * grpc_share)
    for sub in viewers:
        bus.unsubscribe(sub)
    assert bus.window() == pytest.approx(20 * grpc_share)
    crowd = [bus.subscribe(EventFilter(), transport="grpc")
             for _ in range(int(COALESCE_MAX / grpc_share) + 5)]
    assert bus.window() == COALESCE_MAX
    for sub in subscribers + crowd:
        bus.unsubscribe(sub)
    assert (bus.window(), bus.count(), bus.count("grpc")) == (0, 0, 0)


async def test_a_wakeup_soon_after_another_waits_for_the_window() -> None:
    bus = Bus(10)
    subs = [bus.subscribe(EventFilter(), transport="grpc") for _ in range(400)]
    assert bus.window() == COALESCE_MAX  # the widest window: most room for a slow machine
    loop = asyncio.get_running_loop()
    first = asyncio.ensure_future(subs[0].get(timeout=10))
    await asyncio.sleep(0)
    before_first = loop.time()
    bus.publish([stored(1)])  # after a quiet spell: at once
    assert ids(await first) == [1]
    second = asyncio.ensure_future(subs[0].get(timeout=10))
    await asyncio.sleep(0)
    bus.publish([stored(2)])
    for _ in range(3):
        await asyncio.sleep(0)
    assert not second.done()  # held for the window, not woken on the next turns of the loop
    assert ids(await second) == [2]
    assert loop.time() - before_first >= bus.window()  # the loop's clock: a lower bound


async def test_close_hands_over_what_is_queued_then_ends_every_subscriber() -> None:
    bus = Bus(10)
    idle = bus.subscribe(EventFilter())
    busy = bus.subscribe(EventFilter())
    idle.last_delivered_id = 41
    waiting = asyncio.ensure_future(idle.get(timeout=10))
    await asyncio.sleep(0)
    bus.publish([stored(42)])
    assert ids(await waiting) == [42]
    idle.last_delivered_id = 42
    bus.publish([stored(43)])
    busy.drain_nowait()
    waiting = asyncio.ensure_future(busy.get(timeout=10))
    await asyncio.sleep(0)
    bus.close()
    with pytest.raises(BusClosed):
        await waiting
    assert ids(await idle.get(1)) == [43]
    with pytest.raises(BusClosed) as closed:
        await idle.get(1)
    assert closed.value.resume_after_id == 42
    late = bus.subscribe(EventFilter())
    with pytest.raises(BusClosed):
        await late.get(10)  # does not wait for the timeout
    bus.publish([stored(44)])
    with pytest.raises(BusClosed):
        late.drain_nowait()


async def test_a_woken_reader_takes_everything_published_since_in_one_get() -> None:
    bus = Bus(1000)
    sub = bus.subscribe(EventFilter())
    waiting = asyncio.ensure_future(sub.get(timeout=10))
    await asyncio.sleep(0)
    for n in range(1, 51):
        bus.publish([stored(n)])
    assert ids(await waiting) == list(range(1, 51))


async def test_many_readers_get_every_event_once_in_order_across_wakeups() -> None:
    bus = Bus(10_000)
    subs = [bus.subscribe(EventFilter.of(source_apps=["app"])) for _ in range(300)]
    got: list[list[int]] = [[] for _ in subs]

    async def read(n: int) -> None:
        while len(got[n]) < 60:
            got[n].extend(ids(await subs[n].get(timeout=10)))

    readers = [asyncio.ensure_future(read(n)) for n in range(len(subs))]
    for n in range(1, 61):
        bus.publish([stored(n), stored(n, source="other")])
        await asyncio.sleep(0)
    await asyncio.wait_for(asyncio.gather(*readers), 15)
    assert all(g == list(range(1, 61)) for g in got)


async def test_a_publish_that_overflows_queues_what_fits_then_cuts_off() -> None:
    bus = Bus(100)
    sub = bus.subscribe(EventFilter(), queue_size=4)
    bus.publish([stored(1), stored(2), stored(3)])
    bus.publish([stored(4), stored(5), stored(6)])
    assert sub.behind
    assert ids(await sub.get(1)) == [1, 2, 3, 4]
    sub.last_delivered_id = 4
    with pytest.raises(SubscriberBehind) as behind:
        await sub.get(1)
    assert behind.value.resume_after_id == 4


async def test_a_reader_is_not_woken_with_nothing_to_hand_it() -> None:
    bus = Bus(10)
    sub = bus.subscribe(EventFilter())
    waiting = asyncio.ensure_future(sub.get(timeout=10))
    await asyncio.sleep(0)
    sub.wake()  # e.g. a round that found its queue already drained
    await asyncio.sleep(0.01)
    assert not waiting.done()
    bus.publish([stored(3)])
    assert ids(await waiting) == [3]
