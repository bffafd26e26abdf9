"""What tokens cost at a model's rates: the formula alone, with no imports.

:class:`router_ext.sessions.pricing.PriceTable` finds a model's rates; the status line keeps
them in its cache and prices new responses with this function, without loading the table.
"""

from __future__ import annotations

PER = 1_000_000
# USD per million tokens, in this order.
RATE_FIELDS = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")


def tokens_cost(rates: tuple[float, ...] | list[float], input_tokens: int, output_tokens: int,
                cache_read: int, cache_creation: int, five: int, hour: int) -> float:
    """The cost of one usage. Cache writes are priced by TTL when the split is known (`five`,
    `hour`); the rest of `cache_creation` as 5-minute writes, what the API bills by default."""
    rate_in, rate_out, rate_5m, rate_1h, rate_read = rates
    unsplit = max(0, cache_creation - five - hour)
    return (input_tokens * rate_in + output_tokens * rate_out + (five + unsplit) * rate_5m
            + hour * rate_1h + cache_read * rate_read) / PER
