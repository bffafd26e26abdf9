"""How many bytes the stored data takes, as the size bound of retention counts them.

SQLite: the pages in use (page_count minus the free list), exact and cheap. PostgreSQL keeps
deleted rows' space inside its files for reuse, so the files never shrink below what they once
held; the live size is estimated instead: stored events times the average size of the newest
ones (index share included), plus the other tables.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, text

SAMPLE_ROWS = 1_000
TUPLE_HEADER_BYTES = 28  # heap tuple header and line pointer
OTHER_TABLES = ("harness_sessions", "event_rollups", "event_counts", "session_tool_counts")


def page_size(engine: Engine) -> int:
    """SQLite's page size."""
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA page_size").scalar() or 4096)


def _events(conn: Connection) -> int:
    return int(conn.execute(text("SELECT count(*) FROM events")).scalar() or 0)


def _sqlite(conn: Connection, bound: int) -> tuple[int, int]:
    pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar() or 0)
    free = int(conn.exec_driver_sql("PRAGMA freelist_count").scalar() or 0)
    size = int(conn.exec_driver_sql("PRAGMA page_size").scalar() or 4096)
    used = (pages - free) * size
    return used, (_events(conn) if used > bound else 0)


def _pg_physical(conn: Connection) -> int:
    names = ("events", *OTHER_TABLES)
    sql = " + ".join(f"coalesce(pg_total_relation_size(to_regclass('{n}')), 0)" for n in names)
    return int(conn.execute(text(f"SELECT {sql}")).scalar() or 0)


def _pg_live(conn: Connection) -> tuple[int, int]:
    rows = _events(conn)
    avg = conn.execute(text(
        f"SELECT coalesce(avg(pg_column_size(e.*)), 0) FROM "
        f"(SELECT * FROM events ORDER BY id DESC LIMIT {SAMPLE_ROWS}) e")).scalar()
    share = conn.execute(text(
        "SELECT pg_total_relation_size('events')::float8 / "
        "greatest(pg_relation_size('events'), 1)")).scalar()
    others = " + ".join(f"coalesce(pg_total_relation_size(to_regclass('{n}')), 0)"
                        for n in OTHER_TABLES)
    rest = int(conn.execute(text(f"SELECT {others}")).scalar() or 0)
    per_row = (float(avg or 0) + TUPLE_HEADER_BYTES) * float(share or 1)
    return int(rows * per_row) + rest, rows


def used_bytes(engine: Engine, bound: int) -> tuple[int, int]:
    """(bytes in use, stored events); events are counted only when the bytes exceed `bound`."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            return _sqlite(conn, bound)
        physical = _pg_physical(conn)
        if physical <= bound:  # the files hold at least the live data: under the bound
            return physical, 0
        return _pg_live(conn)


def file_bytes(engine: Engine) -> int:
    """What the database takes on disk (SQLite: page_count x page_size)."""
    with engine.connect() as conn:
        if conn.dialect.name != "sqlite":
            return _pg_physical(conn)
        pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar() or 0)
        return pages * int(conn.exec_driver_sql("PRAGMA page_size").scalar() or 4096)
