"""uvicorn's HTTP protocol with read timeouts and a connection cap.

uvicorn times out nothing while a request arrives: its keep-alive timer runs only between
requests, and no timer runs on a fresh connection (measured with 0.54 and httptools: an idle
connection, one with half its headers and one with half its body were all still open after 40 s;
uvicorn issue #157 lists the missing request timeouts). So:

- from the moment a connection opens, or a request's first byte arrives after a keep-alive
  pause, its headers must be complete within `header_timeout_seconds`;
- then its body within `body_timeout_seconds`;
- past either the connection is closed (a request still in its headers gets a 408 first);
- with more than `max_connections` connections open (WebSockets included), a new request gets
  503 and its connection is closed.

uvicorn's own `limit_concurrency` answers 503 too, but counts finished keep-alive connections
and tasks alike, lets WebSocket upgrades through, and cannot report to a metric; this cap counts
open connections at the moment a request is complete enough to answer.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from router_ext.access import Access


def _raw(status: str, kind: str, detail: str) -> bytes:
    """A whole JSON error response that closes the connection, written before any app runs."""
    body = f'{{"error":"{kind}","detail":"{detail}"}}\n'.encode()
    head = (f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\nconnection: close\r\n"
            f"content-length: {len(body)}\r\n\r\n")
    return head.encode() + body


TIMEOUT_408 = _raw("408 Request Timeout", "timeout",
                   "the request headers did not arrive in time (ROUTER_EXT_HEADER_TIMEOUT_SECONDS)")
BUSY_503 = _raw("503 Service Unavailable", "overloaded",
                "too many open connections (ROUTER_EXT_MAX_CONNECTIONS); try again later")


def guarded_protocol(access: Access) -> type[asyncio.Protocol]:
    """An HttpToolsProtocol subclass bound to this server's limits and metrics."""
    settings = access.settings
    header_timeout = settings.header_timeout_seconds
    body_timeout = settings.body_timeout_seconds
    max_connections = settings.max_connections

    class GuardedHttpProtocol(HttpToolsProtocol):
        # A keep-alive connection moves its deadline two or three times per request. Making and
        # cancelling a timer each time was a few percent of a small POST's cost, so the
        # deadline is a number and one timer per connection, when it fires early (the deadline
        # moved on), waits again for the new one.
        _deadline: float | None = None  # loop time
        _reason = ""
        _timer: asyncio.TimerHandle | None = None
        _in_headers = False

        def _arm(self, seconds: float, reason: str) -> None:
            if seconds <= 0:
                self._deadline = None
                return
            deadline = self._deadline = self.loop.time() + seconds
            self._reason = reason
            timer = self._timer
            if timer is not None and timer.when() > deadline:  # would fire late: move it
                timer.cancel()
                timer = None
            if timer is None:
                self._timer = self.loop.call_at(deadline, self._check)

        def _disarm(self) -> None:
            self._deadline = None

        def _stop_timer(self) -> None:
            self._deadline = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _check(self) -> None:
            self._timer = None
            deadline = self._deadline
            if deadline is None:
                return
            if self.loop.time() < deadline:
                self._timer = self.loop.call_at(deadline, self._check)
                return
            self._expired(self._reason)

        def _expired(self, reason: str) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            access.limited("http", reason)
            if reason == "header_timeout" and self._in_headers:
                self.transport.write(TIMEOUT_408)
            self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._in_headers = False
            self._arm(header_timeout, "header_timeout")

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_timer()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_headers = True
            if self._deadline is None:  # after a keep-alive pause; a fresh one is timed already
                self._arm(header_timeout, "header_timeout")

        def on_headers_complete(self) -> None:
            self._in_headers = False
            self._arm(body_timeout, "body_timeout")
            if len(self.connections) > max_connections:
                access.limited("http", "over_limit")
                self.limit_concurrency = 0  # uvicorn then answers this request with its 503
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def handle_websocket_upgrade(self) -> None:
            self._disarm()
            if len(self.connections) > max_connections:
                access.limited("ws", "over_limit")
                self.transport.write(BUSY_503)
                self.transport.close()
                return
            super().handle_websocket_upgrade()

    return GuardedHttpProtocol
