"""The Host allow list, checked before routing for HTTP and WebSocket alike.

A web page can make a browser resolve a name of its own to 127.0.0.1 (DNS rebinding) and then
talk to router-ext as if it were on the same origin; its requests still carry its own name in
`Host`. Only loopback names and addresses, the bound address and ROUTER_EXT_ALLOWED_HOSTS
(`name`, `*.domain`, or `*` for any) are served. Starlette's TrustedHostMiddleware does the
same for exact names, but knows neither loopback addresses nor how to say what would allow a
refused name.
"""

from __future__ import annotations

import ipaddress

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from router_ext.access import Access
from router_ext.access.exposure import LOOPBACK_NAMES
from router_ext.errors import InvalidInput
from router_ext.web.security.refuse import client_address, refuse, route_path

WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::", "*"})


def host_name(header: str | None) -> str | None:
    """The name or address in a Host header, without port or brackets; None when unusable."""
    if not header:
        return None
    header = header.strip().lower()
    if header.startswith("["):
        end = header.find("]")
        return header[1:end] if end > 0 else None
    name = header.rsplit(":", 1)[0] if header.count(":") == 1 else header
    return name.rstrip(".") or None


class HostAllowList:
    """Which Host names this server answers to."""

    def __init__(self, bound: str, extra: tuple[str, ...]) -> None:
        entries = [e.strip().lower().rstrip(".") for e in extra if e.strip()]
        self.any = "*" in entries
        self.names = set(LOOPBACK_NAMES) | {e for e in entries if not e.startswith("*.")}
        bound = bound.strip("[]").lower()
        if bound not in WILDCARD_BINDS:
            self.names.add(bound)
        self.suffixes = tuple(e[1:] for e in entries if e.startswith("*."))

    def allows(self, host: str) -> bool:
        """True for an allowed name or any loopback address."""
        if self.any or host in self.names or host.endswith((".localhost", *self.suffixes)):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False


class HostGuard:
    """Refuses (400) every HTTP request and WebSocket whose Host is not allowed."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app = app
        self.access = access
        settings = access.settings
        self.hosts = HostAllowList(settings.host, settings.allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        raw = Headers(scope=scope).get("host")
        name = host_name(raw)
        if name is not None and self.hosts.allows(name):
            await self.app(scope, receive, send)
            return
        transport = "ws" if scope["type"] == "websocket" else "http"
        self.access.refused(transport, "host")
        self.access.warn(f"host:{name}", (
            f"refused {transport} {route_path(scope)} for Host {raw!r} from "
            f"{client_address(scope) or '?'}: not a loopback name, the bound address or in "
            f"ROUTER_EXT_ALLOWED_HOSTS; add {name or 'the name clients use'!r} to "
            "ROUTER_EXT_ALLOWED_HOSTS to serve it"))
        await refuse(scope, receive, send, InvalidInput(
            f"Host {raw!r} is not served here (ROUTER_EXT_ALLOWED_HOSTS)", field="host"))
