"""Reading requests: bodies within a size limit, query parameters, and JSON error responses."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from router_ext.errors import InvalidInput, RouterExtError, TooLarge
from router_ext.stream.bus import EventFilter


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing anything over `limit` bytes before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
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
    """The body decoded as JSON, or InvalidInput saying why not."""
    raw = await read_body(request, limit)
    if not raw.strip():
        raise InvalidInput("the body is empty; a JSON object is required")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}") from exc


def error_response(exc: RouterExtError) -> JSONResponse:
    """The JSON error body with the error's HTTP status."""
    return JSONResponse(exc.to_dict(), status_code=exc.http_status)


def int_param(request: Request, name: str, default: int | None, *, minimum: int = 0,
              maximum: int | None = None) -> int | None:
    """A validated integer query parameter (400 naming it when bad)."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise InvalidInput(f"query parameter '{name}' must be an integer, got {raw!r}",
                           field=name) from exc
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise InvalidInput(f"query parameter '{name}' must be {bounds}", field=name)
    return value


def list_param(request: Request, name: str) -> list[str]:
    """A repeated or comma-separated query parameter."""
    values: list[str] = []
    for raw in request.query_params.getlist(name):
        values.extend(v for v in raw.split(",") if v)
    return values


DEFAULT_LIMIT = 300  # events per page when a request does not say


def request_filter(request: Request) -> EventFilter:
    """The source_app / session_id / hook_event_type filter of a request's query string."""
    return EventFilter.of(list_param(request, "source_app"), list_param(request, "session_id"),
                          list_param(request, "hook_event_type"))


MAX_ID = 2**53 - 1  # what SQLite, PostgreSQL BIGINT and JavaScript all hold exactly


def event_id_param(request: Request) -> int:
    """The `{event_id}` path parameter: ASCII digits, within MAX_ID."""
    raw = request.path_params["event_id"]
    # str.isdigit() also accepts digits such as '²', which int() refuses: ASCII only.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 16 or int(raw) > MAX_ID:
        raise InvalidInput(f"event id must be a positive integer, got {raw[:40]!r}", field="id")
    return int(raw)
