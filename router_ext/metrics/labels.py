"""Bounded Prometheus label values: unknown names collapse to `other`, never to a new series."""

from __future__ import annotations

HOOK_EVENTS = frozenset({
    "SessionStart", "SessionEnd", "UserPromptSubmit", "UserPromptExpansion", "PreToolUse",
    "PostToolUse", "PostToolUseFailure", "PostToolBatch", "PermissionRequest",
    "PermissionDenied", "Notification", "Stop", "StopFailure", "SubagentStart", "SubagentStop",
    "PreCompact", "PostCompact", "Setup", "ConfigChange", "CwdChanged", "DirectoryAdded",
    "Elicitation", "ElicitationResult", "FileChanged", "InstructionsLoaded", "MessageDisplay",
    "TaskCreated", "TaskCompleted", "TeammateIdle", "WorktreeCreate", "WorktreeRemove",
})
METRIC_EVENTS = frozenset({
    "session_started", "task_started", "task_completed", "task_failed", "session_completed",
    "request", "job_started", "job_completed", "job_failed", "job_cancelled",
})
KNOWN_EVENT_TYPES = HOOK_EVENTS | METRIC_EVENTS
SOURCES = ("interactive", "ralph", "api")
OTHER = "other"


def event_type(name: str) -> str:
    """A known hook or metric event name, else `other`."""
    return name if name in KNOWN_EVENT_TYPES else OTHER


class Capped:
    """Keeps the first `limit` distinct values it sees; later new values become `other`."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[str] = set()
        self.collapsed = 0

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) < self._limit:
            self._seen.add(value)
            return value
        self.collapsed += 1
        return OTHER
