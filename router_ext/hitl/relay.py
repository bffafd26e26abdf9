"""Delivering an answer to the agent's own WebSocket listener (`responseWebSocketUrl`).

A URL comes from the request that asked the question, so it is only connected to when its host
is loopback or on the configured allow list; anything else is refused without a connection.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import connect

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


@dataclass(frozen=True, slots=True)
class Delivery:
    """The outcome: `delivered`, `failed` (with error) or `refused` (with reason)."""

    outcome: str
    error: str = ""


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refusal(url: str, allow_hosts: tuple[str, ...]) -> str:
    """Why the URL may not be connected to, or "" when it may."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return "the URL is not valid"
    if parts.scheme not in ("ws", "wss"):
        return f"scheme {parts.scheme!r} is not ws or wss"
    if not host:
        return "the URL has no host"
    if _is_loopback(host) or host in {h.lower() for h in allow_hosts}:
        return ""
    return f"host {host!r} is neither loopback nor on the relay allow list"


async def send(url: str, message: dict[str, Any], *, allow_hosts: tuple[str, ...],
               connect_timeout: float) -> Delivery:
    """Connect (bounded by `connect_timeout`), send one JSON message, close."""
    reason = refusal(url, allow_hosts)
    if reason:
        return Delivery("refused", reason)
    try:
        async with asyncio.timeout(connect_timeout * 2 + 1):
            async with connect(url, open_timeout=connect_timeout, close_timeout=1,
                               proxy=None) as ws:
                await ws.send(json.dumps(message, separators=(",", ":")))
    except TimeoutError:
        return Delivery("failed", f"no connection within {connect_timeout:g} s")
    except Exception as exc:  # any failure to reach the agent is recorded, not raised
        return Delivery("failed", f"{exc.__class__.__name__}: {exc}"[:500])
    return Delivery("delivered")
