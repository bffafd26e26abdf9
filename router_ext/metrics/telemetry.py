"""The Prometheus catalog of what Claude Code's OpenTelemetry export adds, and attribution.

Fed by a writer listener from what the sessions fold noted, so every number here grows
exactly as much as the session rows did: lines of code, commits, pull requests, active time
and API requests come from the sessions' columns (the largest source, never a sum of sources),
and cost, tokens, sessions and tool failures are also counted per user and project.

User and project are unbounded sets, so each is a :class:`~router_ext.metrics.labels.Capped`
label: the first N distinct values seen get their own series, the rest are counted as `other`
(`harness_label_values_collapsed_total` says how often). Per-request durations come from
`claude_code.api_request` events, which only OTLP reports.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from router_ext.metrics.labels import OTHER, Capped
from router_ext.otlp.claude import API_REQUEST
from router_ext.otlp.values import number
from router_ext.records import FoldNotes
from router_ext.sessions.apply import payload_of
from router_ext.store.writer import Committed

LLM_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320)
LINE_TYPES = {"lines_added": "added", "lines_removed": "removed"}


class TelemetryMetrics:
    """Registers its counters in `registry`; :meth:`on_commit` is the writer listener."""

    def __init__(self, registry: CollectorRegistry, model_label: Any, label_limit: int) -> None:
        self._model_label = model_label
        self._users = Capped(label_limit)
        self._projects = Capped(label_limit)
        r = registry
        self.lines = Counter("harness_lines_of_code", "Lines of code changed, by type",
                             ["type"], registry=r)
        self.commits = Counter("harness_commits", "Git commits created", registry=r)
        self.pull_requests = Counter("harness_pull_requests", "Pull requests created",
                                     registry=r)
        self.active = Counter("harness_active_time_seconds",
                              "Time Claude Code reported as active", registry=r)
        self.llm_requests = Counter("harness_llm_requests", "Model API requests, by outcome",
                                    ["outcome"], registry=r)
        self.llm_duration = Histogram("harness_llm_request_duration_seconds",
                                      "Model API request duration as Claude Code reported it",
                                      ["model"], buckets=LLM_BUCKETS, registry=r)
        self.cost = Counter("harness_attributed_cost_usd", "Cost in US dollars, by user and "
                            "project", ["user", "project"], registry=r)
        self.tokens = Counter("harness_attributed_tokens", "Tokens used, by user and project",
                              ["user", "project"], registry=r)
        self.sessions = Counter("harness_attributed_sessions", "Sessions started, by user and "
                                "project", ["user", "project"], registry=r)
        self.tool_failures = Counter("harness_attributed_tool_failures",
                                     "Failed tool calls, by user and project",
                                     ["user", "project"], registry=r)
        self.collapsed = Counter("harness_label_values_collapsed",
                                 "Label values counted as `other` because the label is full",
                                 ["label"], registry=r)
        for kind in LINE_TYPES.values():
            self.lines.labels(kind)
        for outcome in ("success", "error"):
            self.llm_requests.labels(outcome)
        for label in ("user", "project"):
            self.collapsed.labels(label)

    def on_commit(self, batch: Committed) -> None:
        """Count request durations of new events, then what the fold noted."""
        for event in batch.events:
            if event.kind == "event" and event.row["hook_event_type"] == API_REQUEST:
                seconds = number(payload_of(event.row).get("duration_ms"))
                if seconds is not None:
                    model = self._model_label(event.row.get("model_name") or "")
                    self.llm_duration.labels(model).observe(max(0.0, seconds / 1000))
        if batch.notes is not None:
            self._counters(batch.notes.counters)
            self._attributed(batch.notes)

    def _counters(self, grown: dict[str, float]) -> None:
        for column, kind in LINE_TYPES.items():
            if grown.get(column):
                self.lines.labels(kind).inc(grown[column])
        for column, counter in (("commits_count", self.commits),
                                ("pull_requests_count", self.pull_requests),
                                ("active_seconds", self.active)):
            if grown.get(column):
                counter.inc(grown[column])
        for column, outcome in (("api_requests_count", "success"),
                                ("api_errors_count", "error")):
            if grown.get(column):
                self.llm_requests.labels(outcome).inc(grown[column])

    def _label(self, capped: Capped, name: str, value: str) -> str:
        label = capped(value)
        if label == OTHER and value != OTHER:
            self.collapsed.labels(name).inc()
        return label

    def _attributed(self, notes: FoldNotes) -> None:
        for (user, project), grown in notes.attributed.items():
            labels = (self._label(self._users, "user", user),
                      self._label(self._projects, "project", project))
            for field, counter in (("cost_usd", self.cost), ("tokens", self.tokens),
                                   ("sessions", self.sessions),
                                   ("tool_failures", self.tool_failures)):
                if grown.get(field):
                    counter.labels(*labels).inc(grown[field])
