"""Writer: group commit, acks after commit, dedup, failing hooks and listeners, back-pressure."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text

from router_ext.errors import InvalidInput, Overloaded, Unavailable, Unstorable
from router_ext.ingest.normalize import build_row, from_events_body
from router_ext.records import Row, StoredEvent
from router_ext.store.writer import Ack, Committed, Writer
from tests.unit.conftest import Query

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]


def ev(uid: str, **payload: Any) -> Row:
    return build_row(source_app="unit", session_id="s", hook_event_type="Notification",
                     payload={"uid": uid, **payload}, event_uid=uid)


def stored_ids(query: Query) -> dict[str, int]:
    return {r["event_uid"]: r["id"] for r in query("SELECT event_uid, id FROM events")}


class Gate:
    """A batch hook that holds the writer thread inside its transaction until opened."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, conn: Connection, rows: list[Row]) -> None:
        self.entered.set()
        if not self.release.wait(10):
            raise TimeoutError("gate never opened")

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, 10), "the writer never got here"


async def held_writer(engine: Engine, *, max_queue: int,
                      batch_max: int) -> tuple[Writer, Gate, asyncio.Future[list[Ack]]]:
    """A started writer whose first insert ("held") waits inside its transaction."""
    writer = Writer(engine, max_queue=max_queue, batch_max=batch_max)
    gate = Gate()
    writer.in_transaction = gate
    await writer.start()
    held = asyncio.ensure_future(writer.insert([ev("held")]))
    await gate.wait_entered()
    return writer, gate, held


async def test_concurrent_inserts_share_transactions_and_each_caller_gets_its_acks(
        writer: Writer, query: Query) -> None:
    sizes: list[int] = []
    writer.in_transaction = lambda conn, rows: sizes.append(len(rows))
    # Callers of 1, 2 and 3 rows, all submitted before the writer runs.
    batches = [[ev(f"c{n}-{k}") for k in range(n % 3 + 1)] for n in range(60)]
    results = await asyncio.gather(*(writer.insert(rows) for rows in batches))
    total = sum(len(rows) for rows in batches)
    assert sum(sizes) == total
    assert writer.batches_committed == len(sizes) < len(batches)
    ids = stored_ids(query)
    for rows, acks in zip(batches, results, strict=True):
        assert [a.event_uid for a in acks] == [r["event_uid"] for r in rows]
        assert [a.id for a in acks] == [ids[r["event_uid"]] for r in rows]
        assert not any(a.duplicate for a in acks)
    # Queue order is id order.
    flat = [a.id for acks in results for a in acks]
    assert flat == list(range(1, total + 1))
    assert writer.last_id == total


async def test_while_busy_a_small_batch_waits_for_more_rows_and_commits_them_together(
        writer: Writer) -> None:
    sizes: list[int] = []
    writer.in_transaction = lambda conn, rows: sizes.append(len(rows))
    writer.gather_seconds = 0.5  # wide windows: the test does not race them
    writer.gather_when_busy_seconds = 5.0
    await writer.insert([ev("first")])  # the writer is busy from here
    second = asyncio.ensure_future(writer.insert([ev("second")]))
    await asyncio.sleep(0.05)  # the writer took "second" and is waiting for more
    assert not second.done()
    rest = [writer.insert([ev(f"more{n}")]) for n in range(3)]
    await asyncio.gather(second, *rest)
    assert sizes == [1, 4]


async def test_an_idle_writer_commits_at_once(writer: Writer) -> None:
    loop = asyncio.get_running_loop()
    writer.gather_seconds = 5.0
    writer.gather_when_busy_seconds = 0.05
    await writer.insert([ev("before")])
    await asyncio.sleep(0.2)  # idle for longer than the busy window
    started = loop.time()
    await writer.insert([ev("alone")])
    assert loop.time() - started < 2.5  # not held for the 5 s window


async def test_batch_max_bounds_each_transaction(engine: Engine) -> None:
    writer = Writer(engine, max_queue=1000, batch_max=10)
    sizes: list[int] = []
    writer.in_transaction = lambda conn, rows: sizes.append(len(rows))
    await writer.start()
    try:
        await asyncio.gather(*(writer.insert([ev(f"b{n}")]) for n in range(45)))
        # A caller's rows are never split, even when they alone exceed batch_max.
        big = await writer.insert([ev(f"big{n}") for n in range(25)])
    finally:
        await writer.stop()
    assert sizes[:-1] and max(sizes[:-1]) <= 10 and sum(sizes[:-1]) == 45
    assert sizes[-1] == 25 and len(big) == 25


async def test_ack_means_the_row_is_readable_from_another_connection(
        writer: Writer, query: Query) -> None:
    for n in range(5):
        (ack,) = await writer.insert([ev(f"a{n}", n=n)])
        rows = query("SELECT event_uid, payload FROM events WHERE id = ?", ack.id)
        assert rows == [{"event_uid": f"a{n}", "payload": f'{{"uid":"a{n}","n":{n}}}'}]
        assert writer.last_id == ack.id


async def test_duplicate_inside_one_batch_is_acked_with_the_original_id(
        writer: Writer, query: Query) -> None:
    seen: list[int] = []
    writer.listeners.append(lambda batch: seen.extend(e.id for e in batch.events))
    one, two, three = await asyncio.gather(
        writer.insert([ev("same", v=1)]), writer.insert([ev("other")]),
        writer.insert([ev("same", v=2), ev("same", v=3)]))
    assert writer.batches_committed == 1
    assert (one[0].duplicate, [a.duplicate for a in three]) == (False, [True, True])
    assert {a.id for a in three} == {one[0].id} != {two[0].id}
    assert query("SELECT payload FROM events WHERE event_uid = 'same'") == [
        {"payload": '{"uid":"same","v":1}'}]
    assert seen == [one[0].id, two[0].id]  # duplicates are not announced


async def test_duplicate_across_batches_is_acked_and_announces_nothing(
        writer: Writer, query: Query) -> None:
    hooked: list[Row] = []
    announced: list[StoredEvent] = []
    writer.in_transaction = lambda conn, rows: hooked.extend(rows)
    writer.listeners.append(lambda batch: announced.extend(batch.events))
    (first,) = await writer.insert([ev("retry")])
    (again,) = await writer.insert([ev("retry", changed=True)])
    assert again.id == first.id and again.duplicate and not first.duplicate
    assert len(hooked) == len(announced) == 1  # the fold never sees a retry twice
    assert writer.last_id == first.id
    assert query("SELECT count(*) AS n FROM events") == [{"n": 1}]


async def test_a_failing_listener_fails_no_caller_and_stops_nothing(writer: Writer) -> None:
    after: list[int] = []

    def broken(batch: Committed) -> None:
        raise RuntimeError("listener bug")

    writer.listeners[:0] = [broken]
    writer.listeners.append(lambda batch: after.extend(e.id for e in batch.events))
    first = await writer.insert([ev("l1"), ev("l2")])
    second = await writer.insert([ev("l3")])
    assert [a.id for a in first + second] == [1, 2, 3]
    assert after == [1, 2, 3]  # listeners after the broken one still ran


async def test_a_failing_transaction_observer_fails_no_caller_and_stops_nothing(
        writer: Writer) -> None:
    told: list[int] = []

    def broken(rows: int, seconds: float) -> None:
        told.append(rows)
        raise RuntimeError("observer bug")

    writer.on_transaction = broken
    first = await writer.insert([ev("o1"), ev("o2")])
    second = await writer.insert([ev("o3")])
    assert [a.id for a in first + second] == [1, 2, 3]
    assert told == [2, 1] and writer.depth == 0


async def test_a_row_that_fails_the_in_transaction_step_is_refused_alone(
        writer: Writer, query: Query) -> None:
    announced: list[int] = []

    def refuse_poison(conn: Connection, rows: list[Row]) -> None:
        if any(r["event_uid"].startswith("poison") for r in rows):
            raise ValueError("fold failed")

    writer.in_transaction = refuse_poison
    writer.listeners.append(lambda batch: announced.extend(e.id for e in batch.events))
    (ok,) = await writer.insert([ev("ok")])
    (poison,), (fine,) = await asyncio.gather(writer.insert([ev("poison")]),
                                              writer.insert([ev("fine")]))
    # The batch is split: the row that fails alone is refused, its neighbour commits.
    with pytest.raises(Unstorable, match="fold failed"):
        poison.committed()
    assert fine.committed().id > ok.id and fine.error is None
    assert stored_ids(query) == {"ok": ok.id, "fine": fine.id}
    assert announced == [ok.id, fine.id] and writer.last_id == fine.id and writer.depth == 0


async def test_full_queue_is_refused_as_overloaded_until_it_drains(
        engine: Engine, query: Query) -> None:
    # One row in flight, held inside its transaction: it still counts until committed.
    writer, gate, held = await held_writer(engine, max_queue=5, batch_max=100)
    try:
        queued = asyncio.ensure_future(writer.insert([ev(f"q{n}") for n in range(4)]))
        await asyncio.sleep(0)
        assert writer.depth == 5
        with pytest.raises(Overloaded) as refused:
            await writer.insert([ev("one-too-many")])
        assert refused.value.kind == "overloaded"
        with pytest.raises(Overloaded):
            await writer.insert([ev(f"huge{n}") for n in range(6)])
        assert writer.depth == 5
    finally:
        gate.release.set()
    await asyncio.gather(held, queued)
    assert writer.depth == 0
    (accepted,) = await writer.insert([ev("after-drain")])
    await writer.stop()
    assert accepted.id == 6
    assert "one-too-many" not in stored_ids(query) and len(stored_ids(query)) == 6


async def test_stop_commits_everything_queued_then_refuses(engine: Engine,
                                                           query: Query) -> None:
    writer, gate, first = await held_writer(engine, max_queue=1000, batch_max=7)
    try:
        pending = [asyncio.ensure_future(writer.insert([ev(f"p{n}")])) for n in range(30)]
        await asyncio.sleep(0)
        assert writer.depth == 31
        stopping = asyncio.ensure_future(writer.stop())
        await asyncio.sleep(0)
        with pytest.raises(Unavailable):
            await writer.insert([ev("too-late")])
        with pytest.raises(Unavailable):
            await writer.run(lambda conn: (None, []))
    finally:
        gate.release.set()
    await stopping
    acks = [ack for acks in await asyncio.gather(first, *pending) for ack in acks]
    assert [a.id for a in acks] == list(range(1, 32))
    assert len(stored_ids(query)) == 31 and "too-late" not in stored_ids(query)


async def test_run_executes_in_queue_order_and_announces_updates(writer: Writer,
                                                                query: Query) -> None:
    announced: list[tuple[str, int]] = []
    writer.listeners.append(lambda batch: announced.extend((e.kind, e.id) for e in batch.events))

    def mark(conn: Connection) -> tuple[Any, list[Row]]:
        conn.execute(text("UPDATE events SET summary = 'marked' WHERE id = 1"))
        row = dict(conn.execute(text("SELECT * FROM events WHERE id = 1")).mappings().one())
        return "done", [row]

    inserted, result, after = await asyncio.gather(
        writer.insert([ev("r1")]), writer.run(mark), writer.insert([ev("r2")]))
    assert result == "done" and inserted[0].id == 1 and after[0].id == 2
    assert announced == [("event", 1), ("update", 1), ("event", 2)]
    assert query("SELECT summary FROM events WHERE id = 1") == [{"summary": "marked"}]


async def test_a_failing_run_raises_to_its_caller_only(writer: Writer, query: Query) -> None:
    def broken(conn: Connection) -> tuple[Any, list[Row]]:
        conn.execute(text("UPDATE events SET summary = 'half' WHERE id = 1"))
        raise KeyError("op bug")

    await writer.insert([ev("x")])
    with pytest.raises(KeyError):
        await writer.run(broken)
    assert query("SELECT summary FROM events") == [{"summary": None}]  # rolled back
    (ack,) = await writer.insert([ev("y")])
    assert ack.id == 2


async def test_ids_continue_after_rows_written_outside_inserts(writer: Writer) -> None:
    await writer.insert([ev("before")])

    def add_row(conn: Connection) -> tuple[Any, list[Row]]:
        conn.execute(text(
            "INSERT INTO events (id, event_uid, source_app, session_id, hook_event_type,"
            " payload, timestamp, received_at) VALUES (100, 'side', 'a', 's', 't', '{}', 1, 1)"))
        return None, []

    await writer.run(add_row)
    (ack,) = await writer.insert([ev("next")])
    assert ack.id == 101


async def test_a_new_writer_starts_from_the_stored_last_id(engine: Engine) -> None:
    first = Writer(engine, max_queue=100, batch_max=100)
    await first.start()
    await first.insert([ev("w1"), ev("w2"), ev("w3")])
    await first.stop()
    second = Writer(engine, max_queue=100, batch_max=100)
    await second.start()
    try:
        assert second.last_id == 3
        (ack,) = await second.insert([ev("w4")])
        (dup,) = await second.insert([ev("w2")])
    finally:
        await second.stop()
    assert ack.id == 4 and (dup.id, dup.duplicate) == (2, True)


async def test_a_row_ingest_accepted_cannot_fail_its_neighbours(writer: Writer,
                                                               query: Query) -> None:
    body = {"source_app": "a", "session_id": "s", "hook_event_type": "Stop", "payload": {},
            "timestamp": 10**20}
    try:
        far_future = from_events_body(body, max_payload_bytes=1 << 20)
    except InvalidInput:
        return  # refused with a 400 before it reaches the writer
    got = await asyncio.gather(writer.insert([ev("neighbour")]), writer.insert([far_future]),
                               return_exceptions=True)
    assert not isinstance(got[0], BaseException), got
    assert "neighbour" in stored_ids(query)


def test_a_process_that_never_stops_its_writer_still_exits(tmp_path: Path) -> None:
    # Python joins executor threads at exit: an idle writer must not be holding one.
    script = textwrap.dedent(f"""
        import asyncio
        from router_ext.ingest.normalize import build_row
        from router_ext.settings import Settings
        from router_ext.store import schema
        from router_ext.store.db import make_engine
        from router_ext.store.writer import Writer

        async def main():
            engine = make_engine(Settings(database_url="sqlite:///{tmp_path / 'exit.db'}"),
                                 writer=True)
            schema.upgrade(engine)
            writer = Writer(engine, max_queue=10, batch_max=10)
            await writer.start()
            await writer.insert([build_row(source_app="u", session_id="s",
                                           hook_event_type="Note", payload={{}},
                                           event_uid="exit-1")])
            print("inserted", flush=True)

        asyncio.run(main())
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=15, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "inserted"
