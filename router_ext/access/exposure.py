"""Whether a bind address is loopback, and why a server must not start on another one."""

from __future__ import annotations

import ipaddress

from router_ext.access.roles import Credentials
from router_ext.settings import Settings

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost",
                            "ip6-loopback"})


def is_loopback(host: str) -> bool:
    """True for loopback names and addresses (127.0.0.0/8, ::1)."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposed_roles(settings: Settings) -> frozenset[str]:
    """The roles anyone on the network could use: those with no token, on a non-loopback bind."""
    if is_loopback(settings.host):
        return frozenset()
    return Credentials(settings).open_roles


def refusal(settings: Settings) -> str:
    """One line saying why serving `settings.host` would leave a role open, or ""."""
    roles = exposed_roles(settings)
    if not roles:
        return ""
    return (f"refusing to serve on {settings.host} with no token for {', '.join(sorted(roles))}: "
            "set ROUTER_EXT_TOKEN (or ROUTER_EXT_INGEST_TOKEN, ROUTER_EXT_READ_TOKEN, "
            "ROUTER_EXT_ADMIN_TOKEN), bind 127.0.0.1, or pass --insecure")


def warning(settings: Settings) -> str:
    """What --insecure prints when it overrides :func:`refusal`."""
    roles = ", ".join(sorted(exposed_roles(settings)))
    return (f"WARNING --insecure: serving {settings.host} with no token for {roles}; anyone "
            "who can reach this address can use them (read prompts and commands, approve "
            "tool calls, stop loops)")
