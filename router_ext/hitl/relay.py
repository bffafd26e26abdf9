"""Delivering an answer to the agent's own WebSocket listener (`responseWebSocketUrl`).

The URL comes from the request that asked the question, so the server decides where it may
connect by the address the name resolves to, never by the name's text: the connection is made
only to an address that is loopback or on the relay allow list (addresses, networks such as
10.0.0.0/8, or names whose own addresses are allowed), and exactly to that address, so a second
lookup cannot point elsewhere. Redirects are never followed: a listener that answers 3xx gets a
`refused` delivery naming where it tried to send the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolved = list[tuple[int, Any]]  # (family, sockaddr) pairs from getaddrinfo


@dataclass(frozen=True, slots=True)
class Delivery:
    """The outcome: `delivered`, `failed` (with error) or `refused` (with reason)."""

    outcome: str
    error: str = ""


def refusal(url: str) -> str:
    """Why the URL itself may not be used (scheme, host, port), or "" when it may."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return "the URL is not valid"
    if parts.scheme not in ("ws", "wss"):
        return f"scheme {parts.scheme!r} is not ws or wss"
    if not parts.hostname:
        return "the URL has no host"
    return ""


def _address(sockaddr: Any) -> Address | None:
    try:
        return ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
    except ValueError:
        return None


async def _resolve(host: str, port: int) -> Resolved:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [(family, sockaddr) for family, _, _, _, sockaddr in infos]


async def allowed_networks(allow_hosts: tuple[str, ...]) -> list[Network]:
    """The allow list as networks: addresses and CIDRs as given, names by their addresses."""
    networks: list[Network] = []
    for entry in allow_hosts:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            continue
        except ValueError:
            pass
        with contextlib.suppress(OSError):
            for _, sockaddr in await _resolve(entry.strip(), 0):
                found = _address(sockaddr)
                if found is not None:
                    networks.append(ipaddress.ip_network(found))
    return networks


def choose(resolved: Sequence[tuple[int, Any]], networks: Sequence[Network]
           ) -> tuple[int, Any] | None:
    """The first resolved address that is loopback or inside an allowed network."""
    for family, sockaddr in resolved:
        found = _address(sockaddr)
        if found is not None and (found.is_loopback or any(found in n for n in networks)):
            return family, sockaddr
    return None


async def _open_socket(family: int, sockaddr: Any, timeout: float) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        async with asyncio.timeout(timeout):
            await asyncio.get_running_loop().sock_connect(sock, sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


def _redirect(exc: BaseException) -> str:
    """A refusal for a redirect answer (websockets raises it as the cause), else ""."""
    for cause in (exc, exc.__cause__):
        if isinstance(cause, InvalidStatus) and 300 <= cause.response.status_code < 400:
            target = cause.response.headers.get("Location", "?")
            return (f"the listener answered {cause.response.status_code} redirecting to "
                    f"{target!r}; redirects are not followed")
    return ""


async def send(url: str, message: dict[str, Any], *, allow_hosts: tuple[str, ...],
               connect_timeout: float) -> Delivery:
    """Resolve, check, connect (bounded by `connect_timeout`), send one JSON message, close."""
    reason = refusal(url)
    if reason:
        return Delivery("refused", reason)
    parts = urlsplit(url)
    host = str(parts.hostname)
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    try:
        async with asyncio.timeout(connect_timeout):
            resolved = await _resolve(host, port)
    except (OSError, TimeoutError) as exc:  # nothing to check, nothing connected to
        return Delivery("failed", f"host {host!r} does not resolve: {exc or 'timed out'}")
    target = choose(resolved, await allowed_networks(allow_hosts))
    if target is None:
        shown = ", ".join(sorted({str(_address(s)) for _, s in resolved}))
        return Delivery("refused", f"host {host!r} resolves to {shown}, neither loopback nor on "
                                   "the relay allow list (ROUTER_EXT_HITL_RELAY_ALLOW_HOSTS)")
    return await _deliver(url, message, target, connect_timeout)


async def _deliver(url: str, message: dict[str, Any], target: tuple[int, Any],
                   connect_timeout: float) -> Delivery:
    try:
        async with asyncio.timeout(connect_timeout * 2 + 1):
            sock = await _open_socket(*target, connect_timeout)
            # A socket of our own pins the checked address and makes websockets refuse to
            # follow any redirect.
            async with connect(url, sock=sock, open_timeout=connect_timeout, close_timeout=1,
                               proxy=None) as ws:
                await ws.send(json.dumps(message, separators=(",", ":")))
    except TimeoutError:
        return Delivery("failed", f"no connection within {connect_timeout:g} s")
    except Exception as exc:  # any failure to reach the agent is recorded, not raised
        redirect = _redirect(exc)
        if redirect:
            return Delivery("refused", redirect)
        return Delivery("failed", f"{exc.__class__.__name__}: {exc}"[:500])
    return Delivery("delivered")
