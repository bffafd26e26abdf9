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

from router_ext.reports.times import iso_utc, local_time

TYPE_CHECKING = False  # the status line imports this module; typing costs it ~5 ms
if TYPE_CHECKING:
    from typing import Any

    from router_ext.reports.entries import Entry, Options

    Row = dict[str, Any]
HOUR_MS = 3_600_000


def _js_round(value: float) -> int:
    return math.floor(value + 0.5)  # JavaScript's Math.round, not Python's half-to-even


def spans(times: list[int], duration_ms: int) -> list[tuple[int, int, int]]:
    """(start ms, first index, end index) of each block over ascending times; no gaps."""
    out: list[tuple[int, int, int]] = []
    for n, at in enumerate(times):
        if out:
            start, first, _ = out[-1]
            if at - start <= duration_ms and at - times[n - 1] <= duration_ms:
                out[-1] = (start, first, n + 1)
                continue
        out.append((at - at % HOUR_MS, n, n + 1))
    return out


def split_blocks(entries: list[Entry], duration_ms: int) -> list[tuple[int, list[Entry]]]:
    """(start ms, entries) of each block, in time order; gaps are not included."""
    ordered = sorted(entries, key=lambda e: e.at_ms)
    return [(start, ordered[first:end]) for start, first, end in
            spans([e.at_ms for e in ordered], duration_ms)]


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


def block_row(start: int, members: list[Entry], now_ms: int, duration: int) -> Row:
    """One block in ccusage's JSON shape (`members` need at_ms, model, cost and usage)."""
    end, last = start + duration, members[-1].at_ms
    active = now_ms - last < duration and now_ms < end
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
            "projection": projection(rate, end, sum(counts.values()), cost, now_ms)}


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
        rows.append((start, block_row(start, members, opts.now_ms, duration)))
        previous = members
    kept = []
    for start, row in rows:
        day = local_time(start, opts.tz).strftime("%Y%m%d")
        if (opts.since and day < opts.since) or (opts.until and day > opts.until):
            continue
        kept.append((start, row))
    kept.sort(key=lambda item: item[0], reverse=opts.order == "desc")
    return {"blocks": [row for _, row in kept]}


def block_status(points: list[tuple[int, float]], now_ms: int,
                 session_hours: float = 5.0) -> Row | None:
    """The block running now from (time, cost) points: its cost, burn rate (as in
    :func:`burn_rate`) and minutes left; None when no block is running."""
    duration = int(session_hours * HOUR_MS)
    points = sorted(points)
    found = spans([at for at, _ in points], duration)
    if not found:
        return None
    start, first, end = found[-1]
    last = points[end - 1][0]
    if not (now_ms - last < duration and now_ms < start + duration):
        return None
    cost = 0.0
    for _, value in points[first:end]:
        cost += value
    minutes = (last - points[first][0]) / 60_000
    return {"cost_usd": cost, "cost_per_hour": cost / minutes * 60 if minutes > 0 else None,
            "remaining_minutes": (start + duration - now_ms) / 60_000}
