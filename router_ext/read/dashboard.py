"""Aggregates behind the dashboard, computed on the reader engine.

Every query is bounded: by an index range (time window, id window), by a LIMIT, or both, so a
page stays quick with millions of stored events. Functions here are blocking; the routes in
:mod:`router_ext.web.dashboard_api` run them through ``Reader.call``.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select

from router_ext.read.reader import SESSIONS
from router_ext.read.sessions import (  # COUNTED leaves out sessions whose task holds the usage
    COUNTED,
    session_json,
)
from router_ext.read.windows import DAY_MS
from router_ext.records import Row

HOUR_MS = 3_600_000
FAILURE_TYPES = ("PostToolUseFailure",)
TOOL_END_TYPES = ("PostToolUse", "PostToolUseFailure")


def fetch(engine: Engine, query: Any) -> list[Row]:
    """Run a query on a reader connection; rows as dicts."""
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def _loads(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _day(ms_column: Any, tz_offset_ms: int) -> Any:
    """The local day number of a millisecond column (integer division works on both backends)."""
    return (ms_column + tz_offset_ms) // DAY_MS


# -- overview ------------------------------------------------------------------------------

def _totals(engine: Engine, since_ms: int) -> dict[str, Any]:
    s = SESSIONS.c
    query = select(
        func.count().label("sessions"),
        func.coalesce(func.sum(s.tool_calls_count), 0).label("tool_calls"),
        func.coalesce(func.sum(s.input_tokens), 0).label("input_tokens"),
        func.coalesce(func.sum(s.output_tokens), 0).label("output_tokens"),
        func.coalesce(func.sum(s.cache_read_tokens), 0).label("cache_read_tokens"),
        func.coalesce(func.sum(s.cache_creation_tokens), 0).label("cache_creation_tokens"),
        func.coalesce(func.sum(s.cost_usd), 0.0).label("cost_usd"),
    ).where(s.started_at >= since_ms, COUNTED)
    row = fetch(engine, query)[0]
    row["cost_usd"] = float(row["cost_usd"])
    return row


def _ralph_rate(engine: Engine, since_ms: int) -> dict[str, Any]:
    s = SESSIONS.c
    query = select(s.success, func.count().label("n")).where(
        s.source == "ralph", s.started_at >= since_ms, s.completed_at.is_not(None)
    ).group_by(s.success)
    counts = {row["success"]: int(row["n"]) for row in fetch(engine, query)}
    done, failed = counts.get(True, 0), counts.get(False, 0) + counts.get(None, 0)
    total = done + failed
    return {"completed": done, "failed": failed,
            "rate": round(done / total, 4) if total else None}


def _burn(engine: Engine, now_ms: int) -> dict[str, Any]:
    """Spend in the last hour, assuming each session spent evenly over its life."""
    s = SESSIONS.c
    start = now_ms - HOUR_MS
    query = select(s.started_at, s.last_event_at, s.cost_usd).where(
        s.last_event_at >= start, s.cost_usd > 0, COUNTED).limit(50_000)
    spent = 0.0
    for row in fetch(engine, query):
        life = max(row["last_event_at"] - row["started_at"], 1)
        overlap = row["last_event_at"] - max(row["started_at"], start)
        spent += float(row["cost_usd"]) * min(max(overlap, 0) / life, 1.0)
    return {"cost_last_hour_usd": round(spent, 6), "usd_per_hour": round(spent, 6)}


def daily_usage(engine: Engine, days: int, tz_offset_ms: int, now_ms: int) -> list[Row]:
    """Sessions, tokens and cost per local day, oldest first."""
    s = SESSIONS.c
    since = (now_ms + tz_offset_ms) // DAY_MS * DAY_MS - tz_offset_ms - (days - 1) * DAY_MS
    day = _day(s.started_at, tz_offset_ms).label("day")
    query = select(
        day, func.count().label("sessions"),
        func.coalesce(func.sum(s.input_tokens + s.output_tokens + s.cache_read_tokens
                               + s.cache_creation_tokens), 0).label("tokens"),
        func.coalesce(func.sum(s.cost_usd), 0.0).label("cost_usd"),
        func.coalesce(func.sum(s.tool_calls_count), 0).label("tool_calls"),
    ).where(s.started_at >= since, COUNTED).group_by(day).order_by(day)
    by_day = {int(r["day"]): r for r in fetch(engine, query)}
    first = (since + tz_offset_ms) // DAY_MS
    out = []
    for n in range(first, first + days):
        row = by_day.get(n, {})
        out.append({"day_ms": n * DAY_MS - tz_offset_ms, "sessions": int(row.get("sessions", 0)),
                    "tokens": int(row.get("tokens", 0)),
                    "cost_usd": float(row.get("cost_usd", 0.0)),
                    "tool_calls": int(row.get("tool_calls", 0))})
    return out


def overview(engine: Engine, now_ms: int, tz_offset_ms: int, days: int) -> dict[str, Any]:
    """Today's totals, Ralph completion rate, burn rate, running sessions, daily usage."""
    today = (now_ms + tz_offset_ms) // DAY_MS * DAY_MS - tz_offset_ms
    running = select(SESSIONS.c.source, func.count().label("n")).where(
        SESSIONS.c.status == "running").group_by(SESSIONS.c.source)
    return {
        "now_ms": now_ms,
        "today_start_ms": today,
        "today": _totals(engine, today),
        "ralph_today": _ralph_rate(engine, today),
        "ralph_24h": _ralph_rate(engine, now_ms - DAY_MS),
        "burn": _burn(engine, now_ms),
        "running": {r["source"]: int(r["n"]) for r in fetch(engine, running)},
        "daily": daily_usage(engine, days, tz_offset_ms, now_ms),
    }


# -- sessions ------------------------------------------------------------------------------

def sessions_page(engine: Engine, *, filters: dict[str, str], q: str, limit: int,
                  before: tuple[int, str] | None) -> dict[str, Any]:
    """Sessions newest first, keyset-paged on (started_at, id)."""
    s = SESSIONS.c
    query = select(SESSIONS)
    for column, value in filters.items():
        if value:
            query = query.where(s[column] == value)
    if q:
        like = f"%{escape_like(q)}%"
        query = query.where(or_(*(s[c].ilike(like, escape="\\") for c in (
            "id", "project", "label", "task_title", "task_id", "claude_session_id", "error"))))
    if before is not None:
        query = query.where(or_(s.started_at < before[0],
                                and_(s.started_at == before[0], s.id < before[1])))
    rows = fetch(engine, query.order_by(s.started_at.desc(), s.id.desc()).limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = f"{rows[-1]['started_at']}:{rows[-1]['id']}" if more and rows else None
    return {"sessions": [session_json(r) for r in rows], "next": cursor}


def facets(engine: Engine) -> dict[str, list[str]]:
    """Distinct projects and labels (bounded), for the sessions filters."""
    out: dict[str, list[str]] = {}
    for column in ("project", "label", "source", "status"):
        col = SESSIONS.c[column]
        query = select(col).where(col.is_not(None)).group_by(col).order_by(col).limit(500)
        out[column] = [r[column] for r in fetch(engine, query)]
    return out


def linked_sessions(engine: Engine, row: Row) -> list[Row]:
    """Sessions tied to this one through claude_session_id (a Ralph task and its CC session)."""
    s = SESSIONS.c
    keys = [k for k in (row["id"], row.get("claude_session_id")) if k]
    query = select(SESSIONS).where(
        or_(s.claude_session_id.in_(keys), s.id.in_(keys)), s.id != row["id"]).limit(50)
    return [session_json(r) for r in fetch(engine, query)]


def model_rows(row: Row) -> list[dict[str, Any]]:
    """Per-model usage from model_usage, or the session totals under its one model."""
    usage = _loads(row.get("model_usage"))
    if isinstance(usage, dict) and usage:
        out = []
        for model, u in usage.items():
            u = u if isinstance(u, dict) else {}
            out.append({"model": model, **{k: _num(u, k) for k in (
                "input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens",
                "cost_usd")}})
        return out
    return [{"model": row.get("model") or "unknown",
             "input_tokens": row.get("input_tokens") or 0,
             "output_tokens": row.get("output_tokens") or 0,
             "cache_read_tokens": row.get("cache_read_tokens") or 0,
             "cache_creation_tokens": row.get("cache_creation_tokens") or 0,
             "cost_usd": float(row.get("cost_usd") or 0.0)}]


_ALIASES = {
    "input_tokens": ("input_tokens", "input", "inputTokens"),
    "output_tokens": ("output_tokens", "output", "outputTokens"),
    "cache_read_tokens": ("cache_read_tokens", "cache_read", "cacheReadInputTokens",
                          "cache_read_input_tokens"),
    "cache_creation_tokens": ("cache_creation_tokens", "cache_creation",
                              "cacheCreationInputTokens", "cache_creation_input_tokens"),
    "cost_usd": ("cost_usd", "cost", "costUSD"),
}


def _num(usage: dict[str, Any], key: str) -> float:
    for alias in _ALIASES[key]:
        value = usage.get(alias)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
    return 0


def escape_like(text: str) -> str:
    """Text for a LIKE pattern with its wildcards taken literally (ESCAPE backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
