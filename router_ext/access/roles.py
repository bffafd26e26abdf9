"""Credentials and the roles they grant: ingest, read and admin.

    ROUTER_EXT_INGEST_TOKEN   ingest          hooks, emitters, gRPC Ingest, OTLP
    ROUTER_EXT_READ_TOKEN     read            dashboard reads, streams, Query, Subscribe, /metrics
    ROUTER_EXT_ADMIN_TOKEN    admin + read    HITL answers, Ralph stop (a person deciding must
                                              see what they decide on)
    ROUTER_EXT_TOKEN          all three

A role that no configured token grants is open to anyone; a non-loopback bind refuses to start
that way (see :mod:`router_ext.access.exposure`).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from router_ext.settings import Settings

INGEST, READ, ADMIN = "ingest", "read", "admin"
ROLES = frozenset({INGEST, READ, ADMIN})
GRANTS: dict[str, frozenset[str]] = {
    "ROUTER_EXT_TOKEN": ROLES,
    "ROUTER_EXT_INGEST_TOKEN": frozenset({INGEST}),
    "ROUTER_EXT_READ_TOKEN": frozenset({READ}),
    "ROUTER_EXT_ADMIN_TOKEN": frozenset({ADMIN, READ}),
}


@dataclass(frozen=True, slots=True)
class Credential:
    """Who is asking: the setting whose token they showed ("none" when no token was needed)."""

    name: str
    roles: frozenset[str]


ANONYMOUS = Credential("none", frozenset())
# A stream ticket (POST /api/ui/ticket) opens a stream and nothing else.
TICKET = Credential("stream ticket", frozenset({READ}))


def _digest(token: str) -> bytes:
    # Comparing fixed-length digests keeps a token's length out of the comparison's timing.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def configured(settings: Settings) -> dict[str, str]:
    """Setting name -> token, for the tokens that are set."""
    values = {"ROUTER_EXT_TOKEN": settings.token,
              "ROUTER_EXT_INGEST_TOKEN": settings.ingest_token,
              "ROUTER_EXT_READ_TOKEN": settings.read_token,
              "ROUTER_EXT_ADMIN_TOKEN": settings.admin_token}
    return {name: value for name, value in values.items() if value}


class Credentials:
    """The configured tokens; :meth:`identify` compares a given one in constant time."""

    def __init__(self, settings: Settings) -> None:
        tokens = configured(settings)
        self._known = [(_digest(value), Credential(name, GRANTS[name]))
                       for name, value in tokens.items()]
        granted = frozenset().union(*(GRANTS[name] for name in tokens))
        self.open_roles: frozenset[str] = ROLES - granted
        self.secrets = sorted(tokens.values())

    @property
    def enabled(self) -> bool:
        """True when at least one token is configured."""
        return bool(self._known)

    def open_to_anyone(self, need: frozenset[str]) -> bool:
        """True when one of the roles that would do is granted by no token at all."""
        return bool(need & self.open_roles)

    def identify(self, token: str) -> Credential | None:
        """The credential `token` belongs to, or None; every known token is compared."""
        given = _digest(token)
        found: Credential | None = None
        for digest, credential in self._known:
            if hmac.compare_digest(given, digest):
                found = credential if found is None else Credential(
                    found.name, found.roles | credential.roles)
        return found


def describe(need: frozenset[str]) -> str:
    """`admin`, or `ingest or read`, for messages."""
    return " or ".join(sorted(need))
