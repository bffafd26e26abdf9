"""Many rows in a few SQLite statements: ``INSERT ... VALUES (...), (...), ...``.

Python's sqlite3 lets go of the interpreter lock around every step of a statement, and
``executemany`` steps once per row. When the event loop's thread is busy, every one of those
steps waits for the lock to come back, up to the switch interval (5 ms). Measured on this
design's 2-core machine, 50,000 ~1 KB event rows, 1,000 per transaction: ``executemany``
stores 52,000 rows/s alone and 159 rows/s beside one busy Python thread, while one statement
of many rows stores 54,000 alone and 32,000 beside it. So the writer's inserts and upserts go
through :func:`execute_values`.

A batch is cut into chunks whose sizes are powers of two (1,000 rows: 512 + 256 + 128 + 64 +
32 + 8), so at most a handful of statements run per batch and the driver's statement cache
holds every shape that can occur.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence
from itertools import chain
from typing import Any

from sqlalchemy import Connection

from router_ext.store.db import sqlite_cursor

MAX_ROWS = 512


def execute_values(cursor: Any, rows: Sequence[Sequence[Any]], head: str,
                   tail: str = "") -> list[Any]:
    """Run ``{head} VALUES (?, ...), ... {tail}`` over all `rows`; the rows any RETURNING gave.

    `head` is ``INSERT INTO table (columns)``; `tail` may hold ``ON CONFLICT ...`` and
    ``RETURNING ...`` (the order of returned rows is SQLite's, so return the key with them).
    Every row must have the same number of values.
    """
    if not rows:
        return []
    width = len(rows[0])
    limit = _max_rows(cursor.connection, width)
    returned: list[Any] = []
    start = 0
    while start < len(rows):
        size = min(limit, 1 << (len(rows) - start).bit_length() - 1)
        part = rows[start:start + size]
        cursor.execute(_statement(head, tail, width, size), list(chain.from_iterable(part)))
        returned += cursor.fetchall()
        start += size
    return returned


def write_rows(conn: Connection, rows: Sequence[Sequence[Any]], sqlite: tuple[str, str],
               core: Any, columns: Sequence[str]) -> None:
    """Insert or upsert `rows` (values in `columns` order) inside the caller's transaction.

    On SQLite through the driver as multi-row statements (`sqlite` is the head and tail around
    the VALUES); SQLite has one writer, ours, and SQLAlchemy's per-statement work cost more
    than the statement for small batches. Elsewhere the SQLAlchemy statement `core` runs once
    per row set.
    """
    if not rows:
        return
    cursor = sqlite_cursor(conn)
    if cursor is not None:
        execute_values(cursor, rows, *sqlite)
        return
    conn.execute(core, [dict(zip(columns, row, strict=True)) for row in rows])


def _max_rows(conn: sqlite3.Connection, width: int) -> int:
    """The largest power of two of rows whose values fit in one statement (and MAX_ROWS)."""
    per_statement = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width
    return min(MAX_ROWS, 1 << per_statement.bit_length() - 1)


@functools.lru_cache(maxsize=256)
def _statement(head: str, tail: str, width: int, size: int) -> str:
    row = f"({', '.join('?' * width)})"
    return f"{head} VALUES {', '.join([row] * size)}{' ' + tail if tail else ''}"
