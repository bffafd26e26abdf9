"""Session timelines, analytics and Ralph loop summaries for the dashboard (blocking queries).

Timelines ship compact events (a one-line text instead of the whole payload, whose tool output
may be large); analytics read a bounded time window through the timestamp indexes.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Hashable
from typing import Any, cast

from sqlalchemy import Connection, Engine, case, func, select

from router_ext.otlp.values import flag, number
from router_ext.read.dashboard import (
    COUNTED,
    DAY_MS,
    FAILURE_TYPES,
    TOOL_END_TYPES,
    fetch,
)
from router_ext.read.reader import EVENTS, SESSIONS
from router_ext.read.sessions import TOKENS, USER
from router_ext.records import Row
from router_ext.store import counts, rollups, usage_hourly
from router_ext.store.usage_hourly import HOUR_MS

TEXT_LIMIT = 240
STOP_EVENT = "stop_requested"  # what POST /api/ralph/{loop_id}/stop stores
# Payload keys that best describe an event in one line, in order of preference.
_TEXT_KEYS = ("prompt", "command", "file_path", "path", "pattern", "url", "query", "error",
              "message", "last_assistant_message", "description", "reason", "source")


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"


def describe(payload: dict[str, Any]) -> str:
    """One line saying what an event was about: the prompt, command, file, error..."""
    tool_input = payload.get("tool_input")
    for source in (tool_input if isinstance(tool_input, dict) else {}, payload):
        for key in _TEXT_KEYS:
            value = source.get(key)
            if isinstance(value, str) and value:
                return _short(value)
    return ""


def compact(row: Row) -> dict[str, Any]:
    """A timeline entry: what happened, when, to which tool, how long it took."""
    try:
        payload = json.loads(row["payload"])
    except ValueError:
        payload = {}
    payload = payload if isinstance(payload, dict) else {}
    status = json.loads(row["human_in_the_loop_status"]) if row.get(
        "human_in_the_loop_status") else None
    duration = number(payload.get("duration_ms"))  # OTLP records may send "24"
    return {
        "id": row["id"], "t": row["timestamp"], "type": row["hook_event_type"],
        "session_id": row["session_id"], "tool": row.get("tool_name"),
        "tool_use_id": row.get("tool_use_id"), "agent_id": row.get("agent_id"),
        "agent_type": payload.get("agent_type") or payload.get("subagent_type"),
        "model": row.get("model_name"), "text": describe(payload),
        "error": _short(payload["error"]) if payload.get("error") else None,
        "duration_ms": duration,
        "hitl": status,
        "ok": flag(payload.get("success")),  # Claude Code's OTLP tool_result
    }


def session_keys(row: Row) -> list[str]:
    """Event session ids that belong to a harness session (its id and its CC session)."""
    return [k for k in dict.fromkeys((row["id"], row.get("claude_session_id"))) if k]


def timeline(engine: Engine, keys: list[str], after_id: int, limit: int) -> dict[str, Any]:
    """Compact events of these sessions after `after_id`, oldest first."""
    e = EVENTS.c
    query = select(EVENTS).where(e.session_id.in_(keys), e.id > after_id).order_by(
        e.id).limit(limit)
    rows = fetch(engine, query)
    return {"events": [compact(r) for r in rows],
            "next_after_id": rows[-1]["id"] if len(rows) == limit else None}


# -- analytics -----------------------------------------------------------------------------

def _unindexed(column: Any) -> Any:
    # Wrapping the column keeps the planner on the timestamp index: a day is a small range
    # there, while the event-type index would walk that type's rows over all time.
    return func.coalesce(column, "")


OTLP_TOOL_RESULT = "claude_code.tool_result"


def tool_counts(engine: Engine, start: int, end: int) -> Counter[Hashable]:
    """Finished tool calls between two times, by (tool, PostToolUse or PostToolUseFailure).

    A session's hooks and its OpenTelemetry export report the same calls; per session and per
    (tool, outcome) the larger of the two counts, as for the session's own columns.
    """
    e = EVENTS.c
    window = (e.timestamp >= start, e.timestamp < end)
    hooks = select(e.session_id, e.tool_name, e.hook_event_type, func.count().label("n")).where(
        *window, _unindexed(e.hook_event_type).in_(TOOL_END_TYPES)
    ).group_by(e.session_id, e.tool_name, e.hook_event_type)
    by_source: defaultdict[str, list[Counter[tuple[str, str]]]] = defaultdict(
        lambda: [Counter(), Counter()])
    for r in fetch(engine, hooks):
        by_source[r["session_id"]][0][(r["tool_name"] or "unknown", r["hook_event_type"])] += r["n"]
    otlp = select(e.session_id, e.tool_name, e.payload).where(
        *window, _unindexed(e.hook_event_type) == OTLP_TOOL_RESULT).limit(100_000)
    for r in fetch(engine, otlp):
        ok = flag(_loads_object(r["payload"]).get("success")) is not False
        kind = TOOL_END_TYPES[0] if ok else FAILURE_TYPES[0]
        by_source[r["session_id"]][1][(r["tool_name"] or "unknown", kind)] += 1
    out: Counter[Hashable] = Counter()
    for hook_counts, otlp_counts in by_source.values():
        for key in hook_counts.keys() | otlp_counts.keys():
            out[key] += max(hook_counts[key], otlp_counts[key])
    with engine.connect() as conn:  # what retention pruned lives on as rollups
        out.update(rollups.counts(conn, "tools", start, end))
    return out


def _loads_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def tool_usage(conn: Connection, since_ms: int, now_ms: int) -> list[dict[str, Any]]:
    """Finished tool calls and failures per tool since a time, from the hourly counts."""
    found = counts.totals(conn, "tools", since_ms, now_ms)
    return tool_rows(Counter({key: n for key, (n, _last) in found.items()}))


def tool_rows(found: Counter[Hashable], limit: int = 30) -> list[dict[str, Any]]:
    """Counts from :func:`tool_counts` as rows: calls and failures per tool, busiest first."""
    calls: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    for key, n in found.items():
        tool, kind = cast(tuple[str, str], key)
        calls[tool] += n
        if kind in FAILURE_TYPES:
            failures[tool] += n
    # Ties in name order, so the same counts always read the same.
    return [{"tool": t, "calls": n, "failures": failures[t]}
            for t, n in sorted(calls.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]


def subagent_spawns(conn: Connection, since_ms: int, now_ms: int) -> list[dict[str, Any]]:
    """SubagentStart events per agent type, from the hourly counts."""
    found: Counter[str] = Counter()
    for (agent_type, _detail), (n, _last) in counts.totals(conn, "subagents", since_ms,
                                                            now_ms).items():
        found[agent_type] += n
    return [{"agent_type": k, "count": n} for k, n in found.most_common(20)]


def top_errors(engine: Engine, since_ms: int, limit: int = 20) -> list[dict[str, Any]]:
    """The most frequent tool failures (hourly counts, from the hour holding since_ms) and
    session errors since a time."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    with engine.connect() as conn:
        failures = counts.totals(conn, "errors", since_ms)
    for (where, error), (n, last) in failures.items():
        groups[(where, error)] = {"where": where, "error": error, "count": n, "last_ms": last}
    s = SESSIONS.c
    query = select(s.source, s.error, func.count().label("n"),
                   func.max(s.last_event_at).label("last")).where(
        s.started_at >= since_ms, s.error.is_not(None)).group_by(s.source, s.error).limit(200)
    for row in fetch(engine, query):
        key = (f"{row['source']} session", counts.first_line(row["error"]))
        entry = groups.setdefault(key, {"where": key[0], "error": key[1], "count": 0,
                                        "last_ms": 0})
        entry["count"] += row["n"]
        entry["last_ms"] = max(entry["last_ms"], row["last"] or 0)
    return sorted(groups.values(), key=lambda g: (-g["count"], -g["last_ms"]))[:limit]


def cost_by_day_model(engine: Engine, since_ms: int, tz_offset_ms: int) -> list[dict[str, Any]]:
    """Cost per local day and model of the usage counted since a time, from the hourly sums
    the writer keeps (a few thousand rows a month; nothing is decoded at read time).

    A cost falls on the day the usage was reported, not the day its session started. Hours
    are whole, so in a zone with a half-hour offset a day's edge moves by half an hour."""
    h = usage_hourly.HOURLY.c
    query = select(h.bucket_ms, h.model, func.sum(h.cost_usd)).where(
        h.bucket_ms >= since_ms // HOUR_MS * HOUR_MS).group_by(h.bucket_ms, h.model)
    totals: defaultdict[tuple[int, str], float] = defaultdict(float)
    with engine.connect() as conn:
        for hour, model, cost in conn.execute(query):
            day = (hour + tz_offset_ms) // DAY_MS * DAY_MS - tz_offset_ms
            totals[(max(day, since_ms), model)] += float(cost or 0.0)
    return [{"day_ms": d, "model": m, "cost_usd": round(c, 6)}
            for (d, m), c in sorted(totals.items())]


def usage_by_user_and_project(engine: Engine, since_ms: int, limit: int = 20
                              ) -> dict[str, list[dict[str, Any]]]:
    """Sessions, cost, tokens and tool failures per user and per project, costliest first.

    One pass over the window's sessions grouped by (user, project); the few pairs are then
    summed each way (two GROUP BY queries read the same sessions twice)."""
    s = SESSIONS.c
    query = select(
        USER.label("user"), func.coalesce(s.project, "unknown").label("project"),
        func.count().label("sessions"), func.coalesce(func.sum(s.cost_usd), 0.0).label("cost"),
        func.coalesce(func.sum(TOKENS), 0).label("tokens"),
        func.coalesce(func.sum(s.tool_failures_count), 0).label("failures"),
    ).where(s.started_at >= since_ms, COUNTED).group_by(USER, func.coalesce(s.project,
                                                                          "unknown"))
    groups: dict[str, defaultdict[str, list[float]]] = {
        "user": defaultdict(lambda: [0, 0.0, 0, 0]),
        "project": defaultdict(lambda: [0, 0.0, 0, 0])}
    with engine.connect() as conn:
        for user, project, n, cost, tokens, failures in conn.execute(query):
            for group, key in (("user", user), ("project", project)):
                total = groups[group][key]
                total[0] += n
                total[1] += float(cost)
                total[2] += int(tokens)
                total[3] += int(failures)
    return {group: [{"key": key, "sessions": int(t[0]), "cost_usd": round(t[1], 6),
                     "tokens": int(t[2]), "tool_failures": int(t[3])}
                    for key, t in sorted(totals.items(), key=lambda kv: (-kv[1][1], -kv[1][0]))
                    [:limit]]
            for group, totals in groups.items()}


def analytics(engine: Engine, now_ms: int, days: int, tz_offset_ms: int) -> dict[str, Any]:
    """Everything the analytics view shows, for the last `days` local days."""
    since = (now_ms + tz_offset_ms) // DAY_MS * DAY_MS - tz_offset_ms - (days - 1) * DAY_MS
    with engine.connect() as conn:
        tools = tool_usage(conn, since, now_ms)
        spawns = subagent_spawns(conn, since, now_ms)
    return {
        "since_ms": since,
        "tools": tools,
        "subagents": spawns,
        "cost_by_day_model": cost_by_day_model(engine, since, tz_offset_ms),
        "top_errors": top_errors(engine, since),
        **{f"by_{group}": rows
           for group, rows in usage_by_user_and_project(engine, since).items()},
    }


def ralph_loops(engine: Engine, limit: int) -> list[dict[str, Any]]:
    """Ralph loops, most recently active first, with task counts and whether one is running."""
    s = SESSIONS.c
    done = func.sum(case((s.success.is_(True), 1), else_=0))
    query = select(
        s.loop_id, func.count().label("tasks"), done.label("completed"),
        func.max(s.last_event_at).label("last_event_at"), func.min(s.started_at).label("started"),
        func.max(s.project).label("project"), func.max(s.label).label("label"),
    ).where(s.source == "ralph", s.loop_id.is_not(None)).group_by(s.loop_id).order_by(
        func.max(s.last_event_at).desc()).limit(limit)
    loops = fetch(engine, query)
    if not loops:
        return []
    running_q = select(s.loop_id, func.count().label("n")).where(
        s.source == "ralph", s.status == "running",
        s.loop_id.in_([r["loop_id"] for r in loops])).group_by(s.loop_id)
    running = {r["loop_id"]: r["n"] for r in fetch(engine, running_q)}
    failed_q = select(s.loop_id, func.count().label("n")).where(
        s.source == "ralph", s.success.is_(False),
        s.loop_id.in_([r["loop_id"] for r in loops])).group_by(s.loop_id)
    failed = {r["loop_id"]: r["n"] for r in fetch(engine, failed_q)}
    e = EVENTS.c
    stops_q = select(e.session_id, func.max(e.timestamp).label("t")).where(
        e.session_id.in_([r["loop_id"] for r in loops]), e.source_app == "ralph",
        e.hook_event_type == STOP_EVENT).group_by(e.session_id)
    stops = {r["session_id"]: r["t"] for r in fetch(engine, stops_q)}
    for row in loops:
        row["stop_requested_at"] = stops.get(row["loop_id"])
        row["completed"] = int(row["completed"] or 0)
        row["failed"] = int(failed.get(row["loop_id"], 0))
        row["running"] = int(running.get(row["loop_id"], 0))
    return loops
