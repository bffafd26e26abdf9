"""The analytics' hourly usage sums, kept by the writer, equal the usage ledger summed again.

Usage goes in through the real writer as Claude Code reports it (API request events, and
cumulative metric points that replace a source's totals, so a session's usage changes over its
life from two sources at once), in batches with the core stopped and started between some of
them; the table is then compared with a plain sum of the ledger per hour and model, and with
the sessions' own totals. Retention prunes events and leaves the sums alone; migration 0005
builds them from a ledger that had none.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, func, insert, select

from router_ext.ingest.normalize import build_row
from router_ext.otlp import claude
from router_ext.records import Row
from router_ext.reports.ledger import LEDGER, SESSIONS
from router_ext.runtime import RouterExt
from router_ext.settings import Settings
from router_ext.store import retention, schema
from router_ext.store.db import make_throwaway_engine
from router_ext.store.usage_hourly import HOUR_MS, HOURLY, SUMMED
from tests.support import ingest_with_restarts

BASE = 1_780_000_000_000 // HOUR_MS * HOUR_MS
MODELS = ("claude-sonnet-4-5", "claude-opus-4-5", "claude-sonnet-4-5-20250929")

report = st.fixed_dictionaries({
    "kind": st.sampled_from(("request", "request", "metrics", "prompt")),
    "session": st.sampled_from(("s1", "s2", "s3")),
    "model": st.sampled_from(MODELS),
    "hour": st.integers(0, 3),
    "minute": st.integers(0, 59),
    "tokens": st.integers(0, 5000),
    "cost": st.integers(0, 900).map(lambda c: c / 1000),
})
script = st.lists(st.tuples(st.lists(report, min_size=1, max_size=10), st.booleans()),
                  min_size=1, max_size=4)


def row(r: dict[str, Any]) -> Row:
    at = BASE + r["hour"] * HOUR_MS + r["minute"] * 60_000
    payload: dict[str, Any] = {"session_id": r["session"], "otlp": {"resource": {}}}
    kind = claude.USER_PROMPT
    if r["kind"] == "request":
        kind = claude.API_REQUEST
        payload.update(model=r["model"], input_tokens=r["tokens"], output_tokens=r["tokens"] // 7,
                       cost_usd=r["cost"])
    elif r["kind"] == "metrics":  # one cumulative series per model: its total so far
        kind = claude.METRICS
        point = {"attributes": {"model": r["model"]}, "temporality": "cumulative",
                 "start_ms": BASE, "time_ms": at}
        payload["points"] = [
            {**point, "metric": "claude_code.cost.usage", "value": r["cost"] * 3},
            {**point, "metric": "claude_code.token.usage", "value": r["tokens"] * 2,
             "attributes": {"model": r["model"], "type": "input"}}]
    return build_row(source_app="usage", session_id=r["session"], hook_event_type=kind,
                     payload=payload, event_uid=uuid.uuid4().hex, timestamp=at)


def store(url: str, batches: list[tuple[list[dict[str, Any]], bool]]) -> None:
    """Each batch made into rows and stored through the real writer (restarts between)."""
    asyncio.run(ingest_with_restarts(url, [([row(e) for e in b], restart)
                                           for b, restart in batches]))


def recount(engine: Engine) -> dict[tuple[int, str], list[float]]:
    """The ledger summed per hour and model, in Python."""
    out: defaultdict[tuple[int, str], list[float]] = defaultdict(lambda: [0] * len(SUMMED))
    with engine.connect() as conn:
        for r in conn.execute(select(LEDGER)).mappings():
            total = out[(r["at"] // HOUR_MS * HOUR_MS, r["model"])]
            for i, column in enumerate(SUMMED):
                total[i] += r[column]
    return {k: v for k, v in out.items() if any(v)}


def stored(engine: Engine) -> dict[tuple[int, str], list[float]]:
    with engine.connect() as conn:
        return {(r["bucket_ms"], r["model"]): [r[c] for c in SUMMED]
                for r in conn.execute(select(HOURLY)).mappings() if any(r[c] for c in SUMMED)}


def assert_equal(found: dict[tuple[int, str], list[float]],
                 expected: dict[tuple[int, str], list[float]]) -> None:
    assert found.keys() == expected.keys()
    for key, values in expected.items():
        assert found[key][:-1] == values[:-1], key  # tokens exactly
        assert found[key][-1] == pytest.approx(values[-1], abs=1e-6), key  # cost


def session_totals(engine: Engine) -> tuple[float, float]:
    """Output tokens and cost of every session, as its own columns say."""
    with engine.connect() as conn:
        out, cost = conn.execute(select(func.coalesce(func.sum(SESSIONS.c.output_tokens), 0),
                                        func.coalesce(func.sum(SESSIONS.c.cost_usd), 0))).one()
    return float(out), float(cost)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batches=script)
def test_hourly_usage_equals_the_ledger_after_random_reports_and_restarts(
        tmp_path: Path, batches: list[tuple[list[dict[str, Any]], bool]]) -> None:
    url = f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}"
    store(url, batches)
    engine = create_engine(url)
    try:
        expected = recount(engine)
        reported = [r for reports, _ in batches for r in reports
                    if r["kind"] != "prompt" and (r["tokens"] or r["cost"])]
        assert bool(expected) == bool(reported)  # usage reached the ledger
        assert_equal(stored(engine), expected)
        out, cost = session_totals(engine)  # and the ledger is the sessions' usage
        assert sum(v[1] for v in expected.values()) == out
        assert sum(v[-1] for v in expected.values()) == pytest.approx(cost, abs=1e-6)
    finally:
        engine.dispose()


def test_a_session_whose_usage_grows_adds_only_the_change(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'grow.db'}"
    first = {"kind": "metrics", "session": "s1", "model": MODELS[0], "hour": 0, "minute": 5,
             "tokens": 100, "cost": 0.5}
    # The same cumulative series reports 1.50 then 2.40 in the next hour: 0.9 more there.
    later = {**first, "hour": 1, "cost": 0.8, "tokens": 160}
    store(url, [([first], True), ([later], False)])
    engine = create_engine(url)
    try:
        found = stored(engine)
        assert found[(BASE, MODELS[0])][0] == 200
        assert found[(BASE, MODELS[0])][-1] == pytest.approx(1.5)
        assert found[(BASE + HOUR_MS, MODELS[0])][0] == 120
        assert found[(BASE + HOUR_MS, MODELS[0])][-1] == pytest.approx(0.9)
    finally:
        engine.dispose()


def test_retention_prunes_events_and_leaves_the_sums(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pruned.db'}"
    reports = [{"kind": "request", "session": s, "model": m, "hour": h, "minute": 1,
                "tokens": 700, "cost": 0.25} for s in ("s1", "s2") for m in MODELS[:2]
               for h in (0, 2)]
    store(url, [(reports, False)])

    async def prune() -> int:
        core = RouterExt(Settings(database_url=url))
        await core.start()
        try:
            return await core.writer.run(retention.older_than(BASE + 10 * HOUR_MS, 1000))
        finally:
            await core.stop()

    engine = create_engine(url)
    try:
        before = stored(engine)
        assert asyncio.run(prune()) == len(reports) - 1  # all but the newest event
        assert stored(engine) == before
        assert_equal(before, recount(engine))
    finally:
        engine.dispose()


def test_migration_sums_the_ledger_it_finds(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        schema.upgrade(engine, "0004")
        ledger = [{"at": BASE + n * 1_200_000, "session_id": f"s{n % 3}", "source": "api",
                   "project": None, "loop_id": None, "model": MODELS[n % 2],
                   "input_tokens": 10 * n, "output_tokens": n, "cache_read_tokens": 0,
                   "cache_creation_tokens": 1, "cost_usd": n / 100} for n in range(12)]
        with engine.begin() as conn:
            conn.execute(insert(LEDGER), ledger)
        schema.upgrade(engine)
        expected = recount(engine)
        assert len(expected) == 8  # 4 hours x 2 models
        assert_equal(stored(engine), expected)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_hourly_usage_equals_the_ledger_on_postgresql(pg_url: str) -> None:
    reports = [{"kind": k, "session": s, "model": m, "hour": h, "minute": 7 * h,
                "tokens": 300 + h, "cost": 0.125 * (h + 1)}
               for k in ("request", "metrics") for s in ("s1", "s2") for m in MODELS
               for h in (0, 1, 3)]
    store(pg_url, [(reports[:12], True), (reports[12:], False)])
    engine = make_throwaway_engine(pg_url)
    try:
        expected = recount(engine)
        assert expected
        assert_equal(stored(engine), expected)
    finally:
        engine.dispose()
