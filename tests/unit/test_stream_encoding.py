"""Subscribe's hand-joined StreamMessage bytes equal what the protobuf library encodes."""

from __future__ import annotations

import pytest

from router_ext.grpc.stream import MAX_BATCH_BYTES, messages
from router_ext.records import StoredEvent
from router_ext.v1 import stream_pb2, types_pb2


def stored(id_: int, payload_bytes: int, *, update: bool = False) -> StoredEvent:
    event = types_pb2.Event(id=id_, source_app="app", session_id="s1",
                            hook_event_type="PreToolUse", payload_json="x" * payload_bytes)
    return StoredEvent({"id": id_}, "update" if update else "event", _proto=event)


def decoded(events: list[StoredEvent], max_batch: int
            ) -> list[tuple[str, list[types_pb2.Event], bytes]]:
    out = []
    for raw in messages(events, max_batch):
        message = stream_pb2.StreamMessage.FromString(raw)
        kind = message.WhichOneof("kind")
        inner = list(message.batch.events) if kind == "batch" else [getattr(message, kind)]
        out.append((kind, inner, raw))
    return out


@pytest.mark.parametrize("max_batch", [1, 3, 1000])
@pytest.mark.parametrize("payload_bytes", [0, 100, 200, 20_000])
def test_messages_are_the_library_encoding_in_order(max_batch: int, payload_bytes: int) -> None:
    events = [stored(i, payload_bytes, update=i % 4 == 3) for i in range(1, 11)]
    got = decoded(events, max_batch)
    # Byte for byte what the library writes for the same message (one canonical encoding).
    for kind, inner, raw in got:
        assert raw == stream_pb2.StreamMessage.FromString(raw).SerializeToString()
        if kind == "batch":
            assert max_batch > 1 and 1 <= len(inner) <= max_batch
        else:
            assert len(inner) == 1 and (kind == "update") == (inner[0].id % 4 == 3)
    assert [e for _, inner, _ in got for e in inner] == [e.proto() for e in events]


def test_a_batch_stays_under_its_byte_limit_but_a_large_event_still_goes() -> None:
    quarter = MAX_BATCH_BYTES // 4
    events = [stored(i, quarter) for i in range(1, 9)] + [stored(9, 2 * MAX_BATCH_BYTES)]
    got = decoded(events, 1000)
    assert [len(inner) for _, inner, _ in got] == [3, 3, 2, 1]
    assert all(kind == "batch" for kind, _, _ in got)
    assert [e.id for _, inner, _ in got for e in inner] == list(range(1, 10))
