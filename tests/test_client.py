"""The retrying client against a real server: HTTP and gRPC, dedup, deadline, spool, replay."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from router_ext.v1 import query_pb2, types_pb2
from router_ext_client.client import Client
from router_ext_client.config import ClientConfig
from router_ext_client.retry import PermanentError, RetryableError, call_with_retries, policy
from tests.grpc_helpers import stubs
from tests.support import ServerProcess


def stored(server: ServerProcess, *, session: str = "", source: str = "",
           limit: int = 1000) -> list[dict[str, Any]]:
    """Events in the server's database (read over gRPC ListEvents), oldest first."""
    flt = types_pb2.EventFilter(session_ids=[session] if session else [],
                                source_apps=[source] if source else [])
    with server.channel() as channel:
        _, _, query = stubs(channel)
        answer = query.ListEvents(query_pb2.ListEventsRequest(filter=flt, limit=limit),
                                  timeout=10)
    return [{"id": e.id, "event_uid": e.event_uid, "source_app": e.source_app,
             "session_id": e.session_id, "hook_event_type": e.hook_event_type,
             "payload": json.loads(e.payload_json), "model_name": e.model_name, "host": e.host}
            for e in answer.events]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (kernel backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock.getsockname()[1]
    sock.close()


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return int(port)


def client(url: str, tmp_path: Path, **kw: Any) -> Client:
    return Client(ClientConfig.from_env(url=url, spool_dir=str(tmp_path / "spool"), **kw))


def body(session: str, n: int = 0) -> dict[str, Any]:
    return {"source_app": "client-test", "session_id": session, "hook_event_type": "PreToolUse",
            "payload": {"n": n, "tool_name": "Bash"}}


def test_http_send_is_committed_and_stamped(server: ServerProcess, tmp_path: Path) -> None:
    c = client(server.url, tmp_path)
    event = body("http-1")
    outcome = c.send_event(event)
    assert outcome.status == "sent" and outcome.id
    (row,) = stored(server, session="http-1")
    assert row["id"] == outcome.id
    assert row["event_uid"] == event["event_uid"] and len(event["event_uid"]) == 32
    assert row["host"] == c.config.host and row["payload"] == {"n": 0, "tool_name": "Bash"}


def test_resend_with_same_uid_is_stored_once(server: ServerProcess, tmp_path: Path) -> None:
    c = client(server.url, tmp_path)
    event = body("dup-1")
    first = c.send_event(event)
    again = c.send_event(dict(event))  # a retry or a replay from another machine
    assert again.status == "sent" and again.id == first.id
    assert len(stored(server, session="dup-1")) == 1


def test_grpc_transport_events_and_metrics(server: ServerProcess, tmp_path: Path) -> None:
    c = client(f"grpc://{server.grpc_target}", tmp_path)
    try:
        assert c.send_event(body("grpc-1")).status == "sent"
        metric = {"source": "ralph", "event": "task_started", "session_id": "grpc-loop",
                  "task_id": "T1", "duration_ms": 12.0, "note": "kept in extra"}
        assert c.send_metric(metric).status == "sent"
    finally:
        c.close()
    assert len(stored(server, session="grpc-1")) == 1
    (row,) = stored(server, session="grpc-loop")
    assert row["hook_event_type"] == "task_started" and row["payload"]["note"] == "kept in extra"


def test_http_metric(server: ServerProcess, tmp_path: Path) -> None:
    c = client(server.url, tmp_path)
    metric = {"source": "ralph", "event": "task_completed", "session_id": "http-loop",
              "task_id": "T1", "duration_ms": 1200, "success": True,
              "tokens": {"input": 10, "output": 5, "cache_read": 0, "cache_creation": 0}}
    outcome = c.send_metric(metric)
    assert outcome.status == "sent" and outcome.id
    (row,) = stored(server, session="http-loop")
    assert row["payload"]["tokens"]["output"] == 5 and row["event_uid"] == metric["event_uid"]


def test_bad_input_is_rejected_not_spooled(server: ServerProcess, tmp_path: Path) -> None:
    c = client(server.url, tmp_path)
    outcome = c.send_event({"source_app": "x", "session_id": "s", "hook_event_type": "E",
                            "payload": "not an object"})
    assert outcome.status == "rejected" and "payload" in outcome.error
    assert c.spool.status()["pending"] == 0


@pytest.mark.parametrize("kind", ["down", "silent"])
def test_unreachable_server_spools_within_deadline(kind: str, tmp_path: Path,
                                                   silent_port: int) -> None:
    port = closed_port() if kind == "down" else silent_port
    c = client(f"http://127.0.0.1:{port}", tmp_path, deadline=0.3, attempt_timeout=0.1)
    started = time.monotonic()
    outcome = c.send_event(body("down"))
    elapsed = time.monotonic() - started
    assert outcome.status == "spooled"
    assert elapsed < 0.5, f"took {elapsed:.3f}s with a 0.3s deadline"
    assert c.spool.status()["pending"] == 1


def test_spool_replays_after_next_good_send(server: ServerProcess, tmp_path: Path) -> None:
    down = client(f"http://127.0.0.1:{closed_port()}", tmp_path, deadline=0.2)
    events = [body("replay-1", n) for n in range(5)]
    for event in events:
        assert down.send_event(event).status == "spooled"
    up = client(server.url, tmp_path)
    assert up.send_event(body("replay-1", 99)).status == "sent"
    rows = stored(server, session="replay-1")
    assert sorted(r["payload"]["n"] for r in rows) == [0, 1, 2, 3, 4, 99]
    spooled_order = [r["payload"]["n"] for r in rows if r["payload"]["n"] != 99]
    assert spooled_order == [0, 1, 2, 3, 4]  # oldest first
    assert up.spool.status()["pending"] == 0
    assert up.replay().sent == 0
    assert {r["event_uid"] for r in rows} >= {e["event_uid"] for e in events}


def test_retry_policy_is_explicit_and_bounded() -> None:
    retrying = policy(max_attempts=3, deadline=time.monotonic() + 1)
    assert retrying.reraise is True
    calls: list[float] = []

    def flaky(timeout: float) -> str:
        calls.append(timeout)
        if len(calls) < 3:
            raise RetryableError("connection refused")
        return "ok"

    assert call_with_retries(flaky, max_attempts=3, deadline=time.monotonic() + 2,
                             attempt_timeout=0.5) == "ok"
    assert len(calls) == 3 and all(t <= 0.5 for t in calls)

    def permanent(timeout: float) -> str:
        calls.append(timeout)
        raise PermanentError(400, "bad")

    calls.clear()
    with pytest.raises(PermanentError):
        call_with_retries(permanent, max_attempts=5, deadline=time.monotonic() + 2,
                          attempt_timeout=0.5)
    assert len(calls) == 1  # never retried

    def always(timeout: float) -> str:
        raise RetryableError("down")

    started = time.monotonic()
    with pytest.raises(RetryableError):
        call_with_retries(always, max_attempts=100, deadline=time.monotonic() + 0.3,
                          attempt_timeout=0.1)
    assert time.monotonic() - started < 0.6  # the deadline wins over the attempt count
