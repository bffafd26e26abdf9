"""The PAI observability API, and `POST /api/events` for the PAI and claude-mpm formats.

- `POST /api/events`: a PAI event (`type`, `session_id`, `timestamp`, `data`), a claude-mpm
  monitor event (flat or nested) or a `/events` body; answers with the stored event.
- `GET /api/sessions?limit=100`: the most recently active sessions with counts and times.
- `GET /api/sessions/{id}`: one session's summary and its newest events (oldest first).
- `GET /api/events/stream?sessionId=...`: Server-Sent Events (resume with Last-Event-ID).
- `GET /api/analytics/tools?hours=24`, `GET /api/analytics/agents?hours=24`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from router_ext.errors import NotFound, RouterExtError
from router_ext.ingest import fields
from router_ext.ingest.formats import from_api_events
from router_ext.ingest.normalize import now_ms
from router_ext.read.reader import MAX_PAGE
from router_ext.records import to_api
from router_ext.runtime import RouterExt
from router_ext.store.writer import EVENTS
from router_ext.stream.bus import EventFilter
from router_ext.web.body import int_param, list_param, read_json
from router_ext.web.events import store_and_answer
from router_ext.web.sse import resume_id, stream_response

# Sessions are listed from this many newest events, so the list stays fast at any table size.
SESSION_WINDOW = 20_000
FAILURE_EVENTS = ("PostToolUseFailure",)
DONE_EVENTS = ("PostToolUse", "PostToolUseFailure")


def _session_summary(row: Any) -> dict[str, Any]:
    return {"session_id": row.session_id, "source_app": row.source_app,
            "event_count": int(row.n), "first_timestamp": row.first_ts,
            "last_timestamp": row.last_ts, "last_event_id": row.last_id}


def _summary_query() -> Any:
    return select(EVENTS.c.session_id, func.max(EVENTS.c.source_app).label("source_app"),
                  func.count().label("n"), func.min(EVENTS.c.timestamp).label("first_ts"),
                  func.max(EVENTS.c.timestamp).label("last_ts"),
                  func.max(EVENTS.c.id).label("last_id"))


class PaiQueries:
    """The read side of the PAI API, run on the reader engine."""

    def __init__(self, core: RouterExt) -> None:
        self.reader = core.reader

    def sessions(self, limit: int) -> list[dict[str, Any]]:
        """The sessions of the newest events, most recently active first."""
        floor = select(func.coalesce(func.max(EVENTS.c.id), 0) - SESSION_WINDOW).scalar_subquery()
        query = (_summary_query().where(EVENTS.c.id > floor).group_by(EVENTS.c.session_id)
                 .order_by(func.max(EVENTS.c.id).desc()).limit(limit))
        with self.reader.engine.connect() as conn:
            return [_session_summary(r) for r in conn.execute(query)]

    def session(self, session_id: str, limit: int) -> dict[str, Any] | None:
        """One session's summary and its newest `limit` events, oldest first."""
        query = _summary_query().where(EVENTS.c.session_id == session_id).group_by(
            EVENTS.c.session_id)
        with self.reader.engine.connect() as conn:
            found = conn.execute(query).first()
        if found is None:
            return None
        rows = self.reader.recent_sync(EventFilter.of(session_ids=[session_id]), limit)
        return {**_session_summary(found), "events": [to_api(r) for r in rows]}

    def tools(self, since_ms: int) -> list[dict[str, Any]]:
        """Per tool: events, completed calls and failures since a time."""
        done = func.sum(case((EVENTS.c.hook_event_type.in_(DONE_EVENTS), 1), else_=0))
        failed = func.sum(case((EVENTS.c.hook_event_type.in_(FAILURE_EVENTS), 1), else_=0))
        query = (select(EVENTS.c.tool_name, func.count().label("n"), done.label("done"),
                        failed.label("failed"))
                 .where(EVENTS.c.timestamp >= since_ms, EVENTS.c.tool_name.is_not(None))
                 .group_by(EVENTS.c.tool_name).order_by(func.count().desc()))
        with self.reader.engine.connect() as conn:
            return [{"tool_name": r.tool_name, "events": int(r.n), "calls": int(r.done or 0),
                     "failures": int(r.failed or 0)} for r in conn.execute(query)]

    def agents(self, since_ms: int) -> list[dict[str, Any]]:
        """Per source app: events, sessions, subagents and the newest time, since a time."""
        query = (select(EVENTS.c.source_app, func.count().label("n"),
                        func.count(func.distinct(EVENTS.c.session_id)).label("sessions"),
                        func.count(func.distinct(EVENTS.c.agent_id)).label("agents"),
                        func.max(EVENTS.c.timestamp).label("last_ts"))
                 .where(EVENTS.c.timestamp >= since_ms).group_by(EVENTS.c.source_app)
                 .order_by(func.count().desc()))
        with self.reader.engine.connect() as conn:
            return [{"source_app": r.source_app, "events": int(r.n),
                     "sessions": int(r.sessions), "subagents": int(r.agents),
                     "last_timestamp": r.last_ts} for r in conn.execute(query)]


def routes(core: RouterExt) -> list[Route]:
    """The PAI routes."""
    queries = PaiQueries(core)
    call = core.reader.call
    limit_body = core.settings.max_body_bytes

    async def post_event(request: Request) -> Response:
        try:
            row = from_api_events(await read_json(request, limit_body),
                                  max_payload_bytes=limit_body)
        except RouterExtError as exc:
            core.reject("http", exc)
            raise
        return await store_and_answer(core, row)

    async def sessions(request: Request) -> Response:
        limit = int_param(request, "limit", 100, minimum=1, maximum=MAX_PAGE)
        return JSONResponse(await call(queries.sessions, limit))

    async def session(request: Request) -> Response:
        session_id = fields.required_identifier(request.path_params["session_id"], "session_id")
        limit = int_param(request, "limit", 500, minimum=1, maximum=MAX_PAGE)
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
