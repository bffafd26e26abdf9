"""Per-day aggregates for the dashboard, with the days that are over kept for a while.

Counting a month of events by tool reads every event of that month; but a day that has ended
rarely changes (only late or replayed events land there), so its counts are computed once and
reused for a few minutes. Only today is counted on every request.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable

from router_ext.read.windows import DAY_MS

# A day counts as over this long after its end, so events still in flight get in first.
GRACE_MS = 5 * 60_000

DayCount = Callable[[int, int], Counter[Hashable]]


class DayCache:
    """Counters per (kind, day start), each valid for `ttl_seconds`; bounded in size."""

    def __init__(self, ttl_seconds: float = 600.0, max_entries: int = 4000) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._data: dict[tuple[str, int], tuple[float, Counter[Hashable]]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int], compute: Callable[[], Counter[Hashable]]
            ) -> Counter[Hashable]:
        """The cached counter for key, computing it when missing or stale."""
        now = time.monotonic()
        with self._lock:
            hit = self._data.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        value = compute()
        with self._lock:
            self._data[key] = (now, value)
            if len(self._data) > self.max_entries:  # drop the oldest computed
                oldest = min(self._data, key=lambda k: self._data[k][0])
                del self._data[oldest]
        return value

    def total(self, kind: str, since_ms: int, now_ms: int, count: DayCount) -> Counter[Hashable]:
        """The sum of `count(start, end)` over each day from since_ms to now."""
        total: Counter[Hashable] = Counter()
        start = since_ms
        while start < now_ms:
            end = start + DAY_MS
            if end <= now_ms - GRACE_MS:
                total.update(self.get((kind, start), functools.partial(count, start, end)))
            else:
                total.update(count(start, end))
            start = end
        return total
