"""Short-lived stream tickets: how a browser opens a WebSocket or EventSource with a token.

Browsers cannot set headers on either, and a token in a URL ends up in logs and history. The
dashboard posts its token in a header to `POST /api/ui/ticket` and gets a ticket that opens
streams (read only) for a minute. Tickets are signed with a key derived from the configured
tokens, so every replica that shares the tokens accepts them; changing a token voids them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

TICKET_SECONDS = 60


def _sign(key: bytes, text: str) -> str:
    mac = hmac.new(key, text.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


class Tickets:
    """Issue and check tickets; a ticket is `EXPIRES.NONCE.SIGNATURE`."""

    def __init__(self, tokens: list[str], seconds: int = TICKET_SECONDS) -> None:
        self.seconds = seconds
        if tokens:
            material = "\0".join(sorted(tokens)).encode("utf-8", "surrogatepass")
            self._key = hashlib.sha256(b"router-ext stream ticket\0" + material).digest()
        else:
            self._key = secrets.token_bytes(32)

    def issue(self) -> str:
        """A new ticket, valid for `seconds`."""
        body = f"{int(time.time()) + self.seconds}.{secrets.token_urlsafe(9)}"
        return f"{body}.{_sign(self._key, body)}"

    def valid(self, ticket: str) -> bool:
        """True for an unexpired ticket this server (or a replica with the same tokens) made."""
        expires, _, rest = ticket.partition(".")
        nonce, _, signature = rest.partition(".")
        if not (expires.isdigit() and nonce and signature):
            return False
        expected = _sign(self._key, f"{expires}.{nonce}")
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            return False
        return int(expires) >= time.time()
