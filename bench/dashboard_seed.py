"""Fill a database with realistic sessions and hook events, through the core's one writer.

Used by the dashboard benchmark (a million events) and the dashboard's tests (a few hundred):

    python bench/dashboard_seed.py sqlite:///data/demo.db --events 1000000 --sessions 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, delete, insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from router_ext.ingest.normalize import build_row
from router_ext.read.reader import SESSIONS
from router_ext.records import Row
from router_ext.reports.ledger import LEDGER
from router_ext.runtime import RouterExt
from router_ext.settings import Settings
from router_ext.store import counts, schema, usage_hourly
from router_ext.store.writer import EVENTS

MODELS = ("claude-sonnet-4-5", "claude-opus-4-5", "claude-haiku-4-5")
PROJECTS = ("/srv/router", "/srv/billing", "/home/dev/site")
COMMANDS = ("pytest -q", "git status", "make lint", "ls -la src", "npm test", "cargo build")
FILES = ("src/app.py", "src/router/costs.py", "README.md", "tests/test_api.py")
BATCH = 2000


def _session_row(i: int, now: int, span_ms: int, rng: random.Random) -> Row:
    source = ("interactive", "ralph", "api")[i % 3]
    started = now - rng.randrange(span_ms)
    duration = rng.randrange(30_000, 1_800_000)
    done = started + duration < now - 60_000
    model = MODELS[i % len(MODELS)]
    tokens = {"input_tokens": rng.randrange(1000, 90_000), "output_tokens": rng.randrange(50, 8000),
              "cache_read_tokens": rng.randrange(0, 200_000),
              "cache_creation_tokens": rng.randrange(0, 20_000)}
    cost = round(tokens["input_tokens"] * 3e-6 + tokens["output_tokens"] * 15e-6
                 + tokens["cache_read_tokens"] * 3e-7
                 + tokens["cache_creation_tokens"] * 3.75e-6, 6)
    success = rng.random() > 0.15 if done else None
    return {
        "id": f"seed-{i:06d}", "source": source, "source_app": f"app-{i % 4}",
        "project": PROJECTS[i % len(PROJECTS)], "label": f"label-{i % 5}",
        "task_id": f"task-{i}" if source == "ralph" else None,
        "task_title": f"Task number {i}" if source == "ralph" else None,
        "loop_id": f"loop-{(i // 3) % 3}" if source == "ralph" else None,
        "status": ("completed" if success else "failed") if done else "running",
        "started_at": started, "completed_at": started + duration if done else None,
        "last_event_at": min(started + duration, now), "duration_ms": duration if done else None,
        "success": success,
        "error": None if success in (True, None) else "Exit code 1: tests failed",
        "tool_calls_count": rng.randrange(1, 80), "tool_failures_count": rng.randrange(0, 4),
        "prompts_count": rng.randrange(1, 6), "subagents_count": rng.randrange(0, 3),
        "model": model, **tokens, "cost_usd": cost,
        "model_usage": json.dumps({model: {**tokens, "cost_usd": cost}}),
        "num_turns": rng.randrange(1, 30),
        "claude_session_id": f"seed-{i:06d}" if source == "interactive" else None,
    }


def _event(i: int, session: Row, t: int, rng: random.Random) -> Row:
    kind = rng.random()
    payload: dict[str, Any] = {"session_id": session["id"], "cwd": session["project"]}
    if kind < 0.1:
        etype, payload["prompt"] = "UserPromptSubmit", f"please fix bug {i}"
    elif kind < 0.85:
        tool = rng.choice(("Bash", "Read", "Edit", "Grep"))
        etype = rng.choice(("PreToolUse", "PostToolUse", "PostToolUse", "PostToolUseFailure"))
        payload.update(tool_name=tool, tool_use_id=f"toolu_{i}")
        payload["tool_input"] = ({"command": rng.choice(COMMANDS)} if tool == "Bash"
                                 else {"file_path": rng.choice(FILES)})
        if etype == "PostToolUse":
            payload["duration_ms"] = rng.randrange(5, 4000)
        if etype == "PostToolUseFailure":
            payload["error"] = rng.choice(("Exit code 1", "File not found", "Exit code 2"))
    elif kind < 0.9:
        etype, payload["agent_type"] = "SubagentStart", rng.choice(("Explore", "general-purpose"))
        payload["agent_id"] = f"agent-{i}"
    else:
        etype = rng.choice(("Stop", "Notification", "SessionStart"))
    return build_row(source_app=session["source_app"], session_id=session["id"],
                     hook_event_type=etype, payload=payload, event_uid=f"seed-ev-{i}",
                     timestamp=t)


def _put_usage(conn: Connection, rows: list[Row]) -> None:
    """Each session's usage in the ledger, reported at its last event (as the fold would), and
    the hourly sums recounted from the ledger."""
    ids = [r["id"] for r in rows]
    for chunk in range(0, len(ids), 500):
        conn.execute(delete(LEDGER).where(LEDGER.c.session_id.in_(ids[chunk:chunk + 500])))
    conn.execute(insert(LEDGER), [
        {"at": r["last_event_at"], "session_id": r["id"], "source": r["source"],
         "project": r["project"], "loop_id": r["loop_id"], "model": r["model"],
         **{c: r[c] for c in usage_hourly.SUMMED}} for r in rows])
    conn.execute(delete(usage_hourly.HOURLY))
    usage_hourly.backfill(conn)


async def seed(database_url: str, *, events: int, sessions: int, days: float = 14,
               seed_value: int = 7, progress: int = 0) -> dict[str, float]:
    """Write `sessions` sessions and `events` events spread over the last `days` days (printing
    how far it got every `progress` batches when that is not 0)."""
    rng = random.Random(seed_value)
    core = RouterExt(Settings(database_url=database_url))
    await core.start()
    started = time.perf_counter()
    now = time.time_ns() // 1_000_000
    span = int(days * 86_400_000)
    rows = [_session_row(i, now, span, rng) for i in range(sessions)]
    stamps = sorted(now - rng.randrange(span) for _ in range(events))
    try:
        # The next batch is built while the writer commits the one before (its thread spends
        # most of that time inside SQLite), so seeding ten million events takes minutes less.
        pending: asyncio.Task[Any] | None = None
        for start in range(0, events, BATCH):
            batch = [_event(i, rng.choice(rows), stamps[i], rng)
                     for i in range(start, min(start + BATCH, events))]
            if pending is not None:
                await pending
            pending = asyncio.create_task(core.ingest(batch, "bench"))
            if progress and start and start % (progress * BATCH) == 0:
                print(f"  {start:,} events ({time.perf_counter() - started:.0f} s)", flush=True)
        if pending is not None:
            await pending

        def put_sessions(conn: Connection) -> tuple[None, list[Row]]:
            ids = [r["id"] for r in rows]
            for chunk in range(0, len(ids), 500):
                conn.execute(delete(SESSIONS).where(SESSIONS.c.id.in_(ids[chunk:chunk + 500])))
            if rows:
                conn.execute(insert(SESSIONS), rows)
                _put_usage(conn, rows)
            return None, []

        await core.writer.run(put_sessions)
    finally:
        await core.stop()
    return {"events": events, "sessions": sessions, "seconds": time.perf_counter() - started}


def replicate(source: Path, target: Path, times: int) -> dict[str, float]:
    """Make `target` hold `times` copies of `source`'s events (written there by :func:`seed`),
    then count them into the dashboard's hourly tables.

    Ten million events through the writer take over an hour on a small machine; this copies
    the rows the writer stored (each copy's uids suffixed, timestamps moved by the copy's
    number of milliseconds, ids in time order) in SQL, and counts them with the code the
    migration runs (`counts.backfill`, which adds each chunk as the writer adds a batch). The
    sessions are the source's.
    """
    started = time.perf_counter()
    engine = create_engine(f"sqlite:///{target}")
    schema.upgrade(engine)
    engine.dispose()
    columns = [c.name for c in EVENTS.columns if c.name != "id"]
    picked = ", ".join({"event_uid": "e.event_uid || '.' || k.n",
                        "timestamp": "e.timestamp + k.n"}.get(c, f"e.{c}") for c in columns)
    db = sqlite3.connect(target, isolation_level=None)
    try:
        db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; "
                         "PRAGMA cache_size=-1000000;")
        db.execute("ATTACH DATABASE ? AS src", (str(source),))
        indexes = [sql for (sql,) in db.execute(
            "SELECT sql FROM main.sqlite_master WHERE type = 'index' AND tbl_name = 'events' "
            "AND sql IS NOT NULL")]
        for (name,) in db.execute("SELECT name FROM main.sqlite_master WHERE type = 'index' "
                                  "AND tbl_name = 'events' AND sql IS NOT NULL").fetchall():
            db.execute(f"DROP INDEX main.{name}")
        db.execute("CREATE TEMP TABLE k(n INTEGER PRIMARY KEY)")
        db.executemany("INSERT INTO k VALUES (?)", [(n,) for n in range(times)])
        db.execute("BEGIN")
        # The timestamp index walks the source in time order; the copies of each row follow it.
        db.execute(f"INSERT INTO main.events ({', '.join(columns)}) SELECT {picked} "
                   f"FROM src.events AS e INDEXED BY ix_events_timestamp CROSS JOIN k "
                   f"ORDER BY e.timestamp, k.n")
        db.execute("INSERT INTO main.harness_sessions SELECT * FROM src.harness_sessions")
        db.execute("COMMIT")
        for sql in indexes:
            db.execute(sql)
        db.execute("DETACH DATABASE src")
        db.executescript("PRAGMA journal_mode=WAL;")
    finally:
        db.close()
    engine = create_engine(f"sqlite:///{target}")
    with engine.begin() as conn:
        counted = counts.backfill(conn)
    engine.dispose()
    return {"counted": counted, "seconds": time.perf_counter() - started}


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--days", type=float, default=14)
    args = parser.parse_args()
    result = asyncio.run(seed(args.database_url, events=args.events, sessions=args.sessions,
                              days=args.days))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
