"""Reading request bodies and parameters under the field rules, and JSON error responses."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.responses import JSONResponse

from router_ext.errors import InvalidInput, RouterExtError, TooLarge
from router_ext.ingest import fields
from router_ext.stream.bus import EventFilter

# A client that sends its body in one go reads no answer before it has written everything:
# closing the connection under it gives it a broken pipe instead of the 413. So the rest of a
# too-large body is read and dropped first (the protocol's body timeout bounds how long), up to
# this much; past it the connection is closed after the answer.
MAX_DISCARD_BYTES = 1024 * 1024 * 1024


async def _discard(chunks: AsyncIterator[bytes]) -> None:
    dropped = 0
    with contextlib.suppress(ClientDisconnect):
        async for chunk in chunks:
            dropped += len(chunk)
            if dropped > MAX_DISCARD_BYTES:
                return


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body; over `limit` bytes a 413, answered once the client has sent it all."""
    return await read_chunks(request.headers.get("content-length"), request.stream(), limit)


async def read_chunks(declared: str | None, stream: AsyncIterator[bytes], limit: int) -> bytes:
    """A body from its chunks and declared Content-Length, as :func:`read_body` reads it."""
    if declared is not None and not (declared.isascii() and declared.isdigit()):
        raise InvalidInput("Content-Length must be a number")
    too_large = TooLarge(f"the body is larger than the limit of {limit} bytes")
    if declared is not None and int(declared) > limit:
        await _discard(stream)
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            await _discard(stream)
            raise too_large
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_json(request: Request, limit: int) -> Any:
    """The body decoded under the field rules (UTF-8, depth, no NaN), or InvalidInput."""
    return parse_body(await read_body(request, limit), limit)


def parse_body(raw: bytes, limit: int) -> Any:
    """A read body decoded under the field rules, or InvalidInput (an empty one too)."""
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


def limit_param(request: HTTPConnection, default: int, cap: int, *, minimum: int = 1,
                name: str = "limit") -> int:
    """A page size: a bad value is a 400, but one above `cap` is clamped to it, not refused
    (clients written for servers without a cap ask for thousands)."""
    value = fields.param_int(request.query_params.get(name), name, default, minimum=minimum)
    assert value is not None
    return min(value, cap)


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

