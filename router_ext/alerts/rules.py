"""Alert rules: what each kind watches, and validation of a rule given as JSON.

    kind               threshold       fires for each subject that ...
    cost               USD             spent at least `threshold` in the period
    tokens             tokens          used at least `threshold` tokens in the period
    hitl_wait          minutes         (an approval request) waited longer than that
    session_idle       minutes         (a running session) sent no event for that long
    tool_failure_rate  ratio 0-1       failed that share of tool calls in `window_seconds`
                                       (at least `min_count` calls)
    ralph_failures     tasks           (a Ralph loop) failed that many tasks in a row
    spool_growth       bytes           (a reporting host) holds that much in its spool

`period` (cost, tokens): day, week, month or total, in ROUTER_EXT_ALERT_TIMEZONE. `scope`
(cost, tokens; tool_failure_rate: all or project): all, project, user (OpenTelemetry attribution)
or loop (a Ralph loop); `match` is one project, user or loop, or `*` for each separately.
A rule fires once per episode, resolves when the condition clears, and does not fire again for
the same subject until `cooldown_seconds` after it resolved. `stop_ralph` (cost, tokens) asks
the running Ralph loops within the scope to stop when it fires.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from router_ext.errors import InvalidInput

KINDS = ("cost", "tokens", "hitl_wait", "session_idle", "tool_failure_rate", "ralph_failures",
         "spool_growth")
BUDGETS = ("cost", "tokens")
PERIODS = ("day", "week", "month", "total")
SCOPES = ("all", "project", "user", "loop")
DEFAULT_WINDOW = 900
DEFAULT_MIN_COUNT = 10
DEFAULT_COOLDOWN = 3600
MAX_NAME = 128
MAX_WEBHOOKS = 10


@dataclass
class Rule:
    """One rule, as stored and as the API shows it."""

    name: str
    kind: str
    threshold: float
    period: str | None = None
    scope: str = "all"
    match: str = "*"
    window_seconds: int | None = None
    min_count: int | None = None
    cooldown_seconds: int = DEFAULT_COOLDOWN
    stop_ralph: bool = False
    webhooks: list[str] = field(default_factory=list)
    enabled: bool = True
    origin: str = "api"
    id: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The API's JSON form."""
        return asdict(self)

    def columns(self) -> dict[str, Any]:
        """The alert_rules columns (webhooks as JSON text)."""
        out = asdict(self)
        out["webhooks"] = json.dumps(self.webhooks) if self.webhooks else None
        out.pop("id")
        return out

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Rule:
        """A stored row."""
        values = {k: row[k] for k in cls.__dataclass_fields__ if k in row}
        values["webhooks"] = json.loads(row["webhooks"]) if row.get("webhooks") else []
        values["stop_ralph"] = bool(row.get("stop_ralph"))
        values["enabled"] = bool(row.get("enabled"))
        return cls(**values)


def _number(body: dict[str, Any], name: str, *, minimum: float = 0.0,
            maximum: float | None = None) -> float:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise InvalidInput(f"'{name}' must be a number", field=name)
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise InvalidInput(f"'{name}' must be {bound}", field=name)
    return float(value)


def _optional_int(body: dict[str, Any], name: str, default: int | None, minimum: int,
                  maximum: int) -> int | None:
    if body.get(name) is None:
        return default
    return int(_number(body, name, minimum=minimum, maximum=maximum))


def _choice(body: dict[str, Any], name: str, choices: tuple[str, ...], default: str | None
            ) -> str | None:
    value = body.get(name, default)
    if value is None and default is None:
        return None
    if value not in choices:
        raise InvalidInput(f"'{name}' must be one of {', '.join(choices)}", field=name)
    return str(value)


def _text(body: dict[str, Any], name: str, default: str, limit: int) -> str:
    value = body.get(name, default)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidInput(f"'{name}' must be a non-empty string of at most {limit} characters",
                           field=name)
    return value.strip()


def _webhooks(body: dict[str, Any]) -> list[str]:
    urls = body.get("webhooks") or []
    if not isinstance(urls, list) or len(urls) > MAX_WEBHOOKS or not all(
            isinstance(u, str) and u.startswith(("http://", "https://")) and len(u) <= 2000
            for u in urls):
        raise InvalidInput(f"'webhooks' must be a list of at most {MAX_WEBHOOKS} http(s) URLs",
                           field="webhooks")
    return list(urls)


def parse_rule(body: Any, *, origin: str = "api") -> Rule:
    """A rule from its JSON form; InvalidInput naming the first bad field."""
    if not isinstance(body, dict):
        raise InvalidInput("a rule must be a JSON object")
    known = set(Rule.__dataclass_fields__) - {"id", "origin"}
    unknown = sorted(set(body) - known - {"id", "origin"})
    if unknown:
        raise InvalidInput(f"unknown rule field(s): {', '.join(unknown)}", field=unknown[0])
    kind = str(_choice(body, "kind", KINDS, None))
    budget = kind in BUDGETS
    rule = Rule(
        name=_text(body, "name", "", MAX_NAME),
        kind=kind,
        threshold=_number(body, "threshold", maximum=1.0 if kind == "tool_failure_rate" else None),
        period=_choice(body, "period", PERIODS, "day") if budget else None,
        scope=str(_choice(body, "scope", SCOPES if budget else ("all", "project"), "all")),
        match=_text(body, "match", "*", 256),
        window_seconds=_optional_int(body, "window_seconds", DEFAULT_WINDOW, 60, 7 * 86400)
        if kind == "tool_failure_rate" else None,
        min_count=_optional_int(body, "min_count", DEFAULT_MIN_COUNT, 1, 1_000_000)
        if kind == "tool_failure_rate" else None,
        cooldown_seconds=int(_optional_int(body, "cooldown_seconds", DEFAULT_COOLDOWN, 0,
                                           30 * 86400) or 0),
        stop_ralph=bool(body.get("stop_ralph", False)),
        webhooks=_webhooks(body),
        enabled=bool(body.get("enabled", True)),
        origin=origin,
    )
    if rule.stop_ralph and not budget:
        raise InvalidInput("'stop_ralph' applies to cost and tokens rules", field="stop_ralph")
    if rule.scope == "all" and rule.match != "*":
        raise InvalidInput("'match' needs a scope (project, user or loop)", field="match")
    return rule
