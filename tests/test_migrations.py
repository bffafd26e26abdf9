"""Schema migrations: a 0.1.0 database upgrades and reads back whole; a newer one is refused."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlmodel import SQLModel

from router_ext.store import schema
from router_ext.store.db import make_throwaway_engine
from tests.support import ROOT, running_server

OLD_DB = ROOT / "tests" / "fixtures" / "db" / "router-ext-0.1.0.sqlite"


def rows(db: Path, sql: str) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(sql)]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "router_ext.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def master(db: Path) -> list[tuple[str, str, str]]:
    """Every table and index with its SQL (whitespace folded), alembic's own left out."""
    found = rows(db, "SELECT type, name, tbl_name, sql FROM sqlite_master")
    return sorted((r["type"], r["name"], " ".join((r["sql"] or "").split()))
                  for r in found if r["tbl_name"] != "alembic_version")


@pytest.fixture
def old_db(tmp_path: Path) -> Path:
    db = tmp_path / "old.db"
    shutil.copy(OLD_DB, db)
    return db


def differences(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))


def test_old_database_upgrades_and_every_event_and_session_reads_back(old_db: Path) -> None:
    events_before = rows(old_db, "SELECT * FROM events ORDER BY id")
    sessions_before = rows(old_db, "SELECT * FROM harness_sessions ORDER BY id")
    assert len(events_before) == 22 and len(sessions_before) == 4
    with running_server(f"sqlite:///{old_db}") as server:
        health = httpx.get(f"{server.url}/health", timeout=10).json()
        assert health["schema"] == {"revision": schema.head(), "head": schema.head(),
                                    "up_to_date": True, "legacy": False}
        api = httpx.get(f"{server.url}/events/recent", params={"limit": 100}, timeout=10).json()
        assert sorted(e["id"] for e in api) == [e["id"] for e in events_before]
        by_id = {e["id"]: e for e in api}
        for event in events_before:
            assert by_id[event["id"]]["source_app"] == event["source_app"]
            assert by_id[event["id"]]["hook_event_type"] == event["hook_event_type"]
        # The request left pending in 0.1.0 is still there; its 300 s ran out long ago, so
        # the server may already have timed it out.
        assert by_id[21]["humanInTheLoopStatus"]["status"] in ("pending", "timeout")
        assert by_id[22]["humanInTheLoopStatus"]["status"] == "responded"
        # The upgraded database still takes events.
        r = httpx.post(f"{server.url}/events", timeout=10, json={
            "source_app": "demo", "session_id": "old-session-a", "hook_event_type": "Stop",
            "payload": {}, "event_uid": "after-upgrade"})
        assert r.status_code == 200 and r.json()["id"] == 23
    hitl = ("human_in_the_loop_status", "hitl_status")
    upgraded = rows(old_db, "SELECT * FROM events WHERE id <= 22 ORDER BY id")
    assert [{k: v for k, v in e.items() if e["id"] != 21 or k not in hitl} for e in upgraded] \
        == [{k: v for k, v in e.items() if e["id"] != 21 or k not in hitl}
            for e in events_before]
    after = {s["id"]: s for s in rows(old_db, "SELECT * FROM harness_sessions")}
    for session in sessions_before:
        if session["id"] != "old-session-a":  # later revisions only add columns
            assert {k: after[session["id"]][k] for k in session} == session
    assert rows(old_db, "SELECT version_num FROM alembic_version") == [
        {"version_num": schema.head()}]


def test_the_first_revision_is_the_schema_0_1_0_created(tmp_path: Path) -> None:
    db = tmp_path / "baseline.db"
    engine = make_throwaway_engine(f"sqlite:///{db}")
    schema.upgrade(engine, schema.BASELINE)
    engine.dispose()
    assert master(db) == master(OLD_DB)


def test_migrations_build_exactly_the_models_on_sqlite(tmp_path: Path, old_db: Path) -> None:
    for url in (f"sqlite:///{tmp_path / 'fresh.db'}", f"sqlite:///{old_db}"):
        engine = make_throwaway_engine(url)
        assert schema.upgrade(engine).up_to_date
        assert differences(engine) == []
        engine.dispose()


def test_db_command_reports_and_upgrades(old_db: Path) -> None:
    url = f"sqlite:///{old_db}"
    current = cli("db", "current", "--database-url", url)
    assert current.returncode == 0 and '"legacy": true' in current.stdout
    upgraded = cli("db", "upgrade", "--database-url", url)
    assert upgraded.returncode == 0 and f'"revision": "{schema.head()}"' in upgraded.stdout
    history = cli("db", "history")
    assert history.stdout.splitlines()[0].startswith(f"{schema.BASELINE}  ")


def test_a_database_newer_than_the_code_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "newer.db"
    engine = make_throwaway_engine(f"sqlite:///{db}")
    schema.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0999'"))
    engine.dispose()
    before = master(db)
    url = f"sqlite:///{db}"
    serve = cli("serve", "--http-port", "0", "--grpc-port", "0", "--database-url", url)
    assert serve.returncode == 2
    assert serve.stderr.strip() == (
        f"router-ext: the database schema is at revision 0999, newer than this router-ext "
        f"(which knows up to {schema.head()}); run a newer router-ext or restore a backup")
    for action in ("upgrade", "current"):
        refused = cli("db", action, "--database-url", url)
        assert refused.returncode == 2 and "0999" in refused.stderr
    assert master(db) == before
    assert rows(db, "SELECT version_num FROM alembic_version") == [{"version_num": "0999"}]


def test_without_auto_upgrade_an_old_database_waits_for_db_upgrade(old_db: Path) -> None:
    env = {**_env(), "ROUTER_EXT_DB_AUTO_UPGRADE": "0"}
    url = f"sqlite:///{old_db}"
    serve = cli("serve", "--http-port", "0", "--grpc-port", "0", "--database-url", url, env=env)
    assert serve.returncode == 2
    assert "run `router-ext db upgrade`" in serve.stderr and "0.1.0" in serve.stderr
    assert cli("db", "upgrade", "--database-url", url, env=env).returncode == 0
    with running_server(url, env={"ROUTER_EXT_DB_AUTO_UPGRADE": "0"}) as server:
        assert httpx.get(f"{server.url}/health", timeout=10).json()["schema"]["up_to_date"]


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


ALL_TABLES = ("usage_hourly, event_counts, session_tool_counts, event_rollups, usage_ledger, "
              "alert_rules, alert_episodes, events, harness_sessions, alembic_version")


@pytest.mark.postgres
def test_postgresql_upgrades_fresh_and_0_1_0_databases(pg_url: str) -> None:
    engine = make_throwaway_engine(pg_url)
    try:
        assert schema.upgrade(engine).up_to_date
        assert differences(engine) == []
        # A 0.1.0 database: the baseline's tables (revision 0001) with no alembic_version.
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE {ALL_TABLES}"))
        schema.upgrade(engine, "0001")
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE alembic_version"))
        assert schema.state(engine).legacy
        assert schema.upgrade(engine).current == schema.head()
        assert differences(engine) == []
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE IF EXISTS {ALL_TABLES}"))
        engine.dispose()


def test_upgrade_dates_existing_usage_into_the_ledger(old_db: Path) -> None:
    counted = ("SELECT coalesce(sum(cost_usd), 0) AS cost, coalesce(sum(output_tokens), 0) AS out"
               " FROM harness_sessions WHERE model_usage IS NOT NULL"
               " AND NOT (source = 'interactive' AND loop_id IS NOT NULL)")
    before = rows(old_db, counted)
    assert before[0]["out"] > 0  # the 0.1.0 file holds usage worth carrying over
    done = cli("db", "upgrade", "--database-url", f"sqlite:///{old_db}")
    assert done.returncode == 0, done.stderr
    ledger = rows(old_db, "SELECT coalesce(sum(cost_usd), 0) AS cost,"
                          " coalesce(sum(output_tokens), 0) AS out FROM usage_ledger")
    assert ledger[0]["out"] == before[0]["out"]
    assert ledger[0]["cost"] == pytest.approx(before[0]["cost"], abs=1e-6)


# Runs the real `router-ext db upgrade` in a process that SIGKILLs itself when 0005 reads
# event_rollups: its tables are created and counted by then, its revision not yet stamped.
_KILLED_PART_WAY = """
import os, signal, sys
from sqlalchemy import event
from sqlalchemy.engine import Engine

@event.listens_for(Engine, "before_cursor_execute")
def _die(conn, cursor, statement, *args):
    if "FROM event_rollups" in statement:
        os.kill(os.getpid(), signal.SIGKILL)

from router_ext.cli import main
sys.exit(main(["db", "upgrade", "--database-url", sys.argv[1]]))
"""


def test_an_upgrade_killed_part_way_leaves_nothing_and_the_next_start_upgrades(
        old_db: Path) -> None:
    url = f"sqlite:///{old_db}"
    before = master(old_db)
    killed = subprocess.run([sys.executable, "-c", _KILLED_PART_WAY, url], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert killed.returncode == -9, killed.stderr  # it died inside migration 0005
    assert master(old_db) == before  # no table of 0002..0005 survived, no revision stamped
    assert "alembic_version" not in {r["name"] for r in rows(
        old_db, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    with running_server(url) as server:
        health = httpx.get(f"{server.url}/health", timeout=10).json()
        assert health["schema"]["up_to_date"] and health["schema"]["revision"] == schema.head()
    assert len(rows(old_db, "SELECT id FROM events")) == 22
