"""IngestService against a real server: acks, duplicates, batches, streams and bad input."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import grpc
import pytest

from router_ext.v1 import ingest_pb2, query_pb2, types_pb2
from tests.grpc_helpers import event, stubs
from tests.support import ServerProcess, served

LIMIT = 64 * 1024  # a small ROUTER_EXT_MAX_BODY_BYTES keeps the oversized cases cheap


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with a 64 KiB payload limit (4x that per gRPC message)."""
    yield from served(tmp_path_factory, "ingest", {"ROUTER_EXT_MAX_BODY_BYTES": str(LIMIT)})


@pytest.fixture(scope="module")
def channel(small_server: ServerProcess) -> Iterator[grpc.Channel]:
    with small_server.channel() as ch:
        yield ch


def stored(channel: grpc.Channel, session: str) -> list[types_pb2.Event]:
    """Every stored event of one session, oldest first."""
    _, _, query = stubs(channel)
    flt = types_pb2.EventFilter(session_ids=[session])
    return list(query.ListEvents(query_pb2.ListEventsRequest(filter=flt, limit=1000),
                                 timeout=5).events)


def session() -> str:
    return f"s-{uuid.uuid4().hex[:12]}"


def test_publish_stores_the_event_with_its_fields(channel: grpc.Channel) -> None:
    ingest, _, _ = stubs(channel)
    sid = session()
    ev = event(session_id=sid, payload={"tool_name": "Read", "tool_use_id": "t1", "x": [1, 2]},
               model_name="claude-x", host="dev1", timestamp_ms=1_700_000_000_000)
    ack = ingest.Publish(ingest_pb2.PublishRequest(event=ev), timeout=5)
    assert ack.id > 0 and not ack.duplicate and ack.event_uid == ev.event_uid
    (row,) = stored(channel, sid)
    assert row.id == ack.id
    assert json.loads(row.payload_json) == {"tool_name": "Read", "tool_use_id": "t1", "x": [1, 2]}
    # Derived from the payload when the sender did not set them.
    assert (row.tool_name, row.tool_use_id) == ("Read", "t1")
    assert (row.model_name, row.host, row.timestamp_ms) == ("claude-x", "dev1", 1_700_000_000_000)


def test_repeated_uid_is_acked_with_the_original_id_and_stored_once(
        channel: grpc.Channel) -> None:
    ingest, _, _ = stubs(channel)
    sid = session()
    ev = event(session_id=sid)
    first = ingest.Publish(ingest_pb2.PublishRequest(event=ev), timeout=5)
    again = ingest.Publish(ingest_pb2.PublishRequest(event=ev), timeout=5)
    batch = ingest.PublishBatch(ingest_pb2.PublishBatchRequest(events=[ev, ev]), timeout=5)
    assert again.id == first.id and again.duplicate and not first.duplicate
    assert [(a.id, a.duplicate) for a in batch.acks] == [(first.id, True), (first.id, True)]
    assert [e.id for e in stored(channel, sid)] == [first.id]


def test_batch_acks_in_order_and_dedups_within_the_batch(channel: grpc.Channel) -> None:
    ingest, _, _ = stubs(channel)
    sid = session()
    events = [event(session_id=sid, payload={"n": i}) for i in range(50)]
    events.append(events[10])  # the same uid twice in one batch
    response = ingest.PublishBatch(ingest_pb2.PublishBatchRequest(events=events), timeout=10)
    acks = list(response.acks)
    assert [a.event_uid for a in acks] == [e.event_uid for e in events]
    ids = [a.id for a in acks[:50]]
    assert ids == sorted(ids) and len(set(ids)) == 50
    assert not any(a.duplicate for a in acks[:50])
    assert acks[50].duplicate and acks[50].id == acks[10].id
    rows = stored(channel, sid)
    assert [r.id for r in rows] == ids
    assert [json.loads(r.payload_json)["n"] for r in rows] == list(range(50))


def test_a_bad_event_fails_the_whole_batch_and_writes_nothing(channel: grpc.Channel) -> None:
    ingest, _, _ = stubs(channel)
    sid = session()
    events = [event(session_id=sid) for _ in range(5)]
    events[3].payload_json = "{not json"
    with pytest.raises(grpc.RpcError) as info:
        ingest.PublishBatch(ingest_pb2.PublishBatchRequest(events=events), timeout=5)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "events[3]" in info.value.details() and "payload_json" in info.value.details()
    assert stored(channel, sid) == []


def test_stream_acks_every_event_in_order_and_skips_bad_ones(channel: grpc.Channel) -> None:
    ingest, _, _ = stubs(channel)
    sid = session()
    events = [event(session_id=sid, payload={"n": i}) for i in range(300)]
    events[7].payload_json = "[1, 2]"  # valid JSON, but not an object
    events[8].source_app = ""
    events[200] = events[100]  # a duplicate within the stream
    requests = [ingest_pb2.PublishRequest(event=e) for e in events]
    acks = list(ingest.PublishStream(iter(requests), timeout=20))
    assert [a.event_uid for a in acks] == [e.event_uid for e in events]
    assert acks[7].error_code == "INVALID_ARGUMENT" and "payload_json" in acks[7].error
    assert acks[8].error_code == "INVALID_ARGUMENT" and "source_app" in acks[8].error
    assert acks[7].id == 0 and acks[8].id == 0
    assert acks[200].duplicate and acks[200].id == acks[100].id
    good = [a.id for i, a in enumerate(acks) if i not in (7, 8, 200)]
    assert good == sorted(good) and len(set(good)) == len(good) == 297
    assert [r.id for r in stored(channel, sid)] == good


@pytest.mark.parametrize(("change", "field"), [
    ({"source_app": ""}, "source_app"),
    ({"session_id": ""}, "session_id"),
    ({"hook_event_type": ""}, "hook_event_type"),
    ({"payload_json": "{\"a\": "}, "payload_json"),
    ({"payload_json": "\"text\""}, "payload_json"),
    ({"chat_json": "{}"}, "chat_json"),
    ({"timestamp_ms": -5}, "timestamp_ms"),
    ({"event_uid": "u" * 200}, "event_uid"),
    ({"human_in_the_loop": types_pb2.HumanInTheLoop(question="ok?", type="bogus")},
     "humanInTheLoop.type"),
])
def test_bad_fields_are_invalid_argument_naming_the_field(
        channel: grpc.Channel, change: dict[str, object], field: str) -> None:
    ingest, _, _ = stubs(channel)
    sid = session()
    ev = event(session_id=sid)
    for key, value in change.items():
        if isinstance(value, types_pb2.HumanInTheLoop):
            ev.human_in_the_loop.CopyFrom(value)
        else:
            setattr(ev, key, value)
    with pytest.raises(grpc.RpcError) as info:
        ingest.Publish(ingest_pb2.PublishRequest(event=ev), timeout=5)
    expected = (grpc.StatusCode.RESOURCE_EXHAUSTED if field == "event_uid"
                else grpc.StatusCode.INVALID_ARGUMENT)
    assert info.value.code() == expected
    assert field in info.value.details()
    assert stored(channel, f"{sid}") == []


def test_a_field_path_with_a_control_character_is_still_invalid_argument(
        channel: grpc.Channel) -> None:
    # The error names the path through the sender's own keys; a control character there
    # once made the trailing metadata invalid and the answer INTERNAL.
    ingest, _, _ = stubs(channel)
    ev = event(session_id=session())
    ev.payload_json = '{"\\u001f": {"": Infinity}}'
    with pytest.raises(grpc.RpcError) as info:
        ingest.Publish(ingest_pb2.PublishRequest(event=ev), timeout=5)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    meta = dict(info.value.trailing_metadata())
    assert meta["router-ext-field"] == "payload_json.\\u001f."


def test_missing_event_is_invalid_argument(channel: grpc.Channel) -> None:
    ingest, _, _ = stubs(channel)
    with pytest.raises(grpc.RpcError) as info:
        ingest.Publish(ingest_pb2.PublishRequest(), timeout=5)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "event" in info.value.details()


def test_oversized_payload_and_message_are_refused_and_the_server_keeps_serving(
        channel: grpc.Channel) -> None:
    ingest, _, _ = stubs(channel)
    sid = session()
    big = event(session_id=sid, payload={"blob": "x" * (LIMIT + 10)})
    with pytest.raises(grpc.RpcError) as info:
        ingest.Publish(ingest_pb2.PublishRequest(event=big), timeout=5)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "payload_json" in info.value.details() and str(LIMIT) in info.value.details()

    huge = event(session_id=sid, payload={"blob": "x" * (LIMIT * 5)})
    with pytest.raises(grpc.RpcError) as info:
        ingest.Publish(ingest_pb2.PublishRequest(event=huge), timeout=5)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in info.value.details()

    ok = ingest.Publish(ingest_pb2.PublishRequest(event=event(session_id=sid)), timeout=5)
    assert ok.id > 0
    assert [r.id for r in stored(channel, sid)] == [ok.id]
