"""The dashboard's /api/ui routes and static files against a real server: aggregates match the
stored rows, paging is complete and stable, bad parameters are 4xx JSON naming the field."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.dashboard_seed import seed
from tests.support import ServerProcess, start_server

SESSIONS = 60
EVENTS = 3000


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dash-api") / "router-ext.db"
    asyncio.run(seed(f"sqlite:///{path}", events=EVENTS, sessions=SESSIONS, days=10))
    return path


@pytest.fixture(scope="module")
def server(db_path: Path) -> Iterator[ServerProcess]:
    proc = start_server(f"sqlite:///{db_path}")
    yield proc
    proc.stop()


def get(server: ServerProcess, path: str, **params: Any) -> Any:
    r = httpx.get(f"{server.url}{path}", params=params, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def query_db(db_path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(sql, args).fetchall()


@pytest.mark.parametrize(("path", "field"), [
    ("/api/ui/rate?minutes=2", "minutes"),
    ("/api/ui/sessions?before=yesterday", "before"),
    ("/api/ui/events?limit=many", "limit"),
    ("/api/ui/events?limit=0", "limit"),
    ("/api/ui/overview?tz_offset_min=100000", "tz_offset_min"),
    ("/api/ui/approvals?state=maybe", "state"),
    ("/api/ui/analytics?days=0", "days"),
])
def test_bad_parameters_are_400_naming_the_field(server: ServerProcess, path: str,
                                                 field: str) -> None:
    r = httpx.get(f"{server.url}{path}", timeout=5)
    assert r.status_code == 400
    assert r.json()["field"] == field
    assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200


def test_unknown_session_is_404_json(server: ServerProcess) -> None:
    r = httpx.get(f"{server.url}/api/ui/sessions/no-such-session", timeout=5)
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_session_pages_cover_every_session_once_newest_first(server: ServerProcess,
                                                             db_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = get(server, "/api/ui/sessions", limit=7, **({"before": cursor} if cursor else {}))
        seen += page["sessions"]
        cursor = page["next"]
        if cursor is None:
            break
    stored = query_db(db_path, "SELECT count(*) FROM harness_sessions")[0][0]
    assert len(seen) == len({s["id"] for s in seen}) == stored
    keys = [(s["started_at"], s["id"]) for s in seen]
    assert keys == sorted(keys, reverse=True)
    ralph = get(server, "/api/ui/sessions", source="ralph", limit=500)["sessions"]
    assert ralph and all(s["source"] == "ralph" for s in ralph)


def test_overview_totals_match_the_stored_sessions(server: ServerProcess, db_path: Path) -> None:
    data = get(server, "/api/ui/overview", days=10)
    today = data["today_start_ms"]
    count, cost, calls = query_db(
        db_path, "SELECT count(*), coalesce(sum(cost_usd), 0), coalesce(sum(tool_calls_count), 0)"
        " FROM harness_sessions WHERE started_at >= ?", today)[0]
    assert data["today"]["sessions"] == count
    assert data["today"]["tool_calls"] == calls
    assert data["today"]["cost_usd"] == pytest.approx(cost)
    assert len(data["daily"]) == 10
    since = data["daily"][0]["day_ms"]
    total = query_db(db_path, "SELECT count(*) FROM harness_sessions WHERE started_at >= ?",
                     since)[0][0]
    assert sum(d["sessions"] for d in data["daily"]) == total
    done, failed = query_db(
        db_path, "SELECT sum(success = 1), sum(success = 0) FROM harness_sessions "
        "WHERE source = 'ralph' AND completed_at IS NOT NULL AND started_at >= ?",
        data["now_ms"] - 86_400_000)[0]
    assert data["ralph_24h"]["completed"] == (done or 0)
    assert data["ralph_24h"]["failed"] == (failed or 0)


def test_search_finds_commands_and_pages_backwards(server: ServerProcess, db_path: Path) -> None:
    first = get(server, "/api/ui/events", q="PYTEST", limit=50)
    assert len(first["events"]) == 50
    assert all("pytest" in json.dumps(e["payload"]) for e in first["events"])
    ids = [e["id"] for e in first["events"]]
    assert ids == sorted(ids) and first["next_before_id"] == ids[0]
    found = set(ids)
    cursor = first["next_before_id"]
    while cursor is not None:
        page = get(server, "/api/ui/events", q="pytest", limit=50, before_id=cursor)
        assert all(e["id"] < cursor for e in page["events"])
        found |= {e["id"] for e in page["events"]}
        cursor = page["next_before_id"]
    stored = query_db(db_path, "SELECT id FROM events WHERE payload LIKE '%pytest%'")
    assert found == {row[0] for row in stored}
    none = get(server, "/api/ui/events", q="no-such-text-anywhere")
    assert none["events"] == [] and none["next_before_id"] is None


def test_rate_and_lanes_count_new_events(server: ServerProcess) -> None:
    session = f"rate-{uuid.uuid4().hex[:6]}"
    now = time.time_ns() // 1_000_000
    for i in range(7):
        body = {"source_app": "rate", "session_id": session, "hook_event_type": "PreToolUse",
                "payload": {"i": i}, "timestamp": now}
        assert httpx.post(f"{server.url}/events", json=body, timeout=5).status_code == 200
    data = get(server, "/api/ui/rate", minutes=1, session_id=session)
    assert sum(n for _, n in data["totals"]) == 7
    assert [lane["session_id"] for lane in data["lanes"]] == [session]


def test_analytics_tool_counts_match_the_events(server: ServerProcess, db_path: Path) -> None:
    data = get(server, "/api/ui/analytics", days=30)
    rows = query_db(db_path, "SELECT tool_name, count(*) FROM events WHERE hook_event_type IN "
                    "('PostToolUse', 'PostToolUseFailure') AND timestamp >= ? GROUP BY tool_name",
                    data["since_ms"])
    assert {t["tool"]: t["calls"] for t in data["tools"]} == dict(rows)
    assert data["subagents"] and data["cost_by_day_model"] and data["top_errors"]
    cost = sum(r["cost_usd"] for r in data["cost_by_day_model"])
    # Cost falls on the day it was reported: the ledger's rows from the first day on.
    stored = query_db(db_path, "SELECT sum(cost_usd) FROM usage_ledger WHERE at >= ?",
                      data["since_ms"])[0][0]
    assert stored > 0
    assert cost == pytest.approx(stored, rel=1e-6)
    assert get(server, "/api/ui/ralph")["loops"]


def test_static_files_are_served_safely(server: ServerProcess) -> None:
    r = httpx.get(f"{server.url}/dashboard/", timeout=5)
    assert r.status_code == 200 and "<main" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    js = httpx.get(f"{server.url}/dashboard/js/main.js", timeout=5)
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    escape = httpx.get(f"{server.url}/dashboard/..%2f..%2fpyproject.toml", timeout=5)
    assert escape.status_code == 404


def test_api_needs_the_token_but_the_page_does_not(tmp_path: Path) -> None:
    secret = uuid.uuid4().hex
    proc = start_server(f"sqlite:///{tmp_path / 't.db'}", env={"ROUTER_EXT_TOKEN": secret})
    try:
        assert httpx.get(f"{proc.url}/dashboard/", timeout=5).status_code == 200
        assert httpx.get(f"{proc.url}/api/ui/overview", timeout=5).status_code == 401
        ok = httpx.get(f"{proc.url}/api/ui/overview", timeout=5,
                       headers={"authorization": f"Bearer {secret}"})
        assert ok.status_code == 200
    finally:
        proc.stop()
