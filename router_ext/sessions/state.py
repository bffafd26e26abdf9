"""One harness session being folded: its columns, its usage, and how events change it."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any

from router_ext.sessions import usage as su
from router_ext.sessions.ledger import Ledger
from router_ext.store.models import HarnessSession
from router_ext_client.usage import ModelMap

SESSIONS = HarnessSession.__table__  # type: ignore[attr-defined]
COLUMN_NAMES = tuple(c.name for c in SESSIONS.columns)
ENDED = ("completed", "failed", "cancelled")
COUNTS = ("tool_calls_count", "tool_failures_count", "prompts_count", "subagents_count")
PROJECT_MAX = 512
# Counts more than one source reports: each source's tally is kept, the column is the largest.
TALLIED = ("tool_calls_count", "tool_failures_count", "prompts_count")
# Counts only OpenTelemetry reports (API requests and errors, metric counters).
TELEMETRY_COUNTS = ("api_requests_count", "api_errors_count", "lines_added", "lines_removed",
                    "commits_count", "pull_requests_count")


def empty_columns(session_id: str, source: str, ts: int) -> dict[str, Any]:
    """A new row's columns with their defaults."""
    cols: dict[str, Any] = dict.fromkeys(COLUMN_NAMES)
    cols.update({"id": session_id, "source": source, "status": "running", "started_at": ts,
                 "last_event_at": ts, "cost_usd": 0.0, "input_tokens": 0, "output_tokens": 0,
                 "cache_read_tokens": 0, "cache_creation_tokens": 0})
    for name in (*COUNTS, *TELEMETRY_COUNTS):
        cols[name] = 0
    cols["active_seconds"] = 0.0
    return cols


@dataclass(slots=True)
class ToolNote:
    """A tool call an event counted (the first report of it): for the Prometheus catalog."""

    tool: str | None
    outcome: str  # success | failure | denied
    seconds: float | None = None


@dataclass
class SessionState:
    """A session row loaded (or created) for one batch, with what it was before."""

    cols: dict[str, Any]
    is_new: bool
    models: ModelMap = field(default_factory=dict)
    before_models: ModelMap = field(default_factory=dict)
    before_status: str | None = None
    before_loop: str | None = None
    # Set by events in this batch, for the metrics notes.
    started: bool = False
    ended: bool = False
    start_seen: bool = False
    original: dict[str, Any] = field(default_factory=dict)
    ledger: Ledger = field(default_factory=Ledger)
    tool_note: ToolNote | None = None  # set by the event being applied, read by the fold
    unsettled: bool = False  # the ledger's usage changed since models was merged

    @classmethod
    def load(cls, cols: dict[str, Any]) -> SessionState:
        """A stored row."""
        models = su.load(cols.get("model_usage"))
        interactive = cols.get("source") == "interactive"
        ledger = Ledger.load(cols.get("source_totals"), models if interactive else {},
                             {n: int(cols.get(n) or 0) for n in TALLIED} if interactive else {})
        return cls(dict(cols), False, models, copy.deepcopy(models), cols.get("status"),
                   cols.get("loop_id"), original=dict(cols), ledger=ledger)

    @classmethod
    def create(cls, session_id: str, source: str, ts: int) -> SessionState:
        """A row that does not exist yet."""
        return cls(empty_columns(session_id, source, ts), True, started=True)

    @property
    def id(self) -> str:
        """The session id."""
        return str(self.cols["id"])

    @property
    def source(self) -> str:
        """interactive, ralph or api."""
        return str(self.cols["source"])

    @property
    def linked(self) -> bool:
        """An interactive session run by a Ralph task or job (its usage counts there)."""
        return self.source == "interactive" and bool(self.cols.get("loop_id"))

    def counted(self, *, before: bool) -> ModelMap:
        """The usage this row contributes to totals (a linked child contributes nothing)."""
        if self.source == "interactive" and (self.before_loop if before else
                                             self.cols.get("loop_id")):
            return {}
        return self.before_models if before else self.models

    def touch(self, ts: int) -> None:
        """An event arrived: keep first/last times, and wake an abandoned session."""
        self.cols["last_event_at"] = max(int(self.cols["last_event_at"] or 0), ts)
        if ts < int(self.cols["started_at"] or ts):
            self.cols["started_at"] = ts
        if self.cols["status"] == "abandoned":
            self.cols["status"] = "running"
            self.cols["completed_at"] = None

    def start(self, ts: int) -> None:
        """A start event: running again, even after an end (a resumed session)."""
        if self.is_new and not self.start_seen:
            self.cols["started_at"] = ts
        self.start_seen = True
        if self.cols["status"] in ENDED:
            self.cols.update(status="running", completed_at=None, duration_ms=None,
                             success=None, error=None)

    def end(self, ts: int, status: str, *, duration_ms: int | None = None) -> None:
        """An end event: completed, failed or cancelled."""
        if duration_ms and duration_ms > 0:
            if self.is_new and not self.start_seen:
                self.cols["started_at"] = ts - duration_ms
        else:
            duration_ms = max(0, ts - int(self.cols["started_at"]))
        self.cols.update(status=status, completed_at=ts, duration_ms=int(duration_ms),
                         success=status == "completed")
        self.ended = True

    def set_usage(self, models: ModelMap) -> None:
        """Replace the usage (a run's own totals, e.g. from `claude -p`)."""
        self.models = models

    def add_source_usage(self, source: str, models: ModelMap, *, replace: bool = False) -> None:
        """A source's usage report (added, or its new totals); the shown usage follows."""
        if replace:
            self.ledger.set_usage(source, models)
        else:
            self.ledger.add_usage(source, models)
        self.unsettled = True  # merged once per batch in settle(), not once per event

    def settle(self) -> None:
        """Bring the shown usage up to date with the ledger (after a batch's events)."""
        if self.unsettled:
            self.models = self.ledger.merged()
            self.unsettled = False

    def tally(self, source: str, name: str, n: float = 1, *, total: bool = False) -> bool:
        """A source reported `n` more of `name` (or `n` in all); True when the shown count grew.

        Columns show the largest tally of any source (see :mod:`router_ext.sessions.ledger`);
        names that are not columns are kept in the ledger only.
        """
        before = self.ledger.best(name)
        if total:
            self.ledger.set_count(source, name, n)
        else:
            self.ledger.count(source, name, n)
        best = self.ledger.best(name)
        if name not in self.cols:
            return best > before
        if best <= float(self.cols.get(name) or 0):
            return False
        self.cols[name] = best if name == "active_seconds" else int(best)
        return True

    def row(self) -> dict[str, Any]:
        """The columns to store, usage columns recomputed."""
        out = {name: self.cols.get(name) for name in COLUMN_NAMES}
        out.update(su.columns(self.models))
        out["source_totals"] = self.ledger.dump()
        if self.models and not out.get("model"):
            out["model"] = su.main_model(self.models)
        return out


def project_name(cwd: Any) -> str | None:
    """A project's name from its working directory (the folder name, not the path)."""
    if not isinstance(cwd, str) or not cwd:
        return None
    name = os.path.basename(cwd.rstrip("/")) or cwd
    return name.replace("\x00", "")[:PROJECT_MAX] or None  # the column is VARCHAR(512)
