"""Per-model usage as stored in `harness_sessions.model_usage`, priced, and compared.

A session's usage is a :data:`ModelMap` whose entries always carry `cost_usd` once priced, so
the stored JSON is the whole truth: token totals and cost columns are sums over it.
"""

from __future__ import annotations

import json
from typing import Any

from router_ext.sessions.pricing import PriceTable
from router_ext_client.usage import TOKEN_FIELDS, ModelMap, ModelUsage, main_model

# The `claude -p` modelUsage spelling, accepted in metric bodies alongside ours.
_CLI_KEYS = {
    "inputTokens": "input_tokens", "outputTokens": "output_tokens",
    "cacheReadInputTokens": "cache_read_input_tokens",
    "cacheCreationInputTokens": "cache_creation_input_tokens",
    "cacheCreationEphemeral5mInputTokens": "cache_creation_5m",
    "cacheCreationEphemeral1hInputTokens": "cache_creation_1h", "costUSD": "cost_usd",
}


def load(text: str | None) -> ModelMap:
    """The stored JSON as per-model usage."""
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return parse_models(data)


def dump(models: ModelMap) -> str | None:
    """Per-model usage as stored JSON (None when empty)."""
    if not models:
        return None
    return json.dumps({m: u.to_dict() for m, u in sorted(models.items())},
                      separators=(",", ":"))


def parse_models(data: Any) -> ModelMap:
    """{MODEL: usage} in our field names or the CLI's camelCase ones; bad entries skipped."""
    if not isinstance(data, dict):
        return {}
    out: ModelMap = {}
    for name, entry in data.items():
        if not isinstance(entry, dict) or not isinstance(name, str) or not name:
            continue
        entry = {_CLI_KEYS.get(k, k): v for k, v in entry.items()}
        out[name[:256]] = ModelUsage.from_dict(entry)
    return out


def flat_usage(body: dict[str, Any], model: str | None) -> ModelMap:
    """Usage from a metric body's flat fields or `tokens` object, under its one model."""
    raw = body.get("tokens")
    tokens: dict[str, Any] = raw if isinstance(raw, dict) else {}

    def pick(flat: str, short: str) -> Any:
        value = body.get(flat)
        return value if value is not None else tokens.get(short)

    usage = ModelUsage.from_dict({
        "input_tokens": pick("input_tokens", "input"),
        "output_tokens": pick("output_tokens", "output"),
        "cache_read_input_tokens": pick("cache_read_tokens", "cache_read"),
        "cache_creation_input_tokens": pick("cache_creation_tokens", "cache_creation"),
    })
    cost = body.get("cost_usd")
    if isinstance(cost, int | float) and not isinstance(cost, bool):
        usage.cost_usd = float(cost)
    if usage.is_empty() and usage.cost_usd is None:
        return {}
    return {model or "unknown": usage}


def price(models: ModelMap, table: PriceTable) -> list[str]:
    """Fill in `cost_usd` for every model that lacks it; returns models with no price."""
    unpriced: list[str] = []
    for name, usage in models.items():
        if usage.cost_usd is not None:
            continue
        cost = table.model_cost(name, usage)
        if cost is None and not usage.is_empty():
            unpriced.append(name)
        usage.cost_usd = cost or 0.0
    return unpriced


def cost_of(models: ModelMap) -> float:
    """Total cost of priced usage."""
    return sum(u.cost_usd or 0.0 for u in models.values())


def tokens(models: ModelMap) -> ModelUsage:
    """All models summed."""
    out = ModelUsage()
    for usage in models.values():
        out.add(usage)
    return out


def add_into(into: ModelMap, more: ModelMap) -> None:
    """Add usage (tokens and cost) model by model."""
    for name, usage in more.items():
        into.setdefault(name, ModelUsage(cost_usd=0.0)).add(usage)


def growth(new: ModelMap, old: ModelMap) -> ModelMap:
    """What `new` has beyond `old`, per model, never negative (a counter's increment)."""
    out: ModelMap = {}
    for name, usage in new.items():
        before = old.get(name, ModelUsage())
        delta = usage.minus(before)
        delta.cost_usd = max(0.0, (usage.cost_usd or 0.0) - (before.cost_usd or 0.0))
        if not delta.is_empty() or delta.cost_usd:
            out[name] = delta
    return out


def change(new: ModelMap, old: ModelMap) -> ModelMap:
    """`new` minus `old` per model, signed; models with no change left out."""
    out: ModelMap = {}
    for name in {**old, **new}:
        after, before = new.get(name, ModelUsage()), old.get(name, ModelUsage())
        delta = ModelUsage(**{f: getattr(after, f) - getattr(before, f) for f in TOKEN_FIELDS},
                           cost_usd=(after.cost_usd or 0.0) - (before.cost_usd or 0.0))
        if not delta.is_empty() or delta.cost_usd:
            out[name] = delta
    return out


def ledger_columns(usage: ModelUsage) -> dict[str, Any]:
    """One model's usage under the usage_ledger column names."""
    return {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
            "cache_read_tokens": usage.cache_read_input_tokens,
            "cache_creation_tokens": usage.cache_creation_input_tokens,
            "cost_usd": round(usage.cost_usd or 0.0, 9)}


def columns(models: ModelMap) -> dict[str, Any]:
    """The session columns derived from its per-model usage."""
    total = tokens(models)
    return {
        "input_tokens": total.input_tokens,
        "output_tokens": total.output_tokens,
        "cache_read_tokens": total.cache_read_input_tokens,
        "cache_creation_tokens": total.cache_creation_input_tokens,
        "cost_usd": round(cost_of(models), 9),
        "model_usage": dump(models),
    }


def bigger(a: ModelMap, b: ModelMap) -> bool:
    """True when `a` accounts for more tokens than `b`."""
    return tokens(a).total_tokens > tokens(b).total_tokens


__all__ = ["TOKEN_FIELDS", "add_into", "bigger", "change", "columns", "cost_of", "dump",
           "flat_usage", "growth", "ledger_columns", "load", "main_model", "parse_models",
           "price", "tokens"]
