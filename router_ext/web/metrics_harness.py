"""POST/GET /metrics/harness (the body Ralph scripts and the harness API send) and its stats."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from router_ext.errors import InvalidInput, TooLarge
from router_ext.ingest.metric_body import from_metric_dict
from router_ext.metrics.labels import METRIC_EVENTS
from router_ext.read.metrics_harness import harness_stats, recent_metrics
from router_ext.runtime import RouterExt
from router_ext.store.writer import Ack
from router_ext.web.body import int_param, limit_param, list_param, read_json

MAX_BATCH = 1000


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
        limit = limit_param(request, 100, 1000)
        since = int_param(request, "since", 0) or 0
        sources = list_param(request, "source")
        names = list_param(request, "event") or sorted(METRIC_EVENTS)
        labels = set(list_param(request, "label"))
        projects = set(list_param(request, "project"))
        rows = await core.reader.call(recent_metrics, core.reader.engine, sources, names, since,
                                      limit, labels, projects)
        return JSONResponse({"metrics": rows, "count": len(rows)})

    async def stats(request: Request) -> JSONResponse:
        since = int_param(request, "since", None)
        return JSONResponse(await core.reader.call(
            harness_stats, core.reader.engine, since, core.settings.session_idle_seconds))

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
