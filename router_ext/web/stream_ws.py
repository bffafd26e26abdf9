"""WS /stream: the dashboard's live feed, without its silent losses.

On connect: `{"type": "initial", "data": [newest events, oldest first]}`; then one `{"type":
"event", "data": {...}}` per committed event, and the same message again, with the same id,
whenever an event changes (a HITL answer or timeout): one message per answer, its final state, as
the stock UI expects (it appends every message). `updates=all` also sends the intermediate state
of an answer still being delivered (`delivery: "sending"`). `{"type": "heartbeat", "last_id": N}`
keeps idle connections alive. Query parameters: `source_app`, `session_id`, `hook_event_type`
(repeated or comma-separated), `limit` (size of the initial page, default 300) and `after_id`
(resume: the initial page is empty and everything after that id is sent as events).

`batch=1` opts in to several messages per frame: after the initial page, each frame is a JSON
array of the messages above, in order, holding whatever queued up for the client since its last
frame (a lone event is an array of one). Without it the frames are exactly the stock ones, one
message each. Either way each event's message text is built once for all clients.

A client too slow to keep up is closed with code 4000 + reason `behind; resume after_id=N`, and at
shutdown with 1012 + `shutting down; resume after_id=N`: it never loses an event without being told
where to pick up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Iterator

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from router_ext.errors import InvalidInput, RouterExtError
from router_ext.read.reader import MAX_PAGE
from router_ext.records import StoredEvent, to_api_json
from router_ext.runtime import RouterExt
from router_ext.stream.bus import BusClosed, EventFilter, SubscriberBehind
from router_ext.stream.live import DirectDelivery, Heartbeat, follow_batches
from router_ext.web.body import (
    DEFAULT_LIMIT,
    int_param,
    limit_param,
    request_filter,
    text_param,
)
from router_ext.web.ws_frames import EXTENSION as TEXT_FRAMES
from router_ext.web.ws_frames import TextFrames, text_frame

CLOSE_BEHIND = 4000
CLOSE_RESTART = 1012
# A client whose socket accepts nothing for this long is cut off like one that fell behind.
STALL_SECONDS = 30.0
# With `batch=1` a frame holds whatever queued up, but stays under this many characters (1 MiB
# is a common client default for the largest message) unless one event alone is larger.
BATCH_FRAME_CHARS = 512 * 1024


class Stalled(Exception):
    """The client stopped reading: a send could not complete in STALL_SECONDS."""

    def __init__(self, resume_after_id: int) -> None:
        super().__init__(f"client stalled; resume with after_id={resume_after_id}")
        self.resume_after_id = resume_after_id


class Sender:
    """Sends one connection's text messages, cutting it off when it stops reading."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        # Offered by `router-ext serve` on connections without compression; absent when
        # router-ext is mounted in another server.
        self.frames: TextFrames | None = (ws.scope.get("extensions") or {}).get(TEXT_FRAMES)

    async def send(self, text: str, resume_after_id: int) -> None:
        """Send `text`; :class:`Stalled` if the client read nothing for STALL_SECONDS."""
        try:
            if self.frames is not None:
                await self.frames.send(text, STALL_SECONDS)
                return
            async with asyncio.timeout(STALL_SECONDS):
                await self.ws.send_text(text)
        except TimeoutError as exc:
            raise Stalled(resume_after_id) from exc

    def ready(self) -> bool:
        """True when :meth:`write_now` may be used: pre-encoded frames, taken right now."""
        return self.frames is not None and self.frames.ready()

    def write_now(self, frame: bytes) -> None:
        """Send a whole wire frame (ws_frames.text_frame) without waiting (only after
        :meth:`ready`)."""
        assert self.frames is not None
        self.frames.write(frame)


class SharedFrames:
    """The wire frames last built for a list of events, reused for every viewer handed the
    same events with the same options.

    The bus hands viewers with one filter the same event objects in a round, one viewer after
    another, so a single remembered entry serves the whole round: its messages are joined,
    encoded and framed once, not once per viewer. The entry keeps its events alive, so
    comparing them by identity cannot mistake new objects for old.
    """

    def __init__(self) -> None:
        self._events: list[StoredEvent] = []
        self._options: tuple[bool, bool] | None = None
        self._frames: list[tuple[bytes, int]] = []

    def frames(self, events: list[StoredEvent], batch: bool, every_update: bool
               ) -> list[tuple[bytes, int]]:
        """Each frame's bytes with the newest event id in it (0: updates only)."""
        options = (batch, every_update)
        if options != self._options or not _same(events, self._events):
            self._frames = [(text_frame(text.encode()), cursor) for text, cursor
                            in frame_texts(events, batch=batch, every_update=every_update)]
            self._events, self._options = events, options
        return self._frames


def _same(a: list[StoredEvent], b: list[StoredEvent]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


class LiveFeed:
    """One connection's live messages: which it wants, how they are framed, and the cursor
    (the newest event id the client has been sent)."""

    def __init__(self, sender: Sender, *, batch: bool, every_update: bool, sent: int,
                 shared: SharedFrames) -> None:
        self.sender = sender
        self.batch = batch
        self.every_update = every_update
        self.sent = sent
        self.shared = shared

    async def send(self, events: list[StoredEvent]) -> None:
        """Send these events, waiting for a slow client (Stalled when it reads nothing)."""
        for text, cursor in frame_texts(events, batch=self.batch,
                                        every_update=self.every_update, sent=self.sent):
            await self.sender.send(text, self.sent)
            self.sent = cursor

    async def heartbeat(self, last_id: int) -> None:
        """Tell an idle client the newest id it has seen."""
        beat = f'{{"type":"heartbeat","last_id":{last_id}}}'
        await self.sender.send(f"[{beat}]" if self.batch else beat, self.sent)

    def direct(self) -> DirectDelivery | None:
        """Delivery from the bus's callback while the connection keeps up (no task wakes);
        None on a connection without pre-encoded frames, which could never take it."""
        if self.sender.frames is None:
            return None
        return DirectDelivery(self.sender.ready, self._send_now)

    def _send_now(self, events: list[StoredEvent]) -> None:
        for frame, newest in self.shared.frames(events, self.batch, self.every_update):
            self.sender.write_now(frame)
            self.sent = newest or self.sent


def event_message(event_json: str) -> str:
    """The `event` message around an already-encoded event."""
    return '{"type":"event","data":' + event_json + "}"


def _frame(event: StoredEvent) -> str:
    return event_message(event.json())


def event_frame(event: StoredEvent) -> str:
    """The `event` message for a stored event, built once for every client that gets it."""
    return event.encoded("ws.event", _frame)


def batched_frames(messages: list[tuple[str, int]], sent: int
                   ) -> Iterator[tuple[str, int]]:
    """JSON arrays of messages, each under BATCH_FRAME_CHARS unless one message alone is
    larger; with each frame, the cursor once it is delivered."""
    run: list[str] = []
    size = 0
    for text, cursor in messages:
        if run and size + len(text) > BATCH_FRAME_CHARS:
            yield "[" + ",".join(run) + "]", sent
            run, size = [], 0
        run.append(text)
        size += len(text) + 1
        sent = cursor
    if run:
        yield "[" + ",".join(run) + "]", sent


def frame_texts(events: list[StoredEvent], *, batch: bool, every_update: bool, sent: int = 0
                ) -> Iterable[tuple[str, int]]:
    """The text of each frame for these events (one message each, or JSON arrays with
    `batch`), with the cursor once it is delivered (`sent` until an event moves it)."""
    messages = _messages(events, every_update, sent)
    return batched_frames(messages, sent) if batch else messages


def _updates_param(ws: WebSocket) -> bool:
    """True for `updates=all` (every state of an answer), False for the default `final`."""
    value = text_param(ws, "updates", "final")
    if value not in ("final", "all"):
        raise InvalidInput("'updates' must be 'final' or 'all'", field="updates")
    return value == "all"


async def _initial(core: RouterExt, ws: WebSocket, flt: EventFilter, limit: int,
                   after_id: int | None) -> int:
    """Send the initial page; returns the id to follow from."""
    if after_id is not None:
        await ws.send_text('{"type":"initial","data":[]}')
        return after_id
    cursor = core.last_id  # taken before the query, so nothing committed after it is missed
    rows = await core.reader.recent(flt, limit) if limit else []
    if rows:
        cursor = rows[-1]["id"]
    await ws.send_text(f'{{"type":"initial","data":[{",".join(map(to_api_json, rows))}]}}')
    return cursor


async def _pump(core: RouterExt, ws: WebSocket, shared: SharedFrames) -> None:
    flt = request_filter(ws)
    limit = limit_param(ws, DEFAULT_LIMIT, MAX_PAGE, minimum=0)
    after_id = int_param(ws, "after_id", None)
    every_update = _updates_param(ws)
    batch = int_param(ws, "batch", 0, maximum=1) == 1
    sent = await _initial(core, ws, flt, limit, after_id)
    feed = LiveFeed(Sender(ws), batch=batch, every_update=every_update, sent=sent,
                    shared=shared)
    events = follow_batches(core.reader, core.bus, flt, after_id=sent,
                            live_from_id=core.last_id,
                            heartbeat_seconds=core.settings.heartbeat_seconds, transport="ws",
                            direct=feed.direct())
    try:
        async for item in events:
            if isinstance(item, Heartbeat):
                await feed.heartbeat(item.last_id)
            else:
                await feed.send(item)
    finally:
        await events.aclose()  # type: ignore[attr-defined]


def _messages(events: list[StoredEvent], every_update: bool, sent: int
              ) -> list[tuple[str, int]]:
    """Each message to send, with the cursor once it is delivered (an update does not move
    it); an answer still being delivered only with `updates=all`."""
    out = []
    for event in events:
        if every_update or not event.interim:
            if event.kind == "event":
                sent = event.id
            out.append((event_frame(event), sent))
    return out


async def _until_closed(ws: WebSocket) -> None:
    # The client never needs to speak; reading only notices when it goes away.
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return


def routes(core: RouterExt) -> list[WebSocketRoute]:
    """The /stream WebSocket route."""
    shared = SharedFrames()

    async def stream(ws: WebSocket) -> None:
        await ws.accept()
        pump = asyncio.create_task(_pump(core, ws, shared))
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
