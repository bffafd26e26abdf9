"""follow(): replay from the database, then live from the bus, exactly once and in id order."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event

from router_ext.ingest.normalize import build_row
from router_ext.read.reader import Reader
from router_ext.records import Row, StoredEvent
from router_ext.store.writer import Writer
from router_ext.stream import live
from router_ext.stream.bus import Bus, BusClosed, EventFilter, SubscriberBehind
from router_ext.stream.live import Heartbeat, follow, follow_batches

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]
Stream = AsyncIterator[StoredEvent | Heartbeat]


def ev(uid: str, session: str = "s1", source: str = "app") -> Row:
    return build_row(source_app=source, session_id=session, hook_event_type="Notification",
                     payload={"uid": uid}, event_uid=uid)


@pytest.fixture
def bus(writer: Writer) -> Bus:
    """The bus fed by the writer's commits, as the runtime wires it for SQLite."""
    b = Bus(1000)
    writer.listeners.append(lambda batch: b.publish(batch.events))
    return b


@pytest.fixture
def reader(reader_engine: Engine) -> Reader:
    return Reader(reader_engine)


async def take(stream: Stream, n: int) -> list[StoredEvent | Heartbeat]:
    return [await asyncio.wait_for(anext(stream), 10) for _ in range(n)]


async def take_ids(stream: Stream, n: int) -> list[int]:
    out = []
    for item in await take(stream, n):
        assert isinstance(item, StoredEvent), item
        out.append(item.id)
    return out


async def insert(writer: Writer, *uids: str, session: str = "s1") -> list[int]:
    return [a.id for a in await writer.insert([ev(u, session) for u in uids])]


async def until_subscribed(bus: Bus, stream: Stream) -> asyncio.Future[Any]:
    """Start pulling the next item, and return once the stream listens to the bus."""
    pending = asyncio.ensure_future(anext(stream))
    deadline = time.monotonic() + 10
    while not bus.count():
        assert time.monotonic() < deadline, "the stream never subscribed"
        await asyncio.sleep(0.001)
    return pending


async def test_replay_then_live_without_gap(writer: Writer, bus: Bus, reader: Reader) -> None:
    await insert(writer, *(f"old{n}" for n in range(5)))
    stream = follow(reader, bus, EventFilter(), after_id=0, live_from_id=writer.last_id)
    assert await take_ids(stream, 5) == [1, 2, 3, 4, 5]
    await insert(writer, "new1", "new2")
    await insert(writer, "new3")
    assert await take_ids(stream, 3) == [6, 7, 8]
    assert bus.count() == 1
    await stream.aclose()  # type: ignore[attr-defined]
    assert bus.count() == 0


@pytest.fixture
async def commits_during_replay(reader_engine: Engine,
                                writer: Writer) -> AsyncIterator[list[str]]:
    """Commit events through the writer at exact moments of the replay queries.

    1st replay query, after it read its snapshot: "A" commits and is published while the
    stream is not subscribed yet (only the second replay can find it).
    2nd query, before its snapshot: "B" commits; it is both replayed and queued on the bus.
    2nd query, after its snapshot: "C" commits; only the bus has it.
    """
    loop = asyncio.get_running_loop()
    fired: list[str] = []
    calls = {"before": 0, "after": 0}
    plan = {("after", 1): "A", ("before", 2): "B", ("after", 2): "C"}

    def commit(uid: str) -> None:
        asyncio.run_coroutine_threadsafe(writer.insert([ev(uid)]), loop).result(10)
        fired.append(uid)

    def on(moment: str) -> Any:
        def hook(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if "FROM events" not in statement or "ORDER BY events.id" not in statement:
                return
            calls[moment] += 1
            uid = plan.get((moment, calls[moment]))
            if uid is not None:
                commit(uid)
        return hook

    before, after = on("before"), on("after")
    event.listen(reader_engine, "before_cursor_execute", before)
    event.listen(reader_engine, "after_cursor_execute", after)
    yield fired
    event.remove(reader_engine, "before_cursor_execute", before)
    event.remove(reader_engine, "after_cursor_execute", after)


async def test_events_committed_during_replay_arrive_once_in_order(
        writer: Writer, bus: Bus, reader: Reader, commits_during_replay: list[str]) -> None:
    await insert(writer, *(f"old{n}" for n in range(5)))
    stream = follow(reader, bus, EventFilter(), after_id=0, live_from_id=writer.last_id)
    got = await take(stream, 8)
    assert commits_during_replay == ["A", "B", "C"]
    assert [(e.id, e.row["event_uid"]) for e in got if isinstance(e, StoredEvent)] == [
        (1, "old0"), (2, "old1"), (3, "old2"), (4, "old3"), (5, "old4"),
        (6, "A"), (7, "B"), (8, "C")]
    await insert(writer, "D")
    assert await take_ids(stream, 1) == [9]
    await stream.aclose()  # type: ignore[attr-defined]


async def test_steady_writes_across_many_replay_pages(
        writer: Writer, bus: Bus, reader: Reader, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "REPLAY_PAGE", 7)  # many page boundaries, each a seam
    await insert(writer, *(f"old{n}" for n in range(40)))
    total = 240

    async def produce() -> None:
        for n in range(total - 40):
            await writer.insert([ev(f"live{n}")])
            await asyncio.sleep(0)

    producer = asyncio.ensure_future(produce())
    stream = follow(reader, bus, EventFilter(), after_id=0, live_from_id=writer.last_id)
    got = await take_ids(stream, total)
    await producer
    assert got == list(range(1, total + 1))
    await stream.aclose()  # type: ignore[attr-defined]


async def test_resume_after_an_id_replays_only_what_follows(writer: Writer, bus: Bus,
                                                            reader: Reader) -> None:
    await insert(writer, *(f"e{n}" for n in range(10)))
    stream = follow(reader, bus, EventFilter(), after_id=4, live_from_id=writer.last_id)
    assert await take_ids(stream, 6) == [5, 6, 7, 8, 9, 10]
    await stream.aclose()  # type: ignore[attr-defined]
    up_to_date = follow(reader, bus, EventFilter(), after_id=10, live_from_id=10)
    pending = await until_subscribed(bus, up_to_date)
    await insert(writer, "e10")
    assert (await asyncio.wait_for(pending, 10)).id == 11
    await up_to_date.aclose()  # type: ignore[attr-defined]


async def test_live_only_skips_history(writer: Writer, bus: Bus, reader: Reader) -> None:
    await insert(writer, "h1", "h2", "h3")
    stream = follow(reader, bus, EventFilter(), after_id=None, live_from_id=writer.last_id)
    pending = await until_subscribed(bus, stream)
    await insert(writer, "now")
    first = await asyncio.wait_for(pending, 10)
    assert isinstance(first, StoredEvent) and (first.id, first.row["event_uid"]) == (4, "now")
    await stream.aclose()  # type: ignore[attr-defined]


async def test_filters_apply_to_replay_and_live(writer: Writer, bus: Bus,
                                                reader: Reader) -> None:
    await writer.insert([ev("a1", "mine"), ev("b1", "theirs"), ev("a2", "mine")])
    flt = EventFilter.of(session_ids=["mine"])
    stream = follow(reader, bus, flt, after_id=0, live_from_id=writer.last_id)
    assert await take_ids(stream, 2) == [1, 3]
    await writer.insert([ev("b2", "theirs"), ev("a3", "mine"), ev("c1", "mine", "other")])
    assert await take_ids(stream, 2) == [5, 6]
    await stream.aclose()  # type: ignore[attr-defined]


async def test_updates_pass_through_and_do_not_move_the_cursor(writer: Writer, bus: Bus,
                                                               reader: Reader) -> None:
    await insert(writer, "u1", "u2")
    stream = follow(reader, bus, EventFilter(), after_id=0, live_from_id=2)
    assert await take_ids(stream, 2) == [1, 2]
    pending = await until_subscribed(bus, stream)
    old = await reader.event(1)
    assert old is not None
    bus.publish([StoredEvent(old, "update")])  # as Writer.run announces a changed row
    await insert(writer, "u3")
    got = [await asyncio.wait_for(pending, 10), *await take(stream, 1)]
    assert [(e.kind, e.id) for e in got if isinstance(e, StoredEvent)] == [
        ("update", 1), ("event", 3)]
    await stream.aclose()  # type: ignore[attr-defined]


async def test_idle_stream_heartbeats_with_its_cursor(writer: Writer, bus: Bus,
                                                      reader: Reader) -> None:
    await insert(writer, "x", "y")
    stream = follow(reader, bus, EventFilter(), after_id=0, live_from_id=2,
                    heartbeat_seconds=0.01)
    await take_ids(stream, 2)
    assert await take(stream, 1) == [Heartbeat(2)]
    await stream.aclose()  # type: ignore[attr-defined]


async def test_a_slow_stream_is_cut_off_and_resumes_without_loss(writer: Writer, bus: Bus,
                                                                 reader: Reader) -> None:
    stream = follow(reader, bus, EventFilter(), after_id=None, live_from_id=0, queue_size=2)
    pending = await until_subscribed(bus, stream)
    await insert(writer, *(f"s{n}" for n in range(6)))  # one publish of 6 into a queue of 2
    first = await asyncio.wait_for(pending, 10)
    assert first.id == 1 and await take_ids(stream, 1) == [2]
    with pytest.raises(SubscriberBehind) as behind:
        await take(stream, 1)
    assert behind.value.resume_after_id == 2
    assert bus.count() == 0
    resumed = follow(reader, bus, EventFilter(), after_id=behind.value.resume_after_id,
                     live_from_id=writer.last_id)
    assert await take_ids(resumed, 4) == [3, 4, 5, 6]
    await resumed.aclose()  # type: ignore[attr-defined]


async def test_bus_close_ends_the_stream_with_its_cursor(writer: Writer, bus: Bus,
                                                         reader: Reader) -> None:
    await insert(writer, "c1", "c2", "c3")
    stream = follow(reader, bus, EventFilter(), after_id=1, live_from_id=3)
    assert await take_ids(stream, 2) == [2, 3]
    pending = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.01)
    bus.close()
    with pytest.raises(BusClosed) as closed:
        await asyncio.wait_for(pending, 10)
    assert closed.value.resume_after_id == 3
    assert bus.count() == 0


async def next_batch(stream: AsyncIterator[list[StoredEvent] | Heartbeat]) -> list[int]:
    """The ids of the next batch (heartbeats skipped)."""
    while True:
        item = await asyncio.wait_for(anext(stream), 10)
        if not isinstance(item, Heartbeat):
            return [e.id for e in item]


async def test_direct_delivery_sends_while_the_reader_waits_and_keeps_its_cursor(
        writer: Writer, bus: Bus, reader: Reader) -> None:
    """Live events go out through DirectDelivery without the stream yielding; the cursor a
    cut-off reports counts them, and the cut-off is reported at once, not at the heartbeat."""
    delivered: list[list[int]] = []
    ready = [True]
    direct = live.DirectDelivery(lambda: ready[0],
                                 lambda events: delivered.append([e.id for e in events]))
    stream = follow_batches(reader, bus, EventFilter(), after_id=None, live_from_id=0,
                            queue_size=3, heartbeat_seconds=30, direct=direct)
    pending = await until_subscribed(bus, stream)
    await insert(writer, "d1", "d2")
    await asyncio.sleep(0)  # the bus's round runs on the turn after the writer answers
    assert delivered == [[1, 2]] and not pending.done()
    ready[0] = False  # the client is not keeping up: the stream yields instead
    await insert(writer, "d3")
    assert [e.id for e in await asyncio.wait_for(pending, 10)] == [3]
    ready[0] = True  # ready, but the caller has not asked for more: [3] may still be sending
    await insert(writer, "d4")
    await asyncio.sleep(0)
    assert delivered == [[1, 2]]
    assert await next_batch(stream) == [4]
    pending = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.01)
    await insert(writer, *(f"e{n}" for n in range(5)))  # 5 into a queue of 3
    with pytest.raises(SubscriberBehind) as behind:
        await asyncio.wait_for(pending, 5)
    assert delivered == [[1, 2], [5, 6, 7]]
    assert behind.value.resume_after_id == 7
    assert bus.count() == 0


async def test_the_writers_callers_resume_before_the_bus_round_delivers(
        writer: Writer, bus: Bus, reader: Reader) -> None:
    """A POST is answered before the round its commit starts: with a wall of viewers a round
    takes tens of milliseconds, which the answer need not wait for."""
    order: list[str] = []
    direct = live.DirectDelivery(lambda: True, lambda events: order.append("delivered"))
    stream = follow_batches(reader, bus, EventFilter(), after_id=None, live_from_id=0,
                            heartbeat_seconds=30, direct=direct)
    pending = await until_subscribed(bus, stream)
    await insert(writer, "o1")
    order.append("answered")
    await asyncio.sleep(0)
    assert order == ["answered", "delivered"]
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
    assert bus.count() == 0


async def test_the_next_commit_waits_for_the_round_of_the_one_before(
        writer: Writer, bus: Bus, reader: Reader) -> None:
    """The writer thread does not commit beside the bus's round (they would contend for the
    interpreter lock): a batch queued during a commit starts after that commit's round."""
    writer.gather_seconds = 0.0  # no pause of its own before the next batch
    writer.checkpoint_seconds = 0.0
    order: list[str] = []
    queued = threading.Event()

    def note_commit(conn: Any, rows: list[Row]) -> None:
        uid = rows[0]["event_uid"]
        order.append(f"commit {uid}")
        if uid == "n1":
            assert queued.wait(5)  # n2 waits in the queue before n1 commits

    def slow_round(events: list[StoredEvent]) -> None:
        time.sleep(0.05)  # a long round that lets go of the lock, as socket writes do
        order.append(f"delivered {events[0].row['event_uid']}")

    writer.in_transaction = note_commit  # runs on the writer thread, inside the transaction
    direct = live.DirectDelivery(lambda: True, slow_round)
    stream = follow_batches(reader, bus, EventFilter(), after_id=None, live_from_id=0,
                            heartbeat_seconds=30, direct=direct)
    pending = await until_subscribed(bus, stream)
    first = asyncio.ensure_future(insert(writer, "n1"))
    while not order:  # n1 is on the writer thread
        await asyncio.sleep(0.001)
    second = asyncio.ensure_future(insert(writer, "n2"))
    await asyncio.sleep(0)  # n2 is queued
    queued.set()
    await asyncio.gather(first, second)
    await asyncio.sleep(0.2)
    assert order == ["commit n1", "delivered n1", "commit n2", "delivered n2"]
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending


async def test_events_delivered_directly_postpone_the_heartbeat(writer: Writer, bus: Bus,
                                                               reader: Reader) -> None:
    loop = asyncio.get_running_loop()
    direct = live.DirectDelivery(lambda: True, lambda events: None)
    stream = follow_batches(reader, bus, EventFilter(), after_id=None, live_from_id=0,
                            heartbeat_seconds=0.3, direct=direct)
    pending = await until_subscribed(bus, stream)
    await asyncio.sleep(0.2)
    await insert(writer, "h1")
    sent = loop.time()
    assert await asyncio.wait_for(pending, 10) == Heartbeat(1)
    assert loop.time() - sent >= 0.29  # a heartbeat after 0.3 s of quiet, not 0.1 s
    await stream.aclose()  # type: ignore[attr-defined]


async def test_batches_hand_over_a_backlog_in_order(writer: Writer, bus: Bus,
                                                    reader: Reader) -> None:
    await insert(writer, *(f"old{n}" for n in range(5)))
    stream = follow_batches(reader, bus, EventFilter(), after_id=0, live_from_id=writer.last_id)
    assert await next_batch(stream) == [1, 2, 3, 4, 5]  # the replay page, in one
    pending = asyncio.ensure_future(anext(stream))
    deadline = time.monotonic() + 10
    while not bus.count():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.001)
    await insert(writer, "a", "b", "c")  # one commit, queued together
    first = await asyncio.wait_for(pending, 10)
    assert not isinstance(first, Heartbeat) and [e.id for e in first] == [6, 7, 8]
    await stream.aclose()  # type: ignore[attr-defined]


async def test_a_cut_off_batch_stream_resumes_after_its_last_whole_batch(
        writer: Writer, bus: Bus, reader: Reader) -> None:
    stream = follow_batches(reader, bus, EventFilter(), after_id=None, live_from_id=0,
                            queue_size=3)
    pending = asyncio.ensure_future(anext(stream))
    while not bus.count():
        await asyncio.sleep(0.001)
    await insert(writer, *(f"s{n}" for n in range(5)))  # 5 into a queue of 3
    first = await asyncio.wait_for(pending, 10)
    assert not isinstance(first, Heartbeat) and [e.id for e in first] == [1, 2, 3]
    with pytest.raises(SubscriberBehind) as behind:
        await anext(stream)
    assert behind.value.resume_after_id == 3
    resumed = follow_batches(reader, bus, EventFilter(), after_id=3, live_from_id=writer.last_id)
    assert await next_batch(resumed) == [4, 5]
    await resumed.aclose()  # type: ignore[attr-defined]


Op = tuple[str, int]
OPS = st.lists(st.one_of(st.tuples(st.just("commit"), st.integers(1, 6)),
                         st.tuples(st.just("take"), st.integers(1, 3)),
                         st.tuples(st.just("update"), st.just(0)),
                         st.tuples(st.just("ready"), st.integers(0, 1))), max_size=30)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS, start=st.integers(0, 30), live_only=st.booleans(),
       queue_size=st.sampled_from([2, 5, 1000]), page=st.sampled_from([2, 3, 1000]),
       direct=st.booleans())
async def test_any_interleaving_delivers_each_event_once_in_order(
        writer: Writer, bus: Bus, reader: Reader, monkeypatch: pytest.MonkeyPatch,
        ops: list[Op], start: int, live_only: bool, queue_size: int, page: int,
        direct: bool) -> None:
    """Commits (landing while the stream replays or waits), updates and reads in any order,
    the stream starting anywhere among them, cut off whenever its queue overflows and resumed
    from the id it is given: the events after its start arrive exactly once, in id order.
    With `direct`, live events also go out through a DirectDelivery whenever it is ready
    (toggled by "ready" steps), interleaved with those the stream yields."""
    monkeypatch.setattr(live, "REPLAY_PAGE", page)
    session = uuid.uuid4().hex  # examples share the database: each follows its own session
    flt = EventFilter.of(session_ids=[session])
    committed: list[int] = []
    commits: list[asyncio.Future[list[int]]] = []  # in flight while the stream reads
    got: list[int] = []
    stream: AsyncIterator[list[StoredEvent] | Heartbeat] | None = None
    origin = 0

    ready = [True]
    pushed = live.DirectDelivery(lambda: ready[0],
                                 lambda events: got.extend(e.id for e in events
                                                           if e.kind == "event"))

    def open_stream(after_id: int | None) -> AsyncIterator[list[StoredEvent] | Heartbeat]:
        return follow_batches(reader, bus, flt, after_id=after_id, live_from_id=writer.last_id,
                              heartbeat_seconds=0.005, queue_size=queue_size,
                              direct=pushed if direct else None)

    async def pull() -> None:
        nonlocal stream
        assert stream is not None
        try:
            item = await asyncio.wait_for(anext(stream), 10)
        except SubscriberBehind as exc:
            assert exc.resume_after_id == (got[-1] if got else origin)
            stream = open_stream(exc.resume_after_id)
            return
        if not isinstance(item, Heartbeat):
            got.extend(e.id for e in item if e.kind == "event")

    for n, (op, arg) in enumerate([*ops, ("commit", 1)]):
        if n == min(start, len(ops)):
            origin = writer.last_id if live_only else (committed[len(committed) // 2]
                                                       if committed else 0)
            stream = open_stream(None if live_only else origin)
            await pull()  # replays and subscribes (or heartbeats, live only)
        if op == "commit":
            commits.append(asyncio.ensure_future(
                insert(writer, *(uuid.uuid4().hex for _ in range(arg)), session=session)))
            await asyncio.sleep(0)
            committed = sorted(i for c in commits if c.done() for i in c.result())
        elif op == "update" and committed:
            row = await reader.event(committed[-1])
            assert row is not None
            bus.publish([StoredEvent(row, "update")])
        elif op == "ready":
            ready[0] = bool(arg)
        elif op == "take" and stream is not None:
            for _ in range(arg):
                await pull()
    committed = sorted(i for ids in await asyncio.gather(*commits) for i in ids)
    expected = [i for i in committed if i > origin]
    deadline = time.monotonic() + 10
    while len(got) < len(expected) and time.monotonic() < deadline:
        await pull()
    assert got == expected
    assert stream is not None
    await stream.aclose()  # type: ignore[attr-defined]
