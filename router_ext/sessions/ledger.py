"""What each source reported about one session, kept apart so that no request counts twice.

A Claude Code session can be reported three ways at once: its hooks (tool calls, prompts, and
on Stop the usage read from the transcript), its OTLP log events (one per API request with
Claude Code's own cost, one per tool result and prompt) and its OTLP metrics (counters of
tokens, cost, lines, commits...). Each source on its own counts every request once; they differ
in when they arrive (log events within seconds, metrics each export interval, transcript usage
at Stop) and in what they can miss (a hook that timed out, a dropped export).

So the ledger keeps each source's running totals, and the session shows, per model and per
token kind (and per count), the largest of them: the most complete report so far. Sources are
never added to one another, and a source that is behind never pulls a number down, so every
shown number only grows, which keeps the Prometheus counters fed from it exact.

Stored as JSON in `harness_sessions.source_totals`:
`{"usage": {source: {model: usage}}, "counts": {source: {name: n}}, "series": {key: {...}}}`.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from router_ext.otlp.values import mapping
from router_ext.sessions import usage as su
from router_ext.sessions.pricing import canonical_name
from router_ext_client.usage import TOKEN_FIELDS, ModelMap, ModelUsage

HOOKS = "hooks"  # usage read from the transcript by the command hook; hook event counts
OTLP_EVENTS = "otlp_events"  # Claude Code's api_request / tool_result / user_prompt events
OTLP_METRICS = "otlp_metrics"  # Claude Code's claude_code.* metric points
ORDER = (HOOKS, OTLP_EVENTS, OTLP_METRICS)  # which source names a model when they agree


@dataclass
class Ledger:
    """Per-source totals of one session, and the metric series they come from."""

    usage: dict[str, ModelMap] = field(default_factory=dict)
    counts: dict[str, dict[str, float]] = field(default_factory=dict)
    series: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, text: str | None, legacy_models: ModelMap,
             legacy_counts: dict[str, int]) -> Ledger:
        """The stored ledger; a row from before it existed had only hooks reporting."""
        data: Any = None
        if text:
            try:
                data = json.loads(text)
            except ValueError:
                data = None
        if not isinstance(data, dict):
            counts = {k: float(v) for k, v in legacy_counts.items() if v}
            return cls({HOOKS: copy.deepcopy(legacy_models)} if legacy_models else {},
                       {HOOKS: counts} if counts else {})
        tallies = {str(s): {str(k): float(v) for k, v in mapping(c).items()
                            if isinstance(v, int | float)}
                   for s, c in mapping(data.get("counts")).items()}
        return cls({str(s): su.parse_models(m) for s, m in mapping(data.get("usage")).items()},
                   tallies, mapping(data.get("series")))

    def dump(self) -> str | None:
        """The JSON to store (None when nothing was reported)."""
        if not (self.usage or self.counts or self.series):
            return None
        return json.dumps({
            "usage": {s: {m: u.to_dict() for m, u in sorted(models.items())}
                      for s, models in sorted(self.usage.items()) if models},
            "counts": {s: c for s, c in sorted(self.counts.items()) if c},
            "series": self.series,
        }, separators=(",", ":"), sort_keys=True)

    # -- usage ---------------------------------------------------------------------------

    def add_usage(self, source: str, models: ModelMap) -> None:
        """Add usage a source reported as new (hook reads, api_request events)."""
        su.add_into(self.usage.setdefault(source, {}), models)

    def set_usage(self, source: str, models: ModelMap) -> None:
        """Replace a source's usage with its new totals (metric series)."""
        self.usage[source] = models

    def merged(self) -> ModelMap:
        """Per model and token kind, the largest report of any source (see module docstring)."""
        out: ModelMap = {}
        shown: dict[str, str] = {}
        for source in (*ORDER, *sorted(set(self.usage) - set(ORDER))):
            for key, usage in _by_canonical(self.usage.get(source, {})).items():
                name = shown.setdefault(key, usage[0])
                best = out.setdefault(name, ModelUsage(cost_usd=0.0))
                for name_ in TOKEN_FIELDS:
                    setattr(best, name_, max(getattr(best, name_), getattr(usage[1], name_)))
                best.cost_usd = max(best.cost_usd or 0.0, usage[1].cost_usd or 0.0)
        return out

    # -- counts ----------------------------------------------------------------------------

    def count(self, source: str, name: str, n: float = 1) -> None:
        """A source reported `n` more of something (a tool call, a prompt...)."""
        tally = self.counts.setdefault(source, {})
        tally[name] = tally.get(name, 0.0) + n

    def set_count(self, source: str, name: str, value: float) -> None:
        """A source's new total of something (from metric series)."""
        self.counts.setdefault(source, {})[name] = value

    def best(self, name: str) -> float:
        """The largest count any source reported."""
        return max((c.get(name, 0.0) for c in self.counts.values()), default=0.0)


def _by_canonical(models: ModelMap) -> dict[str, tuple[str, ModelUsage]]:
    """One source's usage summed per canonical model name (first raw name kept for display).

    Sources spell one model differently (`claude-sonnet-4-5` in a transcript,
    `claude-sonnet-4-5-20250929` elsewhere); comparing them under one name is what keeps the
    maximum from counting a model twice.
    """
    out: dict[str, tuple[str, ModelUsage]] = {}
    for model, usage in models.items():
        key = canonical_name(model)
        if key not in out:
            out[key] = (model, ModelUsage(cost_usd=0.0))
        out[key][1].add(usage)
    return out
