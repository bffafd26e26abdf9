"""Human in the loop against a real server: answers checked by type, 404/409, who answered and
whether delivery worked, the relay to a real WebSocket listener and its allow list, timeouts,
and a PermissionRequest HTTP hook held open until a person decides."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from websockets.asyncio.server import ServerConnection, serve

from tests.support import FIXTURES, ServerProcess, served

HOLD_SECONDS = 2


@pytest.fixture(scope="module")
def hitl_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from served(tmp_path_factory, "hitl", {
        "ROUTER_EXT_PERMISSION_HOLD_SECONDS": str(HOLD_SECONDS),
        "ROUTER_EXT_HITL_RELAY_TIMEOUT_SECONDS": "0.5",
        "ROUTER_EXT_HITL_RELAY_ALLOW_HOSTS": "relay.invalid",
    })


@pytest.fixture(scope="module")
def http(hitl_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hitl_server.url, timeout=15) as client:
        yield client


def ask(http: httpx.Client, **hitl: Any) -> dict[str, Any]:
    request = {"question": "Proceed?", "type": "question", **hitl}
    r = http.post("/events", json={"source_app": "hitl", "session_id": uuid.uuid4().hex,
                                   "hook_event_type": "Notification", "payload": {},
                                   "humanInTheLoop": request})
    assert r.status_code == 200, r.text
    saved = dict(r.json())
    assert saved["humanInTheLoopStatus"]["status"] == "pending"
    return saved


def event(http: httpx.Client, event_id: int) -> dict[str, Any]:
    rows = http.get("/events/recent", params={"before_id": event_id + 1, "limit": 1}).json()
    assert rows[0]["id"] == event_id
    return dict(rows[0])


class Listener:
    """A real WebSocket server standing in for the agent's response listener."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.got = threading.Event()
        self.port = 0
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._stop: asyncio.Future[None] | None = None
        threading.Thread(target=self._run, args=(ready,), daemon=True).start()
        assert ready.wait(5)

    async def _handle(self, ws: ServerConnection) -> None:
        async for message in ws:
            self.received.append(json.loads(message))
            self.got.set()

    def _run(self, ready: threading.Event) -> None:
        async def main() -> None:
            self._stop = asyncio.get_running_loop().create_future()
            async with serve(self._handle, "127.0.0.1", 0) as server:
                self.port = next(iter(server.sockets)).getsockname()[1]
                ready.set()
                await self._stop

        self._loop.run_until_complete(main())

    def close(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set_result, None)


@pytest.mark.parametrize(("request_fields", "answer", "field"), [
    ({"type": "question"}, {"choice": "x"}, "response"),
    ({"type": "question"}, {"response": ""}, "response"),
    ({"type": "permission"}, {"permission": "yes"}, "permission"),
    ({"type": "choice", "choices": ["red", "blue"]}, {"choice": "green"}, "choice"),
    ({"type": "question"}, {"response": "ok", "respondedBy": 7}, "respondedBy"),
])
def test_answer_is_validated_against_the_request_type(http: httpx.Client,
                                                      request_fields: dict[str, Any],
                                                      answer: dict[str, Any], field: str) -> None:
    asked = ask(http, **request_fields)
    r = http.post(f"/events/{asked['id']}/respond", json=answer)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field
    assert event(http, asked["id"])["humanInTheLoopStatus"]["status"] == "pending"


def test_respond_records_who_and_when_then_409_on_second_answer(http: httpx.Client) -> None:
    asked = ask(http, type="choice", choices=["red", "blue"])
    r = http.post(f"/events/{asked['id']}/respond", json={"choice": "blue", "respondedBy": "bo"})
    assert r.status_code == 200, r.text
    status = r.json()["humanInTheLoopStatus"]
    assert status["status"] == "responded" and status["response"] == {"choice": "blue"}
    assert status["respondedBy"] == "bo" and status["respondedAt"] >= status["requestedAt"]
    assert status["delivery"] == "none"  # no listener was named
    again = http.post(f"/events/{asked['id']}/respond", json={"choice": "red"})
    assert again.status_code == 409 and "already answered" in again.json()["detail"]


def test_concurrent_answers_get_one_200_and_one_409(http: httpx.Client,
                                                    hitl_server: ServerProcess) -> None:
    asked = ask(http, type="permission")

    def answer(value: bool) -> int:
        return httpx.post(f"{hitl_server.url}/events/{asked['id']}/respond",
                          json={"permission": value}, timeout=10).status_code

    with ThreadPoolExecutor(4) as pool:
        codes = sorted(pool.map(answer, [True, False, True, False]))
    assert codes == [200, 409, 409, 409]


@pytest.mark.parametrize(("path", "code"), [("/events/999999/respond", 404),
                                            ("/events/abc/respond", 400)])
def test_unknown_or_bad_id(http: httpx.Client, path: str, code: int) -> None:
    r = http.post(path, json={"response": "x"})
    assert r.status_code == code and r.json()["error"]


def test_event_without_request_is_409(http: httpx.Client) -> None:
    plain = http.post("/events", json={"source_app": "hitl", "session_id": "s",
                                       "hook_event_type": "Stop", "payload": {}}).json()
    assert http.post(f"/events/{plain['id']}/respond", json={"response": "x"}).status_code == 409


def test_relay_to_a_real_listener_carries_the_response(http: httpx.Client) -> None:
    listener = Listener()
    try:
        url = f"ws://127.0.0.1:{listener.port}/"
        asked = ask(http, type="permission", responseWebSocketUrl=url)
        r = http.post(f"/events/{asked['id']}/respond",
                      json={"permission": True, "respondedBy": "carol"})
        assert r.status_code == 200, r.text
        assert r.json()["humanInTheLoopStatus"]["delivery"] == "delivered"
        assert listener.got.wait(5)
        message = listener.received[0]
        assert message["permission"] is True and message["respondedBy"] == "carol"
        assert message["hookEvent"]["id"] == asked["id"]
    finally:
        listener.close()


def test_relay_to_a_foreign_host_is_refused_and_recorded(http: httpx.Client) -> None:
    asked = ask(http, responseWebSocketUrl="ws://203.0.113.9:4444/answer")
    r = http.post(f"/events/{asked['id']}/respond", json={"response": "go"})
    assert r.status_code == 200
    status = r.json()["humanInTheLoopStatus"]
    assert status["status"] == "responded" and status["delivery"] == "refused"
    assert "allow list" in status["deliveryError"]


def test_relay_failure_is_recorded(http: httpx.Client) -> None:
    # Allowed host that does not resolve, then a loopback port nobody listens on.
    for url in ("ws://relay.invalid:9/", "ws://127.0.0.1:9/"):
        asked = ask(http, responseWebSocketUrl=url)
        r = http.post(f"/events/{asked['id']}/respond", json={"response": "go"})
        status = r.json()["humanInTheLoopStatus"]
        assert status["delivery"] == "failed" and status["deliveryError"], status


class Redirector:
    """A loopback listener that answers every WebSocket handshake with a 302 elsewhere."""

    def __init__(self, location: str) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.handshakes = 0
        self.location = location
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                with conn:
                    conn.recv(4096)
                    self.handshakes += 1
                    conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: {self.location}\r\n"
                                 "Content-Length: 0\r\n\r\n".encode())


def test_relay_never_follows_a_redirect(http: httpx.Client) -> None:
    redirector = Redirector("ws://relay-target.invalid:9/answer")
    try:
        asked = ask(http, responseWebSocketUrl=f"ws://127.0.0.1:{redirector.port}/answer")
        r = http.post(f"/events/{asked['id']}/respond", json={"response": "go"})
        status = r.json()["humanInTheLoopStatus"]
        assert status["delivery"] == "refused", status
        assert "302" in status["deliveryError"] and "relay-target.invalid" in \
            status["deliveryError"] and "not followed" in status["deliveryError"]
        assert event(http, asked["id"])["humanInTheLoopStatus"]["delivery"] == "refused"
        assert redirector.handshakes == 1
    finally:
        redirector.sock.close()


def test_relay_decides_by_the_resolved_address_not_the_name() -> None:
    from router_ext.hitl import relay

    resolved_elsewhere = [(socket.AF_INET, ("10.1.2.3", 80))]  # e.g. "localhost" in a bad hosts
    assert relay.choose(resolved_elsewhere, []) is None
    assert relay.choose(resolved_elsewhere, [ipaddress.ip_network("10.0.0.0/8")]) is not None
    mixed = [(socket.AF_INET, ("192.0.2.1", 80)), (socket.AF_INET6, ("::1", 80, 0, 0))]
    assert relay.choose(mixed, []) == mixed[1]  # only ever the allowed address
    assert relay.refusal("http://127.0.0.1/") and relay.refusal("ws:///nohost")


def test_unanswered_request_times_out_then_409(http: httpx.Client) -> None:
    asked = ask(http, timeout=0.5)
    time.sleep(1.5)
    status = event(http, asked["id"])["humanInTheLoopStatus"]
    assert status["status"] == "timeout" and status["timedOutAt"] >= status["requestedAt"]
    r = http.post(f"/events/{asked['id']}/respond", json={"response": "late"})
    assert r.status_code == 409 and "timed out" in r.json()["detail"]


def permission_body() -> dict[str, Any]:
    lines = (FIXTURES / "claude-code-2.1.328" / "http-hooks-permission.jsonl").read_text()
    for line in lines.splitlines():
        hook = json.loads(line)["body"]
        if hook["hook_event_name"] == "PermissionRequest":
            return {**hook, "session_id": uuid.uuid4().hex}
    raise AssertionError("fixture has no PermissionRequest")


def held_request(hitl_server: ServerProcess, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{hitl_server.url}/hooks/claude-code?source_app=held", json=body,
                      timeout=HOLD_SECONDS + 10)


def wait_pending(http: httpx.Client, session: str) -> dict[str, Any]:
    for _ in range(100):
        rows = http.get("/events/recent", params={"session_id": session}).json()
        if rows:
            return dict(rows[-1])
        time.sleep(0.05)
    raise AssertionError("the held request was never stored")


@pytest.mark.parametrize(("allow", "behavior"), [(True, "allow"), (False, "deny")])
def test_held_permission_request_answered_through_respond(
        http: httpx.Client, hitl_server: ServerProcess, allow: bool, behavior: str) -> None:
    body = permission_body()
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(held_request, hitl_server, body)
        stored = wait_pending(http, body["session_id"])
        assert stored["hook_event_type"] == "PermissionRequest"
        assert stored["humanInTheLoop"]["type"] == "permission"
        assert "touch" in stored["humanInTheLoop"]["question"]
        assert stored["humanInTheLoopStatus"]["delivery"] == "held"
        r = http.post(f"/events/{stored['id']}/respond",
                      json={"permission": allow, "respondedBy": "dana"})
        assert r.status_code == 200, r.text
        assert r.json()["humanInTheLoopStatus"]["delivery"] == "delivered"
        answer = pending.result(timeout=10)
    assert answer.status_code == 200
    decision = answer.json()["hookSpecificOutput"]
    assert decision["hookEventName"] == "PermissionRequest"
    assert decision["decision"]["behavior"] == behavior


def test_held_permission_request_times_out_to_default_deny(http: httpx.Client,
                                                           hitl_server: ServerProcess) -> None:
    body = permission_body()
    answer = held_request(hitl_server, body)
    assert answer.json()["hookSpecificOutput"]["decision"]["behavior"] == "deny"
    stored = wait_pending(http, body["session_id"])
    status = stored["humanInTheLoopStatus"]
    assert status["status"] == "timeout" and status["defaultDecision"] == "deny"
    assert http.post(f"/events/{stored['id']}/respond",
                     json={"permission": True}).status_code == 409
