"""Reading request bodies and parameters under the field rules, and JSON error responses."""

from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse

from router_ext.errors import InvalidInput, RouterExtError, TooLarge
from router_ext.ingest import fields
from router_ext.stream.bus import EventFilter


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing anything over `limit` bytes before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise InvalidInput("Content-Length must be a number")
        if int(declared) > limit:
            raise TooLarge(f"the body is larger than the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int) -> Any:
    """The body decoded under the field rules (UTF-8, depth, no NaN), or InvalidInput."""
    raw = await read_body(request, limit)
    if not raw.strip():
        raise InvalidInput("the body is empty; a JSON object is required")
    return fields.parse_json(raw, limit=limit)


def error_response(exc: RouterExtError) -> JSONResponse:
    """The JSON error body with the error's HTTP status."""
    return JSONResponse(exc.to_dict(), status_code=exc.http_status)


def int_param(request: HTTPConnection, name: str, default: int | None, *, minimum: int = 0,
              maximum: int = fields.MAX_SAFE_INT) -> int | None:
    """An integer query parameter under the field rules (400 naming it when bad)."""
    return fields.param_int(request.query_params.get(name), name, default, minimum=minimum,
                            maximum=maximum)


def path_int(request: HTTPConnection, name: str, *, minimum: int = 0) -> int:
    """An integer path parameter under the field rules (400 naming it when bad)."""
    value = fields.param_int(str(request.path_params[name]), name, None, minimum=minimum)
    if value is None:
        raise InvalidInput(f"'{name}' is required", field=name)
    return value


def text_param(request: HTTPConnection, name: str, default: str = "", *,
               limit: int = fields.MAX_NAME) -> str:
    """A text query parameter: at most `limit` characters, no NUL (400 naming it when bad)."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    return fields.identifier(raw, name, limit=limit) or default


def list_param(request: HTTPConnection, name: str) -> list[str]:
    """A repeated or comma-separated query parameter; each value an identifier."""
    values: list[str] = []
    for raw in request.query_params.getlist(name):
        values.extend(fields.identifier(v, name) or "" for v in raw.split(",") if v)
    return values


DEFAULT_LIMIT = 300  # events per page when a request does not say


def request_filter(request: HTTPConnection) -> EventFilter:
    """The source_app / session_id / hook_event_type filter of a request's query string."""
    return EventFilter.of(list_param(request, "source_app"), list_param(request, "session_id"),
                          list_param(request, "hook_event_type"))

