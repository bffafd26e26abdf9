"""StreamService.Subscribe: replay from the database, then live, through router_ext.stream.live.

Responses are written as bytes the servicer has already encoded (the method is registered with
no response serializer). Each event is serialized once, whichever number of subscribers receive
it: a protobuf message is the concatenation of its fields, so `StreamMessage{event: e}` and one
element of `EventBatch.events` are the same bytes (`0x0a`, length, e), and a batch is those
bytes joined behind its own tag and length. Building a StreamMessage per subscriber instead
copies the Event into it and serializes it again for every subscriber, which was most of the
servicer's CPU per delivered event with a hundred subscribers (see bench_subscribe_latency.py).
Measured in process (timeit, ten 1 KB events): the library's StreamMessage{batch} 15.7 us per
subscriber, these joined bytes 1.4 us; tests/unit/test_stream_encoding.py checks the bytes are
the library's own encoding.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import grpc

from router_ext.errors import RouterExtError
from router_ext.grpc.status import abort_with
from router_ext.ingest import fields
from router_ext.records import StoredEvent
from router_ext.runtime import RouterExt
from router_ext.stream.bus import BusClosed, EventFilter, SubscriberBehind
from router_ext.stream.live import Heartbeat, follow_batches
from router_ext.v1 import stream_pb2, stream_pb2_grpc, types_pb2

RESUME_KEY = "resume-after-id"
SERVICE = "router_ext.v1.StreamService"
# A batch message stays under this size (clients accept 4 MB by default); one larger event is
# still sent, alone.
MAX_BATCH_BYTES = 1 << 20
# StreamMessage fields as wire tags (field number << 3 | length-delimited); EventBatch.events
# is field 1 too, so an encoded `event` message is also an encoded batch element.
_EVENT, _UPDATE, _BATCH = b"\x0a", b"\x12", b"\x22"


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: bytes, body: bytes) -> bytes:
    return tag + _varint(len(body)) + body


def _batch(items: list[bytes], size: int) -> bytes:
    """`StreamMessage{batch}` around encoded events, joined in one copy."""
    return b"".join([_BATCH, _varint(size), *items])


def _event_bytes(event: StoredEvent) -> bytes:
    return _field(_EVENT, event.proto().SerializeToString())


def _update_bytes(event: StoredEvent) -> bytes:
    return _field(_UPDATE, event.proto().SerializeToString())


def encoded_event(event: StoredEvent) -> bytes:
    """`StreamMessage{event}` (= one EventBatch element), encoded once per event."""
    return event.encoded("grpc.event", _event_bytes)


def encoded_update(event: StoredEvent) -> bytes:
    """`StreamMessage{update}`, encoded once per update."""
    return event.encoded("grpc.update", _update_bytes)


def heartbeat_bytes(last_id: int) -> bytes:
    """`StreamMessage{heartbeat}`."""
    return stream_pb2.StreamMessage(
        heartbeat=stream_pb2.Heartbeat(last_id=last_id)).SerializeToString()


def messages(events: list[StoredEvent], max_batch: int) -> Iterable[bytes]:
    """The encoded StreamMessages for events delivered together, in order.

    With max_batch <= 1 each event is its own `event` message (as before batches existed);
    otherwise runs of new events go out as `batch` messages of at most max_batch events and
    about MAX_BATCH_BYTES, and each update as its own `update` message in its place.
    """
    run: list[bytes] = []
    size = 0
    for event in events:
        if event.kind == "update":
            if run:
                yield _batch(run, size)
                run, size = [], 0
            yield encoded_update(event)
            continue
        item = encoded_event(event)
        if max_batch <= 1:
            yield item
            continue
        if run and (len(run) >= max_batch or size + len(item) > MAX_BATCH_BYTES):
            yield _batch(run, size)
            run, size = [], 0
        run.append(item)
        size += len(item)
    if run:
        yield _batch(run, size)


def event_filter(msg: types_pb2.EventFilter) -> EventFilter:
    """The bus filter for a protobuf EventFilter; each value is an identifier."""
    def ids(values: Iterable[str], name: str) -> list[str]:
        return [fields.identifier(v, name) or "" for v in values]

    return EventFilter.of(ids(msg.source_apps, "filter.source_apps"),
                          ids(msg.session_ids, "filter.session_ids"),
                          ids(msg.hook_event_types, "filter.hook_event_types"))


class StreamServicer(stream_pb2_grpc.StreamServiceServicer):
    """Each subscriber gets its own bounded queue; falling behind ends the call, not the server.

    Subscribe yields encoded StreamMessage bytes: register it with :func:`add_to_server`.
    """

    def __init__(self, core: RouterExt) -> None:
        self.core = core

    async def Subscribe(self, request: stream_pb2.SubscribeRequest,
                        context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        try:
            after_id = fields.integer(request.after_id, "after_id") if request.HasField(
                "after_id") else None
            flt = event_filter(request.filter)
        except RouterExtError as exc:
            await abort_with(context, exc)
            return
        batches = follow_batches(
            self.core.reader, self.core.bus, flt, after_id=after_id,
            live_from_id=self.core.last_id, include_updates=request.include_updates,
            heartbeat_seconds=self.core.settings.heartbeat_seconds, transport="grpc",
        )
        try:
            async for item in batches:
                if isinstance(item, Heartbeat):
                    yield heartbeat_bytes(item.last_id)
                else:
                    for message in messages(item, request.max_batch):
                        yield message
        except SubscriberBehind as exc:
            context.set_trailing_metadata(((RESUME_KEY, str(exc.resume_after_id)),))
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        except BusClosed as exc:
            context.set_trailing_metadata(((RESUME_KEY, str(exc.resume_after_id)),))
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        finally:
            await batches.aclose()  # type: ignore[attr-defined]


def add_to_server(core: RouterExt, server: Any) -> None:
    """Register StreamService as the generated code does, but writing the servicer's bytes
    as they are (no response serializer)."""
    handlers = {"Subscribe": grpc.unary_stream_rpc_method_handler(
        StreamServicer(core).Subscribe,
        request_deserializer=stream_pb2.SubscribeRequest.FromString,
        response_serializer=None)}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_registered_method_handlers(SERVICE, handlers)
