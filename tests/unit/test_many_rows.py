"""Multi-row statements store and return exactly what one statement per row would."""

from __future__ import annotations

import sqlite3

from hypothesis import given, settings
from hypothesis import strategies as st

from router_ext.store.many_rows import MAX_ROWS, execute_values

values = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=20),
                   st.floats(allow_nan=False))


def table(width: int) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    columns = ", ".join(f"c{i}" for i in range(width))
    conn.execute(f"CREATE TABLE t (k INTEGER PRIMARY KEY, {columns})")
    return conn


def head(width: int) -> str:
    return f"INSERT INTO t (k, {', '.join(f'c{i}' for i in range(width))})"


@settings(max_examples=60, deadline=None)
@given(width=st.integers(1, 12), count=st.integers(0, 1300), limit=st.sampled_from([0, 40, 999]),
       sample=st.lists(values, min_size=12, max_size=12))
def test_the_same_rows_as_one_statement_per_row(width: int, count: int, limit: int,
                                               sample: list[object]) -> None:
    rows = [(k, *(sample[(k + i) % len(sample)] for i in range(width))) for k in range(count)]
    many, single = table(width), table(width)
    if limit:  # a SQLite built with a lower variable limit still gets statements that fit
        many.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, max(limit, width + 1))
    execute_values(many.cursor(), rows, head(width))
    single.executemany(f"{head(width)} VALUES ({', '.join('?' * (width + 1))})", rows)
    assert many.execute("SELECT * FROM t ORDER BY k").fetchall() == \
        single.execute("SELECT * FROM t ORDER BY k").fetchall()


def test_an_upsert_returns_every_row_and_runs_few_statements() -> None:
    conn = table(1)
    conn.execute("INSERT INTO t VALUES (5, 100)")
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    rows = [(k, 1) for k in range(1000)]
    returned = execute_values(conn.cursor(), rows, head(1),
                              "ON CONFLICT (k) DO UPDATE SET c0 = c0 + excluded.c0 "
                              "RETURNING k, c0")
    assert sorted(returned) == [(k, 101 if k == 5 else 1) for k in range(1000)]
    # 1,000 = 512 + 256 + 128 + 64 + 32 + 8: one statement per power of two, at most MAX_ROWS.
    assert len(statements) == 6
    assert max(s.count("), (") + 1 for s in statements) == MAX_ROWS
