"""A cap on live streams (WebSocket /stream, SSE, gRPC Subscribe and PublishStream)."""

from __future__ import annotations

from collections.abc import Callable


class StreamSlots:
    """At most `limit` streams at once; a refusal is reported to `on_refused(transport)`."""

    def __init__(self, limit: int, on_refused: Callable[[str], None]) -> None:
        self.limit = limit
        self.in_use = 0
        self._on_refused = on_refused

    def acquire(self, transport: str) -> bool:
        """Take a slot; False (and counted) when all are taken. Release with :meth:`release`."""
        if self.limit > 0 and self.in_use >= self.limit:
            self._on_refused(transport)
            return False
        self.in_use += 1
        return True

    def release(self) -> None:
        """Give a slot back."""
        self.in_use -= 1

    def refusal(self) -> str:
        """What a refused client is told."""
        return f"too many open streams (ROUTER_EXT_MAX_STREAMS={self.limit}); try again later"
