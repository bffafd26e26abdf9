"""One unit of usage a report counts, and the options every report takes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path

from router_ext.reports.times import iso_utc, local_time, timestamp_ms
from router_ext_client.usage import ModelUsage

__all__ = ["KINDS", "WEEK_DAYS", "Entry", "Options", "compact_date", "iso_utc", "local_time",
           "local_zone_name", "projects_dir", "resolve_tz", "timestamp_ms"]

KINDS = ("daily", "weekly", "monthly", "session", "blocks")
WEEK_DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


@dataclass(slots=True)
class Entry:
    """Usage of one API response (from a transcript) or one increment (from the server)."""

    at_ms: int
    session_id: str
    project: str
    model: str
    usage: ModelUsage
    cost: float = 0.0


@dataclass(frozen=True, slots=True)
class Options:
    """What to include and how to group: dates are `YYYYMMDD` in the report's time zone."""

    since: str | None = None
    until: str | None = None
    project: str | None = None
    tz: tzinfo | None = None  # None: this machine's local time
    order: str = "asc"
    start_of_week: str = "sunday"
    session_hours: float = 5.0
    now_ms: int = field(default_factory=lambda: int(datetime.now(UTC).timestamp() * 1000))


def compact_date(value: str | None, name: str) -> str | None:
    """`YYYYMMDD` from `YYYYMMDD` or `YYYY-MM-DD`; ValueError naming the option otherwise."""
    if not value:
        return None
    digits = value.replace("-", "")
    try:
        datetime.strptime(digits, "%Y%m%d")
    except ValueError:
        raise ValueError(f"{name} must be a date as YYYYMMDD or YYYY-MM-DD, got {value!r}") \
            from None
    return digits


def resolve_tz(name: str | None) -> tzinfo | None:
    """A time zone from an IANA name, `UTC`, or an offset like `+02:00`; None for local."""
    if not name:
        return None
    if name.upper() in ("UTC", "Z"):
        return UTC
    if name[0] in "+-" and ":" in name:
        hours, _, minutes = name[1:].partition(":")
        sign = -1 if name[0] == "-" else 1
        return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def local_zone_name() -> str:
    """This machine's time zone as a name another machine can use (IANA, else an offset)."""
    env = os.environ.get("TZ", "").lstrip(":")
    if ("/" in env) or env.upper() == "UTC":
        return env
    try:
        target = os.readlink("/etc/localtime")
    except OSError:
        target = ""
    if "zoneinfo/" in target:
        return target.split("zoneinfo/", 1)[1]
    offset = datetime.now().astimezone().utcoffset() or timedelta()
    minutes = int(offset.total_seconds() // 60)
    return f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def projects_dir(root: str | Path) -> Path:
    """A Claude Code projects folder: `root` itself, or `root/projects` when that exists."""
    path = Path(root).expanduser()
    return path / "projects" if (path / "projects").is_dir() else path
