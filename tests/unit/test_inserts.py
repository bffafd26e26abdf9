"""insert_rows: ids, event_uid dedup and the payload text, on a real SQLite file."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from router_ext.ingest.normalize import build_row
from router_ext.records import Row
from router_ext.store.inserts import UID_CHUNK, Ack, existing_ids, insert_rows, last_event_id
from tests.unit.conftest import Query


def row(uid: str, payload_text: str = '{"n":1}', session: str = "s1") -> Row:
    return build_row(source_app="unit", session_id=session, hook_event_type="PostToolUse",
                     payload={}, payload_text=payload_text, event_uid=uid)


def store(engine: Engine, rows: list[Row]) -> tuple[list[Ack], list[Row]]:
    with engine.begin() as conn:
        return insert_rows(conn, rows)


def test_ids_follow_submission_order_and_continue_after_the_newest(engine: Engine,
                                                                    query: Query) -> None:
    acks, fresh = store(engine, [row(f"u{n}") for n in range(5)])
    assert [a.id for a in acks] == [1, 2, 3, 4, 5]
    assert [r["id"] for r in fresh] == [1, 2, 3, 4, 5]
    acks, _ = store(engine, [row("later-a"), row("later-b")])
    assert [a.id for a in acks] == [6, 7]
    stored = query("SELECT id, event_uid FROM events ORDER BY id")
    assert [(r["id"], r["event_uid"]) for r in stored] == [
        *((n + 1, f"u{n}") for n in range(5)), (6, "later-a"), (7, "later-b")]


def test_duplicate_uid_in_one_call_is_stored_once_and_acked_with_the_first_id(
        engine: Engine, query: Query) -> None:
    first, again, other = row("dup", '{"v":"first"}'), row("dup", '{"v":"second"}'), row("x")
    acks, fresh = store(engine, [first, again, other])
    assert acks == [Ack(1, "dup", False), Ack(1, "dup", True), Ack(2, "x", False)]
    assert fresh == [first, other]
    assert query("SELECT payload FROM events WHERE event_uid = 'dup'") == [
        {"payload": '{"v":"first"}'}]


def test_uid_already_in_the_table_is_a_duplicate_and_takes_no_id(engine: Engine,
                                                                 query: Query) -> None:
    store(engine, [row("a"), row("b")])
    acks, fresh = store(engine, [row("new-1"), row("b", '{"changed":true}'), row("new-2")])
    assert acks == [Ack(3, "new-1", False), Ack(2, "b", True), Ack(4, "new-2", False)]
    assert [r["event_uid"] for r in fresh] == ["new-1", "new-2"]
    assert query("SELECT payload FROM events WHERE id = 2") == [{"payload": '{"n":1}'}]
    assert query("SELECT count(*) AS n FROM events") == [{"n": 4}]


def test_dedup_looks_up_more_uids_than_one_chunk(engine: Engine) -> None:
    total = UID_CHUNK * 2 + 17
    first, _ = store(engine, [row(f"c{n}") for n in range(total)])
    again, fresh = store(engine, [row(f"c{n}") for n in reversed(range(total))])
    assert fresh == []
    assert all(a.duplicate for a in again)
    assert [a.id for a in again] == [a.id for a in reversed(first)]
    with engine.connect() as conn:
        assert len(existing_ids(conn, (f"c{n}" for n in range(total)))) == total


@pytest.mark.parametrize("text", [
    '{"b":2,"a":1}',                                    # key order kept
    '{"big":123456789012345678901234567890,"f":1.10}',  # no float round trip
    '{"s":"caf\u00e9 \u2603 \\u00e9","esc":"a\\"b"}',   # text and escapes as sent
    '{"nested":{"list":[1,{"x":null}],"empty":{}}}',
])
def test_payload_is_stored_as_sent(engine: Engine, query: Query, text: str) -> None:
    acks, _ = store(engine, [row("p", text)])
    assert query("SELECT payload FROM events WHERE id = ?", acks[0].id) == [{"payload": text}]


def test_every_column_round_trips(engine: Engine, query: Query) -> None:
    sent = build_row(source_app="app", session_id="sess", hook_event_type="PreToolUse",
                     payload={"tool_name": "Bash", "agent_id": "ag", "tool_use_id": "tu"},
                     event_uid="full", timestamp=1_700_000_000_123, model_name="m",
                     host="h", summary="sum", chat='[{"role":"user"}]',
                     extra={"custom": 1},
                     human_in_the_loop={"question": "ok?", "type": "question"})
    store(engine, [sent])
    (stored,) = query("SELECT * FROM events WHERE event_uid = 'full'")
    expected: dict[str, Any] = {k: v for k, v in sent.items() if not k.startswith("_")}
    assert stored == expected
    assert (stored["tool_name"], stored["agent_id"], stored["tool_use_id"]) == ("Bash", "ag", "tu")
    assert stored["hitl_status"] == "pending"


def test_the_table_itself_refuses_a_second_row_with_the_same_uid(engine: Engine) -> None:
    store(engine, [row("only")])
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO events (event_uid, source_app, session_id, hook_event_type, payload,"
            " timestamp, received_at) VALUES ('only', 'a', 's', 't', '{}', 1, 1)")


def test_last_event_id(engine: Engine) -> None:
    with engine.connect() as conn:
        assert last_event_id(conn) == 0
    store(engine, [row("a"), row("b"), row("c")])
    with engine.connect() as conn:
        assert last_event_id(conn) == 3
