"""The PAI observability API, and `POST /api/events` for the PAI and claude-mpm formats.

- `POST /api/events`: a PAI event (`type`, `session_id`, `timestamp`, `data`), a claude-mpm
  monitor event (flat or nested) or a `/events` body; answers with the stored event.
- `GET /api/sessions?limit=100`: the most recently active sessions with counts and times.
- `GET /api/sessions/{id}`: one session's summary and its newest events (oldest first).
- `GET /api/events/stream?sessionId=...`: Server-Sent Events (resume with Last-Event-ID).
- `GET /api/analytics/tools?hours=24`, `GET /api/analytics/agents?hours=24`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from router_ext.errors import NotFound, RouterExtError
from router_ext.ingest import fields
from router_ext.ingest.formats import from_api_events
from router_ext.ingest.normalize import now_ms
from router_ext.read.pai import PaiQueries
from router_ext.read.reader import MAX_PAGE
from router_ext.runtime import RouterExt
from router_ext.stream.bus import EventFilter
from router_ext.web.answers import store_and_answer
from router_ext.web.body import int_param, limit_param, list_param, read_json
from router_ext.web.sse import resume_id, stream_response


def routes(core: RouterExt) -> list[Route]:
    """The PAI routes."""
    queries = PaiQueries(core.reader)
    call = core.reader.call
    limit_body = core.settings.max_event_bytes

    async def post_event(request: Request) -> Response:
        try:
            row = from_api_events(await read_json(request, limit_body),
                                  max_payload_bytes=limit_body)
        except RouterExtError as exc:
            core.reject("http", exc)
            raise
        return await store_and_answer(core, row)

    async def sessions(request: Request) -> Response:
        limit = limit_param(request, 100, MAX_PAGE)
        return JSONResponse(await call(queries.sessions, limit))

    async def session(request: Request) -> Response:
        session_id = fields.required_identifier(request.path_params["session_id"], "session_id")
        limit = limit_param(request, 500, MAX_PAGE)
        found = await call(queries.session, session_id, limit)
        if found is None:
            raise NotFound(f"no events for session {session_id!r}", field="session_id")
        return JSONResponse(found)

    def since(request: Request) -> int:
        hours = int_param(request, "hours", 24, minimum=1, maximum=24 * 366)
        assert hours is not None
        return now_ms() - hours * 3_600_000

    async def tools(request: Request) -> Response:
        return JSONResponse({"tools": await call(queries.tools, since(request))})

    async def agents(request: Request) -> Response:
        return JSONResponse({"agents": await call(queries.agents, since(request))})

    async def stream(request: Request) -> Response:
        flt = EventFilter.of(list_param(request, "source_app"),
                             list_param(request, "sessionId") + list_param(request, "session_id"))
        return stream_response(core, flt, resume_id(request))

    return [
        Route("/api/events", post_event, methods=["POST"]),
        Route("/api/events/stream", stream, methods=["GET"]),
        Route("/api/sessions", sessions, methods=["GET"]),
        Route("/api/sessions/{session_id}", session, methods=["GET"]),
        Route("/api/analytics/tools", tools, methods=["GET"]),
        Route("/api/analytics/agents", agents, methods=["GET"]),
    ]
