"""harness_sessions as the fold builds them from real requests to a real server."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import FIXTURES, ServerProcess, running_server

CAPTURED = FIXTURES / "claude-code-2.1.328"
USAGE = {"model": "claude-sonnet-4-5", "models": {"claude-sonnet-4-5": {
    "input_tokens": 1000, "output_tokens": 200, "cache_read_input_tokens": 5000,
    "cache_creation_input_tokens": 400, "cache_creation_5m": 400, "cache_creation_1h": 0}}}
USAGE_COST = (1000 * 3 + 200 * 15 + 5000 * 0.3 + 400 * 3.75) / 1e6


def session_row(server: ServerProcess, session_id: str) -> dict[str, Any]:
    """Read the row straight from the database file (read-only)."""
    path = server.database_url.split(":///", 1)[1]
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM harness_sessions WHERE id = ?", (session_id,)).fetchone()
    assert row is not None, f"no session {session_id}"
    return dict(row)


def post_hooks(http: httpx.Client, fixture: str, session: str,
               usage_on: tuple[str, ...] = ("Stop",), uid_prefix: str = "") -> None:
    """Replay a captured hook session under a new session id, adding usage on Stop."""
    for n, line in enumerate((CAPTURED / fixture).read_text().splitlines()):
        payload = json.loads(line)
        if payload["session_id"] != json.loads(
                (CAPTURED / fixture).read_text().splitlines()[0])["session_id"]:
            break
        payload["session_id"] = session
        if payload["hook_event_name"] in usage_on:
            payload["router_ext_usage"] = USAGE
        r = http.post("/events", json={
            "source_app": "demo", "session_id": session, "payload": payload,
            "hook_event_type": payload["hook_event_name"],
            "event_uid": f"{uid_prefix}{session}-{n}"})
        assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def test_interactive_session_from_hook_events(server: ServerProcess, http: httpx.Client) -> None:
    session = uuid.uuid4().hex
    post_hooks(http, "hooks-subagent.jsonl", session, usage_on=("Stop", "SubagentStop"))
    row = session_row(server, session)
    assert row["source"] == "interactive" and row["status"] == "completed"
    assert row["success"] == 1 and row["completed_at"] >= row["started_at"]
    assert (row["prompts_count"], row["tool_calls_count"], row["subagents_count"]) == (2, 2, 1)
    assert row["project"] == "project"  # the folder name, never the path
    # Hooks send the usage that is new since their last read: three reports add up.
    assert row["input_tokens"] == 3000 and row["output_tokens"] == 600
    assert row["cache_read_tokens"] == 15000 and row["cache_creation_tokens"] == 1200
    assert row["cost_usd"] == pytest.approx(3 * USAGE_COST)
    assert row["model"] == "claude-sonnet-4-5"


def test_replayed_events_do_not_count_twice(server: ServerProcess, http: httpx.Client) -> None:
    session = uuid.uuid4().hex
    post_hooks(http, "hooks-session.jsonl", session)
    first = session_row(server, session)
    post_hooks(http, "hooks-session.jsonl", session)  # same event_uids: a client retry
    assert session_row(server, session) == first
    assert first["tool_calls_count"] == 1 and first["input_tokens"] == 1000


def test_failures_and_stop_failure(server: ServerProcess, http: httpx.Client) -> None:
    session = uuid.uuid4().hex
    for name, extra in (("SessionStart", {}), ("PostToolUseFailure", {"tool_name": "Bash",
                                                                       "error": "Exit code 1"}),
                        ("StopFailure", {"error": "rate_limit"}), ("SessionEnd", {})):
        http.post("/events", json={"source_app": "demo", "session_id": session,
                                   "hook_event_type": name,
                                   "payload": {"session_id": session, "cwd": "/w/app", **extra}})
    row = session_row(server, session)
    assert (row["tool_calls_count"], row["tool_failures_count"]) == (1, 1)
    assert row["status"] == "failed" and row["success"] == 0 and row["error"] == "rate_limit"


def test_ralph_task_links_the_claude_session(server: ServerProcess, http: httpx.Client) -> None:
    claude_session = uuid.uuid4().hex
    loop = f"loop-{uuid.uuid4().hex[:6]}"
    now = time.time()
    http.post("/metrics/harness", json={"source": "ralph", "event": "task_started",
                                         "session_id": loop, "label": "mercury",
                                         "task_id": "k3x9", "task_title": "Add retries",
                                         "timestamp": now})
    post_hooks(http, "hooks-subagent.jsonl", claude_session)
    http.post("/metrics/harness", json={
        "source": "ralph", "event": "task_completed", "session_id": loop, "label": "mercury",
        "task_id": "k3x9", "duration_ms": 4000, "success": True, "timestamp": now + 4,
        "claude_session_id": claude_session, "model": "claude-sonnet-4-5", "num_turns": 3,
        "exit_code": 0, "tokens": {"input": 4000, "output": 900, "cache_read": 20000,
                                   "cache_creation": 1600}, "cost_usd": 0.05})
    task = session_row(server, f"ralph:{loop}:k3x9")
    assert task["source"] == "ralph" and task["status"] == "completed" and task["success"] == 1
    assert task["claude_session_id"] == claude_session and task["loop_id"] == loop
    assert task["duration_ms"] == 4000 and task["num_turns"] == 3 and task["exit_code"] == 0
    assert task["task_title"] == "Add retries" and task["label"] == "mercury"
    # Counts come from the hook events of the run; usage from the run's own totals.
    assert (task["tool_calls_count"], task["prompts_count"], task["subagents_count"]) == (2, 2, 1)
    assert task["input_tokens"] == 4000 and task["cost_usd"] == pytest.approx(0.05)
    child = session_row(server, claude_session)
    assert child["loop_id"] == f"ralph:{loop}:k3x9"
    stats = http.get("/metrics/harness/stats", params={"since": int(now * 1000) - 1000}).json()
    mercury = next(r for r in stats["by_label"] if r["label"] == "mercury")
    assert mercury["cost_usd"] == pytest.approx(0.05)  # the child's usage is not added again


def test_task_without_usage_takes_the_hook_usage(server: ServerProcess,
                                                 http: httpx.Client) -> None:
    claude_session = uuid.uuid4().hex
    post_hooks(http, "hooks-session.jsonl", claude_session)
    http.post("/metrics/harness", json={"source": "ralph", "event": "task_completed",
                                         "label": "old-script", "task_id": "t9",
                                         "claude_session_id": claude_session,
                                         "duration_ms": 1000, "success": True})
    task = session_row(server, "ralph:old-script:t9")
    assert task["input_tokens"] == 1000 and task["cost_usd"] == pytest.approx(USAGE_COST)


def test_harness_jobs_fold_into_api_sessions(server: ServerProcess, http: httpx.Client) -> None:
    job = uuid.uuid4().hex
    http.post("/metrics/harness", json={"source": "api", "event": "job_started", "task_id": job,
                                         "project": "shop"})
    http.post("/metrics/harness", json={"source": "api", "event": "job_cancelled",
                                         "task_id": job, "duration_ms": 1500})
    row = session_row(server, f"api:{job}")
    assert row["source"] == "api" and row["status"] == "cancelled" and row["success"] == 0
    assert row["project"] == "shop" and row["duration_ms"] == 1500


def test_idle_sessions_become_abandoned(tmp_path: Path) -> None:
    with running_server(f"sqlite:///{tmp_path / 'db.sqlite'}",
                        env={"ROUTER_EXT_SESSION_IDLE_SECONDS": "1"}) as server:
        session = uuid.uuid4().hex
        httpx.post(f"{server.url}/events", json={
            "source_app": "demo", "session_id": session, "hook_event_type": "SessionStart",
            "payload": {"session_id": session}})
        deadline = time.monotonic() + 10
        while session_row(server, session)["status"] != "abandoned":
            assert time.monotonic() < deadline, "never abandoned"
            time.sleep(0.2)
        metrics = httpx.get(f"{server.url}/metrics").text
        assert 'harness_sessions_ended_total{outcome="abandoned",source="interactive"} 1.0' \
            in metrics
        # A late event wakes it up.
        httpx.post(f"{server.url}/events", json={
            "source_app": "demo", "session_id": session, "hook_event_type": "UserPromptSubmit",
            "payload": {"session_id": session}})
        assert session_row(server, session)["status"] == "running"
