"""The same server on a real PostgreSQL, started by the test in a temp directory."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from router_ext.v1 import ingest_pb2, query_pb2, stream_pb2, types_pb2
from tests.grpc_helpers import event, stubs
from tests.pg_server import pg_bin, postgres_server
from tests.support import ServerProcess, require, start_server

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    require(pg_bin() is not None, "PostgreSQL (initdb) is not installed")
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="module")
def pg(pg_url: str) -> Iterator[ServerProcess]:
    server = start_server(pg_url)
    yield server
    server.stop()


def app() -> str:
    return f"pg-{uuid.uuid4().hex[:8]}"


def test_health_reports_postgresql(pg: ServerProcess) -> None:
    body = httpx.get(f"{pg.url}/health", timeout=5).json()
    assert body["status"] == "ok" and body["storage_backend"] == "postgresql"


def test_publish_batch_duplicate_and_query(pg: ServerProcess) -> None:
    a = app()
    with pg.channel() as ch:
        ingest, _, query = stubs(ch)
        events = [event(source_app=a, payload={"n": i}) for i in range(20)]
        acks = list(ingest.PublishBatch(ingest_pb2.PublishBatchRequest(
            events=[*events, events[3]]), timeout=10).acks)
        ids = [x.id for x in acks[:20]]
        assert ids == sorted(ids) and len(set(ids)) == 20
        assert acks[20].duplicate and acks[20].id == ids[3]
        again = ingest.Publish(ingest_pb2.PublishRequest(event=events[0]), timeout=5)
        assert again.duplicate and again.id == ids[0]
        listed = query.ListEvents(query_pb2.ListEventsRequest(
            filter=types_pb2.EventFilter(source_apps=[a]), limit=100), timeout=5)
        assert [e.id for e in listed.events] == ids
        options = query.GetFilterOptions(query_pb2.GetFilterOptionsRequest(), timeout=5)
        assert a in options.source_apps


def test_stream_acks_and_bad_input(pg: ServerProcess) -> None:
    a = app()
    with pg.channel() as ch:
        ingest, _, _ = stubs(ch)
        events = [event(source_app=a) for _ in range(50)]
        events[5].payload_json = "nope"
        acks = list(ingest.PublishStream(
            iter([ingest_pb2.PublishRequest(event=e) for e in events]), timeout=20))
        assert len(acks) == 50 and acks[5].error_code == "INVALID_ARGUMENT"
        good = [x.id for i, x in enumerate(acks) if i != 5]
        assert good == sorted(good) and all(good)


def test_subscribe_replays_then_streams_live(pg: ServerProcess) -> None:
    a = app()
    with pg.channel() as ch:
        ingest, stream, _ = stubs(ch)
        first = [x.id for x in ingest.PublishBatch(ingest_pb2.PublishBatchRequest(
            events=[event(source_app=a) for _ in range(5)]), timeout=10).acks]
        call = stream.Subscribe(stream_pb2.SubscribeRequest(
            filter=types_pb2.EventFilter(source_apps=[a]), after_id=0))
        got: list[int] = []

        def later() -> None:
            got.extend(x.id for x in ingest.PublishBatch(ingest_pb2.PublishBatchRequest(
                events=[event(source_app=a) for _ in range(5)]), timeout=10).acks)

        seen = []
        for message in call:
            if message.WhichOneof("kind") != "event":
                continue
            seen.append(message.event.id)
            if len(seen) == 5:
                threading.Thread(target=later).start()
            if len(seen) == 10:
                break
        call.cancel()
        assert seen == first + got


def test_kill_9_keeps_acked_events_on_postgresql(pg_url: str) -> None:
    server = start_server(pg_url)
    a = app()
    with server.channel() as ch:
        ingest, _, _ = stubs(ch)
        acks = list(ingest.PublishBatch(ingest_pb2.PublishBatchRequest(
            events=[event(source_app=a) for _ in range(200)]), timeout=10).acks)
    server.stop(signal.SIGKILL)
    restarted = start_server(pg_url)
    try:
        with restarted.channel() as ch:
            _, _, query = stubs(ch)
            listed = query.ListEvents(query_pb2.ListEventsRequest(
                filter=types_pb2.EventFilter(source_apps=[a]), limit=1000), timeout=5)
        assert [e.id for e in listed.events] == [x.id for x in acks]
    finally:
        restarted.stop()


def test_replicas_fan_out_live_events_to_each_other(pg_url: str, pg: ServerProcess) -> None:
    other = start_server(pg_url)
    a = app()
    try:
        with pg.channel() as ch_a, other.channel() as ch_b:
            (ingest_a, stream_a, _), (ingest_b, stream_b, _) = stubs(ch_a), stubs(ch_b)
            flt = types_pb2.EventFilter(source_apps=[a])
            # Live-only subscriptions on both replicas.
            calls = [s.Subscribe(stream_pb2.SubscribeRequest(filter=flt), timeout=30)
                     for s in (stream_a, stream_b)]
            acked: list[int] = []
            lock = threading.Lock()

            def publish(ingest: object, rounds: int) -> None:
                for _ in range(rounds):
                    acks = ingest.PublishBatch(ingest_pb2.PublishBatchRequest(  # type: ignore[attr-defined]
                        events=[event(source_app=a) for _ in range(5)]), timeout=10).acks
                    with lock:
                        acked.extend(x.id for x in acks)

            time.sleep(1.0)  # both Subscribe calls are registered on their replicas
            writers = [threading.Thread(target=publish, args=(ingest_a, 10)),
                       threading.Thread(target=publish, args=(ingest_b, 10))]
            for t in writers:
                t.start()
            for t in writers:
                t.join(30)
            assert len(acked) == 100
            for call in calls:
                seen: list[int] = []
                for message in call:
                    if message.WhichOneof("kind") == "event":
                        seen.append(message.event.id)
                        if len(seen) == len(acked):
                            break
                call.cancel()
                # Every event from both replicas, once, in id order, on each replica.
                assert seen == sorted(acked)
            # Each replica's /health counts the other's commits too, once it has streamed them.
            for server in (pg, other):
                health = httpx.get(f"{server.url}/health", timeout=5).json()
                assert health["last_event_id"] == max(acked)
    finally:
        other.stop()
