"""5-hour billing blocks: usage windows with their burn rate and the projection to their end.

A block starts at the hour of its first entry and lasts `session_hours` (5); an entry past the
block's end, or more than `session_hours` after the previous entry, starts the next one, and a
silence longer than that is reported as a gap block. The block still running (its last entry
less than `session_hours` ago and its end not reached) gets a burn rate over the time between
its first and last entries and a projection of tokens and cost to its end. Field names are
ccusage's.
"""

from __future__ import annotations

import math
from typing import Any

from router_ext.reports.entries import Entry, Options, iso_utc, local_time, timestamp_ms

Row = dict[str, Any]
HOUR_MS = 3_600_000


def _js_round(value: float) -> int:
    return math.floor(value + 0.5)  # JavaScript's Math.round, not Python's half-to-even


def split_blocks(entries: list[Entry], duration_ms: int) -> list[tuple[int, list[Entry]]]:
    """(start ms, entries) of each block, in time order; gaps are not included."""
    blocks: list[tuple[int, list[Entry]]] = []
    for entry in sorted(entries, key=lambda e: e.at_ms):
        if blocks:
            start, members = blocks[-1]
            if (entry.at_ms - start <= duration_ms
                    and entry.at_ms - members[-1].at_ms <= duration_ms):
                members.append(entry)
                continue
        blocks.append((entry.at_ms - entry.at_ms % HOUR_MS, [entry]))
    return blocks


def _counts(members: list[Entry]) -> dict[str, int]:
    counts = {"inputTokens": 0, "outputTokens": 0, "cacheCreationInputTokens": 0,
              "cacheReadInputTokens": 0}
    for e in members:
        counts["inputTokens"] += e.usage.input_tokens
        counts["outputTokens"] += e.usage.output_tokens
        counts["cacheCreationInputTokens"] += e.usage.cache_creation_input_tokens
        counts["cacheReadInputTokens"] += e.usage.cache_read_input_tokens
    return counts


def burn_rate(members: list[Entry], counts: dict[str, int], cost: float) -> Row | None:
    """Tokens per minute and cost per hour between a block's first and last entries."""
    minutes = (members[-1].at_ms - members[0].at_ms) / 60_000 if members else 0
    if minutes <= 0:
        return None
    return {"tokensPerMinute": sum(counts.values()) / minutes,
            "tokensPerMinuteForIndicator": (counts["inputTokens"] + counts["outputTokens"])
            / minutes,
            "costPerHour": cost / minutes * 60}


def projection(rate: Row | None, end_ms: int, tokens: int, cost: float,
               now_ms: int) -> Row | None:
    """Tokens and cost at the block's end if the burn rate holds."""
    if rate is None:
        return None
    remaining = max(0.0, (end_ms - now_ms) / 60_000)
    return {"totalTokens": _js_round(tokens + rate["tokensPerMinute"] * remaining),
            "totalCost": _js_round((cost + rate["costPerHour"] / 60 * remaining) * 100) / 100,
            "remainingMinutes": _js_round(remaining)}


def block_row(start: int, members: list[Entry], opts: Options) -> Row:
    """One block in ccusage's JSON shape."""
    duration = int(opts.session_hours * HOUR_MS)
    end, last = start + duration, members[-1].at_ms
    active = opts.now_ms - last < duration and opts.now_ms < end
    counts = _counts(members)
    cost = 0.0
    for e in members:
        cost += e.cost
    models: list[str] = []
    for e in members:
        if e.model not in models:
            models.append(e.model)
    rate = burn_rate(members, counts, cost) if active else None
    return {"id": iso_utc(start), "startTime": iso_utc(start), "endTime": iso_utc(end),
            "actualEndTime": iso_utc(last), "isActive": active, "isGap": False,
            "entries": len(members), "tokenCounts": counts, "totalTokens": sum(counts.values()),
            "costUSD": cost, "models": models, "burnRate": rate,
            "projection": projection(rate, end, sum(counts.values()), cost, opts.now_ms)}


def gap_row(last_ms: int, next_ms: int, duration_ms: int) -> Row:
    """The silence between two blocks, from the end of the last activity's window."""
    start = last_ms + duration_ms
    return {"id": f"gap-{iso_utc(start)}", "startTime": iso_utc(start),
            "endTime": iso_utc(next_ms), "actualEndTime": None, "isActive": False,
            "isGap": True, "entries": 0,
            "tokenCounts": {"inputTokens": 0, "outputTokens": 0, "cacheCreationInputTokens": 0,
                            "cacheReadInputTokens": 0},
            "totalTokens": 0, "costUSD": 0, "models": [], "burnRate": None,
            "projection": None}


def blocks_report(entries: list[Entry], opts: Options) -> Row:
    """{"blocks": [...]}: every block and gap, filtered by the start day, in order."""
    duration = int(opts.session_hours * HOUR_MS)
    rows: list[tuple[int, Row]] = []
    previous: list[Entry] | None = None
    for start, members in split_blocks(entries, duration):
        if previous is not None and members[0].at_ms - previous[-1].at_ms > duration:
            rows.append((previous[-1].at_ms + duration,
                         gap_row(previous[-1].at_ms, members[0].at_ms, duration)))
        rows.append((start, block_row(start, members, opts)))
        previous = members
    kept = []
    for start, row in rows:
        day = local_time(start, opts.tz).strftime("%Y%m%d")
        if (opts.since and day < opts.since) or (opts.until and day > opts.until):
            continue
        kept.append((start, row))
    kept.sort(key=lambda item: item[0], reverse=opts.order == "desc")
    return {"blocks": [row for _, row in kept]}


def current_block(entries: list[Entry], opts: Options) -> Row | None:
    """The block running now, if any (the status line's burn rate)."""
    duration = int(opts.session_hours * HOUR_MS)
    blocks = split_blocks(entries, duration)
    if not blocks:
        return None
    row = block_row(*blocks[-1], opts)
    return row if row["isActive"] else None


def block_summary(block: Row | None, now_ms: int) -> Row | None:
    """The status line's view of a block: its cost, burn rate and minutes left."""
    if block is None:
        return None
    end = timestamp_ms(block["endTime"]) or now_ms
    rate = block.get("burnRate")
    return {"cost_usd": block["costUSD"], "cost_per_hour": rate["costPerHour"] if rate else None,
            "remaining_minutes": max(0.0, (end - now_ms) / 60_000)}
