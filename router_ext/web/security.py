"""Bearer-token checking for HTTP and WebSocket requests."""

from __future__ import annotations

import hmac

from starlette.requests import HTTPConnection

from router_ext.errors import Unauthorized

# Open without a token even when one is set: liveness probes and the dashboard's static files
# (the page then asks for the token and sends it on every API call).
OPEN_PREFIXES = ("/health", "/dashboard", "/static", "/favicon")


def check_token(conn: HTTPConnection, token: str) -> None:
    """Raise Unauthorized unless the request carries the configured token.

    Accepted as `Authorization: Bearer <token>` or, for browsers' WebSocket and EventSource
    which cannot set headers, a `token` query parameter.
    """
    if not token or conn.url.path == "/" or conn.url.path.startswith(OPEN_PREFIXES):
        return
    header = conn.headers.get("authorization", "")
    given = header[7:] if header.lower().startswith("bearer ") else conn.query_params.get(
        "token", "")
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise Unauthorized("missing or wrong bearer token")
