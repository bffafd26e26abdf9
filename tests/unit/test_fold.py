"""The sessions fold, run as the server runs it: a batch hook inside the writer's transaction."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text

from router_ext.errors import InvalidInput, Unstorable
from router_ext.ingest.metric_body import from_metric_dict
from router_ext.ingest.normalize import from_events_body
from router_ext.records import FoldNotes, Row, SessionNote
from router_ext.sessions.fold import SessionFold
from router_ext.sessions.pricing import PriceTable
from router_ext.store.writer import Committed, Writer
from tests.unit.conftest import Query

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]
T0 = 1_700_000_000_000
SONNET = "claude-sonnet-4-5"
USAGE = {"model": SONNET, "models": {SONNET: {
    "input_tokens": 1000, "output_tokens": 200, "cache_read_input_tokens": 5000,
    "cache_creation_input_tokens": 400, "cache_creation_5m": 400, "cache_creation_1h": 0}}}
# claude-sonnet-4-5 in router_ext/data/prices.json: 3 in, 15 out, 3.75 5m write, 0.3 read.
USAGE_COST = (1000 * 3 + 200 * 15 + 400 * 3.75 + 5000 * 0.3) / 1e6


def hook(session: str, name: str, second: float, uid: str | None = None,
         **payload: Any) -> Row:
    """A Claude Code hook event as POST /events receives it, `second`s after T0."""
    body: dict[str, Any] = {
        "source_app": "cc", "session_id": session, "hook_event_type": name,
        "timestamp": T0 + int(second * 1000),
        "payload": {"session_id": session, "hook_event_name": name, **payload}}
    if uid is not None:
        body["event_uid"] = uid
    return from_events_body(body, max_payload_bytes=1 << 20)


def metric(event: str, second: float, **body: Any) -> Row:
    """A /metrics/harness body (Ralph task or harness job), `second`s after T0."""
    return from_metric_dict({"event": event, "timestamp": (T0 + int(second * 1000)) / 1000,
                             **body})


def a_session(session: str) -> list[Row]:
    """A whole interactive session: prompts, tools (one failing), a subagent, two reports."""
    return [
        hook(session, "SessionStart", 0, cwd="/home/dev/shop", model=SONNET),
        hook(session, "UserPromptSubmit", 1, prompt="fix it"),
        hook(session, "PreToolUse", 2, tool_name="Bash"),
        hook(session, "PostToolUse", 3, tool_name="Bash"),
        hook(session, "PreToolUse", 4, tool_name="Edit"),
        hook(session, "PostToolUseFailure", 5, tool_name="Edit", error="no match"),
        hook(session, "SubagentStart", 6, agent_id="ag1"),
        hook(session, "SubagentStop", 7, agent_id="ag1", router_ext_usage=USAGE),
        hook(session, "UserPromptSubmit", 8, prompt="and test"),
        hook(session, "PostToolUse", 9, tool_name="Bash"),
        hook(session, "Stop", 10, router_ext_usage=USAGE),
        hook(session, "SessionEnd", 11, reason="exit"),
    ]


@pytest.fixture
async def writer(engine: Engine) -> AsyncIterator[Writer]:
    """A writer with the fold as its batch hook, as sessions.install wires it."""
    w = Writer(engine, max_queue=10_000, batch_max=500)
    w.in_transaction = SessionFold(PriceTable.load())
    await w.start()
    yield w
    await w.stop()


@pytest.fixture
def session(query: Query) -> Callable[[str], dict[str, Any]]:
    def read(session_id: str) -> dict[str, Any]:
        rows = query("SELECT * FROM harness_sessions WHERE id = ?", session_id)
        assert len(rows) == 1, f"no session {session_id}"
        return rows[0]
    return read


async def insert_each(writer: Writer, rows: list[Row]) -> None:
    for row in rows:
        await writer.insert([row])


async def test_hook_events_fold_into_an_interactive_session(
        writer: Writer, session: Callable[[str], dict[str, Any]]) -> None:
    await insert_each(writer, a_session("one-by-one"))
    row = session("one-by-one")
    assert (row["source"], row["source_app"], row["project"], row["model"]) == (
        "interactive", "cc", "shop", SONNET)
    assert (row["prompts_count"], row["tool_calls_count"], row["tool_failures_count"],
            row["subagents_count"]) == (2, 3, 1, 1)
    assert (row["status"], row["success"], row["error"]) == ("completed", 1, None)
    assert (row["started_at"], row["completed_at"], row["last_event_at"]) == (
        T0, T0 + 11_000, T0 + 11_000)
    assert row["duration_ms"] == 11_000
    # Each report is usage new since the last one: the two add up, priced from the table.
    assert (row["input_tokens"], row["output_tokens"], row["cache_read_tokens"],
            row["cache_creation_tokens"]) == (2000, 400, 10_000, 800)
    assert row["cost_usd"] == pytest.approx(2 * USAGE_COST)
    assert json.loads(row["model_usage"])[SONNET]["input_tokens"] == 2000


async def test_batch_boundaries_do_not_change_the_result(
        writer: Writer, session: Callable[[str], dict[str, Any]]) -> None:
    await insert_each(writer, a_session("one-by-one"))
    await writer.insert(a_session("one-batch"))
    rows = a_session("in-pairs")
    await asyncio.gather(*(writer.insert(rows[n:n + 2]) for n in range(0, len(rows), 2)))
    expected = {k: v for k, v in session("one-by-one").items() if k != "id"}
    for sid in ("one-batch", "in-pairs"):
        assert {k: v for k, v in session(sid).items() if k != "id"} == expected


async def test_retried_events_do_not_count_twice(
        writer: Writer, session: Callable[[str], dict[str, Any]]) -> None:
    rows = [hook("r", "UserPromptSubmit", 1, uid="r-1"),
            hook("r", "PostToolUse", 2, uid="r-2"),
            hook("r", "Stop", 3, uid="r-3", router_ext_usage=USAGE)]
    await writer.insert(rows)
    first = session("r")
    acks = await writer.insert([hook("r", "Stop", 3, uid="r-3", router_ext_usage=USAGE),
                                hook("r", "PostToolUse", 2, uid="r-2")])
    assert all(a.duplicate for a in acks)
    assert session("r") == first
    assert (first["tool_calls_count"], first["input_tokens"]) == (1, 1000)


async def test_status_follows_failure_resume_and_abandonment(
        writer: Writer, session: Callable[[str], dict[str, Any]]) -> None:
    await writer.insert([hook("st", "SessionStart", 0)])
    assert (session("st")["status"], session("st")["completed_at"]) == ("running", None)
    await writer.insert([hook("st", "StopFailure", 5, error="rate_limit"),
                         hook("st", "SessionEnd", 6)])
    ended = session("st")
    assert (ended["status"], ended["success"], ended["error"]) == ("failed", 0, "rate_limit")
    assert (ended["completed_at"], ended["duration_ms"]) == (T0 + 6000, 6000)
    await writer.insert([hook("st", "SessionStart", 100, source="resume")])
    resumed = session("st")
    assert (resumed["status"], resumed["completed_at"], resumed["duration_ms"],
            resumed["success"], resumed["error"]) == ("running", None, None, None, None)
    assert resumed["started_at"] == T0  # a resume keeps the first start

    def abandon(conn: Connection) -> tuple[Any, list[Row]]:  # what the sweeper writes
        conn.execute(text("UPDATE harness_sessions SET status = 'abandoned', "
                          "completed_at = :t WHERE id = 'st'"), {"t": T0 + 200_000})
        return None, []

    await writer.run(abandon)
    await writer.insert([hook("st", "UserPromptSubmit", 300)])
    woken = session("st")
    assert (woken["status"], woken["completed_at"], woken["prompts_count"]) == (
        "running", None, 1)
    assert woken["last_event_at"] == T0 + 300_000


async def test_an_early_event_arriving_late_moves_the_start_back(
        writer: Writer, session: Callable[[str], dict[str, Any]]) -> None:
    await writer.insert([hook("late", "UserPromptSubmit", 50)])
    await writer.insert([hook("late", "PostToolUse", 20)])
    row = session("late")
    assert (row["started_at"], row["last_event_at"]) == (T0 + 20_000, T0 + 50_000)


async def test_ralph_task_from_start_to_completion(
        writer: Writer, session: Callable[[str], dict[str, Any]]) -> None:
    await writer.insert([metric("task_started", 0, source="ralph", session_id="loop1",
                                label="mercury", task_id="k3", task_title="Add retries")])
    started = session("ralph:loop1:k3")
    assert (started["source"], started["status"], started["loop_id"]) == (
        "ralph", "running", "loop1")
    await writer.insert([metric(
        "task_completed", 4, source="ralph", session_id="loop1", label="mercury", task_id="k3",
        duration_ms=4000, success=True, exit_code=0, num_turns=3, model=SONNET,
        tokens={"input": 4000, "output": 900, "cache_read": 20_000, "cache_creation": 1600},
        cost_usd=0.05)])
    row = session("ralph:loop1:k3")
    assert (row["status"], row["success"], row["error"], row["exit_code"], row["num_turns"]) == (
        "completed", 1, None, 0, 3)
    assert (row["started_at"], row["completed_at"], row["duration_ms"]) == (
        T0, T0 + 4000, 4000)
    assert (row["task_title"], row["label"], row["model"]) == ("Add retries", "mercury", SONNET)
    assert (row["input_tokens"], row["output_tokens"], row["cache_read_tokens"],
            row["cache_creation_tokens"]) == (4000, 900, 20_000, 1600)
    assert row["cost_usd"] == pytest.approx(0.05)  # the run's own cost wins over the table


@pytest.mark.parametrize(("event", "extra", "status", "error"), [
    ("task_failed", {"error": "tests failed"}, "failed", "tests failed"),
    ("task_failed", {}, "failed", "failed"),
    ("task_completed", {"success": False}, "failed", "failed"),
])
async def test_ralph_task_failures(writer: Writer, session: Callable[[str], dict[str, Any]],
                                   event: str, extra: dict[str, Any], status: str,
                                   error: str) -> None:
    await writer.insert([metric(event, 9, source="ralph", label="venus", task_id="t1",
                                duration_ms=2500, **extra)])
    row = session("ralph:venus:t1")
    assert (row["status"], row["success"], row["error"]) == (status, 0, error)
    # Reported only at its end: the start is worked out from the duration.
    assert (row["started_at"], row["duration_ms"]) == (T0 + 9000 - 2500, 2500)


async def test_task_adopts_the_claude_session_it_ran_reported_before_it(
        writer: Writer, session: Callable[[str], dict[str, Any]]) -> None:
    await writer.insert(a_session("child-a"))
    await writer.insert([metric("task_completed", 12, source="ralph", session_id="loopA",
                                task_id="t", claude_session_id="child-a", success=True)])
    task, child = session("ralph:loopA:t"), session("child-a")
    assert child["loop_id"] == "ralph:loopA:t"
    assert task["claude_session_id"] == "child-a" and task["project"] == "shop"
    assert (task["prompts_count"], task["tool_calls_count"], task["tool_failures_count"],
            task["subagents_count"]) == (2, 3, 1, 1)
    # The task sent no usage of its own, so the run's hook-reported usage is its usage.
    assert (task["input_tokens"], task["cost_usd"]) == (2000, pytest.approx(2 * USAGE_COST))


async def test_task_adopts_the_claude_session_reported_after_it(
        writer: Writer, session: Callable[[str], dict[str, Any]]) -> None:
    await writer.insert([metric("task_started", 0, source="ralph", session_id="loopB",
                                task_id="t", claude_session_id="child-b"),
                         metric("task_completed", 20, source="ralph", session_id="loopB",
                                task_id="t", success=True, input_tokens=90_000,
                                output_tokens=1000, model=SONNET, cost_usd=0.4)])
    rows = a_session("child-b")
    await writer.insert(rows[:6])
    assert session("child-b")["loop_id"] == "ralph:loopB:t"
    assert session("ralph:loopB:t")["tool_calls_count"] == 2
    await writer.insert(rows[6:])  # the child is linked now: its counts keep flowing up
    task = session("ralph:loopB:t")
    assert (task["prompts_count"], task["tool_calls_count"], task["subagents_count"]) == (
        2, 3, 1)
    # The run's own totals are bigger than the hook reports: they stay.
    assert (task["input_tokens"], task["cost_usd"]) == (90_000, pytest.approx(0.4))
    assert task["status"] == "completed"


async def test_harness_jobs_fold_into_api_sessions(
        writer: Writer, session: Callable[[str], dict[str, Any]]) -> None:
    await writer.insert([metric("job_started", 0, source="api", task_id="J1", project="shop",
                                label="nightly")])
    assert (session("api:J1")["source"], session("api:J1")["status"]) == ("api", "running")
    await writer.insert([metric("job_completed", 3, source="api", task_id="J1", num_turns=2,
                                model_usage={
                                    "claude-haiku-4-5": {"inputTokens": 1000,
                                                         "outputTokens": 100},
                                    SONNET: {"inputTokens": 10, "costUSD": 0.25}})])
    row = session("api:J1")
    assert (row["status"], row["success"], row["project"], row["label"]) == (
        "completed", 1, "shop", "nightly")
    assert (row["duration_ms"], row["num_turns"], row["input_tokens"]) == (3000, 2, 1010)
    # haiku priced from the table (1 in, 5 out per million); sonnet's own cost kept.
    assert row["cost_usd"] == pytest.approx((1000 * 1 + 100 * 5) / 1e6 + 0.25)
    await writer.insert([metric("job_cancelled", 1, source="api", task_id="J2",
                                duration_ms=1500),
                         metric("job_failed", 2, source="api", task_id="J3", error="boom")])
    cancelled, failed = session("api:J2"), session("api:J3")
    assert (cancelled["status"], cancelled["success"], cancelled["duration_ms"]) == (
        "cancelled", 0, 1500)
    assert (failed["status"], failed["error"]) == ("failed", "boom")


async def test_loop_and_request_metrics_make_no_session(writer: Writer, query: Query) -> None:
    await writer.insert([metric("session_started", 0, source="ralph", session_id="L"),
                         metric("request", 1, source="api", session_id="req"),
                         metric("session_completed", 2, source="ralph", session_id="L"),
                         metric("something_new", 3, source="ralph", session_id="L")])
    assert query("SELECT count(*) AS n FROM events") == [{"n": 4}]
    assert query("SELECT id FROM harness_sessions") == []
    await writer.insert([hook("plain", "SomeFutureHook", 1)])  # unknown hook: still a session
    assert query("SELECT id, source FROM harness_sessions") == [
        {"id": "plain", "source": "interactive"}]


async def test_fold_notes_reach_the_commit_listeners(writer: Writer) -> None:
    batches: list[Committed] = []
    writer.listeners.append(batches.append)
    first = [hook("n", "SessionStart", 0), hook("n", "PostToolUse", 1),
             hook("n", "Stop", 2, router_ext_usage=USAGE), hook("n", "SessionEnd", 4)]
    await writer.insert(first)
    await writer.insert([hook("n2", "Stop", 1, router_ext_usage={
        "models": {"mystery-model": {"input_tokens": 10}}})])
    done, unknown = (b.notes for b in batches)
    assert done is not None and unknown is not None
    start, tool, stop, end = (done.sessions[row["event_uid"]] for row in first)
    assert start == SessionNote("interactive", started=True)
    assert tool == SessionNote("interactive", tool_outcome="success")
    assert stop == SessionNote("interactive")
    assert (end.ended, end.duration_s) == ("completed", 4.0)
    assert done.usage[SONNET]["input_tokens"] == 1000
    assert done.usage[SONNET]["cost_usd"] == pytest.approx(USAGE_COST)
    assert unknown.unpriced == ["mystery-model"]


async def test_fold_stays_in_the_insert_transaction(engine: Engine, query: Query) -> None:
    fold = SessionFold(PriceTable.load())

    def fail_after_fold(conn: Connection, rows: list[Row]) -> None:
        fold(conn, rows)
        raise RuntimeError("a later step failed")

    writer = Writer(engine, max_queue=100, batch_max=100)
    writer.in_transaction = fail_after_fold
    await writer.start()
    try:
        (ack,) = await writer.insert([hook("tx", "SessionStart", 0)])
    finally:
        await writer.stop()
    with pytest.raises(Unstorable):  # refused alone, and nothing of it kept
        ack.committed()
    assert query("SELECT id FROM harness_sessions") == []
    assert query("SELECT id FROM events") == []


def _huge_exit_code() -> Row:
    return metric("task_completed", 1, source="ralph", label="x", task_id="huge",
                  exit_code=10**20)


def _infinite_duration() -> Row:
    body = json.loads('{"source": "ralph", "event": "task_completed", "label": "x",'
                      ' "task_id": "inf", "duration_ms": 1e400}')  # json reads 1e400 as inf
    return from_metric_dict(body)


def _object_loop_id() -> Row:
    return from_events_body({"source_app": "x", "session_id": "s", "hook_event_type":
                             "task_started", "payload": {"session_id": {"a": 1}}},
                            max_payload_bytes=1 << 20)


def _huge_hook_usage() -> Row:
    return hook("big", "Stop", 1, router_ext_usage={
        "models": {SONNET: {"input_tokens": 10**20}}})


@pytest.mark.parametrize("build", [_huge_exit_code, _infinite_duration, _object_loop_id,
                                   _huge_hook_usage])
async def test_a_strange_payload_fails_neither_its_batch_nor_its_neighbours(
        writer: Writer, query: Query, build: Callable[[], Row]) -> None:
    try:
        strange = build()
    except InvalidInput:
        return  # refused at ingest with a 400: the batch is never at risk
    neighbour = hook("innocent", "UserPromptSubmit", 1)
    (mine,), (theirs,) = await asyncio.gather(writer.insert([neighbour]),
                                              writer.insert([strange]))
    assert mine.error is None
    # The strange event is either kept (the fold skipped what it could not use) or refused
    # alone as unstorable; never is its neighbour refused with it.
    assert theirs.error is None or isinstance(theirs.error, Unstorable), theirs
    stored = 2 if theirs.error is None else 1
    assert query("SELECT count(*) AS n FROM events") == [{"n": stored}]
    assert query("SELECT prompts_count FROM harness_sessions WHERE id = 'innocent'") == [
        {"prompts_count": 1}]


def test_notes_of_a_batch_committed_in_parts_add_up() -> None:
    first = FoldNotes({"a": SessionNote("interactive", started=True)},
                      {SONNET: {"input_tokens": 10, "cost_usd": 0.5}}, ["m1"],
                      {"lines_added": 3}, {("u", "p"): {"cost_usd": 1.0}}, [{"row": 1}])
    second = FoldNotes({"b": SessionNote("ralph")},
                       {SONNET: {"input_tokens": 5, "cost_usd": None}, "other": {"x": 1}},
                       ["m2"], {"lines_added": 2, "commits_count": 1},
                       {("u", "p"): {"cost_usd": 2.0, "sessions": 1}}, [{"row": 2}])
    both = FoldNotes.merged(first, second)
    assert both is not None
    assert set(both.sessions) == {"a", "b"} and both.unpriced == ["m1", "m2"]
    assert both.usage == {SONNET: {"input_tokens": 15, "cost_usd": 0.5}, "other": {"x": 1}}
    assert both.counters == {"lines_added": 5, "commits_count": 1}
    assert both.attributed == {("u", "p"): {"cost_usd": 3.0, "sessions": 1}}
    assert both.increments == [{"row": 1}, {"row": 2}]
    assert first.usage == {SONNET: {"input_tokens": 10, "cost_usd": 0.5}}  # inputs untouched
    assert FoldNotes.merged(None, second) is second and FoldNotes.merged(None, None) is None
