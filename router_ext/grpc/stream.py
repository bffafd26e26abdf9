"""StreamService.Subscribe: replay from the database, then live, through router_ext.stream.live."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import grpc

from router_ext.errors import RouterExtError
from router_ext.grpc.status import abort_with
from router_ext.ingest import fields
from router_ext.runtime import RouterExt
from router_ext.stream.bus import BusClosed, EventFilter, SubscriberBehind
from router_ext.stream.live import Heartbeat, follow
from router_ext.v1 import stream_pb2, stream_pb2_grpc, types_pb2

RESUME_KEY = "resume-after-id"


def event_filter(msg: types_pb2.EventFilter) -> EventFilter:
    """The bus filter for a protobuf EventFilter; each value is an identifier."""
    def ids(values: Iterable[str], name: str) -> list[str]:
        return [fields.identifier(v, name) or "" for v in values]

    return EventFilter.of(ids(msg.source_apps, "filter.source_apps"),
                          ids(msg.session_ids, "filter.session_ids"),
                          ids(msg.hook_event_types, "filter.hook_event_types"))


class StreamServicer(stream_pb2_grpc.StreamServiceServicer):
    """Each subscriber gets its own bounded queue; falling behind ends the call, not the server."""

    def __init__(self, core: RouterExt) -> None:
        self.core = core

    async def Subscribe(self, request: stream_pb2.SubscribeRequest,
                        context: grpc.aio.ServicerContext
                        ) -> AsyncIterator[stream_pb2.StreamMessage]:
        try:
            after_id = fields.integer(request.after_id, "after_id") if request.HasField(
                "after_id") else None
            flt = event_filter(request.filter)
        except RouterExtError as exc:
            await abort_with(context, exc)
            return
        events = follow(
            self.core.reader, self.core.bus, flt, after_id=after_id,
            live_from_id=self.core.last_id, include_updates=request.include_updates,
            heartbeat_seconds=self.core.settings.heartbeat_seconds, transport="grpc",
        )
        try:
            async for item in events:
                if isinstance(item, Heartbeat):
                    yield stream_pb2.StreamMessage(
                        heartbeat=stream_pb2.Heartbeat(last_id=item.last_id))
                elif item.kind == "update":
                    yield stream_pb2.StreamMessage(update=item.proto())
                else:
                    yield stream_pb2.StreamMessage(event=item.proto())
        except SubscriberBehind as exc:
            context.set_trailing_metadata(((RESUME_KEY, str(exc.resume_after_id)),))
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        except BusClosed as exc:
            context.set_trailing_metadata(((RESUME_KEY, str(exc.resume_after_id)),))
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        finally:
            await events.aclose()  # type: ignore[attr-defined]
