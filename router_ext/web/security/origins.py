"""Refusing cross-site requests: state-changing HTTP requests and every WebSocket.

A page on another origin can send a browser's POST anywhere (a form, or fetch in no-cors mode)
and open a WebSocket anywhere; only the server can refuse. So:

- a POST, PUT, PATCH or DELETE with a body must be `Content-Type: application/json` (OTLP
  receivers also take `application/x-protobuf`), which a page can only send cross-origin after a
  CORS preflight that the allow list refuses (an empty body with no type is let through:
  `curl -X POST .../stop` asks for a stop with no options);
- when a browser says where a request comes from (`Origin`, else `Sec-Fetch-Site`), it must be
  this server's own origin or one listed in ROUTER_EXT_CORS_ORIGINS;
- a WebSocket handshake or an event stream (SSE) carrying `Origin` must match the same way:
  the browser would hide a refused stream from the page anyway, but the server need not keep
  one open for it.

Hooks, emitters, curl and other programs send no Origin and are not affected.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from router_ext.access import Access
from router_ext.access.policy import OTLP_PATH, is_socketio, is_stream
from router_ext.errors import Forbidden, NotJson, RouterExtError
from router_ext.web.security.refuse import client_address, refuse, route_path

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CROSS_SITE = frozenset({"cross-site", "same-site"})
JSON = "application/json"
PROTOBUF = "application/x-protobuf"  # not a type a page may send cross-origin unasked either


def _netloc(origin: str) -> str:
    return origin.split("://", 1)[-1].rstrip("/").lower()


class OriginGuard:
    """Refuses requests from other origins than this one and the CORS allow list."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app = app
        self.access = access
        self.allowed = frozenset(o.rstrip("/").lower() for o in access.settings.cors_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        unsafe = kind == "http" and scope["method"] in UNSAFE_METHODS
        if unsafe or kind == "websocket" or (
                kind == "http" and is_stream(scope["method"], route_path(scope))):
            headers = Headers(scope=scope)
            problem = self._origin_problem(scope, headers)
            # Engine.IO polls with text/plain posts; its origin is checked all the same.
            if problem is None and unsafe and not is_socketio(route_path(scope)):
                problem = self._type_problem(scope, headers)
            if problem is not None:
                reason, exc = problem
                self.access.refused("ws" if kind == "websocket" else "http", reason)
                await refuse(scope, receive, send, exc)
                return
        await self.app(scope, receive, send)

    def _allow_setting(self, origin: str) -> str:
        """The exact setting that would let `origin` in: the current list plus it."""
        listed = [o for o in self.access.settings.cors_origins if o]
        return "ROUTER_EXT_CORS_ORIGINS=" + ",".join([*listed, origin.rstrip("/")])

    def _what(self, scope: Scope) -> str:
        method = "WebSocket" if scope["type"] == "websocket" else scope["method"]
        return f"{method} {route_path(scope)} from {client_address(scope) or '?'}"

    def _origin_problem(self, scope: Scope, headers: Headers
                        ) -> tuple[str, RouterExtError] | None:
        origin = headers.get("origin")
        if origin is not None:
            lowered = origin.rstrip("/").lower()
            if lowered in self.allowed or _netloc(lowered) == headers.get("host", "").lower():
                return None
            allow = self._allow_setting(origin)
            self.access.warn(f"origin:{lowered}", (
                f"refused {self._what(scope)} with Origin {origin!r}: another origin; to allow "
                f"a page there, start the server with {allow}"))
            return "origin", Forbidden(
                f"requests from origin {origin!r} are refused; the server allows them with "
                f"{allow}")
        site = headers.get("sec-fetch-site", "").lower()
        if site in CROSS_SITE:
            self.access.warn(f"site:{route_path(scope)}", (
                f"refused {self._what(scope)} sent by a {site} page without Origin; a page on "
                "another origin is allowed only when ROUTER_EXT_CORS_ORIGINS lists it"))
            return "origin", Forbidden(f"{site} requests are refused (ROUTER_EXT_CORS_ORIGINS)")
        return None

    def _type_problem(self, scope: Scope, headers: Headers
                      ) -> tuple[str, RouterExtError] | None:
        given = headers.get("content-type", "")
        kind = given.split(";", 1)[0].strip().lower()
        if kind == JSON or (kind == PROTOBUF and OTLP_PATH.fullmatch(route_path(scope))):
            return None
        if not given and headers.get("content-length", "0") == "0" \
                and "transfer-encoding" not in headers:
            return None  # no body at all
        self.access.warn(f"type:{route_path(scope)}", (
            f"refused {self._what(scope)} with Content-Type {given or 'none'!r}: "
            f"state-changing requests must be {JSON}"))
        return "not_json", NotJson(
            f"send Content-Type: {JSON} (got {given or 'none'!r}); state-changing requests "
            "take JSON only", field="content-type")
