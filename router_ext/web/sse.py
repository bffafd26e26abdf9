"""Server-Sent Events over router_ext.stream.live.follow_batches: `GET /api/events/stream`.

Each event is `id: N` / `event: event` / `data: {...}`; an update to an earlier event is sent as
`event: update` without an `id:` line, so a browser's Last-Event-ID only ever moves forward.
Reconnecting with `Last-Event-ID` (or `?after_id=`) replays everything after it. A client that
falls behind gets `event: behind` with the id to resume from, and the stream ends; EventSource
then reconnects by itself from its Last-Event-ID. Events that queued up while the client was
being written to go out together, in one write.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import StreamingResponse

from router_ext.ingest import fields
from router_ext.records import StoredEvent
from router_ext.runtime import RouterExt
from router_ext.stream.bus import BusClosed, EventFilter, SubscriberBehind
from router_ext.stream.live import Heartbeat, follow_batches

HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def resume_id(request: Request) -> int | None:
    """The id to resume after: the Last-Event-ID header, else `after_id`, else None (live)."""
    header = request.headers.get("last-event-id")
    if header:
        return fields.param_int(header, "Last-Event-ID", None)
    return fields.param_int(request.query_params.get("after_id"), "after_id", None)


def _text(event: StoredEvent) -> str:
    if event.kind == "update":
        return f"event: update\ndata: {event.json()}\n\n"
    return f"id: {event.id}\nevent: event\ndata: {event.json()}\n\n"


def event_text(event: StoredEvent) -> str:
    """The SSE lines for one event or update, built once for every client that gets it."""
    return event.encoded("sse", _text)


async def _frames(core: RouterExt, flt: EventFilter, after_id: int | None
                  ) -> AsyncIterator[str]:
    yield "retry: 2000\n\n"
    events = follow_batches(core.reader, core.bus, flt, after_id=after_id,
                            live_from_id=core.last_id,
                            heartbeat_seconds=core.settings.heartbeat_seconds, transport="sse")
    try:
        async for item in events:
            if isinstance(item, Heartbeat):
                yield f": heartbeat last_id={item.last_id}\n\n"
            else:  # a backlog goes out in one write
                yield "".join([event_text(event) for event in item])
    except (SubscriberBehind, BusClosed) as exc:
        body = json.dumps({"resume_after_id": exc.resume_after_id, "reason": str(exc)})
        yield f"event: behind\ndata: {body}\n\n"
    finally:
        await events.aclose()  # type: ignore[attr-defined]


def stream_response(core: RouterExt, flt: EventFilter, after_id: int | None
                    ) -> StreamingResponse:
    """A text/event-stream response following the filtered events."""
    return StreamingResponse(_frames(core, flt, after_id), media_type="text/event-stream",
                             headers=HEADERS)
