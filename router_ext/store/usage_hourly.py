"""Counted usage per hour and model, added by the writer from each batch's ledger increments.

The sessions fold notes each session's signed change in usage per model; the ledger stores
those rows and this module adds them, summed per hour and model, to `usage_hourly` in the same
transaction (a session's usage grows over its life: only the change is added, never the total).
So the table always equals the ledger grouped by hour and model, and the analytics read a few
thousand rows for a month instead of decoding every session's per-model usage.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.dialects import postgresql

from router_ext.store.counts import HOUR_MS
from router_ext.store.many_rows import write_rows
from router_ext.store.models import UsageHourly

HOURLY = UsageHourly.__table__  # type: ignore[attr-defined]
TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens")
SUMMED = (*TOKENS, "cost_usd")
COLUMNS = ("bucket_ms", "model", *SUMMED)
Sums = dict[tuple[int, str], list[float]]

_SQLITE_UPSERT = (f"INSERT INTO usage_hourly ({', '.join(COLUMNS)})",
                  "ON CONFLICT (bucket_ms, model) DO UPDATE SET "
                  + ", ".join(f"{c} = {c} + excluded.{c}" for c in SUMMED))


@functools.cache
def _core_upsert() -> Any:
    """The same upsert for PostgreSQL, built once."""
    stmt = postgresql.insert(HOURLY)
    return stmt.on_conflict_do_update(
        index_elements=["bucket_ms", "model"],
        set_={c: HOURLY.c[c] + stmt.excluded[c] for c in SUMMED})


def summed(increments: Iterable[dict[str, Any]]) -> Sums:
    """Ledger-shaped rows (`at`, `model`, tokens, `cost_usd`) summed per hour and model."""
    out: Sums = {}
    for row in increments:
        key = (int(row["at"]) // HOUR_MS * HOUR_MS, str(row["model"]))
        total = out.setdefault(key, [0] * len(SUMMED))
        for i, column in enumerate(SUMMED):
            total[i] += row.get(column) or 0
    return out


def add(conn: Connection, increments: Iterable[dict[str, Any]]) -> None:
    """Add these ledger increments (inside the caller's transaction)."""
    rows = [(*key, *(int(v) for v in total[:-1]), round(float(total[-1]), 9))
            for key, total in sorted(summed(increments).items())]
    if rows:
        write_rows(conn, rows, _SQLITE_UPSERT, _core_upsert(), COLUMNS)


def backfill(conn: Connection) -> None:
    """Sum the whole ledger into an empty table (what a database had before it)."""
    sums = ", ".join(f"sum({c})" for c in SUMMED)
    conn.execute(text(
        f"INSERT INTO usage_hourly ({', '.join(COLUMNS)}) "
        f"SELECT (at / {HOUR_MS}) * {HOUR_MS}, model, {sums} FROM usage_ledger "
        f"GROUP BY (at / {HOUR_MS}) * {HOUR_MS}, model"))
