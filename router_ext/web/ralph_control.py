"""Stopping a running Ralph loop from the API or the dashboard.

    POST /api/ralph/{loop_id}/stop      {"reason": "...", "requested_by": "..."} (body optional)
    GET  /api/ralph/{loop_id}/control   {"stop": bool, "requested_at": ms, "reason": ..., ...}

A stop request is stored as an ordinary event (source_app "ralph", hook_event_type
"stop_requested", session_id the loop id) through core.ingest, so it is durable, streamed to
the dashboard, and read back by the loop between tasks. Asking twice is harmless.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from router_ext.errors import InvalidInput
from router_ext.ingest import fields
from router_ext.ingest.normalize import build_row
from router_ext.records import decoded_payload
from router_ext.runtime import RouterExt
from router_ext.stream.bus import EventFilter
from router_ext.web.body import read_body

SOURCE = "ralph"
STOP = "stop_requested"
MAX_REASON = 2000


def _loop_id(request: Request) -> str:
    return fields.required_identifier(str(request.path_params["loop_id"]), "loop_id")


def _text(body: dict[str, Any], name: str) -> str | None:
    return fields.text(body.get(name), name, limit=MAX_REASON)


async def _options(request: Request, limit: int) -> dict[str, Any]:
    raw = await read_body(request, limit)
    if not raw.strip():
        return {}
    body = fields.parse_json(raw, limit=limit)
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    return body


def routes(core: RouterExt) -> list[Route]:
    """The Ralph control routes."""

    async def stop(request: Request) -> JSONResponse:
        loop_id = _loop_id(request)
        body = await _options(request, core.settings.max_body_bytes)
        payload = {"loop_id": loop_id, "reason": _text(body, "reason") or "stop requested",
                   "requested_by": _text(body, "requested_by") or "anonymous"}
        row = build_row(source_app=SOURCE, session_id=loop_id, hook_event_type=STOP,
                        payload=payload)
        ack = (await core.ingest([row], "http"))[0].committed()
        stored = decoded_payload(row)  # as stored: redacted
        return JSONResponse({"stop": True, "loop_id": loop_id, "id": ack.id, **stored},
                            status_code=201)

    async def control(request: Request) -> JSONResponse:
        loop_id = _loop_id(request)
        found = await core.reader.recent(EventFilter.of([SOURCE], [loop_id], [STOP]), 1)
        if not found:
            return JSONResponse({"stop": False, "loop_id": loop_id})
        row = found[-1]
        payload = decoded_payload(row)
        return JSONResponse({"stop": True, "loop_id": loop_id, "id": row["id"],
                             "requested_at": row["timestamp"],
                             "reason": payload.get("reason"),
                             "requested_by": payload.get("requested_by")})

    return [
        Route("/api/ralph/{loop_id}/stop", stop, methods=["POST"]),
        Route("/api/ralph/{loop_id}/control", control, methods=["GET"]),
    ]
