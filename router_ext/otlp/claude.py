"""Claude Code's own telemetry: which records it sends and what each must carry to be used.

Claude Code names each log record `claude_code.<event>` (the record's body; `event.name` holds
the short name) and gives every record and metric point a `session.id`, the same id its hooks
report. A Claude Code record that cannot be tied to a session, or whose numbers are not numbers,
is refused (OTLP partial success) rather than stored half-understood. Numbers may come as
integers, doubles or text: 2.1.328 sends tool_result's duration_ms as "24".
"""

from __future__ import annotations

from typing import Any

from router_ext.errors import InvalidInput
from router_ext.otlp.values import number, text

API_REQUEST = "claude_code.api_request"
API_ERROR = "claude_code.api_error"
TOOL_RESULT = "claude_code.tool_result"
TOOL_DECISION = "claude_code.tool_decision"
USER_PROMPT = "claude_code.user_prompt"
METRICS = "claude_code.metrics"  # router-ext's name for one session's points of one export
SESSION_KEY = "session.id"
USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens",
                "cache_creation_5m_tokens", "cache_creation_1h_tokens")
# Per event: attributes that must be present, and attributes that must be numbers if present.
REQUIRED: dict[str, tuple[str, ...]] = {
    API_REQUEST: ("model",),
    TOOL_RESULT: ("tool_name",),
    TOOL_DECISION: ("tool_name", "decision"),
}
NUMERIC: dict[str, tuple[str, ...]] = {
    API_REQUEST: (*USAGE_FIELDS, "cost_usd", "duration_ms"),
    API_ERROR: ("duration_ms",),
    TOOL_RESULT: ("duration_ms",),
}
# Metric names Claude Code exports, and the session column or usage field each one feeds.
SESSION_METRICS = frozenset({
    "claude_code.session.count", "claude_code.cost.usage", "claude_code.token.usage",
    "claude_code.lines_of_code.count", "claude_code.commit.count",
    "claude_code.pull_request.count", "claude_code.active_time.total",
    "claude_code.code_edit_tool.decision",
})


def check(name: str, attrs: dict[str, Any]) -> None:
    """Raise InvalidInput when a Claude Code record lacks what its meaning depends on."""
    if not text(attrs.get(SESSION_KEY)):
        raise InvalidInput(f"{name} record has no {SESSION_KEY}", field=SESSION_KEY)
    for key in REQUIRED.get(name, ()):
        if attrs.get(key) in (None, ""):
            raise InvalidInput(f"{name} record has no {key}", field=key)
    for key in NUMERIC.get(name, ()):
        if key in attrs and number(attrs[key]) is None:
            raise InvalidInput(f"{name} record's {key} is not a number: {attrs[key]!r}",
                               field=key)
