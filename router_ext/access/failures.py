"""Rate limiting wrong tokens per client address, so a token cannot be guessed quickly."""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque

WINDOW_SECONDS = 60.0
MAX_ADDRESSES = 4096  # memory stays bounded whatever the number of addresses


class FailureLimiter:
    """`limit` wrong tokens within a minute from one address block it until the oldest ages out.

    While blocked every authenticated request from it is refused, the right token too:
    otherwise guessing would go on at full speed and only the hit would be let through.
    """

    def __init__(self, limit: int, window: float = WINDOW_SECONDS) -> None:
        self.limit = limit
        self.window = window
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, address: str) -> int:
        """Whole seconds until `address` may try again; 0 when it may now."""
        times = self._failures.get(address)
        if self.limit <= 0 or times is None:
            return 0
        now = time.monotonic()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[address]
            return 0
        if len(times) < self.limit:
            return 0
        return max(1, math.ceil(times[0] + self.window - now))

    def failed(self, address: str) -> None:
        """Count one wrong token from `address`."""
        if self.limit <= 0:
            return
        times = self._failures.setdefault(address, deque(maxlen=self.limit))
        times.append(time.monotonic())
        self._failures.move_to_end(address)
        while len(self._failures) > MAX_ADDRESSES:
            self._failures.popitem(last=False)
