"""Contract tests with the exact bodies the peers' real clients send: the well-known
dashboard's `send_event.py --add-chat` Stop events (1, 3 and 10 MB, and one over the limit),
its stock UI's answer (the whole event echoed as `hookEvent`) and the WebSocket messages one
answer produces, PAI's flat bodies, and the page limit clamp."""

from __future__ import annotations

import datetime
import http.client as http_client
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from router_ext_client.client import Client
from router_ext_client.config import ClientConfig
from tests.support import FIXTURES, ServerProcess, served
from tests.test_hitl import Listener

PEERS = FIXTURES / "documented" / "peers"
MB = 1_000_000
DEFAULT_EVENT_LIMIT = 32 * 1024 * 1024


@pytest.fixture(scope="module")
def peer_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from served(tmp_path_factory, "drop-in", {})


@pytest.fixture(scope="module")
def http(peer_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=peer_server.url, timeout=60) as client:
        yield client


def chat_of(size: int) -> list[dict[str, Any]]:
    """Transcript lines as send_event.py --add-chat sends them, about `size` bytes in all."""
    line = {"type": "assistant", "message": {"role": "assistant",
                                             "content": [{"type": "text", "text": "x" * 4000}]}}
    return [{**line, "uuid": str(i)} for i in range(max(1, size // 4100))]


def stop_body(session: str, size: int) -> dict[str, Any]:
    """The body of `send_event.py --event-type Stop --add-chat` (hook input as payload)."""
    return {"source_app": "drop-in", "session_id": session, "hook_event_type": "Stop",
            "payload": {"session_id": session, "transcript_path": "/tmp/t.jsonl",
                        "hook_event_name": "Stop", "stop_hook_active": False},
            "timestamp": 1796007243000, "chat": chat_of(size)}


def urlopen_post(url: str, data: bytes) -> tuple[int, dict[str, Any]]:
    """POST the way send_event.py does: urllib, the whole body written before reading."""
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "User-Agent": "Claude-Code-Hook/1.0"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize("size", [1 * MB, 3 * MB, 10 * MB])
def test_add_chat_stop_events_are_stored_whole(peer_server: ServerProcess, http: httpx.Client,
                                                size: int) -> None:
    session = uuid.uuid4().hex
    data = json.dumps(stop_body(session, size)).encode()
    assert len(data) >= size * 0.95
    status, saved = urlopen_post(f"{peer_server.url}/events", data)
    assert status == 200, saved
    stored = http.get(f"/events/{saved['id']}").json()
    assert stored["session_id"] == session
    assert len(json.dumps(stored["chat"])) >= size * 0.95
    assert stored["chat"][-1]["uuid"] == str(size // 4100 - 1)


def test_a_body_over_the_limit_gets_the_413_not_a_broken_pipe(peer_server: ServerProcess,
                                                             http: httpx.Client) -> None:
    data = json.dumps(stop_body("too-big", DEFAULT_EVENT_LIMIT + MB)).encode()
    status, answer = urlopen_post(f"{peer_server.url}/events", data)
    assert status == 413 and answer["error"] == "too_large", answer
    # The same keep-alive connection still works after the refusal, whole body sent at once.
    conn = http_client.HTTPConnection("127.0.0.1", peer_server.http_port, timeout=60)
    try:
        conn.request("POST", "/events", body=data, headers={"Content-Type": "application/json"})
        first = conn.getresponse()
        assert first.status == 413 and json.loads(first.read())["error"] == "too_large"
        conn.request("GET", "/health")
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    assert http.get("/events/recent", params={"session_id": "too-big"}).json() == []


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from served(tmp_path_factory, "drop-in-small",
                      {"ROUTER_EXT_MAX_EVENT_BYTES": str(1024 * 1024)})


def test_the_client_resends_a_too_large_event_without_its_chat(
        small_server: ServerProcess, tmp_path: Any) -> None:
    session = uuid.uuid4().hex
    body = stop_body(session, 3 * MB)
    messages = len(body["chat"])
    client = Client(ClientConfig.from_env(url=small_server.url, spool_dir=str(tmp_path),
                                          deadline=30, attempt_timeout=30))
    outcome = client.send_event(body)
    assert outcome.status == "sent", outcome.error
    stored = httpx.get(f"{small_server.url}/events/{outcome.id}", timeout=10).json()
    assert stored["session_id"] == session and stored.get("chat") in (None, [])
    dropped = stored["payload"]["router_ext_chat_dropped"]
    assert dropped["messages"] == messages and dropped["bytes"] > 3 * MB * 0.95


# -- limits ------------------------------------------------------------------------------------

def test_a_limit_above_the_page_cap_is_clamped(http: httpx.Client) -> None:
    session = uuid.uuid4().hex
    for n in range(3):
        r = http.post("/events", json={"source_app": "drop-in", "session_id": session,
                                       "hook_event_type": "PreToolUse", "payload": {"n": n}})
        assert r.status_code == 200, r.text
    r = http.get("/events/recent", params={"limit": 2000, "session_id": session})
    assert r.status_code == 200 and len(r.json()) == 3
    assert http.get("/events/recent", params={"limit": "lots"}).status_code == 400


# -- PAI -----------------------------------------------------------------------------------------

def test_pai_flat_body_is_stored_as_sent(http: httpx.Client) -> None:
    sent = json.loads((PEERS / "pai-observability-stop.json").read_text())
    sent["session_id"] = uuid.uuid4().hex
    r = http.post("/events", json=sent)
    assert r.status_code == 200, r.text
    stored = http.get(f"/events/{r.json()['id']}").json()
    iso = datetime.datetime.fromisoformat(sent["timestamp"].replace("Z", "+00:00"))
    assert stored["timestamp"] == int(iso.timestamp() * 1000)
    assert stored["source_app"] == "PAI" and stored["hook_event_type"] == "Stop"
    assert stored["summary"] == sent["summary"]
    # Kept as sent: the ISO string and agent_type stay in the payload.
    assert stored["payload"]["timestamp"] == sent["timestamp"]
    assert stored["payload"]["agent_type"] == "main"


def test_a_flat_body_still_has_its_field_rules(http: httpx.Client) -> None:
    r = http.post("/events", json={"source_app": "PAI", "session_id": "s",
                                   "hook_event_type": "Stop", "timestamp": "yesterday"})
    assert r.status_code == 400 and r.json()["field"] == "timestamp"


# -- one answer, one message -----------------------------------------------------------------------

def event_messages(ws: ClientConnection, event_id: int) -> list[dict[str, Any]]:
    """Every `event` message about `event_id` until the stream has been idle for a while."""
    seen: list[dict[str, Any]] = []
    while True:
        try:
            message = json.loads(ws.recv(timeout=3))
        except TimeoutError:
            return seen
        if message["type"] == "event" and message["data"]["id"] == event_id:
            seen.append(message["data"])


def test_one_answer_from_the_stock_ui_is_one_message(peer_server: ServerProcess,
                                                     http: httpx.Client) -> None:
    listener = Listener()
    try:
        session = uuid.uuid4().hex
        big = "y" * 350_000  # a 350 KB HITL event, echoed whole in the answer
        asked = http.post("/events", json={
            "source_app": "hitl-test", "session_id": session, "hook_event_type": "PreToolUse",
            "payload": {"tool_name": "Bash", "tool_input": {"command": big}},
            "humanInTheLoop": {"question": "Allow?", "type": "permission", "timeout": 300,
                               "responseWebSocketUrl": f"ws://127.0.0.1:{listener.port}/"}})
        assert asked.status_code == 200, asked.text
        saved = asked.json()
        answer = json.loads((PEERS / "disler-ui-respond.json").read_text())
        answer["hookEvent"] = saved
        assert len(json.dumps(answer)) > 350_000
        stream = f"{peer_server.ws_url}/stream?session_id={session}&limit=0"
        with connect(stream, open_timeout=10) as peer, \
                connect(stream + "&updates=all", open_timeout=10) as watcher:
            for ws in (peer, watcher):
                assert json.loads(ws.recv(timeout=10))["type"] == "initial"
            r = http.post(f"/events/{saved['id']}/respond", json=answer)
            assert r.status_code == 200, r.text
            peer_seen = event_messages(peer, saved["id"])
            watcher_seen = event_messages(watcher, saved["id"])
        assert [m["humanInTheLoopStatus"]["delivery"] for m in peer_seen] == ["delivered"]
        assert [m["humanInTheLoopStatus"]["delivery"] for m in watcher_seen] == [
            "sending", "delivered"]
        assert listener.got.wait(5) and listener.received[0]["permission"] is True
    finally:
        listener.close()


def test_a_bad_updates_parameter_closes_4400(peer_server: ServerProcess) -> None:
    from websockets.exceptions import ConnectionClosed

    with connect(f"{peer_server.ws_url}/stream?updates=some", open_timeout=10) as ws, \
            pytest.raises(ConnectionClosed) as info:
        ws.recv(timeout=10)
    assert info.value.rcvd is not None and info.value.rcvd.code == 4400


# -- the stock UI on another origin ------------------------------------------------------------

def test_a_refused_origin_is_told_the_setting_that_allows_it(peer_server: ServerProcess,
                                                            http: httpx.Client) -> None:
    r = http.post("/events/1/respond", json={"permission": True},
                  headers={"Origin": "http://localhost:5173"})
    assert r.status_code == 403
    assert "ROUTER_EXT_CORS_ORIGINS=http://localhost:5173" in r.json()["detail"]
    assert "ROUTER_EXT_CORS_ORIGINS=http://localhost:5173" in "".join(peer_server.stderr_lines)


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from served(tmp_path_factory, "drop-in-ui",
                      {"ROUTER_EXT_CORS_ORIGINS": "http://localhost:5173"})


def test_the_documented_recipe_lets_the_stock_ui_answer(ui_server: ServerProcess) -> None:
    origin = {"Origin": "http://localhost:5173"}
    with httpx.Client(base_url=ui_server.url, timeout=10) as client:
        asked = client.post("/events", json={
            "source_app": "ui", "session_id": "ui", "hook_event_type": "Notification",
            "payload": {}, "humanInTheLoop": {"question": "Go?", "type": "question"}}).json()
        preflight = client.options(f"/events/{asked['id']}/respond", headers={
            **origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "http://localhost:5173"
        r = client.post(f"/events/{asked['id']}/respond", headers=origin,
                        json={"response": "yes", "hookEvent": asked, "respondedAt": 1})
        assert r.status_code == 200, r.text


# -- the command hook with --add-chat ------------------------------------------------------------

def write_transcript(path: Any, size: int) -> int:
    lines = chat_of(size)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return len(lines)


@pytest.mark.parametrize(("size", "dropped"), [(200_000, False), (3 * MB, True)])
def test_the_hook_sends_the_chat_or_the_event_without_it(
        small_server: ServerProcess, tmp_path: Any, size: int, dropped: bool) -> None:
    from tests.test_hook_entry import hook_input, run_hook

    session = uuid.uuid4().hex
    transcript = tmp_path / "t.jsonl"
    messages = write_transcript(transcript, size)
    proc = run_hook(hook_input(session, "Stop", transcript_path=str(transcript)),
                    small_server.url, tmp_path / "spool", "--add-chat")
    assert proc.returncode == 0 and proc.stdout == b""
    rows = httpx.get(f"{small_server.url}/events/recent", params={"session_id": session},
                     timeout=10).json()
    assert len(rows) == 1
    row = rows[0]
    if dropped:
        assert not row.get("chat")
        assert row["payload"]["router_ext_chat_dropped"]["messages"] == messages
    else:
        assert len(row["chat"]) == messages
        assert "router_ext_chat_dropped" not in row["payload"]
