"""The dashboard's hourly counts, kept by the writer, equal a full recount of the events.

Events go in through the real writer (in batches, with the server core stopped and started
again between some of them); the counts are then compared with what a plain recount of the
stored events gives. The same holds after migration 0005 counts a database that had none.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, insert, select

from router_ext.ingest.normalize import build_row
from router_ext.otlp.values import flag
from router_ext.records import Row
from router_ext.store import schema
from router_ext.store.counts import COUNTS, HOUR_MS, first_line
from router_ext.store.db import make_throwaway_engine
from router_ext.store.rollups import ROLLUPS
from router_ext.store.writer import EVENTS
from tests.support import ingest_with_restarts

BASE = 1_780_000_000_000 // HOUR_MS * HOUR_MS
TYPES = ("PostToolUse", "PostToolUseFailure", "claude_code.tool_result", "SubagentStart",
         "PreToolUse", "Stop")

event = st.fixed_dictionaries({
    "type": st.sampled_from(TYPES),
    "session": st.sampled_from(("s1", "s2", "s3")),
    "tool": st.sampled_from(("Bash", "Read", None)),
    "hour": st.integers(0, 3),
    "minute": st.integers(0, 59),
    "success": st.sampled_from((True, False, "false", None)),
    "error": st.sampled_from(("Exit code 1", "File not found\nmore", None)),
    "agent": st.sampled_from(("Explore", "general-purpose", None)),
})
# Batches of events; after each batch, whether the core restarts.
script = st.lists(st.tuples(st.lists(event, min_size=1, max_size=12), st.booleans()),
                  min_size=1, max_size=4)


def row(e: dict[str, Any]) -> Row:
    payload: dict[str, Any] = {"session_id": e["session"]}
    if e["tool"]:
        payload["tool_name"] = e["tool"]
    if e["type"] == "claude_code.tool_result" and e["success"] is not None:
        payload["success"] = e["success"]
    if e["type"] == "PostToolUseFailure" and e["error"] is not None:
        payload["error"] = e["error"]
    if e["type"] == "SubagentStart" and e["agent"] is not None:
        payload["agent_type"] = e["agent"]
    return build_row(source_app="counts", session_id=e["session"],
                     hook_event_type=e["type"], payload=payload, event_uid=uuid.uuid4().hex,
                     timestamp=BASE + e["hour"] * HOUR_MS + e["minute"] * 60_000)


def store(url: str, batches: list[tuple[list[dict[str, Any]], bool]]) -> None:
    """Each batch made into rows and stored through the real writer (restarts between)."""
    asyncio.run(ingest_with_restarts(url, [([row(e) for e in b], restart)
                                           for b, restart in batches]))


def recount(engine: Engine) -> dict[tuple[str, int, str, str], tuple[int, int]]:
    """What the counts must be, from the stored events alone: per session and hour the larger
    of hook and OTLP tool counts, spawns by agent type, failures by tool and first line."""
    e = EVENTS.c
    query = select(e.session_id, e.tool_name, e.hook_event_type, e.timestamp, e.payload)
    per_session: defaultdict[tuple[int, str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    plain: Counter[tuple[str, int, str, str]] = Counter()
    last: dict[tuple[str, int, str, str], int] = {}
    with engine.connect() as conn:
        for session, tool, kind, at, payload_text in conn.execute(query):
            hour, payload = at // HOUR_MS * HOUR_MS, json.loads(payload_text)
            name = tool or "unknown"
            keys: list[tuple[str, int, str, str]] = []
            if kind in ("PostToolUse", "PostToolUseFailure"):
                per_session[(hour, session, name, kind)][0] += 1
                keys.append(("tools", hour, name, kind))
            if kind == "claude_code.tool_result":
                outcome = ("PostToolUseFailure" if flag(payload.get("success")) is False
                           else "PostToolUse")
                per_session[(hour, session, name, outcome)][1] += 1
                keys.append(("tools", hour, name, outcome))
            if kind == "PostToolUseFailure":
                key = ("errors", hour, tool or "tool", first_line(payload.get("error")))
                plain[key] += 1
                keys.append(key)
            if kind == "SubagentStart":
                key = ("subagents", hour, payload.get("agent_type") or "unknown", "")
                plain[key] += 1
                keys.append(key)
            for key in keys:
                last[key] = max(last.get(key, 0), at)
        for (hour, _session, name, outcome), (hooks, otlp) in per_session.items():
            plain[("tools", hour, name, outcome)] += max(hooks, otlp)
    return {k: (n, last[k]) for k, n in plain.items() if n}


def stored_counts(engine: Engine) -> dict[tuple[str, int, str, str], tuple[int, int]]:
    c = COUNTS.c
    with engine.connect() as conn:
        rows = conn.execute(select(c.kind, c.bucket_ms, c.name, c.detail, c.count, c.last_ms))
        return {(k, int(b), n, d): (int(count), int(at)) for k, b, n, d, count, at in rows
                if count}


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batches=script)
def test_counts_equal_a_recount_after_random_inserts_and_restarts(
        tmp_path: Path, batches: list[tuple[list[dict[str, Any]], bool]]) -> None:
    db = tmp_path / f"{uuid.uuid4().hex}.db"
    url = f"sqlite:///{db}"
    store(url, batches)
    engine = create_engine(url)
    try:
        assert stored_counts(engine) == recount(engine)
    finally:
        engine.dispose()


def test_otlp_and_hooks_for_the_same_calls_count_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'both.db'}"
    hook = {"type": "PostToolUse", "session": "s1", "tool": "Bash", "hour": 0, "minute": 1,
            "success": None, "error": None, "agent": None}
    otlp = {**hook, "type": "claude_code.tool_result", "success": True}
    # Two calls as hooks, then the same two (and a third) as OpenTelemetry: three calls.
    store(url, [([hook, hook], True), ([otlp, otlp, otlp], False)])
    engine = create_engine(url)
    try:
        assert stored_counts(engine)[("tools", BASE, "Bash", "PostToolUse")][0] == 3
    finally:
        engine.dispose()


def test_migration_counts_stored_events_and_rolled_up_history(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    try:
        schema.upgrade(engine, "0004")
        events = [row({"type": t, "session": s, "tool": "Bash", "hour": h, "minute": 5,
                       "success": False, "error": "boom", "agent": "Explore"})
                  for t in TYPES for s in ("s1", "s2") for h in (0, 2)]
        pruned = {"kind": "tools", "bucket_ms": BASE - HOUR_MS, "name": "Read",
                  "detail": "PostToolUse", "count": 7}
        with engine.begin() as conn:
            conn.execute(insert(EVENTS), events)
            conn.execute(insert(ROLLUPS), [pruned])
        schema.upgrade(engine)
        expected = recount(engine)
        expected[("tools", BASE - HOUR_MS, "Read", "PostToolUse")] = (7, BASE - HOUR_MS)
        assert stored_counts(engine) == expected
        assert expected[("tools", BASE, "Bash", "PostToolUseFailure")][0] == 2  # max per session
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_counts_equal_a_recount_on_postgresql(pg_url: str) -> None:
    url = pg_url  # a server of this module's own: the counts start empty
    kinds = [{"type": t, "session": s, "tool": tool, "hour": h, "minute": m,
              "success": ok, "error": "x", "agent": None}
             for t in TYPES for s in ("s1", "s2") for tool in ("Bash", None)
             for h, m in ((0, 1), (1, 2)) for ok in (True, "false")]
    store(url, [(kinds[:40], True), (kinds[40:], False), (kinds[:10], False)])
    engine = make_throwaway_engine(url)
    try:
        assert stored_counts(engine) == recount(engine)
    finally:
        engine.dispose()
