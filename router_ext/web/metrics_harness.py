"""POST/GET /metrics/harness (the body Ralph scripts and the harness API send) and its stats."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from router_ext.errors import InvalidInput, TooLarge
from router_ext.ingest.metric_body import from_metric_dict
from router_ext.metrics.labels import METRIC_EVENTS
from router_ext.read import sessions as queries
from router_ext.runtime import RouterExt
from router_ext.store.models import Event
from router_ext.store.writer import Ack
from router_ext.web.body import int_param, list_param, read_json

EVENTS = Event.__table__  # type: ignore[attr-defined]
MAX_BATCH = 1000
DAY_MS = 86_400_000


def day_start_ms(now: float | None = None) -> int:
    """Unix ms of today's 00:00 UTC."""
    moment = datetime.fromtimestamp(now if now is not None else time.time(), UTC)
    return int(moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)


def month_start_ms(now: float | None = None) -> int:
    """Unix ms of the first of this month, 00:00 UTC."""
    moment = datetime.fromtimestamp(now if now is not None else time.time(), UTC)
    return int(moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
               .timestamp() * 1000)


def routes(core: RouterExt) -> list[BaseRoute]:
    """The /metrics/harness routes."""

    async def post(request: Request) -> JSONResponse:
        body = await read_json(request, core.settings.max_body_bytes)
        items = body if isinstance(body, list) else [body]
        if len(items) > MAX_BATCH:
            raise TooLarge(f"at most {MAX_BATCH} metrics per request")
        rows = []
        for index, item in enumerate(items):
            try:
                rows.append(from_metric_dict(item))
            except InvalidInput as exc:
                if isinstance(body, list) and exc.field:
                    exc.field = f"[{index}].{exc.field}"
                core.reject("http", exc)
                raise
        acks = await core.ingest(rows, "http")
        if not isinstance(body, list):
            ack = acks[0].committed()
            return JSONResponse({"ok": True, "id": ack.id, "event_uid": ack.event_uid,
                                 "duplicate": ack.duplicate})
        return _list_answer(acks)

    async def recent(request: Request) -> JSONResponse:
        limit = int_param(request, "limit", 100, minimum=1, maximum=1000) or 100
        since = int_param(request, "since", 0) or 0
        sources = list_param(request, "source")
        names = list_param(request, "event") or sorted(METRIC_EVENTS)
        labels = set(list_param(request, "label"))
        projects = set(list_param(request, "project"))
        rows = await core.reader.call(_recent, core.reader.engine, sources, names, since,
                                      limit, labels, projects)
        return JSONResponse({"metrics": rows, "count": len(rows)})

    async def stats(request: Request) -> JSONResponse:
        since = int_param(request, "since", None)
        return JSONResponse(await core.reader.call(
            _stats, core.reader.engine, since, core.settings.session_idle_seconds))

    return [
        Route("/metrics/harness", post, methods=["POST"]),
        Route("/metrics/harness", recent, methods=["GET"]),
        Route("/metrics/harness/stats", stats, methods=["GET"]),
    ]


def _list_answer(acks: list[Ack]) -> JSONResponse:
    """Every result; when the database refused some rows, the first one's status and error."""
    out: list[dict[str, Any]] = []
    for a in acks:
        result: dict[str, Any] = {"id": a.id, "event_uid": a.event_uid, "duplicate": a.duplicate}
        if a.error is not None:
            result.update(a.error.to_dict())
        out.append(result)
    failed = [(i, a.error) for i, a in enumerate(acks) if a.error is not None]
    if not failed:
        return JSONResponse({"ok": True, "results": out})
    index, error = failed[0]
    return JSONResponse({**error.to_dict(), "field": f"[{index}]", "ok": False, "results": out},
                        status_code=error.http_status)


def _recent(engine: Any, sources: list[str], names: list[str], since: int, limit: int,
            labels: set[str], projects: set[str]) -> list[dict[str, Any]]:
    query = select(EVENTS.c.id, EVENTS.c.source_app, EVENTS.c.hook_event_type,
                   EVENTS.c.payload, EVENTS.c.timestamp).where(
        EVENTS.c.hook_event_type.in_(names), EVENTS.c.timestamp >= since)
    if sources:
        query = query.where(EVENTS.c.source_app.in_(sources))
    # Label and project live in the payload: read more and filter, newest first.
    fetch = limit * 10 if labels or projects else limit
    query = query.order_by(EVENTS.c.id.desc()).limit(fetch)
    out: list[dict[str, Any]] = []
    with engine.connect() as conn:
        for id_, source, name, payload, ts in conn.execute(query):
            body = json.loads(payload)
            if not isinstance(body, dict) or "source" not in body:
                continue  # a hook event that shares a name, not a metric
            if (labels and body.get("label") not in labels) or (
                    projects and body.get("project") not in projects):
                continue
            out.append({**body, "id": id_, "source": source, "event": name, "timestamp": ts})
            if len(out) >= limit:
                break
    return out


def _stats(engine: Any, since: int | None, idle_seconds: float) -> dict[str, Any]:
    today = since if since is not None else day_start_ms()
    now = int(time.time() * 1000)
    with engine.connect() as conn:
        return _stats_on(conn, today, now, idle_seconds)


def _stats_on(conn: Connection, today: int, now: int, idle_seconds: float) -> dict[str, Any]:
    loops = queries.active_loops(conn, now - int(idle_seconds * 1000))
    tasks = queries.tasks(conn, today)
    return {
        "since": today,
        "tasks_today": tasks,
        "success_rate": tasks["success_rate"],
        "active_ralph_loops": len(loops),
        "ralph_loops": loops,
        "active_sessions": queries.active_sessions(conn),
        "cost_today_usd": queries.cost_since(conn, today),
        "tokens_today": queries.tokens_since(conn, today),
        "totals": queries.totals(conn, today),
        "by_source": queries.breakdown(conn, today, "source"),
        "by_project": queries.breakdown(conn, today, "project"),
        "by_label": queries.breakdown(conn, today, "label"),
        "recent_sessions": queries.recent_sessions(conn, 20),
    }
