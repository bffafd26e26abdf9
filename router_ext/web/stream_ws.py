"""WS /stream: the dashboard's live feed, without its silent losses.

On connect: `{"type": "initial", "data": [newest events, oldest first]}`; then one `{"type":
"event", "data": {...}}` per committed event, and the same message again, with the same id,
whenever an event changes (a HITL answer or timeout): one message per answer, its final state, as
the stock UI expects (it appends every message). `updates=all` also sends the intermediate state
of an answer still being delivered (`delivery: "sending"`). `{"type": "heartbeat", "last_id": N}`
keeps idle connections alive. Query parameters: `source_app`, `session_id`, `hook_event_type`
(repeated or comma-separated), `limit` (size of the initial page, default 300) and `after_id`
(resume: the initial page is empty and everything after that id is sent as events).

A client too slow to keep up is closed with code 4000 + reason `behind; resume after_id=N`, and at
shutdown with 1012 + `shutting down; resume after_id=N`: it never loses an event without being told
where to pick up.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from router_ext.errors import InvalidInput, RouterExtError
from router_ext.read.reader import MAX_PAGE
from router_ext.records import to_api_json
from router_ext.runtime import RouterExt
from router_ext.stream.bus import BusClosed, SubscriberBehind
from router_ext.stream.live import Heartbeat, follow
from router_ext.web.body import (
    DEFAULT_LIMIT,
    int_param,
    limit_param,
    request_filter,
    text_param,
)

CLOSE_BEHIND = 4000
CLOSE_RESTART = 1012
# A client whose socket accepts nothing for this long is cut off like one that fell behind.
STALL_SECONDS = 30.0


class Stalled(Exception):
    """The client stopped reading: a send could not complete in STALL_SECONDS."""

    def __init__(self, resume_after_id: int) -> None:
        super().__init__(f"client stalled; resume with after_id={resume_after_id}")
        self.resume_after_id = resume_after_id


async def _send(ws: WebSocket, text: str, resume_after_id: int) -> None:
    try:
        async with asyncio.timeout(STALL_SECONDS):
            await ws.send_text(text)
    except TimeoutError as exc:
        raise Stalled(resume_after_id) from exc


def event_message(event_json: str) -> str:
    """The `event` message around an already-encoded event."""
    return '{"type":"event","data":' + event_json + "}"


def _updates_param(ws: WebSocket) -> bool:
    """True for `updates=all` (every state of an answer), False for the default `final`."""
    value = text_param(ws, "updates", "final")
    if value not in ("final", "all"):
        raise InvalidInput("'updates' must be 'final' or 'all'", field="updates")
    return value == "all"


async def _pump(core: RouterExt, ws: WebSocket) -> None:
    flt = request_filter(ws)
    limit = limit_param(ws, DEFAULT_LIMIT, MAX_PAGE, minimum=0)
    after_id = int_param(ws, "after_id", None)
    every_update = _updates_param(ws)
    if after_id is None:
        cursor = core.last_id  # taken before the query, so nothing committed after it is missed
        rows = await core.reader.recent(flt, limit) if limit else []
        if rows:
            cursor = rows[-1]["id"]
        await ws.send_text(f'{{"type":"initial","data":[{",".join(map(to_api_json, rows))}]}}')
    else:
        cursor = after_id
        await ws.send_text('{"type":"initial","data":[]}')
    events = follow(core.reader, core.bus, flt, after_id=cursor, live_from_id=core.last_id,
                    heartbeat_seconds=core.settings.heartbeat_seconds, transport="ws")
    sent = cursor
    try:
        async for item in events:
            if isinstance(item, Heartbeat):
                await _send(ws, f'{{"type":"heartbeat","last_id":{item.last_id}}}', sent)
            elif every_update or not item.interim:
                await _send(ws, event_message(item.json()), sent)
                if item.kind == "event":
                    sent = item.id
    finally:
        await events.aclose()  # type: ignore[attr-defined]


async def _until_closed(ws: WebSocket) -> None:
    # The client never needs to speak; reading only notices when it goes away.
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return


def routes(core: RouterExt) -> list[WebSocketRoute]:
    """The /stream WebSocket route."""

    async def stream(ws: WebSocket) -> None:
        await ws.accept()
        pump = asyncio.create_task(_pump(core, ws))
        reader = asyncio.create_task(_until_closed(ws))
        done, _ = await asyncio.wait({pump, reader}, return_when=asyncio.FIRST_COMPLETED)
        for task in (pump, reader):
            if task not in done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if pump not in done:
            return  # the client left
        code, reason = 1000, ""
        exc = pump.exception()
        if isinstance(exc, SubscriberBehind | Stalled):
            code, reason = CLOSE_BEHIND, f"behind; resume after_id={exc.resume_after_id}"
        elif isinstance(exc, BusClosed):
            code, reason = CLOSE_RESTART, f"shutting down; resume after_id={exc.resume_after_id}"
        elif isinstance(exc, RouterExtError):  # a bad parameter: 4400, 4413, ... (errors.py)
            # A close reason is at most 123 bytes of UTF-8.
            code, reason = exc.ws_close_code, exc.message.encode()[:120].decode("utf-8", "ignore")
        elif exc is not None and not isinstance(exc, WebSocketDisconnect | OSError):
            code, reason = 1011, "internal error"
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):  # a stalled client cannot take a close frame either
                await ws.close(code, reason)

    return [WebSocketRoute("/stream", stream)]
