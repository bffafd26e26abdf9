"""Retention on a real server: old events go while ingest goes on, nothing else does."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from router_ext.v1 import ingest_pb2, types_pb2
from tests.grpc_helpers import stubs
from tests.support import ROOT, ServerProcess, running_server

DAY_MS = 86_400_000
OLD_DB = ROOT / "tests" / "fixtures" / "db" / "router-ext-0.1.0.sqlite"
# Sessions never turn `abandoned` during a test, so two servers fold them the same way.
QUIET = {"ROUTER_EXT_SESSION_IDLE_SECONDS": "100000000"}
PRUNING = {**QUIET, "ROUTER_EXT_RETENTION_DAYS": "3", "ROUTER_EXT_RETENTION_INTERVAL_SECONDS":
           "0.1", "ROUTER_EXT_RETENTION_BATCH": "20"}
USAGE = {"model": "claude-sonnet-4-5", "models": {"claude-sonnet-4-5": {
    "input_tokens": 100, "output_tokens": 20, "cache_read_input_tokens": 500,
    "cache_creation_input_tokens": 40}}}


def session_events(session: str, start_ms: int) -> list[types_pb2.Event]:
    """A whole Claude Code session: tools, a failure, a subagent, usage, an end."""
    steps: list[tuple[str, dict[str, Any]]] = [("SessionStart", {"source": "startup"}),
                                               ("UserPromptSubmit", {"prompt": "go"})]
    for n, tool in enumerate(("Bash", "Read", "Edit", "Bash", "Grep")):
        steps.append(("PreToolUse", {"tool_name": tool, "tool_use_id": f"{session}-t{n}"}))
        end = "PostToolUseFailure" if n == 3 else "PostToolUse"
        steps.append((end, {"tool_name": tool, "tool_use_id": f"{session}-t{n}"}))
    steps += [("SubagentStart", {"agent_id": f"{session}-a", "agent_type": "Explore"}),
              ("SubagentStop", {"agent_id": f"{session}-a", "agent_type": "Explore"}),
              ("Stop", {"router_ext_usage": USAGE}), ("SessionEnd", {"reason": "exit"})]
    return [types_pb2.Event(
        event_uid=f"{session}-{n}", source_app="demo", session_id=session, hook_event_type=kind,
        timestamp_ms=start_ms + n * 1000, tool_name=str(payload.get("tool_name", "")),
        payload_json=json.dumps({"hook_event_name": kind, "session_id": session,
                                 "cwd": "/work/project", **payload}))
        for n, (kind, payload) in enumerate(steps)]


def traffic(now_ms: int) -> tuple[list[types_pb2.Event], list[types_pb2.Event]]:
    """(old events, new events): 30 sessions ten days old and 30 from now, interleaved."""
    old = [e for s in range(30) for e in session_events(f"old-{s}", now_ms - 10 * DAY_MS + s)]
    new = [e for s in range(30) for e in session_events(f"new-{s}", now_ms + s)]
    return old, new


def publish_all(server: ServerProcess, events: list[types_pb2.Event], acked: set[str]) -> None:
    """PublishBatch 25 at a time; every acknowledged uid goes into `acked`."""
    with server.channel() as channel:
        ingest, _, _ = stubs(channel)
        for start in range(0, len(events), 25):
            chunk = events[start:start + 25]
            reply = ingest.PublishBatch(ingest_pb2.PublishBatchRequest(events=chunk), timeout=10)
            assert len(reply.acks) == len(chunk)
            acked.update(e.event_uid for e in chunk)


def post_hitl(server: ServerProcess, uid: str, timestamp: int) -> None:
    r = httpx.post(f"{server.url}/events", timeout=10, json={
        "source_app": "hitl", "session_id": "old-hitl", "hook_event_type": "Notification",
        "payload": {}, "event_uid": uid, "timestamp": timestamp,
        "humanInTheLoop": {"question": "Deploy?", "type": "question", "timeout": 3600}})
    assert r.status_code == 200, r.text


def query(server: ServerProcess, sql: str) -> list[dict[str, Any]]:
    path = server.database_url.split(":///", 1)[1]
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(sql)]


def wait_for(check: Callable[[], Any], what: str, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def health(server: ServerProcess) -> dict[str, Any]:
    return dict(httpx.get(f"{server.url}/health", timeout=10).json())


def ran_since(server: ServerProcess, moment: float) -> dict[str, Any] | None:
    """The retention state when a run finished after `moment`, else None."""
    state = health(server)["retention"]
    return state if (state["last_run_at"] or 0) > moment else None


def analytics(server: ServerProcess) -> dict[str, Any]:
    data = httpx.get(f"{server.url}/api/ui/analytics", params={"days": 14}, timeout=10).json()
    return {"tools": data["tools"], "subagents": data["subagents"]}


def metric(server: ServerProcess, line_start: str) -> float:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    [line] = [x for x in text.splitlines() if x.startswith(line_start)]
    return float(line.rsplit(" ", 1)[1])


def feed(server: ServerProcess, old: list[types_pb2.Event], new: list[types_pb2.Event],
         now_ms: int) -> set[str]:
    """Old and new traffic from two threads at once, plus one old request left pending."""
    acked: set[str] = set()
    post_hitl(server, "old-hitl-pending", now_ms - 10 * DAY_MS)
    threads = [threading.Thread(target=publish_all, args=(server, part, acked))
               for part in (old, new)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(acked) == len(old) + len(new)
    return acked


def test_prune_under_load_loses_nothing_else(tmp_path: Path) -> None:
    now = int(time.time() * 1000)
    old, new = traffic(now)
    with running_server(f"sqlite:///{tmp_path / 'pruned.db'}", env=PRUNING) as pruned, \
            running_server(f"sqlite:///{tmp_path / 'kept.db'}", env=QUIET) as kept:
        feed(kept, old, new, now)
        acked = feed(pruned, old, new, now)
        finished = time.time()
        state = wait_for(lambda: ran_since(pruned, finished), "a retention run after the traffic")
        stored = {r["event_uid"] for r in query(pruned, "SELECT event_uid FROM events")}
        # The newest event is kept whatever its age (ids continue from it); the threads may
        # have made that an old one.
        [newest] = query(pruned, "SELECT event_uid FROM events ORDER BY id DESC LIMIT 1")
        kept_old = {newest["event_uid"]} - {e.event_uid for e in new}
        # Every acknowledged new event is there; of the old ones only the pending request.
        assert stored == {e.event_uid for e in new} | {"old-hitl-pending"} | kept_old
        assert {e.event_uid for e in new} <= acked
        deleted = len(old) - len(kept_old)
        assert state["deleted_total"] == deleted and state["last_error"] is None
        assert metric(pruned, 'harness_retention_deleted_rows_total{reason="age",table="events"}'
                      ) == deleted
        assert metric(pruned, "harness_retention_last_run_timestamp_seconds") > 0
        # Sessions and their totals, and the dashboard's counts, as if nothing was deleted.
        sessions = "SELECT * FROM harness_sessions ORDER BY id"
        assert query(pruned, sessions) == query(kept, sessions)
        assert len(query(pruned, sessions)) == 61
        assert analytics(pruned) == analytics(kept)
        assert query(pruned, "PRAGMA auto_vacuum") == [{"auto_vacuum": 2}]


def test_size_bound_keeps_the_newest_and_gives_space_back(tmp_path: Path) -> None:
    bound = 2 * 1024 * 1024
    env = {**QUIET, "ROUTER_EXT_MAX_DB_BYTES": str(bound),
           "ROUTER_EXT_RETENTION_INTERVAL_SECONDS": "0.2", "ROUTER_EXT_RETENTION_BATCH": "200"}
    now = int(time.time() * 1000)
    filler = json.dumps({"tool_name": "Bash", "output": "x" * 2000})
    events = [types_pb2.Event(event_uid=f"big-{n:05d}", source_app="bulk", session_id="bulk",
                              hook_event_type="PostToolUse", timestamp_ms=now + n,
                              tool_name="Bash", payload_json=filler) for n in range(3000)]
    db = tmp_path / "bounded.db"
    with running_server(f"sqlite:///{db}", env=env) as server:
        publish_all(server, events, set())
        done = time.time()
        state = wait_for(lambda: (h := ran_since(server, done)) and h["last_deleted"]["size"] == 0
                         and h, "the size bound to hold")
        pages = query(server, "PRAGMA page_count")[0]["page_count"]
        free = query(server, "PRAGMA freelist_count")[0]["freelist_count"]
        assert (pages - free) * 4096 <= bound
        assert state["deleted_total"] > 0 and state["reclaimed_bytes_total"] > 0
        kept = [r["event_uid"] for r in query(server, "SELECT event_uid FROM events ORDER BY id")]
        assert kept == [e.event_uid for e in events[-len(kept):]]  # the newest, in order
        assert query(server, "SELECT count(*) AS n FROM harness_sessions") == [{"n": 1}]
        assert metric(server, 'harness_retention_deleted_rows_total{reason="size",'
                              'table="events"}') == state["deleted_total"]
    assert db.stat().st_size <= bound * 1.5  # the freed pages went back to the file system


def test_an_existing_file_is_switched_to_incremental_vacuum(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    shutil.copy(OLD_DB, db)
    with running_server(f"sqlite:///{db}", env={"ROUTER_EXT_RETENTION_DAYS": "36500"}) as s:
        assert query(s, "PRAGMA auto_vacuum") == [{"auto_vacuum": 2}]
        assert query(s, "SELECT count(*) AS n FROM events") == [{"n": 22}]


@pytest.mark.postgres
def test_postgresql_prunes_by_age_in_batches(pg_url: str) -> None:
    now = int(time.time() * 1000)
    old, new = traffic(now)
    old, new = old[:75], new[:75]
    with running_server(pg_url, env=PRUNING) as server:
        feed(server, old, new, now)
        finished = time.time()
        wait_for(lambda: ran_since(server, finished), "a run")
        rows = httpx.get(f"{server.url}/events/recent", params={"limit": 500},
                         timeout=10).json()
        newest = max(rows, key=lambda r: r["id"])["event_uid"]  # kept whatever its age
        assert {r["event_uid"] for r in rows} == {e.event_uid for e in new} | {
            "old-hitl-pending", newest}
        stats = httpx.get(f"{server.url}/metrics/harness/stats", params={"since": 0},
                          timeout=10).json()
        assert {s["id"] for s in stats["recent_sessions"]} >= {"old-0", "old-4"}


@pytest.mark.postgres
def test_postgresql_size_bound_keeps_the_newest(pg_url: str) -> None:
    from router_ext.store import sizes
    from router_ext.store.db import make_throwaway_engine

    bound = 2 * 1024 * 1024
    env = {**QUIET, "ROUTER_EXT_MAX_DB_BYTES": str(bound),
           "ROUTER_EXT_RETENTION_INTERVAL_SECONDS": "0.2", "ROUTER_EXT_RETENTION_BATCH": "200"}
    now = int(time.time() * 1000)
    events = [types_pb2.Event(
        event_uid=f"pg-big-{n:05d}", source_app="bulk", session_id="pg-bulk",
        hook_event_type="PostToolUse", timestamp_ms=now + n, tool_name="Bash",
        payload_json=json.dumps({"output": os.urandom(600).hex()})) for n in range(3000)]
    with running_server(pg_url, env=env) as server:
        post_hitl(server, "pg-size-pending", now - 1)  # older than every event: first in line
        publish_all(server, events, set())
        done = time.time()
        state = wait_for(lambda: (h := ran_since(server, done)) and h["last_deleted"]["size"] == 0
                         and h, "the size bound to hold")
        assert state["deleted_total"] > 0
    engine = make_throwaway_engine(pg_url)
    try:
        assert sizes.used_bytes(engine, 0)[0] <= bound
        with engine.connect() as conn:
            kept = [r[0] for r in conn.exec_driver_sql(
                "SELECT event_uid FROM events WHERE source_app = 'bulk' ORDER BY id")]
            pending = [r[0] for r in conn.exec_driver_sql(
                "SELECT event_uid FROM events WHERE hitl_status = 'pending'")]
    finally:
        engine.dispose()
    assert kept and kept == [e.event_uid for e in events[-len(kept):]]
    assert "pg-size-pending" in pending  # a pending request is never pruned


def test_ids_never_go_back_when_everything_is_old(tmp_path: Path) -> None:
    old = int(time.time() * 1000) - 10 * DAY_MS
    events = [e for s in range(3) for e in session_events(f"gone-{s}", old + s)]
    with running_server(f"sqlite:///{tmp_path / 'ids.db'}", env=PRUNING) as server:
        publish_all(server, events, set())
        done = time.time()
        wait_for(lambda: ran_since(server, done), "a run")
        # The newest event stays so the next one is numbered after it, not from 1 again.
        assert query(server, "SELECT id FROM events") == [{"id": len(events)}]
        r = httpx.post(f"{server.url}/events", timeout=10, json={
            "source_app": "demo", "session_id": "later", "hook_event_type": "Stop",
            "payload": {}})
        assert r.json()["id"] == len(events) + 1
