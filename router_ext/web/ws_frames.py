"""WS /stream's fast send: one pre-encoded text frame written straight to the socket.

uvicorn's WebSocket protocol frames every message per connection through the websockets
library (encode, permessage-deflate, frame objects) and Starlette's send wrapper. For a wall of
live views that is the whole cost: measured with 1,000 `batch=1` clients at 100 events/s, the
server spent its round sending 1,000 frames and fell to 35 events/s (POST p99 27 s). When a
connection did not negotiate compression there is nothing per connection in a text frame but
its 2-10 byte header, so :class:`FramingProtocol` offers the application a writer that puts the
header before the UTF-8 text and hands both to the transport, under the same flow control
(``writable``) and the same closed-connection checks as uvicorn's own send.

The protocol is uvicorn's sans-I/O WebSocket protocol with two additions: the writer in the
ASGI scope's ``extensions`` under :data:`EXTENSION`, and (``ROUTER_EXT_WS_COMPRESSION=auto``)
no permessage-deflate for a client on this machine that came through no proxy. Compressing
for loopback saves no time on the wire and costs CPU: with 10 such viewers attached,
`bench/bench_http_wrk.py --ws-clients 10` took 1,688-1,736 POST /events a second compressed
(568-584 us of server CPU each) and 2,268-2,470 uncompressed (364-394 us). Applications that
do not look for the writer, and servers that do not offer it (router-ext mounted in another
app), are unaffected.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from router_ext.access.exposure import is_loopback

EXTENSION = "router_ext.text_frames"
# A request that names its origin client came through a proxy, which may be serving it across
# a network: such a connection keeps compression even from loopback.
PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")
_FIN_TEXT = 0x81  # FIN + opcode 1 (text); RSV1 unset: not compressed


def text_frame(data: bytes) -> bytes:
    """One unmasked, unfragmented WebSocket text frame (RFC 6455 5.2) holding `data`."""
    size = len(data)
    if size < 126:
        return struct.pack("!BB", _FIN_TEXT, size) + data
    if size < 1 << 16:
        return struct.pack("!BBH", _FIN_TEXT, 126, size) + data
    return struct.pack("!BBQ", _FIN_TEXT, 127, size) + data


class TextFrames:
    """Writes whole text messages to one connection, uncompressed."""

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol

    async def send(self, text: str, stall_seconds: float) -> None:
        """Send `text` as one frame; TimeoutError if the client reads nothing for
        `stall_seconds`, ClientDisconnected once the connection is closing or closed."""
        protocol = self._protocol
        if not protocol.writable.is_set():  # the client is not reading: wait, but not forever
            async with asyncio.timeout(stall_seconds):
                await protocol.writable.wait()
        if not self._open():
            raise ClientDisconnected
        self.write(text_frame(text.encode()))

    def ready(self) -> bool:
        """True when a frame can be written now: open, and the client is keeping up."""
        return self._protocol.writable.is_set() and self._open()

    def write(self, frame: bytes) -> None:
        """Write a whole frame from :func:`text_frame` now (after :meth:`ready` said so)."""
        self._protocol.transport.write(frame)

    def _open(self) -> bool:
        protocol = self._protocol
        return not (protocol.disconnected or protocol.close_sent
                    or protocol.conn.state is not State.OPEN)


def direct_local(client: tuple[str, int] | None, headers: Any) -> bool:
    """True for a client on this machine (loopback or a Unix socket) with no proxy headers."""
    if any(name in headers for name in PROXY_HEADERS):  # websockets' Headers: any case
        return False
    if client is None:
        return True
    host = client[0]
    # A dual-stack listener sees an IPv4 client as an IPv4-mapped IPv6 address.
    return is_loopback(host[7:] if host.lower().startswith("::ffff:") else host)


class FramingProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, offering :class:`TextFrames` to the application
    on connections that did not negotiate permessage-deflate."""

    # False (ROUTER_EXT_WS_COMPRESSION=auto): no permessage-deflate for direct local clients.
    compress_local = True

    def handle_connect(self, event: Any) -> None:
        if not self.compress_local and direct_local(self.client, event.headers):
            self.conn.available_extensions = []  # negotiated at accept, after this
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None and not self.conn.extensions:
            scope["extensions"][EXTENSION] = TextFrames(self)


class RemoteDeflateProtocol(FramingProtocol):
    """:class:`FramingProtocol` that compresses only for clients across a network or a proxy."""

    compress_local = False


def protocol_for(mode: str) -> tuple[type[FramingProtocol], bool]:
    """The protocol class and uvicorn's `ws_per_message_deflate` for a compression mode."""
    if mode == "auto":
        return RemoteDeflateProtocol, True
    return FramingProtocol, mode == "on"
