"""The well-known dashboard's REST API: POST /events, GET /events/recent, /events/filter-options,
and GET /events/{id} (one event with its current HITL status).

Drop-in compatible with hooks written for that dashboard (same paths, same bodies, the saved event
with its integer id in the answer), with the fixes: validated and capped limits, ordering by id
rather than client clocks, idempotent retries by `event_uid`, and JSON errors naming the field.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from router_ext.errors import NotFound, RouterExtError
from router_ext.read.reader import MAX_PAGE
from router_ext.records import to_api_json
from router_ext.runtime import RouterExt
from router_ext.stream.bus import EventFilter
from router_ext.web.answers import events_body_answer, json_response, json_text_response
from router_ext.web.body import (
    DEFAULT_LIMIT,
    int_param,
    limit_param,
    path_int,
    read_body,
    request_filter,
)


def routes(core: RouterExt) -> list[Route]:
    """The /events routes."""
    limit_body = core.settings.max_event_bytes
    ring = core.recent

    async def _from_memory(flt: EventFilter, limit: int) -> bytes | None:
        if not ring.enabled:
            return None
        if not ring.warm:
            await ring.refill()
        return ring.page(flt, limit)

    async def post_event(request: Request) -> Response:
        try:
            raw = await read_body(request, limit_body)
        except RouterExtError as exc:
            core.reject("http", exc)
            raise
        return json_text_response(await events_body_answer(core, raw))

    async def recent(request: Request) -> Response:
        limit = limit_param(request, DEFAULT_LIMIT, MAX_PAGE)
        offset = int_param(request, "offset", 0, maximum=10_000_000)
        before_id = int_param(request, "before_id", None)
        after_id = int_param(request, "after_id", None)
        assert offset is not None
        flt = request_filter(request)
        if not offset and before_id is None and after_id is None:
            page = await _from_memory(flt, limit)
            if page is not None:
                return Response(page, media_type="application/json")
        if after_id is not None and before_id is None and not offset:
            # A forward cursor: the next page after what the client has, oldest first.
            rows = await core.reader.events_after(after_id, flt, limit)
        else:
            rows = await core.reader.recent(flt, limit, offset, before_id, after_id)
        return json_text_response(f"[{','.join(to_api_json(row) for row in rows)}]")

    async def one(request: Request) -> Response:
        event_id = path_int(request, "event_id")
        row = await core.reader.event(event_id)
        if row is None:
            raise NotFound(f"no event with id {event_id}", field="event_id")
        return json_text_response(to_api_json(row))

    async def filter_options(request: Request) -> Response:
        return json_response(await core.reader.filter_options())

    return [
        Route("/events", post_event, methods=["POST"]),
        Route("/events/recent", recent, methods=["GET"]),
        Route("/events/filter-options", filter_options, methods=["GET"]),
        Route("/events/{event_id}", one, methods=["GET"]),
    ]
