"""One batch of event rows into `events`, inside the writer's transaction.

Deduplicates by event_uid (against the table and within the batch), assigns ids and inserts.
On SQLite the single writer assigns ids itself and hands plain tuples to the driver in
multi-row statements (see many_rows): no RETURNING, no per-row objects, which is most of the
ingest cost. Other databases use SQLAlchemy's INSERT ... RETURNING in parameter order.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Connection, insert, select, text

from router_ext.records import COLUMNS, Row
from router_ext.store.db import sqlite_cursor
from router_ext.store.many_rows import execute_values
from router_ext.store.models import Event

if TYPE_CHECKING:
    from router_ext.errors import RouterExtError

EVENTS = Event.__table__  # type: ignore[attr-defined]
UID_CHUNK = 500
_WITH_ID = ("id", *COLUMNS)
_SQLITE_INSERT = f"INSERT INTO events ({', '.join(_WITH_ID)})"
_params = operator.itemgetter(*_WITH_ID)
# PostgreSQL: replicas sharing a database serialize their insert transactions on this advisory
# lock, so ids commit in increasing order everywhere and concurrent duplicates are caught by the
# uid check instead of failing on the unique index. The NOTIFY is delivered at commit.
PG_LOCK_KEY = 0x726F7574  # "rout"
PG_CHANNEL = "router_ext_events"


class Ack(NamedTuple):
    """The outcome for one submitted row: its id, and whether it was already stored.

    `error` is set (and `id` is 0) for a row the database refused on its own after its batch
    failed; every other row of that batch was committed (see Writer).
    """

    id: int
    event_uid: str
    duplicate: bool
    error: RouterExtError | None = None

    def committed(self) -> Ack:
        """This ack, or the row's own error raised."""
        if self.error is not None:
            raise self.error
        return self


def existing_ids(conn: Connection, uids: Iterable[str]) -> dict[str, int]:
    """The stored id of each uid that is already in `events`."""
    found: dict[str, int] = {}
    unique = list(dict.fromkeys(uids))
    cursor = sqlite_cursor(conn)
    if cursor is not None:
        for start in range(0, len(unique), UID_CHUNK):
            chunk = unique[start:start + UID_CHUNK]
            sql = (f"SELECT event_uid, id FROM events WHERE event_uid IN "
                   f"({', '.join('?' * len(chunk))})")
            found.update(cursor.execute(sql, chunk).fetchall())
        return found
    for start in range(0, len(unique), UID_CHUNK):
        query = select(EVENTS.c.event_uid, EVENTS.c.id).where(
            EVENTS.c.event_uid.in_(unique[start:start + UID_CHUNK]))
        found.update({uid: int(id_) for uid, id_ in conn.execute(query)})
    return found


def _insert_sqlite(cursor: Any, fresh: list[Row]) -> None:
    # Safe only because one writer owns every write: nothing else can take an id meanwhile.
    # max(id) is read per batch (a rowid lookup) so writes made through Writer.run stay valid.
    next_id = cursor.execute("SELECT max(id) FROM events").fetchone()[0] or 0
    for row in fresh:
        next_id += 1
        row["id"] = next_id
    execute_values(cursor, [_params(row) for row in fresh], _SQLITE_INSERT)


def _insert_returning(conn: Connection, fresh: list[Row]) -> None:
    statement = insert(EVENTS).returning(EVENTS.c.id, sort_by_parameter_order=True)
    params = [{key: row[key] for key in COLUMNS} for row in fresh]
    ids = [int(r[0]) for r in conn.execute(statement, params)]
    for row, id_ in zip(fresh, ids, strict=True):
        row["id"] = id_


def insert_rows(conn: Connection, rows: Sequence[Row]) -> tuple[list[Ack], list[Row]]:
    """Store the rows not stored yet; returns one ack per row and the rows newly stored."""
    cursor = sqlite_cursor(conn)
    if cursor is None:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
    known = existing_ids(conn, (row["event_uid"] for row in rows))
    fresh: list[Row] = []
    first: dict[str, Row] = {}
    for row in rows:
        uid = row["event_uid"]
        if uid not in known and uid not in first:
            first[uid] = row
            fresh.append(row)
    if fresh and cursor is not None:
        _insert_sqlite(cursor, fresh)
    elif fresh:
        _insert_returning(conn, fresh)
        conn.execute(text("SELECT pg_notify(:channel, :payload)"),
                     {"channel": PG_CHANNEL, "payload": str(fresh[-1]["id"])})
    acks: list[Ack] = []
    for row in rows:
        uid = row["event_uid"]
        if uid in known:
            acks.append(Ack(known[uid], uid, True))
        else:
            original = first[uid]
            acks.append(Ack(original["id"], uid, original is not row))
    return acks, fresh


def last_event_id(conn: Connection) -> int:
    """The newest stored id (0 for an empty table)."""
    return int(conn.execute(select(EVENTS.c.id).order_by(EVENTS.c.id.desc()).limit(1)).scalar()
               or 0)

