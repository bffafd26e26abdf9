"""In-process fixtures: a temp-file SQLite database, its writer and reader engines, a writer."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from router_ext.settings import Settings
from router_ext.store import schema
from router_ext.store.db import make_engine
from router_ext.store.writer import Writer

Query = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, the loop the server runs on."""
    return "asyncio"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for a fresh database file in this test's temp folder."""
    return Settings(database_url=f"sqlite:///{tmp_path / 'unit.db'}")


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    """The writer's engine (same pragmas as the server), schema created."""
    eng = make_engine(settings, writer=True)
    schema.upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def reader_engine(settings: Settings, engine: Engine) -> Iterator[Engine]:
    """A read-only engine on the same file, as the server's reader pool."""
    eng = make_engine(settings, writer=False)
    yield eng
    eng.dispose()


@pytest.fixture
async def writer(engine: Engine) -> AsyncIterator[Writer]:
    """A started writer, stopped (drained) after the test."""
    w = Writer(engine, max_queue=10_000, batch_max=500)
    await w.start()
    yield w
    await w.stop()


@pytest.fixture
def query(settings: Settings) -> Query:
    """Run SQL on a new plain sqlite3 connection: sees only what was committed."""
    path = settings.sqlite_path()

    def run(sql: str, *params: Any) -> list[dict[str, Any]]:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(sql, params)]
        finally:
            conn.close()

    return run
