"""The harness Prometheus catalog beyond the ingest counters (router_ext/metrics/ingest.py).

Counters and histograms are fed by a writer listener from committed events, so they count what
is stored, once. Sessions, tokens and cost come from the sessions fold's note on each row (it
knows which run a usage report belongs to, so a Ralph task and the hook events of the run it
started count once). Gauges that describe the database are computed at scrape time by
:class:`router_ext.metrics.db_gauges.DbGauges`. Every label is bounded: unknown models, tools,
labels and routes collapse to `other`.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from router_ext.metrics.labels import OTHER, SOURCES, Capped
from router_ext.records import FoldNotes, SessionNote
from router_ext.sessions.apply import payload_of
from router_ext.sessions.pricing import PriceTable, canonical_name
from router_ext.store.writer import Committed

TOOL_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96,
                81.92)
SESSION_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
HITL_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
BUILTIN_TOOLS = ("Bash", "Read", "Write", "Edit", "MultiEdit", "Glob", "Grep", "LS", "Agent",
                 "Task", "WebFetch", "WebSearch", "TodoWrite", "NotebookEdit", "Skill",
                 "SlashCommand", "BashOutput", "KillShell", "ExitPlanMode")
TOOL_OUTCOMES = {"PostToolUse": "success", "PostToolUseFailure": "failure",
                 "PermissionDenied": "denied"}
SESSION_OUTCOMES = ("completed", "failed", "cancelled", "abandoned")
HITL_KINDS = ("question", "permission", "choice")
HITL_OUTCOMES = {"responded": "responded", "answered": "responded", "approved": "responded",
                 "denied": "responded", "timeout": "timeout", "timed_out": "timeout",
                 "expired": "timeout", "error": "error", "failed": "error",
                 "delivery_failed": "delivery_failed", "cancelled": "error"}
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
TOKEN_KINDS = {  # our field -> (type, cache) as in gen_ai.token.type / gen_ai.token.cache
    "input_tokens": ("input", "none"), "output_tokens": ("output", "none"),
    "cache_read_input_tokens": ("input", "read"),
    "cache_creation_input_tokens": ("input", "creation"),
}


class HarnessMetrics:
    """Registers the catalog in `registry`; :meth:`on_commit` is the writer listener."""

    def __init__(self, registry: CollectorRegistry, prices: PriceTable) -> None:
        self.prices = prices
        self._labels = Capped(50)
        self._routes = Capped(100)
        self._agents = Capped(30)
        self._hitl_seen: OrderedDict[int, str] = OrderedDict()
        r = registry
        self.tool_calls = Counter("harness_tool_calls", "Tool calls by tool and outcome",
                                  ["tool", "outcome"], registry=r)
        self.tool_duration = Histogram("harness_tool_duration_seconds",
                                       "Tool call duration as Claude Code reported it", ["tool"],
                                       buckets=TOOL_BUCKETS, registry=r)
        self.sessions_started = Counter("harness_sessions_started", "Sessions started",
                                        ["source"], registry=r)
        self.sessions_ended = Counter("harness_sessions_ended", "Sessions ended, by outcome",
                                      ["source", "outcome"], registry=r)
        self.session_duration = Histogram("harness_session_duration_seconds",
                                          "Session, Ralph task and job duration", ["source"],
                                          buckets=SESSION_BUCKETS, registry=r)
        self.subagents = Counter("harness_subagents_started", "Subagents started",
                                 ["agent_type"], registry=r)
        self.ralph_tasks = Counter("harness_ralph_tasks", "Ralph tasks finished, by label and "
                                   "outcome", ["label", "outcome"], registry=r)
        self.api_requests = Histogram("harness_api_request_duration_seconds",
                                      "claude-harness API request duration",
                                      ["route", "method", "status"], buckets=REQUEST_BUCKETS,
                                      registry=r)
        self.tokens = Counter("harness_tokens", "Tokens used, by model, type and cache",
                              ["model", "type", "cache"], registry=r)
        self.cost = Counter("harness_cost_usd", "Cost in US dollars, by model", ["model"],
                            registry=r)
        self.unpriced = Counter("harness_usage_unpriced",
                                "Usage reports for models with no price (costed at 0)",
                                registry=r)
        self.hitl_requests = Counter("harness_hitl_requests", "Human-in-the-loop requests",
                                     ["kind"], registry=r)
        self.hitl_resolutions = Counter("harness_hitl_resolutions",
                                        "Human-in-the-loop requests resolved, by outcome",
                                        ["kind", "outcome"], registry=r)
        self.hitl_wait = Histogram("harness_hitl_wait_seconds",
                                   "Time from a human-in-the-loop request to its resolution",
                                   ["kind"], buckets=HITL_BUCKETS, registry=r)
        self._zero_init()

    def _zero_init(self) -> None:
        for tool in BUILTIN_TOOLS:
            self.tool_duration.labels(tool)
            for outcome in TOOL_OUTCOMES.values():
                self.tool_calls.labels(tool, outcome)
        for source in SOURCES:
            self.sessions_started.labels(source)
            self.session_duration.labels(source)
            for outcome in SESSION_OUTCOMES:
                self.sessions_ended.labels(source, outcome)
        for model in self.prices.prices:
            self.cost.labels(model)
            for token_kind in TOKEN_KINDS.values():
                self.tokens.labels(model, *token_kind)
        for kind in HITL_KINDS:
            self.hitl_requests.labels(kind)
            self.hitl_wait.labels(kind)
            for outcome in sorted(set(HITL_OUTCOMES.values())):
                self.hitl_resolutions.labels(kind, outcome)

    # -- bounded labels ---------------------------------------------------------------------

    def model_label(self, model: str) -> str:
        """A priced model's canonical name, else `other`."""
        return canonical_name(model) if self.prices.known(model) else OTHER

    @staticmethod
    def tool_label(tool: Any) -> str:
        """Built-in tools verbatim, MCP tools as `mcp`, anything else `other`."""
        if not isinstance(tool, str):
            return OTHER
        if tool.startswith("mcp__"):
            return "mcp"
        return tool if tool in BUILTIN_TOOLS else OTHER

    # -- the listener -----------------------------------------------------------------------

    def on_commit(self, batch: Committed) -> None:
        """Count what was just committed (new events, HITL status updates, the fold's notes)."""
        notes = batch.notes.sessions if batch.notes is not None else {}
        for event in batch.events:
            if event.kind == "update":
                self._hitl_update(event.row)
                continue
            note = notes.get(event.row["event_uid"])
            if note is not None and note.tool_outcome:
                self._tool_call(note)
            self._event(event.row)
        if batch.notes is not None:
            self._notes(batch.notes)

    def _tool_call(self, note: SessionNote) -> None:
        # The fold notes a tool call on the first event that reports it: hooks and Claude
        # Code's OTLP tool_result describe the same call, and it counts once.
        tool = self.tool_label(note.tool)
        self.tool_calls.labels(tool, note.tool_outcome).inc()
        if note.tool_seconds is not None and note.tool_outcome == "success":
            self.tool_duration.labels(tool).observe(note.tool_seconds)

    def _event(self, row: dict[str, Any]) -> None:
        name = row["hook_event_type"]
        if name == "SubagentStart":
            self.subagents.labels(self._agents(str(payload_of(row).get("agent_type")
                                                   or "unknown"))).inc()
        elif name in ("task_completed", "task_failed"):
            body = payload_of(row)
            ok = name == "task_completed" and body.get("success") is not False
            label = body["label"] if isinstance(body.get("label"), str) else "none"
            self.ralph_tasks.labels(self._labels(label), "success" if ok else "failure").inc()
        elif name == "request" and row["source_app"] == "api":
            self._request(payload_of(row))
        if row.get("hitl_status") == "pending" and row.get("human_in_the_loop"):
            self._hitl_seen[int(row["id"])] = "pending"
            self.hitl_requests.labels(_hitl_kind(row)).inc()

    def _request(self, body: dict[str, Any]) -> None:
        duration = body.get("duration_ms")
        if not isinstance(duration, int | float) or isinstance(duration, bool):
            return
        method = str(body.get("method") or "").upper()
        status = body.get("status")
        status_label = str(status) if isinstance(status, int) and 100 <= status < 600 else OTHER
        self.api_requests.labels(self._routes(str(body.get("route") or "unknown")),
                                 method if method in METHODS else OTHER,
                                 status_label).observe(max(0.0, duration / 1000))

    def _notes(self, notes: FoldNotes) -> None:
        for note in notes.sessions.values():
            if note.started:
                self.sessions_started.labels(note.source).inc()
            if note.ended:
                self.sessions_ended.labels(note.source, note.ended).inc()
                self.session_duration.labels(note.source).observe(note.duration_s)
        for model, usage in notes.usage.items():
            label = self.model_label(model)
            for field, kind in TOKEN_KINDS.items():
                if usage.get(field):
                    self.tokens.labels(label, *kind).inc(usage[field])
            if usage.get("cost_usd"):
                self.cost.labels(label).inc(usage["cost_usd"])
        if notes.unpriced:
            self.unpriced.inc(len(notes.unpriced))

    def on_abandoned(self, rows: list[dict[str, Any]]) -> None:
        """The sweeper abandoned sessions."""
        for row in rows:
            source = row["source"] if row["source"] in SOURCES else OTHER
            self.sessions_ended.labels(source, "abandoned").inc()
            self.session_duration.labels(source).observe(max(0.0, row.get("duration_s") or 0))

    def _hitl_update(self, row: dict[str, Any]) -> None:
        status = row.get("hitl_status")
        if not status or not row.get("human_in_the_loop"):
            return
        key = int(row["id"])
        if self._hitl_seen.get(key) == status:
            return
        self._hitl_seen[key] = status
        self._hitl_seen.move_to_end(key)
        while len(self._hitl_seen) > 10_000:
            self._hitl_seen.popitem(last=False)
        if status == "pending":
            return
        kind = _hitl_kind(row)
        self.hitl_resolutions.labels(kind, HITL_OUTCOMES.get(status, "error")).inc()
        waited = _hitl_wait_seconds(row)
        if waited is not None:
            self.hitl_wait.labels(kind).observe(waited)


def _hitl_kind(row: dict[str, Any]) -> str:
    try:
        kind = json.loads(row["human_in_the_loop"]).get("type", "question")
    except (ValueError, AttributeError, TypeError):
        return OTHER
    return kind if kind in HITL_KINDS else OTHER


def _hitl_wait_seconds(row: dict[str, Any]) -> float | None:
    try:
        status = json.loads(row.get("human_in_the_loop_status") or "{}")
    except ValueError:
        return None
    requested, responded = status.get("requestedAt"), status.get("respondedAt")
    if isinstance(requested, int | float) and isinstance(responded, int | float):
        return max(0.0, (responded - requested) / 1000)
    return None
