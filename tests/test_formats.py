"""Other formats onto the same events: Claude Code HTTP hook JSON, claude-mpm and PAI bodies,
both as pure translations and through a real server, plus the PAI read API and its SSE stream."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from router_ext.errors import InvalidInput
from router_ext.ingest.formats import (
    from_api_events,
    from_claude_hook,
    from_mpm,
    from_pai,
    parse_timestamp,
    permission_question,
)
from router_ext.v1 import types_pb2
from tests.grpc_helpers import publish
from tests.support import FIXTURES, ServerProcess

LIMIT = 1 << 20
CC = FIXTURES / "claude-code-2.1.328"


def jsonl(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (CC / name).read_text().splitlines() if line.strip()]


def mpm_body(session: str, subtype: str = "pre_tool", nested: bool = True) -> dict[str, Any]:
    event = {"type": "hook", "subtype": subtype, "timestamp": "2026-01-02T03:04:05.678Z",
             "session_id": session, "source_app": "mpm-app", "source": "hook",
             "data": {"tool_name": "Read", "session_id": session}}
    return {"namespace": "hook", "event": "claude_event", "data": event} if nested else {
        "event": "claude_event", **event}


def pai_body(session: str, kind: str = "PostToolUse") -> dict[str, Any]:
    return {"type": kind, "session_id": session, "timestamp": 1_767_323_045_678,
            "source_app": "pai-app", "data": {"tool_name": "Edit", "ok": True}}


# -- pure translations --------------------------------------------------------------------

def test_claude_hook_json_maps_names_and_keeps_the_whole_body() -> None:
    hook = jsonl("hooks-session.jsonl")[2]
    row = from_claude_hook(hook, source_app="proj", max_payload_bytes=LIMIT)
    assert row["hook_event_type"] == hook["hook_event_name"]
    assert row["session_id"] == hook["session_id"] and row["source_app"] == "proj"
    assert json.loads(row["payload"]) == hook
    assert row["tool_name"] == hook.get("tool_name")


@pytest.mark.parametrize(("body", "field"), [
    ({"session_id": "s"}, "hook_event_name"),
    ({"hook_event_name": "Stop"}, "session_id"),
    ({"hook_event_name": 3, "session_id": "s"}, "hook_event_name"),
])
def test_claude_hook_errors_name_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        from_claude_hook(body, source_app="x", max_payload_bytes=LIMIT)
    assert info.value.field == field


@pytest.mark.parametrize("nested", [True, False])
def test_mpm_nested_and_flat(nested: bool) -> None:
    row = from_mpm(mpm_body("s1", nested=nested), max_payload_bytes=LIMIT)
    assert (row["source_app"], row["session_id"], row["hook_event_type"]) == (
        "mpm-app", "s1", "PreToolUse")
    assert row["timestamp"] == 1_767_323_045_678 and row["tool_name"] == "Read"


def test_mpm_source_is_where_in_mpm_not_the_app() -> None:
    body = mpm_body("s1", nested=False)
    del body["source_app"]
    row = from_mpm(body, max_payload_bytes=LIMIT)
    assert row["source_app"] == "claude-mpm"
    assert json.loads(row["extra"])["mpm_source"] == "hook"


def test_mpm_unknown_subtype_is_kept() -> None:
    assert from_mpm(mpm_body("s", "memory_update"),
                    max_payload_bytes=LIMIT)["hook_event_type"] == "memory_update"


def test_pai_and_dispatch() -> None:
    row = from_pai(pai_body("s2"), max_payload_bytes=LIMIT)
    assert (row["source_app"], row["session_id"], row["hook_event_type"]) == (
        "pai-app", "s2", "PostToolUse")
    assert json.loads(row["payload"]) == {"tool_name": "Edit", "ok": True}
    assert from_api_events(mpm_body("s"), max_payload_bytes=LIMIT)["source_app"] == "mpm-app"
    assert from_api_events(pai_body("s"), max_payload_bytes=LIMIT)["source_app"] == "pai-app"
    plain = {"source_app": "a", "session_id": "s", "hook_event_type": "Stop", "payload": {}}
    assert from_api_events(plain, max_payload_bytes=LIMIT)["source_app"] == "a"


@pytest.mark.parametrize(("value", "expected"), [
    (1_767_323_045, 1_767_323_045_000), (1_767_323_045_678, 1_767_323_045_678),
    ("2026-01-02T03:04:05.678Z", 1_767_323_045_678), (None, None)])
def test_timestamps(value: Any, expected: int | None) -> None:
    assert parse_timestamp(value) == expected


@pytest.mark.parametrize("value", ["not a time", True, -5, [1]])
def test_bad_timestamps(value: Any) -> None:
    with pytest.raises(InvalidInput):
        parse_timestamp(value)


def test_permission_question_names_tool_and_command() -> None:
    hook = json.loads((FIXTURES / "documented" / "hooks" / "PermissionRequest.json").read_text())
    assert permission_question(hook) == "Allow Bash to run: git push origin main?"


# -- through the server ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def test_http_hook_fixtures_land_as_events(http: httpx.Client) -> None:
    session = uuid.uuid4().hex
    sent = []
    for record in jsonl("http-hooks-permission.jsonl") + jsonl("hooks-session.jsonl"):
        hook = {**record.get("body", record), "session_id": session}
        # hold=0: store a PermissionRequest without holding the connection open.
        r = http.post("/hooks/claude-code", params={"source_app": "cc", "hold": "0"}, json=hook)
        assert r.status_code == 200 and r.json() == {}, r.text
        sent.append(hook["hook_event_name"])
    rows = http.get("/events/recent", params={"session_id": session, "limit": 1000}).json()
    assert [r["hook_event_type"] for r in rows] == sent
    assert {r["source_app"] for r in rows} == {"cc"}


def test_http_hook_bad_input(http: httpx.Client) -> None:
    assert http.post("/hooks/claude-code", content=b"nope",
                     headers={"content-type": "application/json"}).status_code == 400
    r = http.post("/hooks/claude-code", json={"session_id": "s"})
    assert r.status_code == 400 and r.json()["field"] == "hook_event_name"


def test_api_events_accepts_mpm_and_pai(http: httpx.Client) -> None:
    session = uuid.uuid4().hex
    for body in (mpm_body(session), mpm_body(session, "stop", nested=False), pai_body(session)):
        r = http.post("/api/events", json=body)
        assert r.status_code == 200, r.text
    rows = http.get("/events/recent", params={"session_id": session}).json()
    assert [r["hook_event_type"] for r in rows] == ["PreToolUse", "Stop", "PostToolUse"]
    bad = http.post("/api/events", json={"type": "X", "data": {}})
    assert bad.status_code == 400 and bad.json()["field"] == "session_id"


def test_pai_read_api(http: httpx.Client) -> None:
    session = uuid.uuid4().hex
    for kind in ("PreToolUse", "PostToolUse", "PostToolUseFailure"):
        http.post("/api/events", json={**pai_body(session, kind), "timestamp": None})
    sessions = http.get("/api/sessions").json()
    assert sessions[0]["session_id"] == session and sessions[0]["event_count"] == 3
    one = http.get(f"/api/sessions/{session}").json()
    assert [e["hook_event_type"] for e in one["events"]] == [
        "PreToolUse", "PostToolUse", "PostToolUseFailure"]
    assert http.get("/api/sessions/no-such-session").status_code == 404
    tools = {t["tool_name"]: t for t in http.get("/api/analytics/tools?hours=24").json()["tools"]}
    assert tools["Edit"]["calls"] >= 2 and tools["Edit"]["failures"] >= 1
    agents = {a["source_app"]: a for a in http.get("/api/analytics/agents").json()["agents"]}
    assert agents["pai-app"]["sessions"] >= 1
    assert http.get("/api/analytics/tools?hours=0").status_code == 400


def test_sse_stream_filters_and_resumes_with_last_event_id(http: httpx.Client,
                                                          server: ServerProcess) -> None:
    session = uuid.uuid4().hex
    first = http.post("/api/events", json=pai_body(session)).json()
    http.post("/api/events", json=pai_body(uuid.uuid4().hex))  # another session: filtered out
    second = http.post("/api/events", json=pai_body(session)).json()
    frames: list[str] = []
    done = threading.Event()

    def read() -> None:
        headers = {"Last-Event-ID": str(first["id"] - 1)}
        with httpx.stream("GET", f"{server.url}/api/events/stream",
                          params={"sessionId": session}, headers=headers, timeout=10) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                frames.append(line)
                if sum(1 for f in frames if f.startswith("id: ")) == 2:
                    done.set()
                    return

    threading.Thread(target=read, daemon=True).start()
    assert done.wait(10)
    ids = [int(f[4:]) for f in frames if f.startswith("id: ")]
    assert ids == [first["id"], second["id"]]
    data = [json.loads(f[6:]) for f in frames if f.startswith("data: ")]
    assert {d["session_id"] for d in data} == {session}
    assert http.get("/api/events/stream", headers={"Last-Event-ID": "x"}).status_code == 400


def test_a_multi_line_grpc_payload_reaches_sse_as_one_frame(server: ServerProcess) -> None:
    # SSE ends a frame's data at a line break, and stored payload text is spliced into frames.
    session = uuid.uuid4().hex
    payload = {"tool_name": "Bash", "tool_input": {"command": "echo 'a\nb'"}}
    with server.channel() as channel:
        pretty = types_pb2.Event(source_app="app", session_id=session,
                                 hook_event_type="PreToolUse", event_uid=uuid.uuid4().hex,
                                 payload_json=json.dumps(payload, indent=2))
        ack = publish(channel, pretty)
    with httpx.stream("GET", f"{server.url}/api/events/stream", params={"sessionId": session},
                      headers={"Last-Event-ID": str(ack.id - 1)}, timeout=10) as r:
        data = next(line for line in r.iter_lines() if line.startswith("data: "))
    assert json.loads(data[6:])["payload"] == payload
