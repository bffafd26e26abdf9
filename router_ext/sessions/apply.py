"""How each kind of event changes a session: hook events, Ralph tasks, harness API jobs."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from router_ext.metrics.labels import HOOK_EVENTS
from router_ext.records import PAYLOAD_CACHE, Row
from router_ext.sessions import usage as su
from router_ext.sessions.ledger import HOOKS
from router_ext.sessions.pricing import PriceTable
from router_ext.sessions.state import SessionState, ToolNote, project_name
from router_ext_client.usage import from_wire

TASK_STARTS = frozenset({"task_started", "job_started"})
TASK_ENDS = {"task_completed": "completed", "task_failed": "failed",
             "job_completed": "completed", "job_failed": "failed",
             "job_cancelled": "cancelled"}
TASK_EVENTS = TASK_STARTS | frozenset(TASK_ENDS)
# Metric events that describe a loop or a request, not a session of their own.
NON_SESSION_METRICS = frozenset({"session_started", "session_completed", "request"})
# Hook events whose payload is read (the others only count).
USAGE_EVENTS = frozenset({"Stop", "SubagentStop", "SessionEnd", "StopFailure"})
USAGE_KEY = "router_ext_usage"
SESSION_KEY_MAX = 300
OTLP_PREFIX = "claude_code."  # Claude Code's OpenTelemetry event names
OTLP_META = "otlp"  # the payload key OTLP rows carry (router_ext.otlp.rows.META)


# Events a tool sends about its own hooks (claude-mpm's `hook_execution`: which hook ran, how
# long it took): stored and streamed, but not a step of the session, so folded nowhere.
BOOKKEEPING_EVENTS = frozenset({"hook_execution"})


@dataclass(frozen=True, slots=True)
class Target:
    """Which session an event belongs to."""

    session_id: str
    source: str  # interactive | ralph | api
    kind: str  # hook | task | otlp


def payload_of(row: Row) -> dict[str, Any]:
    """The row's payload as a dict (cached on the row: several readers need it)."""
    cached = row.get(PAYLOAD_CACHE)
    if isinstance(cached, dict):
        return cached
    try:
        value = json.loads(row["payload"])
    except (ValueError, TypeError):
        value = {}
    payload = value if isinstance(value, dict) else {}
    row[PAYLOAD_CACHE] = payload
    return payload


def _is_metric(row: Row) -> bool:
    payload = payload_of(row)
    return payload.get("event") == row["hook_event_type"] and "source" in payload


def target(row: Row) -> Target | None:
    """The session an event folds into, or None for events that make no session."""
    name = row["hook_event_type"]
    if name in HOOK_EVENTS:
        return Target(row["session_id"], "interactive", "hook")
    if name in NON_SESSION_METRICS or name in BOOKKEEPING_EVENTS:
        return None
    if name in TASK_EVENTS:
        body = payload_of(row)
        if name.startswith("job_"):
            job = body.get("task_id") or row["session_id"]
            return Target(_session_key(f"api:{job}"), "api", "task")
        loop = body.get("session_id") or body.get("label") or row["source_app"]
        task = body.get("task_id") or body.get("task_title") or row["session_id"]
        return Target(_session_key(f"ralph:{loop}:{task}"), "ralph", "task")
    if name.startswith(OTLP_PREFIX):
        return _otlp_target(row)
    if _is_metric(row):
        return None  # an unknown metric event: stored and counted, folded nowhere
    if isinstance(payload_of(row).get(OTLP_META), dict):
        return None  # another service's OpenTelemetry record: stored, no session of ours
    return Target(row["session_id"], "interactive", "hook")


def _session_key(key: str) -> str:
    """The key as a harness_sessions id (VARCHAR(300)): a longer one keeps a hash of the rest."""
    key = key.replace("\x00", "")
    if len(key) <= SESSION_KEY_MAX:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:16]
    return f"{key[:SESSION_KEY_MAX - 17]}#{digest}"


def _otlp_target(row: Row) -> Target | None:
    # Claude Code's own telemetry joins the session its hooks report (same session.id).
    meta = payload_of(row).get(OTLP_META)
    if not isinstance(meta, dict) or meta.get("session") is False:
        return None
    return Target(row["session_id"], "interactive", "otlp")


def apply_hook(state: SessionState, row: Row, prices: PriceTable) -> list[str]:
    """Fold one hook event; returns models whose usage had no price."""
    name = row["hook_event_type"]
    ts = int(row["timestamp"])
    state.touch(ts)
    cols = state.cols
    cols["source_app"] = cols.get("source_app") or row["source_app"]
    if row.get("model_name") and not cols.get("model"):
        cols["model"] = row["model_name"]
    if state.is_new and not cols.get("project"):
        cols["project"] = project_name(payload_of(row).get("cwd"))
    if name == "SessionStart":
        state.start(ts)
        model = payload_of(row).get("model")
        if isinstance(model, str) and model:
            cols["model"] = model
    elif name == "UserPromptSubmit":
        state.tally(HOOKS, "prompts_count")
    elif name in TOOL_OUTCOMES:
        count_tool(state, HOOKS, row, TOOL_OUTCOMES[name], payload_of(row).get("duration_ms"))
    elif name == "SubagentStart":
        cols["subagents_count"] += 1
    if name not in USAGE_EVENTS:
        return []
    payload = payload_of(row)
    unpriced = _add_hook_usage(state, payload, prices)
    if name == "StopFailure":
        cols["error"] = str(payload.get("error") or payload.get("error_type") or "StopFailure")
    elif name == "SessionEnd":
        state.end(ts, "failed" if cols.get("error") else "completed")
    return unpriced


def _add_hook_usage(state: SessionState, payload: dict[str, Any],
                    prices: PriceTable) -> list[str]:
    # Hooks send the usage that is new since their last read, so it adds.
    models = from_wire(payload.get(USAGE_KEY))
    if not models:
        return []
    unpriced = su.price(models, prices)
    state.add_source_usage(HOOKS, models)
    return unpriced


# Hook events that finish a tool call, and the outcome each one reports.
TOOL_OUTCOMES = {"PostToolUse": "success", "PostToolUseFailure": "failure",
                 "PermissionDenied": "denied"}
# The tally each outcome adds to (denials are kept in the ledger only).
_OUTCOME_TALLIES = {"success": ("tool_calls_count",),
                    "failure": ("tool_calls_count", "tool_failures_count"),
                    "denied": ("tool_denials",)}


def count_tool(state: SessionState, source: str, row: Row, outcome: str,
               duration_ms: Any) -> None:
    """One source reports a finished tool call; the first report of it is noted for metrics."""
    grew = [state.tally(source, name) for name in _OUTCOME_TALLIES[outcome]]
    if grew[0]:
        seconds = None
        if isinstance(duration_ms, int | float) and not isinstance(duration_ms, bool):
            seconds = max(0.0, duration_ms / 1000)
        state.tool_note = ToolNote(row.get("tool_name"), outcome, seconds)


def apply_task(state: SessionState, row: Row, prices: PriceTable) -> list[str]:
    """Fold one Ralph task or harness job metric; returns models with no price."""
    name = row["hook_event_type"]
    body = payload_of(row)
    ts = int(row["timestamp"])
    state.touch(ts)
    cols = state.cols
    cols["source_app"] = row["source_app"]
    for key in ("label", "task_id", "task_title", "project", "claude_session_id", "model"):
        value = body.get(key)
        if isinstance(value, str) and value:
            cols[key] = value
    if state.source == "ralph":
        cols["loop_id"] = body.get("session_id") or body.get("label") or row["source_app"]
    for key in ("exit_code", "num_turns"):
        if isinstance(body.get(key), int) and not isinstance(body.get(key), bool):
            cols[key] = body[key]
    if name in TASK_STARTS:
        state.start(ts)
    elif name in TASK_ENDS:
        _end_task(state, name, body, ts)
    return _set_task_usage(state, body, prices)


def _end_task(state: SessionState, name: str, body: dict[str, Any], ts: int) -> None:
    status = TASK_ENDS[name]
    if status == "completed" and body.get("success") is False:
        status = "failed"
    duration = body.get("duration_ms")
    state.end(ts, status, duration_ms=int(duration) if isinstance(duration, int | float) else None)
    error = body.get("error")
    state.cols["error"] = error if isinstance(error, str) and error else (
        None if status == "completed" else status)


def _set_task_usage(state: SessionState, body: dict[str, Any], prices: PriceTable) -> list[str]:
    # A task's body carries the run's totals (from `claude -p`), so it replaces.
    models = su.parse_models(body.get("model_usage"))
    if not models:
        models = su.flat_usage(body, body.get("model") or state.cols.get("model"))
    elif isinstance(body.get("cost_usd"), int | float) and all(
            u.cost_usd is None for u in models.values()) and len(models) == 1:
        next(iter(models.values())).cost_usd = float(body["cost_usd"])
    if not models:
        return []
    unpriced = su.price(models, prices)
    state.set_usage(models)
    return unpriced
