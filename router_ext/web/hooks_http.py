"""POST /hooks/claude-code: Claude Code's own HTTP hooks (`type: "http"`), no process started.

The raw hook JSON is stored as an event (`?source_app=NAME`, default `claude-code`). A
PermissionRequest is held open as a pending permission request until a person answers it (the
dashboard or `POST /events/{id}/respond`) or the hold deadline passes, then answered with Claude
Code's decision JSON; the configured default (deny unless set) applies on timeout. Every other
event is answered at once with `{}` so Claude Code carries on.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from router_ext.errors import InvalidInput, RouterExtError
from router_ext.ingest.formats import from_claude_hook, held_permission_row
from router_ext.runtime import RouterExt
from router_ext.web.answers import ingest_one
from router_ext.web.body import read_json

DEFAULT_SOURCE = "claude-code"
PERMISSION_EVENT = "PermissionRequest"


def decision(allow: bool, message: str = "") -> dict[str, Any]:
    """Claude Code's PermissionRequest answer."""
    chosen: dict[str, Any] = {"behavior": "allow" if allow else "deny"}
    if not allow and message:
        chosen["message"] = message
    return {"hookSpecificOutput": {"hookEventName": PERMISSION_EVENT, "decision": chosen}}


def routes(core: RouterExt) -> list[Route]:
    """The Claude Code HTTP hook route."""
    settings = core.settings
    service = core.hitl

    async def hook(request: Request) -> Response:
        source = request.query_params.get("source_app") or DEFAULT_SOURCE
        hold = request.query_params.get("hold", "1") not in ("0", "false", "no")
        try:
            body = await read_json(request, settings.max_body_bytes)
            if not isinstance(body, dict):
                raise InvalidInput("the body must be a JSON object")
            held = hold and body.get("hook_event_name") == PERMISSION_EVENT
            if held:
                row = held_permission_row(body, source_app=source,
                                          max_payload_bytes=settings.max_body_bytes,
                                          hold_seconds=settings.permission_hold_seconds)
            else:
                row = from_claude_hook(body, source_app=source,
                                       max_payload_bytes=settings.max_body_bytes)
        except RouterExtError as exc:
            core.reject("http", exc)
            raise
        stored = await ingest_one(core, row, "http")
        if not held:
            return JSONResponse({})
        given = await service.hold(int(stored["id"]), settings.permission_hold_seconds)
        if given is None:
            allow = settings.permission_default == "allow"
            return JSONResponse(decision(allow, "no one answered in time"))
        return JSONResponse(decision(bool(given.get("permission")), "denied by a person"))

    return [Route("/hooks/claude-code", hook, methods=["POST"])]
