"""The SQLite writer copies its WAL back itself, between batches, not inside a commit.

SQLite's own checkpoint is set to 64 MiB, so a few MiB of events never trigger it: the main
database file only grows when the writer's own checkpoint runs. The real writer on a real file.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from router_ext.ingest.normalize import build_row
from router_ext.records import Row
from router_ext.settings import Settings
from router_ext.store import schema
from router_ext.store.db import make_engine
from router_ext.store.writer import CHECKPOINT_SECONDS, Writer

ROWS = 3_000


def _row(n: int) -> Row:
    return build_row(source_app="w", session_id=f"s{n % 7}", hook_event_type="Note",
                     payload={"n": n, "text": "x" * 1_000},
                     event_uid=f"ck-{n}-{uuid.uuid4().hex}")


async def _store(path: Path, checkpoint_seconds: float) -> tuple[int, int]:
    """Store ROWS rows in batches of 50; returns the main file's size before and after."""
    engine = make_engine(Settings(database_url=f"sqlite:///{path}"), writer=True)
    schema.upgrade(engine)
    writer = Writer(engine, max_queue=10_000, batch_max=2_000)
    assert writer.checkpoint_seconds == CHECKPOINT_SECONDS  # on by default for SQLite
    writer.checkpoint_seconds = checkpoint_seconds
    await writer.start()
    before = path.stat().st_size
    try:
        for start in range(0, ROWS, 50):
            acks = await writer.insert([_row(n) for n in range(start, start + 50)])
            assert all(ack.error is None for ack in acks)
        after = path.stat().st_size
    finally:
        await writer.stop()
        engine.dispose()
    return before, after


def test_the_writer_checkpoints_between_batches(tmp_path: Path) -> None:
    before, after = asyncio.run(_store(tmp_path / "on.db", checkpoint_seconds=1e-6))
    assert after - before > ROWS * 1_000  # the rows reached the main file, not just the WAL


def test_without_it_the_rows_stay_in_the_wal(tmp_path: Path) -> None:
    before, after = asyncio.run(_store(tmp_path / "off.db", checkpoint_seconds=0.0))
    assert after - before < ROWS * 100  # SQLite's own 64 MiB checkpoint never came
