"""StreamService.Subscribe against a real server: filters, replay, resume, slow subscribers,
for subscribers that take one event per message and for those that ask for batches."""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from router_ext.v1 import ingest_pb2, stream_pb2, types_pb2
from tests.grpc_helpers import event, stubs
from tests.support import ServerProcess, served

QUEUE = 200  # per-subscriber live queue of the server under test
SHAPES = pytest.mark.parametrize("max_batch", [0, 50], ids=["single", "batched"])


def event_list(message: stream_pb2.StreamMessage) -> list[types_pb2.Event]:
    """The new events a message carries: one `event`, or a `batch` of them."""
    kind = message.WhichOneof("kind")
    if kind == "event":
        return [message.event]
    return list(message.batch.events) if kind == "batch" else []


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from served(tmp_path_factory, "stream", {
        "ROUTER_EXT_SUBSCRIBER_QUEUE_SIZE": str(QUEUE),
        "ROUTER_EXT_HEARTBEAT_SECONDS": "0.5",
        "ROUTER_EXT_MAX_BODY_BYTES": str(4 * 1024 * 1024),
    })


@pytest.fixture(scope="module")
def channel(srv: ServerProcess) -> Iterator[grpc.Channel]:
    with srv.channel() as ch:
        yield ch


class Reader:
    """Reads one Subscribe call on a thread into a queue, so tests can wait with timeouts."""

    def __init__(self, channel: grpc.Channel, request: stream_pb2.SubscribeRequest) -> None:
        _, stream, _ = stubs(channel)
        self.call = stream.Subscribe(request)
        self.items: queue.Queue[Any] = queue.Queue()
        self.error: grpc.RpcError | None = None
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        try:
            for message in self.call:
                self.items.put(message)
        except grpc.RpcError as exc:
            self.error = exc
        self.items.put(None)

    def events(self, count: int, timeout: float = 10) -> list[types_pb2.Event]:
        """The next `count` events (heartbeats skipped); fails on timeout or end of stream."""
        out: list[types_pb2.Event] = []
        deadline = time.monotonic() + timeout
        while len(out) < count:
            item = self.items.get(timeout=max(0.01, deadline - time.monotonic()))
            assert item is not None, f"stream ended after {len(out)} events: {self.error}"
            out.extend(event_list(item))
        return out

    def messages(self, events: int, timeout: float = 10) -> list[stream_pb2.StreamMessage]:
        """The messages (heartbeats skipped) up to the one that completes `events` events."""
        out: list[stream_pb2.StreamMessage] = []
        deadline = time.monotonic() + timeout
        while sum(len(event_list(m)) for m in out) < events:
            item = self.items.get(timeout=max(0.01, deadline - time.monotonic()))
            assert item is not None, f"stream ended: {self.error}"
            if item.WhichOneof("kind") != "heartbeat":
                out.append(item)
        return out

    def quiet(self, seconds: float) -> list[types_pb2.Event]:
        """Events that arrive within `seconds` (expected: none)."""
        out = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                item = self.items.get(timeout=left)
            except queue.Empty:
                break
            if item is not None:
                out.extend(event_list(item))
        return out

    def cancel(self) -> None:
        self.call.cancel()


def publish_all(channel: grpc.Channel, events: list[types_pb2.Event]) -> list[int]:
    ingest, _, _ = stubs(channel)
    response = ingest.PublishBatch(ingest_pb2.PublishBatchRequest(events=events), timeout=20)
    return [a.id for a in response.acks]


def subscribe(channel: grpc.Channel, after_id: int | None = None, max_batch: int = 0,
              **flt: list[str]) -> Reader:
    request = stream_pb2.SubscribeRequest(filter=types_pb2.EventFilter(**flt),
                                          max_batch=max_batch)
    if after_id is not None:
        request.after_id = after_id
    return Reader(channel, request)


def app() -> str:
    return f"app-{uuid.uuid4().hex[:10]}"


def test_filters_by_source_app_session_and_type(channel: grpc.Channel) -> None:
    a, b = app(), app()
    by_app = subscribe(channel, after_id=0, source_apps=[a])
    by_both = subscribe(channel, after_id=0, source_apps=[a, b], session_ids=["s2"],
                        hook_event_types=["Stop"])
    events = [event(source_app=a, session_id="s1"), event(source_app=b, session_id="s2"),
              event(source_app=a, session_id="s2", hook_event_type="Stop"),
              event(source_app=b, session_id="s2", hook_event_type="Stop"),
              event(source_app="other", session_id="s2", hook_event_type="Stop")]
    ids = publish_all(channel, events)
    assert [e.id for e in by_app.events(2)] == [ids[0], ids[2]]
    assert [e.id for e in by_both.events(2)] == [ids[2], ids[3]]
    assert by_app.quiet(0.3) == [] and by_both.quiet(0.1) == []
    by_app.cancel()
    by_both.cancel()


@SHAPES
def test_replays_stored_events_then_goes_live_without_gap_or_duplicate(
        channel: grpc.Channel, max_batch: int) -> None:
    a = app()
    stored = publish_all(channel, [event(source_app=a, payload={"n": i}) for i in range(30)])
    acked: list[int] = []

    def keep_publishing() -> None:  # commits race with the replay/live seam on purpose
        for _ in range(20):
            acked.extend(publish_all(channel, [event(source_app=a) for _ in range(10)]))

    writer = threading.Thread(target=keep_publishing)
    reader = subscribe(channel, after_id=stored[4], max_batch=max_batch, source_apps=[a])
    writer.start()
    writer.join(30)
    expected = stored[5:] + acked
    got = [e.id for e in reader.events(len(expected))]
    assert got == expected
    assert reader.quiet(0.3) == []
    reader.cancel()


def test_resume_after_reconnect_has_no_gap(channel: grpc.Channel) -> None:
    a = app()
    first = publish_all(channel, [event(source_app=a) for _ in range(40)])
    reader = subscribe(channel, after_id=0, source_apps=[a])
    seen = [e.id for e in reader.events(25)]
    reader.cancel()
    more = publish_all(channel, [event(source_app=a) for _ in range(15)])
    resumed = subscribe(channel, after_id=seen[-1], source_apps=[a])
    rest = [e.id for e in resumed.events(30)]
    assert seen + rest == first + more
    assert resumed.quiet(0.3) == []
    resumed.cancel()


def test_live_only_subscription_gets_heartbeats_with_the_last_id(channel: grpc.Channel) -> None:
    reader = subscribe(channel, source_apps=[app()])
    deadline = time.monotonic() + 5
    beat = None
    while beat is None and time.monotonic() < deadline:
        item = reader.items.get(timeout=5)
        if item is not None and item.WhichOneof("kind") == "heartbeat":
            beat = item.heartbeat
    assert beat is not None
    reader.cancel()


@SHAPES
def test_slow_subscriber_is_cut_off_with_resume_id_while_others_keep_up(
        channel: grpc.Channel, max_batch: int) -> None:
    a = app()
    payload = {"blob": "x" * 16_000}  # large events fill the transport's buffers quickly
    _, stream, _ = stubs(channel)
    fast = subscribe(channel, after_id=0, source_apps=[a])
    # The slow subscriber is a call nobody reads after its first message.
    slow = stream.Subscribe(stream_pb2.SubscribeRequest(
        filter=types_pb2.EventFilter(source_apps=[a]), after_id=0, max_batch=max_batch))
    ids = publish_all(channel, [event(source_app=a, payload=payload)])
    assert [e.id for e in event_list(next(slow))] == ids[:1]
    assert [e.id for e in fast.events(1)] == ids
    started = time.monotonic()
    for _ in range(50):
        ids += publish_all(channel, [event(source_app=a, payload=payload) for _ in range(20)])
    publish_seconds = time.monotonic() - started
    # The fast subscriber got everything while the slow one was stalled.
    assert [e.id for e in fast.events(len(ids) - 1, timeout=30)] == ids[1:]

    got = [ids[0]]
    with pytest.raises(grpc.RpcError) as info:
        for message in slow:
            got.extend(e.id for e in event_list(message))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    resume = int(dict(info.value.trailing_metadata() or ())["resume-after-id"])
    assert str(resume) in info.value.details()
    # What it did get is a gap-free prefix, ending exactly where it is told to resume.
    assert len(got) < len(ids) and got == ids[:len(got)] and resume == got[-1]
    resumed = subscribe(channel, after_id=resume, max_batch=max_batch, source_apps=[a])
    assert [e.id for e in resumed.events(len(ids) - len(got))] == ids[len(got):]
    resumed.cancel()
    fast.cancel()
    assert publish_seconds < 20  # ingestion was never held up by the stalled subscriber


def test_a_backlog_comes_in_batches_only_to_a_subscriber_that_asks(
        channel: grpc.Channel) -> None:
    a = app()
    ids = publish_all(channel, [event(source_app=a, payload={"n": i}) for i in range(120)])
    batched = subscribe(channel, after_id=ids[0] - 1, max_batch=50, source_apps=[a])
    single = subscribe(channel, after_id=ids[0] - 1, source_apps=[a])
    got = batched.messages(120)
    assert {m.WhichOneof("kind") for m in got} == {"batch"}
    assert max(len(m.batch.events) for m in got) == 50  # the replayed backlog, 50 at a time
    assert [e.id for m in got for e in m.batch.events] == ids
    assert [json.loads(e.payload_json)["n"] for m in got for e in m.batch.events] == list(
        range(120))
    one_each = single.messages(120)
    assert len(one_each) == 120 and {m.WhichOneof("kind") for m in one_each} == {"event"}
    assert [m.event.id for m in one_each] == ids
    # Live: one commit of 30 reaches both, in order, the same events either way.
    more = publish_all(channel, [event(source_app=a) for _ in range(30)])
    live_batched = [e for m in batched.messages(30) for e in m.batch.events]
    live_single = single.events(30)
    assert [e.id for e in live_batched] == [e.id for e in live_single] == more
    assert live_batched == live_single
    assert batched.quiet(0.3) == [] and single.quiet(0.1) == []
    batched.cancel()
    single.cancel()
