"""Engines for the one writer and the readers, with the SQLite pragmas the design needs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.pool import NullPool, QueuePool

from router_ext.settings import Settings
from router_ext.store import models  # noqa: F401  (registers the tables)

BUSY_TIMEOUT_MS = 5_000
PAGE_SIZE = 4_096
# The writer mostly appends; 16 MiB of page cache holds the hot index pages without letting
# RSS grow with the database (the OS page cache keeps the rest).
WRITER_CACHE_KIB = 16_384
# SQLite's own checkpoint runs inside the COMMIT that crosses its threshold, so every caller
# in that batch waits for it: at 64 MiB that is ~90 ms on this class of disk (~2.5 ms plus
# ~1.4 ms a MiB, measured). The writer therefore checkpoints on its own, after a batch is
# acknowledged (Writer.checkpoint_seconds); this threshold is only the backstop. It stays high
# because the default 4 MiB made checkpoints half of all bulk ingest time (measured 18k ->
# 42k rows/s in raw sqlite3 with our indexes). Only the writer checkpoints, which keeps SQLite
# 3.40's WAL-reset bug out of reach.
WAL_CHECKPOINT_BYTES = 64 * 1024 * 1024


def _normalize_url(url: str) -> str:
    # Accept the plain scheme people paste; psycopg 3 is the driver we ship.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def _sqlite_pragmas(synchronous: str, *, writer: bool) -> Any:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # Only takes effect on a new, empty file. A commit writes every page it changed to the
        # WAL, and a one-event commit changes ~16 pages (table, indexes, its session row): with
        # 4 KiB pages that is 64 KiB instead of 256 KiB, measured 0.55-0.68 ms per one-event
        # transaction against 0.80-0.90 ms with 16 KiB pages, and batches as fast.
        cur.execute(f"PRAGMA page_size={PAGE_SIZE}")
        if writer:  # like page_size, only on a new file: lets retention give pages back
            cur.execute("PRAGMA auto_vacuum=INCREMENTAL")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        if writer:
            cur.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
            page = cur.execute("PRAGMA page_size").fetchone()[0]
            cur.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_BYTES // page}")
        else:
            cur.execute("PRAGMA query_only=ON")  # readers can never write by mistake
        cur.close()

    return on_connect


def passive_checkpoint(conn: Connection) -> tuple[int, list[Any]]:
    """Copy what the WAL holds into the database without waiting on readers (a WriteOp)."""
    raw = conn.connection.driver_connection
    _busy, _wal, copied = raw.execute(  # type: ignore[union-attr]
        "PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(copied), []


def create_private_file(path: Path) -> None:
    """Create the SQLite file owner-only (0600) in an owner-only folder (0700) if missing.

    The events hold prompts and commands. SQLite gives its -wal and -shm files the database
    file's mode, so they follow. Existing files and folders keep the mode they have.
    """
    os.makedirs(path.parent, mode=0o700, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def make_engine(settings: Settings, *, writer: bool) -> Engine:
    """An engine: one connection for the writer, a small pool for readers."""
    url = _normalize_url(settings.database_url)
    if settings.backend == "sqlite":
        path = settings.sqlite_path()
        if path is not None:
            create_private_file(path)
        engine = create_engine(
            url,
            poolclass=QueuePool,
            pool_size=1 if writer else 4,
            max_overflow=0 if writer else 4,
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        )
        event.listen(engine, "connect", _sqlite_pragmas(settings.sqlite_synchronous,
                                                        writer=writer))
        return engine
    return create_engine(
        url,
        pool_size=2 if writer else 5,
        max_overflow=0 if writer else 5,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 5},
    )


def sqlite_cursor(conn: Connection) -> Any | None:
    """A DBAPI cursor when `conn` is SQLite, else None.

    SQLite has one writer (ours), so plain SQL through the driver is safe there, and it skips
    SQLAlchemy's per-statement work; other databases go through Core.
    """
    if conn.dialect.name != "sqlite":
        return None
    return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]


def make_throwaway_engine(url: str) -> Engine:
    """An engine with no pooling, for one-off tools (import, checks)."""
    return create_engine(_normalize_url(url), poolclass=NullPool)


def ping(engine: Engine) -> None:
    """Raise if the database cannot answer."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
