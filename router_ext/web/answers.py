"""Storing one event from an HTTP body and answering with it, as POST /events does.

Shared by every route that takes one event (the /events API, PAI and claude-mpm bodies, Claude
Code HTTP hooks), so each answers the same way: the stored event with its id.
"""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from router_ext.errors import RouterExtError
from router_ext.ingest.normalize import from_events_body
from router_ext.records import Row, to_api_json
from router_ext.runtime import RouterExt
from router_ext.web.body import parse_body


async def ingest_one(core: RouterExt, row: Row, transport: str) -> Row:
    """Store one row and return the stored row (the original one for a repeated event_uid)."""
    ack = (await core.ingest([row], transport))[0].committed()
    if not ack.duplicate:
        return row
    stored = await core.reader.event(ack.id)
    return stored if stored is not None else {**row, "id": ack.id}


async def store_and_answer(core: RouterExt, row: Row) -> Response:
    """Store one row from an HTTP body; answer with the stored event, as POST /events does."""
    return json_text_response(to_api_json(await ingest_one(core, row, "http")))


async def events_body_answer(core: RouterExt, raw: bytes) -> str:
    """A `POST /events` body stored; the answer's JSON text (a refused body is counted)."""
    limit = core.settings.max_event_bytes
    try:
        row = from_events_body(parse_body(raw, limit), max_payload_bytes=limit)
    except RouterExtError as exc:
        core.reject("http", exc)
        raise
    return to_api_json(await ingest_one(core, row, "http"))


def json_response(body: object, status_code: int = 200) -> Response:
    """A compact JSON response."""
    return JSONResponse(body, status_code=status_code)


def json_text_response(text: str) -> Response:
    """A 200 with JSON text that is already encoded."""
    return Response(text, media_type="application/json")
