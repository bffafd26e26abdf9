"""Model prices and what usage costs.

The packaged table is `router_ext/data/prices.json`; a file of the same shape named by
Settings.prices_path (ROUTER_EXT_PRICES) replaces entries per model, so prices change without a
release. Costs are exact arithmetic on token counts: cache writes are priced by TTL (5-minute or
1-hour) when the split is known, else as 5-minute writes, which is what the API bills by default.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from router_ext.sessions.rates import PER, RATE_FIELDS, tokens_cost
from router_ext_client.usage import ModelUsage

__all__ = ["PER", "PRICE_FIELDS", "Price", "PriceTable", "canonical_name"]

PRICE_FIELDS = RATE_FIELDS
_PROVIDER_PREFIX = re.compile(r"^.*?(?=claude-)")  # bedrock `us.anthropic.`, `anthropic/`
_SUFFIXES = (
    re.compile(r"\[[^\]]*\]$"),           # claude-opus-4-6[1m]
    re.compile(r"-v\d+(:\d+)?$"),         # bedrock -v1:0
    re.compile(r"@\d{8}$"),               # vertex @20250929
    re.compile(r"-\d{8}$"),               # dated snapshot -20251001
    re.compile(r"-latest$"),
)


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens of each kind."""

    input: float
    output: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Price:
        """Validate one table entry; a missing cache price follows the usual multipliers."""
        if not isinstance(data, dict):
            raise ValueError(f"{where}: each model's price must be an object")
        if not _number(data.get("input")) or not _number(data.get("output")):
            raise ValueError(f"{where}: 'input' and 'output' must be numbers")
        base = float(data["input"])
        defaults = {"cache_write_5m": base * 1.25, "cache_write_1h": base * 2.0,
                    "cache_read": base * 0.1}
        values: dict[str, float] = {}
        for name in PRICE_FIELDS:
            value: Any = data.get(name, defaults.get(name))
            if not _number(value) or value < 0:
                raise ValueError(f"{where}: '{name}' must be a non-negative number")
            values[name] = float(value)
        return cls(**values)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def canonical_name(model: str) -> str:
    """A model id without provider prefix, snapshot date or version suffix."""
    name = _PROVIDER_PREFIX.sub("", model.strip().lower(), count=1)
    for pattern in _SUFFIXES:
        name = pattern.sub("", name)
    return name


class PriceTable:
    """Prices by canonical model name."""

    def __init__(self, prices: dict[str, Price]) -> None:
        self.prices = {canonical_name(name): price for name, price in prices.items()}

    @classmethod
    def from_json(cls, data: Any, where: str = "prices") -> PriceTable:
        """A table from the JSON shape of prices.json."""
        models = data.get("models") if isinstance(data, dict) else None
        if not isinstance(models, dict):
            raise ValueError(f"{where}: expected an object with a 'models' object")
        return cls({str(name): Price.from_dict(value, f"{where}: {name}")
                    for name, value in models.items()})

    @classmethod
    def load(cls, override_path: str = "") -> PriceTable:
        """The packaged table, with the override file's entries on top."""
        beside = Path(__file__).resolve().parent.parent / "data" / "prices.json"
        if beside.is_file():  # importlib.resources would cost a status line ~10 ms
            packaged = beside.read_text()
        else:
            from importlib import resources

            packaged = resources.files("router_ext").joinpath("data/prices.json").read_text()
        table = cls.from_json(json.loads(packaged), "router_ext/data/prices.json")
        if override_path:
            path = Path(override_path).expanduser()
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise ValueError(f"cannot read the price file {path}: {exc}") from exc
            table.prices.update(cls.from_json(data, str(path)).prices)
        return table

    def price(self, model: str | None) -> Price | None:
        """The price of a model, or None when the table does not know it."""
        if not model:
            return None
        return self.prices.get(canonical_name(model))

    def known(self, model: str | None) -> bool:
        """True when the model has a price."""
        return self.price(model) is not None

    def model_cost(self, model: str, usage: ModelUsage) -> float | None:
        """The cost of one model's usage from the table, or None when it has no price."""
        rates = self.rates(model)
        if rates is None:
            return None
        return tokens_cost(rates, usage.input_tokens, usage.output_tokens,
                           usage.cache_read_input_tokens, usage.cache_creation_input_tokens,
                           usage.cache_creation_5m, usage.cache_creation_1h)

    def rates(self, model: str | None) -> tuple[float, ...] | None:
        """A model's rates in RATE_FIELDS order, or None when it has no price."""
        price = self.price(model)
        return None if price is None else tuple(getattr(price, f) for f in RATE_FIELDS)
