"""The exception tree, and the one table that maps it to HTTP, gRPC and WebSocket codes.

    RouterExtError                                          HTTP / gRPC / WebSocket close
     ├── InvalidInput        bad field, type, range or JSON    400 / INVALID_ARGUMENT / 4400
     │    ├── TooLarge        over a size, length or depth limit 413 / RESOURCE_EXHAUSTED / 4413
     │    ├── Unstorable      valid, but the database refused it 422 / INVALID_ARGUMENT / 4422
     │    └── NotJson         a state-changing body not JSON    415 / INVALID_ARGUMENT / 4415
     ├── Unauthorized        missing or wrong bearer token      401 / UNAUTHENTICATED / 1008*
     ├── Forbidden           another origin, or a token of
     │                       a role that may not do this        403 / PERMISSION_DENIED / 1008*
     ├── RateLimited         too many wrong tokens              429 / RESOURCE_EXHAUSTED / 1008*
     ├── NotFound            unknown event, session or request  404 / NOT_FOUND / 4404
     ├── Conflict            already answered or timed out      409 / FAILED_PRECONDITION / 4409
     ├── Overloaded          write queue full                   503 / RESOURCE_EXHAUSTED / 1013
     └── Unavailable         shutting down or database down     503 / UNAVAILABLE / 1013

Every answer carries the kind: the HTTP JSON body `{"error": kind, "detail", "field"}`, gRPC
trailing metadata `router-ext-error: kind` (and `router-ext-field`), so a client can tell a
refused event (never retried) from an overloaded server (retried) even where the gRPC code is
the same. A WebSocket closes with `4000 + HTTP status` for a 4xx and 1013 (try again later)
for a 503, the detail as the reason. (*The token check closes an unauthorized WebSocket with
1008, policy violation, before any route runs; so do the host, origin and role checks.)
"""

from __future__ import annotations

import grpc


class RouterExtError(Exception):
    """Base of every error the server reports to a client."""

    http_status = 500
    grpc_code = grpc.StatusCode.INTERNAL
    kind = "internal"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    @property
    def ws_close_code(self) -> int:
        """The WebSocket close code: 4000 + the HTTP status for a 4xx, else 1013 or 1011."""
        if 400 <= self.http_status < 500:
            return 4000 + self.http_status
        return 1013 if self.http_status == 503 else 1011

    @property
    def retryable(self) -> bool:
        """True when the same request may succeed later (5xx); a 4xx never will."""
        return self.http_status >= 500

    def grpc_metadata(self) -> tuple[tuple[str, str], ...]:
        """Trailing metadata naming the kind and the field."""
        meta = (("router-ext-error", self.kind),)
        return (*meta, ("router-ext-field", _printable(self.field))) if self.field else meta

    def to_dict(self) -> dict[str, object]:
        """The JSON error body: {"error": kind, "detail": message, "field": ...}."""
        body: dict[str, object] = {"error": self.kind, "detail": self.message}
        if self.field:
            body["field"] = self.field
        return body


class InvalidInput(RouterExtError):
    """A field is missing, has the wrong type, or is not valid JSON."""

    http_status = 400
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    kind = "invalid"


class TooLarge(InvalidInput):
    """A body, message or field is over its configured limit."""

    http_status = 413
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    kind = "too_large"


class Unstorable(InvalidInput):
    """The event passed every field rule but the database refused it; it failed alone."""

    http_status = 422
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    kind = "unstorable"


class NotJson(InvalidInput):
    """A state-changing request without `Content-Type: application/json`.

    Browsers send other types cross-origin without asking first (a CORS preflight); JSON they
    cannot, so requiring it keeps pages on other origins from changing anything.
    """

    http_status = 415
    kind = "unsupported_media_type"


class Unauthorized(RouterExtError):
    """A bearer token is required and was missing or wrong."""

    http_status = 401
    grpc_code = grpc.StatusCode.UNAUTHENTICATED
    kind = "unauthorized"


class Forbidden(RouterExtError):
    """Refused whoever asks: another origin, or a credential whose role may not do this."""

    http_status = 403
    grpc_code = grpc.StatusCode.PERMISSION_DENIED
    kind = "forbidden"


class RateLimited(RouterExtError):
    """Too many wrong tokens from one address; `retry_after` seconds until it may try again."""

    http_status = 429
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    kind = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotFound(RouterExtError):
    """No such event, session or request."""

    http_status = 404
    grpc_code = grpc.StatusCode.NOT_FOUND
    kind = "not_found"


class Conflict(RouterExtError):
    """The request cannot apply in the current state (already answered, timed out)."""

    http_status = 409
    grpc_code = grpc.StatusCode.FAILED_PRECONDITION
    kind = "conflict"


class Overloaded(RouterExtError):
    """The write queue is full; retry later."""

    http_status = 503
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    kind = "overloaded"


class Unavailable(RouterExtError):
    """The server is shutting down or its database cannot be reached; retryable."""

    http_status = 503
    grpc_code = grpc.StatusCode.UNAVAILABLE
    kind = "unavailable"


def _printable(text: str) -> str:
    """Text as a gRPC metadata value may carry it (printable ASCII): other characters become
    `\\uXXXX` escapes. A field path is named after the sender's own keys, and one holding a
    control character made the whole answer fail as INTERNAL "Invalid metadata"."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(c if " " <= c <= "~" else f"\\u{ord(c):04x}" for c in text)
