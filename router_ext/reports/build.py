"""Group entries into ccusage's report shapes, with ccusage's field names.

    daily    {"daily":    [{date, inputTokens, outputTokens, cacheCreationTokens, cacheReadTokens,
                            totalTokens, totalCost, modelsUsed, modelBreakdowns}], "totals"}
    weekly   {"weekly":   [{week, ...}], "totals"}      the week's first day (Sunday by default)
    monthly  {"monthly":  [{month, ...}], "totals"}
    session  {"sessions": [{sessionId, ..., lastActivity, modelsUsed, modelBreakdowns,
                            projectPath}], "totals"}
    blocks   see :mod:`router_ext.reports.blocks`

A week or a month is the sum of its days, and totals the sum of the rows, in the order ccusage
sums them, so the same entries give the same numbers. Dates are in the report's time zone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import Any

from router_ext.reports.blocks import blocks_report
from router_ext.reports.entries import WEEK_DAYS, Entry, Options, local_time

Row = dict[str, Any]
TOKEN_KEYS = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens")
ROW_KEY = {"daily": "date", "weekly": "week", "monthly": "month"}
LIST_KEY = {"daily": "daily", "weekly": "weekly", "monthly": "monthly", "session": "sessions"}


def _tokens(entry: Entry) -> tuple[int, int, int, int]:
    u = entry.usage
    return (u.input_tokens, u.output_tokens, u.cache_creation_input_tokens,
            u.cache_read_input_tokens)


class Sums:
    """Token kinds, cost and per-model breakdowns of one row."""

    def __init__(self) -> None:
        self.tokens = [0, 0, 0, 0]
        self.cost = 0.0
        self.models: dict[str, Row] = {}
        self.used: list[str] = []

    def add(self, model: str, tokens: Iterable[int], cost: float) -> None:
        """Add one entry's (or one day's model breakdown's) usage."""
        values = list(tokens)
        self.tokens = [a + b for a, b in zip(self.tokens, values, strict=True)]
        self.cost += cost
        breakdown = self.models.setdefault(model, {"modelName": model, **dict.fromkeys(
            TOKEN_KEYS, 0), "cost": 0.0})
        for key, value in zip(TOKEN_KEYS, values, strict=True):
            breakdown[key] += value
        breakdown["cost"] += cost
        self.use(model)

    def use(self, model: str) -> None:
        """Note a model as used (each once, in first-seen order)."""
        if model not in self.used:
            self.used.append(model)

    def fields(self) -> Row:
        """The row's numbers under ccusage's names."""
        row: Row = dict(zip(TOKEN_KEYS, self.tokens, strict=True))
        row["totalTokens"] = sum(self.tokens)
        row["totalCost"] = self.cost
        row["modelsUsed"] = list(self.used)
        # Most expensive first; equal costs keep first-seen order (a stable sort, as in JS).
        row["modelBreakdowns"] = sorted(self.models.values(), key=lambda b: -b["cost"])
        return row


def _in_range(day: str, opts: Options) -> bool:
    compact = day[:10].replace("-", "")
    return not ((opts.since and compact < opts.since) or (opts.until and compact > opts.until))


def _ordered(rows: list[Row], key: str, opts: Options) -> list[Row]:
    return sorted(rows, key=lambda r: r[key], reverse=opts.order == "desc")


def _group(entries: Iterable[Entry], key: Callable[[Entry], str]) -> dict[str, list[Entry]]:
    groups: dict[str, list[Entry]] = {}
    for entry in entries:
        groups.setdefault(key(entry), []).append(entry)
    return groups


def _sums(entries: Iterable[Entry]) -> Sums:
    sums = Sums()
    for entry in entries:
        sums.add(entry.model, _tokens(entry), entry.cost)
    return sums


def daily_rows(entries: Iterable[Entry], opts: Options) -> list[Row]:
    """One row per day that had usage, within since/until."""
    groups = _group(entries, lambda e: local_time(e.at_ms, opts.tz).strftime("%Y-%m-%d"))
    rows = [{"date": day, **_sums(group).fields()} for day, group in groups.items()
            if _in_range(day, opts)]
    if opts.project is not None:  # ccusage names the project on each day it filtered to
        for row in rows:
            row["project"] = opts.project
    return _ordered(rows, "date", opts)


def week_of(day: str, start_of_week: str) -> str:
    """The first day of `day`'s week, weeks starting on `start_of_week`."""
    moment = date.fromisoformat(day)
    js_weekday = (moment.weekday() + 1) % 7  # Sunday 0, as JavaScript counts
    shift = (js_weekday - WEEK_DAYS.index(start_of_week) + 7) % 7
    return (moment - timedelta(days=shift)).isoformat()


def bucket_rows(days: list[Row], kind: str, opts: Options) -> list[Row]:
    """Weeks or months as the sum of their days."""
    name = ROW_KEY[kind]
    bucket_of = ((lambda d: week_of(d, opts.start_of_week)) if kind == "weekly"
                 else (lambda d: d[:7]))
    groups: dict[str, list[Row]] = {}
    for day in days:
        groups.setdefault(bucket_of(day["date"]), []).append(day)
    rows = []
    for bucket, members in groups.items():
        sums = Sums()
        for day in members:
            for b in day["modelBreakdowns"]:
                sums.add(b["modelName"], (b[k] for k in TOKEN_KEYS), b["cost"])
        # Tokens and cost are the days' totals; models in the days' order.
        sums.tokens = [sum(d[k] for d in members) for k in TOKEN_KEYS]
        sums.cost = 0.0
        for day in members:
            sums.cost += day["totalCost"]
        sums.used = []
        for day in members:
            for model in day["modelsUsed"]:
                sums.use(model)
        rows.append({name: bucket, **sums.fields()})
    return _ordered(rows, name, opts)


def session_rows(entries: Iterable[Entry], opts: Options) -> list[Row]:
    """One row per session, dated by its last activity."""
    rows = []
    for session, group in _group(entries, lambda e: e.session_id).items():
        latest = group[0]
        for entry in group:
            if entry.at_ms > latest.at_ms:
                latest = entry
        last = local_time(latest.at_ms, opts.tz).strftime("%Y-%m-%d")
        if not _in_range(last, opts):
            continue
        fields = _sums(group).fields()
        if not fields["totalTokens"] and not fields["totalCost"]:
            continue  # a session whose usage moved to the Ralph task that ran it
        breakdowns, used = fields.pop("modelBreakdowns"), fields.pop("modelsUsed")
        rows.append({"sessionId": session, **fields, "lastActivity": last,
                     "modelsUsed": used, "modelBreakdowns": breakdowns,
                     "projectPath": latest.project})
    return _ordered(rows, "lastActivity", opts)


def totals(rows: list[Row]) -> Row:
    """The rows summed, in order."""
    out: Row = dict.fromkeys(TOKEN_KEYS, 0)
    out["totalCost"] = 0.0
    for row in rows:
        for key in TOKEN_KEYS:
            out[key] += row[key]
        out["totalCost"] += row["totalCost"]
    out["totalTokens"] = sum(out[k] for k in TOKEN_KEYS)
    return out


def build_report(kind: str, entries: list[Entry], opts: Options) -> Row:
    """The report of `kind` over `entries` (already filtered to the project, if any)."""
    if opts.project is not None:
        entries = [e for e in entries if e.project == opts.project]
    if kind == "blocks":
        return blocks_report(entries, opts)
    if kind == "session":
        rows = session_rows(entries, opts)
    else:
        days = daily_rows(entries, opts)
        rows = days if kind == "daily" else bucket_rows(days, kind, opts)
    return {LIST_KEY[kind]: rows, "totals": totals(rows)}
