"""What each rule kind finds in the data: the subjects over the threshold right now.

Each check is a function of a connection, the rule and the moment, returning
{subject: Breach}; a subject absent from the answer is fine (its episode, if any, resolves).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import Connection, case, func, select

from router_ext.alerts.rules import Rule
from router_ext.reports import ledger
from router_ext.sessions.state import SESSIONS
from router_ext.store.models import Event

EVENTS = Event.__table__  # type: ignore[attr-defined]
MAX_SUBJECTS = 200  # per rule and check: a flood of subjects must not flood the receivers
LOOP_LOOKBACK_MS = 7 * 86_400_000
FAILED = ("failed", "cancelled", "abandoned")


@dataclass(frozen=True)
class Breach:
    """A subject over its threshold: how far, in words, and what it is about."""

    value: float
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Moment:
    """When the rules are checked, and what only the running server knows."""

    now_ms: int
    tz: tzinfo
    spool_bytes: dict[str, int] = field(default_factory=dict)


def period_start(period: str | None, now_ms: int, tz: tzinfo) -> int | None:
    """Unix ms of the start of this day, week (Monday) or month; None for `total`."""
    if period in (None, "total"):
        return None
    now = datetime.fromtimestamp(now_ms / 1000, tz)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        start -= timedelta(days=start.weekday())
    elif period == "month":
        start = start.replace(day=1)
    return int(start.timestamp() * 1000)


def _label(rule: Rule, subject: str) -> str:
    return "everything" if rule.scope == "all" else f"{rule.scope} {subject}"


def budget(conn: Connection, rule: Rule, at: Moment) -> dict[str, Breach]:
    """cost and tokens: spending in the period, per subject of the scope."""
    since = period_start(rule.period, at.now_ms, at.tz)
    found = ledger.sums(conn, since_ms=since, scope=rule.scope, match=rule.match)
    out = {}
    for subject, sums in found.items():
        value = sums["cost"] if rule.kind == "cost" else sums["tokens"]
        if value >= rule.threshold:
            amount = (f"${value:,.2f} of a ${rule.threshold:,.2f} budget" if rule.kind == "cost"
                      else f"{value:,.0f} of {rule.threshold:,.0f} tokens")
            when = "so far" if rule.period == "total" else f"this {rule.period}"
            out[subject] = Breach(value, f"{_label(rule, subject)} used {amount} {when}",
                                  {"scope": rule.scope, "subject": subject})
    return dict(list(out.items())[:MAX_SUBJECTS])


def hitl_wait(conn: Connection, rule: Rule, at: Moment) -> dict[str, Breach]:
    """Approval requests pending longer than `threshold` minutes."""
    cutoff = at.now_ms - int(rule.threshold * 60_000)
    query = (select(EVENTS.c.id, EVENTS.c.received_at, EVENTS.c.session_id,
                    EVENTS.c.source_app)
             .where(EVENTS.c.hitl_status == "pending", EVENTS.c.received_at <= cutoff)
             .order_by(EVENTS.c.id).limit(MAX_SUBJECTS))
    out = {}
    for event_id, received, session, app in conn.execute(query):
        minutes = (at.now_ms - int(received)) / 60_000
        out[f"request {event_id}"] = Breach(
            minutes, f"approval request #{event_id} ({app}) has waited {minutes:.0f} minutes",
            {"event_id": event_id, "session_id": session})
    return out


def session_idle(conn: Connection, rule: Rule, at: Moment) -> dict[str, Breach]:
    """Running sessions with no event for `threshold` minutes."""
    cutoff = at.now_ms - int(rule.threshold * 60_000)
    query = (select(SESSIONS.c.id, SESSIONS.c.source, SESSIONS.c.project,
                    SESSIONS.c.last_event_at)
             .where(SESSIONS.c.status == "running", SESSIONS.c.last_event_at <= cutoff)
             .order_by(SESSIONS.c.last_event_at).limit(MAX_SUBJECTS))
    out = {}
    for session, source, project, last in conn.execute(query):
        minutes = (at.now_ms - int(last)) / 60_000
        out[str(session)] = Breach(
            minutes, f"{source} session {session} ({project or 'no project'}) has sent nothing "
                     f"for {minutes:.0f} minutes", {"session_id": session, "project": project})
    return out


def tool_failure_rate(conn: Connection, rule: Rule, at: Moment) -> dict[str, Breach]:
    """The share of tool calls that failed in the window, overall or per project."""
    since = at.now_ms - int(rule.window_seconds or 900) * 1000
    failed = func.sum(case((EVENTS.c.hook_event_type == "PostToolUseFailure", 1), else_=0))
    group = SESSIONS.c.project if rule.scope == "project" else None
    query = select(*([group] if group is not None else []), func.count(), failed).where(
        EVENTS.c.hook_event_type.in_(("PostToolUse", "PostToolUseFailure")),
        EVENTS.c.timestamp >= since)
    if group is not None:
        query = query.select_from(EVENTS.join(SESSIONS, SESSIONS.c.id == EVENTS.c.session_id))
        if rule.match != "*":
            query = query.where(group == rule.match)
        query = query.group_by(group)
    out = {}
    for row in conn.execute(query):
        subject = str(row[0]) if group is not None else "all"
        total, bad = int(row[-2] or 0), int(row[-1] or 0)
        if total >= (rule.min_count or 1) and bad / total >= rule.threshold:
            out[subject] = Breach(bad / total, f"{_label(rule, subject)}: {bad} of {total} tool "
                                  f"calls failed in {(rule.window_seconds or 900) // 60} minutes",
                                  {"failed": bad, "calls": total})
    return out


def ralph_failures(conn: Connection, rule: Rule, at: Moment) -> dict[str, Breach]:
    """Ralph loops whose latest `threshold` tasks all failed."""
    query = (select(SESSIONS.c.loop_id, SESSIONS.c.status, SESSIONS.c.task_id)
             .where(SESSIONS.c.source == "ralph", SESSIONS.c.completed_at.is_not(None),
                    SESSIONS.c.completed_at >= at.now_ms - LOOP_LOOKBACK_MS)
             .order_by(SESSIONS.c.completed_at.desc()))
    streaks: dict[str, list[str]] = {}
    done: set[str] = set()
    for loop, status, task in conn.execute(query):
        loop = str(loop)
        if loop in done:
            continue
        if status in FAILED:
            streaks.setdefault(loop, []).append(str(task))
        else:
            done.add(loop)
    out = {}
    for loop, tasks in streaks.items():
        if len(tasks) >= rule.threshold:
            out[loop] = Breach(len(tasks), f"Ralph loop {loop} failed its last {len(tasks)} "
                                           f"tasks in a row", {"loop_id": loop, "tasks": tasks})
    return dict(list(out.items())[:MAX_SUBJECTS])


def spool_growth(conn: Connection, rule: Rule, at: Moment) -> dict[str, Breach]:
    """Hosts whose last report says their spool holds at least `threshold` bytes."""
    return {host: Breach(size, f"host {host} holds {size:,} bytes of events it could not "
                               "deliver in its spool", {"host": host})
            for host, size in at.spool_bytes.items() if size >= rule.threshold}


CHECKS: dict[str, Callable[[Connection, Rule, Moment], dict[str, Breach]]] = {
    "cost": budget, "tokens": budget, "hitl_wait": hitl_wait, "session_idle": session_idle,
    "tool_failure_rate": tool_failure_rate, "ralph_failures": ralph_failures,
    "spool_growth": spool_growth,
}


def check(conn: Connection, rule: Rule, at: Moment) -> dict[str, Breach]:
    """The rule's subjects over its threshold now."""
    return CHECKS[rule.kind](conn, rule, at)


def spool_report(row: dict[str, Any]) -> int | None:
    """The spool size a reporting host sent with an event (top-level `spool_bytes`)."""
    text = row.get("extra") or row.get("payload") or ""
    if "spool_bytes" not in text:
        return None
    try:
        value = json.loads(text).get("spool_bytes")
    except (ValueError, AttributeError):
        return None
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None
