"""How Claude Code's own OpenTelemetry events and metric points change a session.

- `claude_code.api_request`: one API request: tokens by kind and Claude Code's own cost_usd,
  added to the session's OTLP-events usage; counts an API request.
- `claude_code.api_error`, `claude_code.user_prompt`: count an API error, a prompt.
- `claude_code.tool_result`: a finished tool call (success or failure) with its duration;
  `claude_code.tool_decision` with decision `reject`: a denied tool call.
- `claude_code.metrics` (router-ext's row of one session's data points): each claude_code.*
  series is accounted (delta points add, cumulative points replace the series' last value,
  restarts of a cumulative series carry the old total on); the series' totals become the
  session's OTLP-metrics usage, lines of code, commits, pull requests and active time.

Every report goes to its source's tally in the ledger; the columns show the largest source
(:mod:`router_ext.sessions.ledger` says why), so hooks and OTLP never count a request twice.
Attribution (user, organization, host, terminal, project) is kept from the first report.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from router_ext.otlp import claude
from router_ext.otlp.resource import attribution
from router_ext.otlp.values import flag, mapping, number, text
from router_ext.records import Row
from router_ext.sessions import usage as su
from router_ext.sessions.apply import OTLP_META, count_tool, payload_of
from router_ext.sessions.ledger import OTLP_EVENTS, OTLP_METRICS
from router_ext.sessions.pricing import PriceTable
from router_ext.sessions.state import SessionState
from router_ext_client.usage import ModelMap, ModelUsage

# api_request attribute -> usage field
REQUEST_USAGE = {"input_tokens": "input_tokens", "output_tokens": "output_tokens",
                 "cache_read_tokens": "cache_read_input_tokens",
                 "cache_creation_tokens": "cache_creation_input_tokens",
                 "cache_creation_5m_tokens": "cache_creation_5m",
                 "cache_creation_1h_tokens": "cache_creation_1h"}
# claude_code.token.usage `type` -> usage field
TOKEN_TYPES = {"input": "input_tokens", "output": "output_tokens",
               "cacheRead": "cache_read_input_tokens",
               "cacheCreation": "cache_creation_input_tokens"}
# Counter metrics -> session count, per `type` where the type matters.
COUNTERS = {"claude_code.commit.count": "commits_count",
            "claude_code.pull_request.count": "pull_requests_count",
            "claude_code.active_time.total": "active_seconds"}
LINES = {"added": "lines_added", "removed": "lines_removed"}
DENIED = frozenset({"reject", "deny", "denied", "rejected"})


def apply_otlp(state: SessionState, row: Row, prices: PriceTable) -> list[str]:
    """Fold one Claude Code OTLP row; returns models whose usage had no price."""
    name = row["hook_event_type"]
    payload = payload_of(row)
    state.touch(int(row["timestamp"]))
    state.cols["source_app"] = state.cols.get("source_app") or row["source_app"]
    resource = mapping(mapping(payload.get(OTLP_META)).get("resource"))
    if name == claude.METRICS:
        found = payload.get("points")
        points: list[Any] = found if isinstance(found, list) else []
        for point in points[:1]:  # one session's points name the same user
            _attribute(state, resource, mapping(mapping(point).get("attributes")))
        return _points(state, points, prices)
    _attribute(state, resource, payload)
    if name == claude.API_REQUEST:
        return _request(state, row, payload, prices)
    if name == claude.API_ERROR:
        state.tally(OTLP_EVENTS, "api_errors_count")
    elif name == claude.USER_PROMPT:
        state.tally(OTLP_EVENTS, "prompts_count")
    elif name == claude.TOOL_RESULT:
        ok = flag(payload.get("success"))
        count_tool(state, OTLP_EVENTS, row, "failure" if ok is False else "success",
                   number(payload.get("duration_ms")))
    elif name == claude.TOOL_DECISION and str(payload.get("decision")).lower() in DENIED:
        count_tool(state, OTLP_EVENTS, row, "denied", None)
    return []


def _attribute(state: SessionState, resource: dict[str, Any], attrs: dict[str, Any]) -> None:
    cols = state.cols
    for column, value in attribution(resource, attrs).items():
        cols[column] = cols.get(column) or value[:256]


def _request(state: SessionState, row: Row, payload: dict[str, Any],
             prices: PriceTable) -> list[str]:
    model = text(payload.get("model")) or row.get("model_name") or "unknown"
    usage = ModelUsage(**{field: int(number(payload.get(key)) or 0)
                          for key, field in REQUEST_USAGE.items()})
    cost = number(payload.get("cost_usd"))
    usage.cost_usd = cost
    models = {model: usage}
    unpriced = su.price(models, prices) if cost is None else []
    state.add_source_usage(OTLP_EVENTS, models)
    state.tally(OTLP_EVENTS, "api_requests_count")
    if not state.cols.get("model"):
        state.cols["model"] = model
    return unpriced


# -- metric points ---------------------------------------------------------------------------

def series_key(point: dict[str, Any]) -> str:
    """One time series: the metric and its attributes."""
    identity = json.dumps([point.get("metric"), point.get("attributes")], sort_keys=True)
    return hashlib.blake2b(identity.encode(), digest_size=8).hexdigest()


def observe(series: dict[str, dict[str, Any]], point: dict[str, Any]) -> None:
    """Account one data point into its series: deltas add, cumulative values replace."""
    value = number(point.get("value"))
    if value is None:
        return
    attrs = mapping(point.get("attributes"))
    key = series_key(point)
    entry = series.get(key)
    start, time = int(point.get("start_ms") or 0), int(point.get("time_ms") or 0)
    if entry is None:
        entry = series[key] = {"metric": point.get("metric"), "model": attrs.get("model"),
                               "type": attrs.get("type"), "bank": 0.0, "last": 0.0,
                               "start": start, "time": 0}
    if point.get("temporality") == "delta":
        entry["bank"] += value
    elif time > entry["time"]:
        if start != entry["start"]:  # the series restarted (a new process): keep its total
            entry["bank"] += entry["last"]
            entry["start"] = start
        entry["last"] = value
    entry["time"] = max(entry["time"], time)


def _points(state: SessionState, points: list[Any], prices: PriceTable) -> list[str]:
    series = state.ledger.series
    for point in points:
        if isinstance(point, dict) and point.get("metric") in claude.SESSION_METRICS:
            observe(series, point)
    models: ModelMap = {}
    counts: dict[str, float] = {}
    for entry in series.values():
        _total_into(entry, entry["bank"] + entry["last"], models, counts)
    unpriced = su.price({m: u for m, u in models.items() if u.cost_usd is None}, prices)
    state.add_source_usage(OTLP_METRICS, models, replace=True)
    for column, value in counts.items():
        state.tally(OTLP_METRICS, column, value, total=True)
    return unpriced


def _total_into(entry: dict[str, Any], total: float, models: ModelMap,
                counts: dict[str, float]) -> None:
    metric, kind = entry.get("metric"), entry.get("type")
    model = text(entry.get("model")) or "unknown"
    if metric == "claude_code.token.usage" and kind in TOKEN_TYPES:
        usage = models.setdefault(model, ModelUsage())
        setattr(usage, TOKEN_TYPES[kind], getattr(usage, TOKEN_TYPES[kind]) + int(total))
    elif metric == "claude_code.cost.usage":
        usage = models.setdefault(model, ModelUsage())
        usage.cost_usd = (usage.cost_usd or 0.0) + total
    elif metric == "claude_code.lines_of_code.count" and kind in LINES:
        counts[LINES[kind]] = counts.get(LINES[kind], 0.0) + total
    elif metric in COUNTERS:
        counts[COUNTERS[metric]] = counts.get(COUNTERS[metric], 0.0) + total
