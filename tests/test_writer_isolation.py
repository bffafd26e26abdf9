"""A row the database refuses fails alone: the real writer on a real SQLite file.

The field rules keep such rows out of the writer; these rows skip them on purpose (as a value
no rule foresaw would) to prove the writer's own safety net: the failing batch is split, the
failing row's caller gets a 422-class error, and every other row commits.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from router_ext.errors import Unavailable, Unstorable
from router_ext.ingest.normalize import build_row
from router_ext.records import Row
from router_ext.settings import Settings
from router_ext.store import schema
from router_ext.store.db import make_engine
from router_ext.store.writer import EVENTS, Writer


def good(n: int) -> Row:
    return build_row(source_app="w", session_id="s", hook_event_type="Note",
                     payload={"n": n}, event_uid=f"good-{n}-{uuid.uuid4().hex}")


def poison(kind: str) -> Row:
    row = good(-1)
    if kind == "surrogate":
        row["session_id"] = "cut \ud83d"  # the driver cannot encode it
    else:
        row["timestamp"] = 2**63  # past SQLite INTEGER
    return row


async def _run(path: Path, calls: list[list[Row]]) -> tuple[list[object], int]:
    settings = Settings(database_url=f"sqlite:///{path}")
    engine = make_engine(settings, writer=True)
    schema.upgrade(engine)
    writer = Writer(engine, max_queue=10_000, batch_max=2_000)
    await writer.start()
    try:
        results = await asyncio.gather(*(writer.insert(rows) for rows in calls),
                                       return_exceptions=True)
    finally:
        await writer.stop()
    with engine.connect() as conn:
        stored = int(conn.execute(select(func.count()).select_from(EVENTS)).scalar() or 0)
    engine.dispose()
    return list(results), stored


def test_good_rows_sent_with_poison_rows_all_commit(tmp_path: Path) -> None:
    calls = [[good(i)] for i in range(150)]
    for i in range(5):  # poison calls interleaved, so they share group-commit batches
        calls.insert(i * 30 + 7, [poison("surrogate" if i % 2 else "overflow")])
    results, stored = asyncio.run(_run(tmp_path / "w.db", calls))
    refused = [r for r in results if isinstance(r, list) and r[0].error is not None]
    committed = [r for r in results if isinstance(r, list) and r[0].error is None]
    assert not [r for r in results if isinstance(r, BaseException)]
    assert len(committed) == 150 and stored == 150
    assert len(refused) == 5
    for acks in refused:
        error = acks[0].error
        assert isinstance(error, Unstorable) and error.http_status == 422
        assert "could not be stored" in error.message
        with pytest.raises(Unstorable):
            acks[0].committed()
    assert len({acks[0].id for acks in committed}) == 150  # each its own id


def test_a_batch_call_keeps_its_good_rows(tmp_path: Path) -> None:
    rows = [good(0), poison("overflow"), good(1), poison("surrogate"), good(2)]
    results, stored = asyncio.run(_run(tmp_path / "w.db", [rows]))
    (acks,) = results
    assert isinstance(acks, list)
    assert [a.error is None for a in acks] == [True, False, True, False, True]
    assert stored == 3


def test_a_database_fault_is_still_retryable(tmp_path: Path) -> None:
    async def scenario() -> BaseException | None:
        settings = Settings(database_url=f"sqlite:///{tmp_path / 'gone.db'}")
        engine = make_engine(settings, writer=True)
        schema.upgrade(engine)
        writer = Writer(engine, max_queue=100, batch_max=100)
        await writer.start()
        with sqlite3.connect(tmp_path / "gone.db") as conn:  # the writer holds the pool's one
            conn.execute("DROP TABLE events")  # no row is to blame for this
        try:
            await writer.insert([good(1), good(2)])
        except Exception as exc:
            return exc
        finally:
            await writer.stop()
            engine.dispose()
        return None

    error = asyncio.run(scenario())
    assert isinstance(error, Unavailable) and error.http_status == 503
