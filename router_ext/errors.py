"""The exception tree, and the one table that maps it to HTTP and gRPC status codes.

    RouterExtError
     ├── InvalidInput        bad field, type or JSON           400 / INVALID_ARGUMENT
     │    ├── TooLarge        over a configured size limit      413 / RESOURCE_EXHAUSTED
     │    └── NotJson         a state-changing body not JSON    415 / INVALID_ARGUMENT
     ├── Unauthorized        missing or wrong bearer token      401 / UNAUTHENTICATED
     ├── Forbidden           another origin, or a token of
     │                       a role that may not do this        403 / PERMISSION_DENIED
     ├── RateLimited         too many wrong tokens              429 / RESOURCE_EXHAUSTED
     ├── NotFound            unknown event, session or request  404 / NOT_FOUND
     ├── Conflict            already answered or timed out      409 / FAILED_PRECONDITION
     ├── Overloaded          write queue full                   503 / RESOURCE_EXHAUSTED
     └── Unavailable         shutting down or database down     503 / UNAVAILABLE
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
