"""One subscriber of the WebSocket wall (bench_ws_fanout.py --round wall), made cheap to run.

A thousand of these share the machine with the server they measure, so what they cost shows
up as the server's latency. The websockets library's sans-I/O client opens the connection
(handshake, extension negotiation) and reads the initial page. After that, on a connection
without compression, the client reads the server's frames itself (unmasked, unfragmented text
frames, pings and a close) and finds each event's id and send time in the bytes without
decoding them. Measured in turn on the 2-core machine, the wall's four client processes took
96-111% of a core reading through the library and 69-88% reading this way, and the wall's p99
went from 131-235 ms to 98-137 ms. A compressed connection (ROUTER_EXT_WS_COMPRESSION=on)
stays with the library.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import time
from array import array

EVENT_START = b'{"type":"event","data":{'
_ID = re.compile(rb'"id":\s*([0-9]+)')
_SENT_AT = re.compile(rb'"sent_at":\s*([0-9.e+-]+)')
TEXT, CLOSE, PING = 0x1, 0x8, 0x9


def frame_events(frame: bytes | bytearray, start: int = 0, end: int | None = None
                 ) -> list[tuple[int, float]]:
    """Each event's id and send time in frame[start:end]: after each event's start, the first
    `"id":` and the first `"sent_at":` after it (searches in the bytes, nothing decoded)."""
    end = len(frame) if end is None else end
    out = []
    at = frame.find(EVENT_START, start, end)
    while at >= 0:
        event_id = _ID.search(frame, at, end)
        assert event_id is not None, bytes(frame[at:at + 200])
        sent_at = _SENT_AT.search(frame, event_id.end(), end)
        assert sent_at is not None, bytes(frame[at:at + 200])
        out.append((int(event_id[1]), float(sent_at[1])))
        at = frame.find(EVENT_START, sent_at.end(), end)
    return out


def read_frames(buf: bytearray) -> tuple[list[tuple[int, int, int]], int]:
    """The whole frames at the start of `buf` as (opcode, payload start, payload end), and
    how many bytes they take. Raises ValueError for a frame a server does not send here
    (masked, fragmented, compressed, or an opcode other than text, close or ping)."""
    frames, pos, size = [], 0, len(buf)
    while size - pos >= 2:
        head, length, at = buf[pos], buf[pos + 1], pos + 2
        opcode = head & 0x0F
        if (head & 0xF0 != 0x80 or length & 0x80 or opcode not in (TEXT, CLOSE, PING)
                or (opcode != TEXT and length > 125)):  # control frames are short (5.5)
            raise ValueError(f"frame header {head:#04x} {length:#04x}")
        if length >= 126:
            width = 2 if length == 126 else 8
            if size - at < width:
                break
            length, at = int.from_bytes(buf[at:at + width], "big"), at + width
            if length >> 63:
                raise ValueError("frame length with its top bit set")
        if size - at < length:
            break
        frames.append((opcode, at, at + length))
        pos = at + length
    return frames, pos


class WallClient(asyncio.Protocol):
    """One wall subscriber. Records each event's latency in `lat` and its id in order; the
    outcome (`done`) is (events received in id order, or -1 if out of order, close reason)."""

    def __init__(self, url: str, events: int, lat: array, connected: asyncio.Event) -> None:
        from websockets.client import ClientProtocol
        from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
        from websockets.uri import parse_uri

        self.proto = ClientProtocol(parse_uri(url), max_size=None,
                                    extensions=[ClientPerMessageDeflateFactory()])
        self.events, self.lat, self.connected = events, lat, connected
        self.ids: list[int] = []
        self.initial = False
        self.own_frames = False  # reading frames here rather than through the library
        self.buf = bytearray()
        self.last_data = time.monotonic()
        self.done: asyncio.Future[tuple[int, int | str]] = (
            asyncio.get_running_loop().create_future())
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.proto.send_request(self.proto.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        self.last_data = time.monotonic()
        if self.own_frames:
            self.buf += data
            self._read_own()
        else:
            self._read_with_library(data)
        if len(self.ids) >= self.events:
            self.finish(0)

    def _read_with_library(self, data: bytes) -> None:
        from websockets.frames import Frame, Opcode

        self.proto.receive_data(data)
        last = b""
        for item in self.proto.events_received():
            if not isinstance(item, Frame) or item.opcode is not Opcode.TEXT:
                continue
            last = bytes(item.data)
            if self.initial:
                self._record(frame_events(last), time.time())
                continue
            self.initial = True  # the initial page; events come after every client is in
            self.connected.set()
        if self.initial and last and not self.proto.extensions:
            # Switch only where this read ended with the frame just parsed: the library takes
            # a frame's header out of its buffer before the payload arrives, so an empty buffer
            # alone does not mean it holds nothing. Otherwise the library reads on.
            tail = min(len(data), len(last))
            self.own_frames = not self.proto.reader.buffer and data[-tail:] == last[-tail:]
        self._flush()
        if self.proto.handshake_exc is not None:
            self.finish(f"{type(self.proto.handshake_exc).__name__} connecting")
        elif self.proto.close_rcvd is not None:
            self.finish(self.proto.close_rcvd.code)

    def _read_own(self) -> None:
        try:
            frames, used = read_frames(self.buf)
        except ValueError as exc:
            self.finish(f"unexpected {exc}")
            return
        now = time.time()
        for opcode, start, end in frames:
            if opcode == TEXT:
                self._record(frame_events(self.buf, start, end), now)
            elif opcode == PING:
                self._pong(bytes(self.buf[start:end]))
            else:
                code = int.from_bytes(self.buf[start:start + 2], "big") if end - start >= 2 else 0
                self.finish(code or 1005)
                return
        del self.buf[:used]

    def _record(self, events: list[tuple[int, float]], now: float) -> None:
        for event_id, sent_at in events:
            self.ids.append(event_id)
            self.lat.append(now - sent_at)

    def _pong(self, payload: bytes) -> None:
        mask = os.urandom(4)  # a client masks what it sends (RFC 6455, 5.3)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        if self.transport is not None:
            self.transport.write(bytes((0x8A, 0x80 | len(payload))) + mask + masked)

    def connection_lost(self, exc: Exception | None) -> None:
        self.finish(f"closed after {len(self.ids)}")

    def _flush(self) -> None:
        for chunk in self.proto.data_to_send():
            if chunk and self.transport is not None:
                self.transport.write(chunk)

    def finish(self, closed: int | str) -> None:
        """Stop reading and settle the outcome (once)."""
        if self.done.done():
            return
        self.connected.set()  # a client that could not connect is counted incomplete
        in_order = all(a < b for a, b in itertools.pairwise(self.ids))
        self.done.set_result((len(self.ids) if in_order else -1, closed))
        if self.transport is not None:
            self.transport.close()
