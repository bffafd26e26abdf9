"""Backup of a live SQLite database, and export -> import into SQLite and PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from router_ext.records import COLUMNS
from router_ext.store.counts import COUNTS
from router_ext.store.db import make_throwaway_engine
from router_ext.store.portable import SESSIONS
from router_ext.store.rollups import ROLLUPS
from router_ext.store.writer import EVENTS
from router_ext.v1 import ingest_pb2, types_pb2
from tests.grpc_helpers import stubs
from tests.pg_server import pg_bin, postgres_server
from tests.support import ROOT, ServerProcess, require, running_server
from tests.test_retention import DAY_MS, QUIET, publish_all, session_events


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "router_ext.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def sqlite_rows(path: Path, sql: str) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(sql)]


class Ingest(threading.Thread):
    """Publishes batches until stopped, noting when each batch was acknowledged."""

    def __init__(self, server: ServerProcess) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.acked: list[tuple[float, list[str]]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        with self.server.channel() as channel:
            ingest, _, _ = stubs(channel)
            n = 0
            while not self.halt.is_set() and n < 200_000:
                chunk = [types_pb2.Event(event_uid=f"live-{n + i}", source_app="live",
                                         session_id=f"live-{(n + i) // 100}",
                                         hook_event_type="PreToolUse", tool_name="Bash",
                                         payload_json='{"tool_name":"Bash"}')
                         for i in range(20)]
                ingest.PublishBatch(ingest_pb2.PublishBatchRequest(events=chunk), timeout=10)
                self.acked.append((time.monotonic(), [e.event_uid for e in chunk]))
                n += 20

    def acked_before(self, moment: float) -> set[str]:
        return {uid for at, uids in list(self.acked) if at < moment for uid in uids}


def test_backup_during_ingest_holds_every_event_acknowledged_before_it(tmp_path: Path) -> None:
    db, copy = tmp_path / "live.db", tmp_path / "backup.db"
    with running_server(f"sqlite:///{db}") as server:
        ingest = Ingest(server)
        ingest.start()
        while len(ingest.acked) < 50:  # 1,000 events in before the backup starts
            time.sleep(0.05)
        started = time.monotonic()
        result = cli("backup", str(copy), "--database-url", server.database_url)
        while len(ingest.acked) < 100:  # and ingest carries on after it
            time.sleep(0.05)
        ingest.halt.set()
        ingest.join(30)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        before = ingest.acked_before(started)
        held = {r["event_uid"] for r in sqlite_rows(copy, "SELECT event_uid FROM events")}
        assert before <= held
        ids = [r["id"] for r in sqlite_rows(copy, "SELECT id FROM events ORDER BY id")]
        assert ids == list(range(1, len(ids) + 1))  # a moment's state: no gap, no torn batch
        assert report["events"] == len(ids) and report["last_event_id"] == ids[-1]
        assert sqlite_rows(copy, "PRAGMA quick_check") == [{"quick_check": "ok"}]
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
        again = cli("backup", str(copy), "--database-url", server.database_url)
        assert again.returncode == 2 and "--force" in again.stderr
    # Restoring is starting on the copy.
    with running_server(f"sqlite:///{copy}") as restored:
        health = httpx.get(f"{restored.url}/health", timeout=10).json()
        assert health["last_event_id"] == ids[-1]


def test_backup_of_postgresql_points_elsewhere(tmp_path: Path) -> None:
    result = cli("backup", str(tmp_path / "x.db"), "--database-url",
                 "postgresql://nobody@127.0.0.1:1/none")
    assert result.returncode == 2 and "pg_dump" in result.stderr


def build_history(server: ServerProcess, now: int) -> None:
    """Sessions from three sources, old and new, with a pending and an answered request."""
    events = [e for s in range(6) for e in session_events(f"s-{s}", now - s * DAY_MS)]
    publish_all(server, events, set())
    with httpx.Client(base_url=server.url, timeout=10) as http:
        for state in ("pending", "answered"):
            asked = http.post("/events", json={
                "source_app": "hitl", "session_id": "asks", "hook_event_type": "Notification",
                "payload": {}, "event_uid": f"ask-{state}", "timestamp": now,
                "humanInTheLoop": {"question": "Ship?", "type": "question", "timeout": 3600}})
            assert asked.status_code == 200
            if state == "answered":
                r = http.post(f"/events/{asked.json()['id']}/respond", json={"response": "yes"})
                assert r.status_code == 200, r.text
        for name in ("task_started", "task_completed"):
            r = http.post("/metrics/harness", json={
                "source": "ralph", "label": "mercury", "task_id": "t-1", "event": name,
                "task_title": "Add retries", "duration_ms": 1000, "success": True,
                "completed_tasks": int(name == "task_completed"), "failed_tasks": 0})
            assert r.status_code in (200, 201), r.text


Snapshot = tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]


def snapshot(url: str) -> Snapshot:
    """(events without ids in id order, sessions by id, rollups), read through SQLAlchemy."""
    engine = make_throwaway_engine(url)
    try:
        with engine.connect() as conn:
            events = [{k: r._mapping[k] for k in COLUMNS}
                      for r in conn.execute(select(EVENTS).order_by(EVENTS.c.id))]
            sessions = [dict(r._mapping)
                        for r in conn.execute(select(SESSIONS).order_by(SESSIONS.c.id))]
            counts = [dict(r._mapping) for r in conn.execute(select(ROLLUPS).order_by(
                *ROLLUPS.primary_key.columns))]
    finally:
        engine.dispose()
    return events, sessions, counts


def hourly(url: str) -> list[tuple[Any, ...]]:
    """The dashboard's hourly tool and subagent counts (what an export carries of them)."""
    c = COUNTS.c
    engine = make_throwaway_engine(url)
    try:
        with engine.connect() as conn:
            query = select(c.kind, c.bucket_ms, c.name, c.detail, c.count).where(
                c.kind.in_(("tools", "subagents"))).order_by(*COUNTS.primary_key.columns)
            return [tuple(r) for r in conn.execute(query)]
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A source database (server stopped) whose sessions 3-5 days old were pruned, and its
    full export."""
    folder = tmp_path_factory.mktemp("export")
    url = f"sqlite:///{folder / 'source.db'}"
    env = {**QUIET, "ROUTER_EXT_RETENTION_DAYS": "2.5",
           "ROUTER_EXT_RETENTION_INTERVAL_SECONDS": "0.1"}
    with running_server(url, env=env) as server:
        build_history(server, int(time.time() * 1000))
        done = time.time()
        while not (httpx.get(f"{server.url}/health", timeout=10).json()["retention"][
                "last_run_at"] or 0) > done:
            time.sleep(0.1)
    out = folder / "all.jsonl"
    result = cli("export", "--output", str(out), "--database-url", url)
    assert result.returncode == 0, result.stderr
    yield url, out


def import_into(url: str, *files: Path) -> dict[str, Any]:
    result = cli("import", *map(str, files), "--database-url", url)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_export_then_import_into_fresh_sqlite_is_equal(exported: tuple[str, Path],
                                                        tmp_path: Path) -> None:
    source, out = exported
    target = f"sqlite:///{tmp_path / 'target.db'}"
    events, sessions, counts = snapshot(source)
    # Three of six sessions pruned: their events went into rollups, their rows stayed.
    assert len(events) == 3 * 16 + 2 + 2 and len(sessions) == 8
    assert {c["kind"] for c in counts} == {"tools", "subagents"}
    report = import_into(target, out)
    assert report["stored"] == len(events) and report["sessions_stored"] == len(sessions)
    assert report["rollups"] == len(counts) and report["complete"] is True
    assert snapshot(target) == (events, sessions, counts)
    assert hourly(target) == hourly(source) != []  # pruned events' counts included
    again = import_into(target, out)
    assert again["stored"] == 0 and again["duplicates"] == len(events)
    assert again["sessions_kept"] == len(sessions)
    assert snapshot(target) == (events, sessions, counts)
    assert hourly(target) == hourly(source)


def test_export_filters_by_time_and_source(exported: tuple[str, Path], tmp_path: Path) -> None:
    source, _ = exported
    events, _, _ = snapshot(source)
    newest = max(e["timestamp"] for e in events if e["source_app"] == "demo")
    since = newest - DAY_MS  # today's demo session only (the others are a day apart or more)
    out = tmp_path / "demo.jsonl"
    result = cli("export", "--source-app", "demo", "--since", str(since), "--until",
                 str(newest + 1), "--output", str(out), "--database-url", source)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert lines[0]["router_ext_export"] == 1 and lines[0]["filters"]["source_app"] == "demo"
    got = [x["event"] for x in lines if "event" in x]
    assert got == [{k: e[k] for k in COLUMNS} for e in events
                   if e["source_app"] == "demo" and since <= e["timestamp"] <= newest]
    assert {x["session"]["id"] for x in lines if "session" in x} == {"s-0", "s-1"}
    assert lines[-1] == {"end": {"events": len(got), "sessions": 2, "rollups": 0}}


def test_an_export_is_not_sent_to_a_server(exported: tuple[str, Path]) -> None:
    result = cli("import", str(exported[1]), "--url", "http://127.0.0.1:9")
    assert result.returncode == 2 and "--database-url" in result.stderr


@pytest.mark.postgres
def test_export_then_import_into_postgresql_is_equal(exported: tuple[str, Path]) -> None:
    require(pg_bin() is not None, "PostgreSQL (initdb) is not installed")
    source, out = exported
    with postgres_server() as pg_url:
        report = import_into(pg_url, out)
        assert report["complete"] is True
        assert snapshot(pg_url) == snapshot(source)
        assert import_into(pg_url, out)["stored"] == 0
        assert snapshot(pg_url) == snapshot(source)
