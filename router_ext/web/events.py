"""The well-known dashboard's REST API: POST /events, GET /events/recent, /events/filter-options.

Drop-in compatible with hooks written for that dashboard (same paths, same bodies, the saved event
with its integer id in the answer), with the fixes: validated and capped limits, ordering by id
rather than client clocks, idempotent retries by `event_uid`, and JSON errors naming the field.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from router_ext.errors import RouterExtError
from router_ext.ingest.normalize import from_events_body
from router_ext.read.reader import MAX_PAGE
from router_ext.records import Row, to_api_json
from router_ext.runtime import RouterExt
from router_ext.stream.bus import EventFilter
from router_ext.web.body import int_param, list_param, read_json

DEFAULT_LIMIT = 300


def request_filter(request: HTTPConnection) -> EventFilter:
    """The source_app / session_id / hook_event_type filter of a request's query string."""
    return EventFilter.of(list_param(request, "source_app"), list_param(request, "session_id"),
                          list_param(request, "hook_event_type"))


async def ingest_one(core: RouterExt, row: Row, transport: str) -> Row:
    """Store one row and return the stored row (the original one for a repeated event_uid)."""
    ack = (await core.ingest([row], transport))[0].committed()
    if not ack.duplicate:
        return row
    stored = await core.reader.event(ack.id)
    return stored if stored is not None else {**row, "id": ack.id}


async def store_and_answer(core: RouterExt, row: Row) -> Response:
    """Store one row from an HTTP body; answer with the stored event, as POST /events does."""
    return json_text_response(to_api_json(await ingest_one(core, row, "http")))


def json_response(body: object, status_code: int = 200) -> Response:
    """A compact JSON response."""
    return JSONResponse(body, status_code=status_code)


def json_text_response(text: str) -> Response:
    """A 200 with JSON text that is already encoded."""
    return Response(text, media_type="application/json")


def routes(core: RouterExt) -> list[Route]:
    """The /events routes."""
    limit_body = core.settings.max_body_bytes

    async def post_event(request: Request) -> Response:
        try:
            body = await read_json(request, limit_body)
            row = from_events_body(body, max_payload_bytes=limit_body)
        except RouterExtError as exc:
            core.reject("http", exc)
            raise
        return await store_and_answer(core, row)

    async def recent(request: Request) -> Response:
        limit = int_param(request, "limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_PAGE)
        offset = int_param(request, "offset", 0, maximum=10_000_000)
        before_id = int_param(request, "before_id", None)
        after_id = int_param(request, "after_id", None)
        assert limit is not None and offset is not None
        flt = request_filter(request)
        if after_id is not None and before_id is None and not offset:
            # A forward cursor: the next page after what the client has, oldest first.
            rows = await core.reader.events_after(after_id, flt, limit)
        else:
            rows = await core.reader.recent(flt, limit, offset, before_id, after_id)
        return json_text_response(f"[{','.join(to_api_json(row) for row in rows)}]")

    async def filter_options(request: Request) -> Response:
        return json_response(await core.reader.filter_options())

    return [
        Route("/events", post_event, methods=["POST"]),
        Route("/events/recent", recent, methods=["GET"]),
        Route("/events/filter-options", filter_options, methods=["GET"]),
    ]


def all_routes(core: RouterExt) -> list[BaseRoute]:
    """Every route of the /events compatibility layer, HTTP hooks, HITL and the PAI API."""
    from router_ext.web import hitl, hooks_http, pai, stream_ws

    return [*routes(core), *hitl.routes(core), *stream_ws.routes(core),
            *hooks_http.routes(core), *pai.routes(core)]
