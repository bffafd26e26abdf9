"""Report times: transcript timestamps, UTC ISO strings, moments in a report's time zone.

No imports at load time: the status line parses timestamps with :func:`timestamp_ms` on every
run, and Claude Code's own form (`2026-08-20T14:02:14.120Z`) needs no datetime.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime, tzinfo


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def _zulu_ms(value: str) -> int | None:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ`, the form Claude Code writes, without datetime."""
    if len(value) != 24 or value[23] != "Z" or value[10] != "T" or value[19] != ".":
        return None
    digits = value[0:4] + value[5:7] + value[8:10] + value[11:13] + value[14:16] \
        + value[17:19] + value[20:23]
    if not digits.isdigit() or not digits.isascii():
        return None
    y, mo, d = int(value[0:4]), int(value[5:7]), int(value[8:10])
    h, mi, s, ms = int(value[11:13]), int(value[14:16]), int(value[17:19]), int(value[20:23])
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 60):
        return None
    return ((_days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60_000 + s * 1000 + ms


def timestamp_ms(value: object) -> int | None:
    """Unix ms from a transcript's ISO-8601 timestamp, else None."""
    if not isinstance(value, str):
        return None
    fast = _zulu_ms(value)
    if fast is not None:
        return fast
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def iso_utc(at_ms: int) -> str:
    """`2026-08-20T14:00:00.000Z`, as JavaScript's toISOString writes it."""
    from datetime import UTC, datetime

    moment = datetime.fromtimestamp(at_ms / 1000, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{at_ms % 1000:03d}Z"


def local_time(at_ms: int, tz: tzinfo | None) -> datetime:
    """The moment in the report's time zone (local time when tz is None)."""
    from datetime import datetime

    return datetime.fromtimestamp(at_ms / 1000, tz)
