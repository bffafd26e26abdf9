"""Time windows the read side reports over: days and months in UTC, as Unix milliseconds."""

from __future__ import annotations

import time
from datetime import UTC, datetime

DAY_MS = 86_400_000


def day_start_ms(now: float | None = None) -> int:
    """Unix ms of today's 00:00 UTC."""
    moment = datetime.fromtimestamp(now if now is not None else time.time(), UTC)
    return int(moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)


def month_start_ms(now: float | None = None) -> int:
    """Unix ms of the first of this month, 00:00 UTC."""
    moment = datetime.fromtimestamp(now if now is not None else time.time(), UTC)
    return int(moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
               .timestamp() * 1000)
