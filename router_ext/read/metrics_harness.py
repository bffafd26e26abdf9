"""Reads behind `/metrics/harness`: recent metric events and the day's stats."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Connection, select

from router_ext.read import sessions as queries
from router_ext.read.windows import day_start_ms
from router_ext.store.models import Event

EVENTS = Event.__table__  # type: ignore[attr-defined]


def recent_metrics(engine: Any, sources: list[str], names: list[str], since: int, limit: int,
            labels: set[str], projects: set[str]) -> list[dict[str, Any]]:
    """Metric events (Ralph, harness API) newest first, filtered by source, label, project."""
    query = select(EVENTS.c.id, EVENTS.c.source_app, EVENTS.c.hook_event_type,
                   EVENTS.c.payload, EVENTS.c.timestamp).where(
        EVENTS.c.hook_event_type.in_(names), EVENTS.c.timestamp >= since)
    if sources:
        query = query.where(EVENTS.c.source_app.in_(sources))
    # Label and project live in the payload: read more and filter, newest first.
    wanted = limit * 10 if labels or projects else limit
    query = query.order_by(EVENTS.c.id.desc()).limit(wanted)
    out: list[dict[str, Any]] = []
    with engine.connect() as conn:
        for id_, source, name, payload, ts in conn.execute(query):
            body = json.loads(payload)
            if not isinstance(body, dict) or "source" not in body:
                continue  # a hook event that shares a name, not a metric
            if (labels and body.get("label") not in labels) or (
                    projects and body.get("project") not in projects):
                continue
            out.append({**body, "id": id_, "source": source, "event": name, "timestamp": ts})
            if len(out) >= limit:
                break
    return out


def harness_stats(engine: Any, since: int | None, idle_seconds: float) -> dict[str, Any]:
    """`GET /metrics/harness/stats`: today's (or since `since`) tasks, loops, sessions, cost."""
    today = since if since is not None else day_start_ms()
    now = int(time.time() * 1000)
    with engine.connect() as conn:
        return stats_on(conn, today, now, idle_seconds)


def stats_on(conn: Connection, today: int, now: int, idle_seconds: float) -> dict[str, Any]:
    """:func:`harness_stats` on an open connection."""
    loops = queries.active_loops(conn, now - int(idle_seconds * 1000))
    tasks = queries.tasks(conn, today)
    return {
        "since": today,
        "tasks_today": tasks,
        "success_rate": tasks["success_rate"],
        "active_ralph_loops": len(loops),
        "ralph_loops": loops,
        "active_sessions": queries.active_sessions(conn),
        "cost_today_usd": queries.cost_since(conn, today),
        "tokens_today": queries.tokens_since(conn, today),
        "totals": queries.totals(conn, today),
        "by_source": queries.breakdown(conn, today, "source"),
        "by_project": queries.breakdown(conn, today, "project"),
        "by_label": queries.breakdown(conn, today, "label"),
        "by_user": queries.breakdown(conn, today, "user"),
        "recent_sessions": queries.recent_sessions(conn, 20),
    }
