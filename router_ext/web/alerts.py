"""Alert rules and episodes over HTTP (the dashboard's alerts view and banner use these).

    GET    /api/alerts                  {"firing": [episodes], "rules": [...]}       read
    GET    /api/alerts/episodes?status=firing|resolved&limit=N                       read
    GET    /api/alerts/rules                                                         read
    POST   /api/alerts/rules            a rule (router_ext/alerts/rules.py) -> 201   admin
    PUT    /api/alerts/rules/{id}       the whole rule                               admin
    DELETE /api/alerts/rules/{id}                                                    admin
    POST   /api/alerts/check            check every rule now; the episodes opened and
                                        resolved                                     admin

Rules from ROUTER_EXT_ALERT_RULES_FILE cannot be changed here (409): the file is their truth.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from router_ext.alerts import store
from router_ext.alerts.rules import Rule, parse_rule
from router_ext.errors import InvalidInput
from router_ext.reports.ledger import user_column
from router_ext.runtime import RouterExt
from router_ext.web.body import int_param, read_json


def _rule_id(request: Request) -> int:
    raw = str(request.path_params["rule_id"])
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        raise InvalidInput(f"a rule id is a positive integer, got {raw[:40]!r}", field="id")
    return int(raw)


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers={"cache-control": "no-store"})


def routes(core: RouterExt) -> list[Route]:
    """The /api/alerts routes."""
    alerts = core.alerts

    async def _rule(request: Request) -> Rule:
        rule = parse_rule(await read_json(request, core.settings.max_body_bytes))
        if rule.webhooks and not core.settings.alert_webhook_secret:
            raise InvalidInput("webhooks are signed: set ROUTER_EXT_ALERT_WEBHOOK_SECRET first",
                               field="webhooks")
        if rule.scope == "user" and user_column() is None:
            raise InvalidInput("per-user budgets need user attribution on sessions "
                               "(Claude Code's OpenTelemetry export)", field="scope")
        return rule

    async def overview(request: Request) -> JSONResponse:
        return _json({"firing": sorted(alerts.open.values(), key=lambda e: -e["started_at"]),
                      "rules": [r.to_json() for r in alerts.rules]})

    async def episodes(request: Request) -> JSONResponse:
        status = request.query_params.get("status") or None
        if status not in (None, "firing", "resolved"):
            raise InvalidInput("status must be firing or resolved", field="status")
        limit = int_param(request, "limit", 100, minimum=1, maximum=store.MAX_EPISODES) or 100
        found = await alerts.read(lambda c: store.episodes(c, status=status, limit=limit))
        return _json({"episodes": found})

    async def rules(request: Request) -> JSONResponse:
        return _json({"rules": [r.to_json() for r in await alerts.reload_rules()]})

    async def create(request: Request) -> JSONResponse:
        rule = await _rule(request)
        now = time.time_ns() // 1_000_000
        stored = await core.writer.run(lambda c: store.add_rule(c, rule, now))
        await alerts.reload_rules()
        return _json(stored.to_json(), 201)

    async def replace(request: Request) -> JSONResponse:
        rule_id, rule = _rule_id(request), await _rule(request)
        now = time.time_ns() // 1_000_000
        stored = await core.writer.run(lambda c: store.replace_rule(c, rule_id, rule, now))
        await alerts.reload_rules()
        return _json(stored.to_json())

    async def remove(request: Request) -> Response:
        rule_id = _rule_id(request)
        await core.writer.run(lambda c: store.delete_rule(c, rule_id))
        await alerts.reload_rules()
        return Response(status_code=204)

    async def check_now(request: Request) -> JSONResponse:
        return _json(await alerts.evaluate())

    return [
        Route("/api/alerts", overview, methods=["GET"]),
        Route("/api/alerts/episodes", episodes, methods=["GET"]),
        Route("/api/alerts/rules", rules, methods=["GET"]),
        Route("/api/alerts/rules", create, methods=["POST"]),
        Route("/api/alerts/rules/{rule_id}", replace, methods=["PUT"]),
        Route("/api/alerts/rules/{rule_id}", remove, methods=["DELETE"]),
        Route("/api/alerts/check", check_now, methods=["POST"]),
    ]
