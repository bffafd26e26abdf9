"""Read-only JSON routes under /api/ui/ that the dashboard needs and no other surface offers.

Aggregates are computed by the server and every list is paged, so the page stays light however
many events are stored. All queries run on the reader engine, off the event loop.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import router_ext.read.analytics as analytics_q
import router_ext.read.dashboard as q
import router_ext.read.dashboard_events as ev
from router_ext.errors import InvalidInput, NotFound
from router_ext.ingest import fields
from router_ext.records import to_api
from router_ext.runtime import RouterExt
from router_ext.web.body import int_param, limit_param, list_param, text_param

EVENT_FILTERS = ("source_app", "session_id", "hook_event_type")
SESSION_FILTERS = ("source", "project", "label", "status")
RATE_WINDOWS = (1, 3, 5, 10)
MAX_TZ_MIN = 14 * 60
SESSION_ID = 300  # harness_sessions.id: a Ralph task id is "ralph:LOOP:TASK"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _tz_ms(request: Request) -> int:
    """The browser's offset from UTC, so "today" and days are the operator's own."""
    minutes = int_param(request, "tz_offset_min", 0, minimum=-MAX_TZ_MIN, maximum=MAX_TZ_MIN)
    return (minutes or 0) * 60_000


def _event_filters(request: Request) -> dict[str, list[str]]:
    return {name: list_param(request, name) for name in EVENT_FILTERS}


def _cursor(raw: str | None) -> tuple[int, str] | None:
    if not raw:
        return None
    started, sep, sid = raw.partition(":")
    if not sep:
        raise InvalidInput("query parameter 'before' must look like STARTED_MS:SESSION_ID",
                           field="before")
    when = fields.param_int(started, "before", None)
    return (0 if when is None else when), fields.identifier(sid, "before", limit=SESSION_ID) or ""


def _search(request: Request) -> str:
    """The free-text search `q`, cut to its first 200 characters."""
    return fields.identifier(request.query_params.get("q", "")[:200], "q") or ""


def _session_id(request: Request) -> str:
    return fields.required_identifier(request.path_params["session_id"], "session_id",
                                      SESSION_ID)


def _json(data: Any) -> JSONResponse:
    return JSONResponse(data, headers={"cache-control": "no-store"})


def routes(core: RouterExt) -> list[Route]:
    """The /api/ui/* routes."""
    reader = core.reader
    engine = core.reader_engine

    async def overview(request: Request) -> JSONResponse:
        days = int_param(request, "days", 14, minimum=1, maximum=366) or 14
        data = await reader.call(q.overview, engine, _now_ms(), _tz_ms(request), days)
        return _json(data)

    async def sessions(request: Request) -> JSONResponse:
        filters = {name: text_param(request, name) for name in SESSION_FILTERS}
        limit = limit_param(request, 50, 500)
        data = await reader.call(lambda: q.sessions_page(
            engine, filters=filters, q=_search(request), limit=limit,
            before=_cursor(request.query_params.get("before"))))
        return _json(data)

    async def facets(request: Request) -> JSONResponse:
        return _json(await reader.call(q.facets, engine))

    async def session(request: Request) -> JSONResponse:
        sid = _session_id(request)
        row = await reader.session(sid)
        if row is None:
            raise NotFound(f"no session {sid!r}")
        linked = await reader.call(q.linked_sessions, engine, row)
        return _json({"session": q.session_json(row), "models": q.model_rows(row),
                      "linked": linked, "event_session_ids": analytics_q.session_keys(row)})

    async def timeline(request: Request) -> JSONResponse:
        sid = _session_id(request)
        row = await reader.session(sid)
        keys = analytics_q.session_keys(row) if row is not None else [sid]
        after = int_param(request, "after_id", 0) or 0
        limit = limit_param(request, 500, 2000)
        return _json(await reader.call(analytics_q.timeline, engine, keys, after, limit))

    async def events(request: Request) -> JSONResponse:
        before = int_param(request, "before_id", None, minimum=1)
        limit = limit_param(request, 100, 500)
        text = _search(request)
        start = before if before is not None else core.last_id + 1
        data = await reader.call(lambda: ev.search_events(
            engine, q=text, filters=_event_filters(request), before_id=start, limit=limit))
        data["events"] = [to_api(r) for r in reversed(data.pop("rows"))]
        return _json(data)

    async def filter_options(request: Request) -> JSONResponse:
        return _json(await reader.filter_options())

    async def cursor(request: Request) -> JSONResponse:
        last = await reader.call(ev.last_matching_id, engine, _event_filters(request))
        return _json({"last_id": last})

    async def rate(request: Request) -> JSONResponse:
        minutes = int_param(request, "minutes", 5, minimum=1, maximum=60) or 5
        if minutes not in RATE_WINDOWS:
            raise InvalidInput(f"query parameter 'minutes' must be one of {RATE_WINDOWS}",
                               field="minutes")
        bucket_ms = minutes * 1000  # 60 buckets per window
        now = _now_ms()
        since = (now - minutes * 60_000) // bucket_ms * bucket_ms
        data = await reader.call(lambda: ev.rate(
            engine, filters=_event_filters(request), since_ms=since, bucket_ms=bucket_ms,
            lanes=int_param(request, "lanes", 12, minimum=1, maximum=50) or 12))
        data["now_ms"] = now
        return _json(data)

    async def approvals(request: Request) -> JSONResponse:
        state = request.query_params.get("state", "pending")
        if state not in ("pending", "resolved"):
            raise InvalidInput("query parameter 'state' must be pending or resolved",
                               field="state")
        limit = limit_param(request, 100, 500)
        before = int_param(request, "before_id", None, minimum=1)
        rows = await reader.call(lambda: ev.approvals(
            engine, pending=state == "pending", limit=limit, before_id=before))
        return _json({"events": [to_api(r) for r in rows]})

    async def analytics(request: Request) -> JSONResponse:
        days = int_param(request, "days", 7, minimum=1, maximum=90) or 7
        data = await reader.call(analytics_q.analytics, engine, _now_ms(), days,
                                 _tz_ms(request))
        return _json(data)

    async def ralph(request: Request) -> JSONResponse:
        limit = limit_param(request, 20, 200)
        return _json({"loops": await reader.call(analytics_q.ralph_loops, engine, limit)})

    return [
        Route("/api/ui/overview", overview, methods=["GET"]),
        Route("/api/ui/sessions", sessions, methods=["GET"]),
        Route("/api/ui/session-facets", facets, methods=["GET"]),
        Route("/api/ui/sessions/{session_id:path}/timeline", timeline, methods=["GET"]),
        Route("/api/ui/sessions/{session_id:path}", session, methods=["GET"]),
        Route("/api/ui/events", events, methods=["GET"]),
        Route("/api/ui/cursor", cursor, methods=["GET"]),
        Route("/api/ui/filter-options", filter_options, methods=["GET"]),
        Route("/api/ui/rate", rate, methods=["GET"]),
        Route("/api/ui/approvals", approvals, methods=["GET"]),
        Route("/api/ui/analytics", analytics, methods=["GET"]),
        Route("/api/ui/ralph", ralph, methods=["GET"]),
    ]
