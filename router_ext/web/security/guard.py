"""Roles for every HTTP request and WebSocket, and the cap on open streams.

Tokens travel in `Authorization: Bearer ...` only. A browser's WebSocket and EventSource
cannot set that header, so streams also take `?ticket=` from `POST /api/ui/ticket`
(:mod:`router_ext.access.tickets`); a ticket opens streams and nothing else. The credential that
was shown is left in the scope under CREDENTIAL_KEY, so a recorded HITL answer says who gave it.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from router_ext.access import Access
from router_ext.access.policy import http_roles, is_stream
from router_ext.access.roles import ANONYMOUS, TICKET, Credential, describe
from router_ext.errors import Forbidden, Overloaded, RateLimited, RouterExtError, Unauthorized
from router_ext.web.security.refuse import client_address, close_busy, refuse, route_path

CREDENTIAL_KEY = "router_ext.credential"
REASONS = {Unauthorized: "unauthenticated", Forbidden: "forbidden", RateLimited: "rate_limited"}


def bearer(headers: Headers) -> str:
    """The token of an `Authorization: Bearer` header, "" when there is none."""
    return bearer_token(headers.get("authorization", ""))


def bearer_token(authorization: str) -> str:
    """The token of an `Authorization` header's value, "" when it is not `Bearer <token>`."""
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _ticket(scope: Scope) -> str:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("ticket")
    return values[-1] if values else ""


class AccessGuard:
    """Checks the caller's role, then holds a stream slot for as long as a stream is open."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        websocket = kind == "websocket"
        method, path = scope.get("method", "GET"), route_path(scope)
        need = http_roles(method, path, websocket=websocket)
        streaming = is_stream(method, path, websocket=websocket)
        if need is not None:
            try:
                scope[CREDENTIAL_KEY] = self.authenticate(scope, need, streaming)
            except RouterExtError as exc:
                self.access.refused("ws" if websocket else "http", REASONS[type(exc)])
                await refuse(scope, receive, send, exc)
                return
        if not streaming:
            await self.app(scope, receive, send)
            return
        await self._stream(scope, receive, send, "ws" if websocket else "sse")

    def authenticate(self, scope: Scope, need: frozenset[str], streaming: bool) -> Credential:
        """The credential this request shows, if its roles allow the request; raises if not."""
        credentials = self.access.credentials
        if credentials.open_to_anyone(need):
            return ANONYMOUS
        address = client_address(scope)
        wait = self.access.failures.retry_after(address)
        if wait:
            raise RateLimited(f"too many wrong tokens from {address}; retry in {wait} s",
                              retry_after=wait)
        token = bearer(Headers(scope=scope))
        ticket = _ticket(scope) if streaming and not token else ""
        if not token and not ticket:
            raise Unauthorized("a bearer token is required (Authorization: Bearer <token>)")
        found = credentials.identify(token) if token else (
            TICKET if self.access.tickets.valid(ticket) else None)
        if found is None:
            self.access.failures.failed(address)
            raise Unauthorized("wrong bearer token" if token else "expired or wrong ticket")
        if not found.roles & need:
            raise Forbidden(f"{found.name} may not do this; it needs the {describe(need)} role")
        return found

    async def _stream(self, scope: Scope, receive: Receive, send: Send, transport: str) -> None:
        slots = self.access.streams
        if not slots.acquire(transport):
            if transport == "ws":
                await close_busy(scope, receive, send, slots.refusal())
            else:
                await refuse(scope, receive, send, Overloaded(slots.refusal()))
            return
        try:
            await self.app(scope, receive, send)
        finally:
            slots.release()
