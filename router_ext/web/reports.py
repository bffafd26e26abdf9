"""Usage reports and the status line's numbers, read from the usage ledger.

    GET /api/reports/{daily|weekly|monthly|session|blocks}?since=&until=&project=&timezone=
        &order=&start_of_week=&session_length=     ccusage's JSON shape (router_ext.reports)
    GET /api/statusline?session_id=&tz_offset_min=  {session_cost, today_cost, block,
                                                     pending_approvals}
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from router_ext.errors import InvalidInput
from router_ext.reports import ledger
from router_ext.reports.build import build_report
from router_ext.reports.entries import KINDS, WEEK_DAYS, Options, compact_date, resolve_tz
from router_ext.runtime import RouterExt
from router_ext.web.body import int_param

MAX_TZ_MIN = 14 * 60
DAY_MS = 86_400_000


def _choice(request: Request, name: str, choices: tuple[str, ...], default: str) -> str:
    value = request.query_params.get(name) or default
    if value not in choices:
        raise InvalidInput(f"query parameter '{name}' must be one of {', '.join(choices)}",
                           field=name)
    return value


def report_options(request: Request) -> Options:
    """The report options of a query string (400 naming a bad one)."""
    q = request.query_params
    try:
        hours = float(q.get("session_length") or 5)
        if not 0 < hours <= 24:
            raise ValueError("session_length must be between 0 and 24 hours")
        return Options(since=compact_date(q.get("since"), "since"),
                       until=compact_date(q.get("until"), "until"),
                       project=q.get("project") or None,
                       tz=resolve_tz(q.get("timezone") or "UTC"),
                       order=_choice(request, "order", ("asc", "desc"), "asc"),
                       start_of_week=_choice(request, "start_of_week", WEEK_DAYS, "sunday"),
                       session_hours=hours)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


def _bounds(opts: Options) -> tuple[int | None, int | None]:
    """Ledger times that surely hold the report's days, whatever the time zone."""
    from datetime import UTC, datetime

    def ms(day: str | None, extra_days: int) -> int | None:
        if not day:
            return None
        moment = datetime.strptime(day, "%Y%m%d").replace(tzinfo=UTC)
        return int(moment.timestamp() * 1000) + extra_days * DAY_MS

    return ms(opts.since, -2), ms(opts.until, 2)


def report_sync(engine: Engine, kind: str, opts: Options) -> dict[str, Any]:
    """Build one report from the ledger."""
    since, until = _bounds(opts)
    with engine.connect() as conn:
        found = ledger.entries(conn, from_ms=since, to_ms=until, project=opts.project)
    return build_report(kind, found, opts)


def status_sync(engine: Engine, session_id: str, tz_ms: int) -> dict[str, Any]:
    """The status line's numbers, with "today" in the caller's time zone."""
    now = time.time_ns() // 1_000_000
    day_start = (now + tz_ms) // DAY_MS * DAY_MS - tz_ms
    with engine.connect() as conn:
        return ledger.status_numbers(conn, session_id, now, day_start)


def routes(core: RouterExt) -> list[Route]:
    """The report and status line routes (read role)."""

    async def report(request: Request) -> JSONResponse:
        kind = str(request.path_params["kind"])
        if kind not in KINDS:
            raise InvalidInput(f"unknown report {kind!r}; one of {', '.join(KINDS)}",
                               field="kind")
        opts = report_options(request)
        return JSONResponse(await core.reader.call(report_sync, core.reader.engine, kind, opts))

    async def statusline(request: Request) -> JSONResponse:
        session = request.query_params.get("session_id") or ""
        if len(session) > 300:
            raise InvalidInput("session_id is longer than 300 characters", field="session_id")
        tz_min = int_param(request, "tz_offset_min", 0, minimum=-MAX_TZ_MIN, maximum=MAX_TZ_MIN)
        return JSONResponse(await core.reader.call(status_sync, core.reader.engine, session,
                                                   (tz_min or 0) * 60_000),
                            headers={"cache-control": "no-store"})

    return [Route("/api/reports/{kind}", report, methods=["GET"]),
            Route("/api/statusline", statusline, methods=["GET"])]
