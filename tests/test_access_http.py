"""Who may do what over HTTP and WebSocket, against a real server with one token per role:
the Host allow list, cross-site refusals, roles, stream tickets, the answer's credential, the
failed-token limit and the stream cap."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.support import ServerProcess, served, start_server

INGEST, READ, ADMIN = (f"{role}-{uuid.uuid4().hex}" for role in ("ingest", "read", "admin"))
OTHER_UI = "http://ui.invalid:8080"
ROLES_ENV = {"ROUTER_EXT_INGEST_TOKEN": INGEST, "ROUTER_EXT_READ_TOKEN": READ,
             "ROUTER_EXT_ADMIN_TOKEN": ADMIN, "ROUTER_EXT_CORS_ORIGINS": OTHER_UI,
             "ROUTER_EXT_ALLOWED_HOSTS": "dash.invalid"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from served(tmp_path_factory, "roles", ROLES_ENV)


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def question(server: ServerProcess) -> dict[str, Any]:
    r = httpx.post(f"{server.url}/events", headers=auth(INGEST), timeout=10, json={
        "source_app": "roles", "session_id": uuid.uuid4().hex, "hook_event_type": "Notification",
        "payload": {}, "humanInTheLoop": {"question": "Go?", "type": "question"}})
    assert r.status_code == 200, r.text
    return dict(r.json())


def raw_request(server: ServerProcess, head: str) -> str:
    """Send a request head as written; the status line and headers that come back."""
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as sock:
        sock.sendall(head.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.decode("latin-1")


def ws_head(host: str, path: str = "/stream", extra: str = "") -> str:
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n{extra}\r\n")


def ws_status(server: ServerProcess, query: str = "", **headers: str) -> int:
    """The HTTP status of a WebSocket handshake to /stream (101 when it opens)."""

    async def run() -> int:
        try:
            async with websockets.connect(f"{server.ws_url}/stream{query}",
                                          additional_headers=headers or None, open_timeout=10):
                return 101
        except InvalidStatus as exc:
            return int(exc.response.status_code)

    return asyncio.run(run())


# -- Host -----------------------------------------------------------------------------------

def test_a_foreign_host_is_refused_for_http_and_websocket(server: ServerProcess) -> None:
    r = httpx.get(f"{server.url}/events/recent", headers={"host": "rebind.invalid", **auth(READ)})
    assert r.status_code == 400 and r.json()["field"] == "host"
    body = {"source_app": "rebound", "session_id": "s", "hook_event_type": "X", "payload": {}}
    r = httpx.post(f"{server.url}/events", json=body,
                   headers={"host": "rebind.invalid:4000", **auth(INGEST)})
    assert r.status_code == 400
    assert raw_request(server, ws_head("rebind.invalid")).startswith("HTTP/1.1 400")
    assert raw_request(server, ws_head("rebind.invalid:80", "/stream",
                                       f"Authorization: Bearer {READ}\r\n")).startswith(
        "HTTP/1.1 400")
    stored = httpx.get(f"{server.url}/events/recent", headers=auth(READ)).json()
    assert not [e for e in stored if e["source_app"] == "rebound"]
    log = "".join(server.stderr_lines)
    assert "rebind.invalid" in log and "ROUTER_EXT_ALLOWED_HOSTS" in log


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.9.8.7:1", "[::1]:4000",
                                  "dash.invalid", "DASH.invalid:8080"])
def test_loopback_names_the_bound_address_and_the_allow_list_are_served(
        server: ServerProcess, host: str) -> None:
    r = httpx.get(f"{server.url}/health", headers={"host": host})
    assert r.status_code == 200, r.text


# -- other origins --------------------------------------------------------------------------

def test_state_changes_from_another_origin_are_refused(server: ServerProcess) -> None:
    event = question(server)
    respond = f"{server.url}/events/{event['id']}/respond"
    answer = {"response": "yes"}
    for headers in ({"origin": "http://evil.invalid"}, {"origin": "null"},
                    {"sec-fetch-site": "cross-site"}, {"sec-fetch-site": "same-site"}):
        r = httpx.post(respond, json=answer, headers={**headers, **auth(ADMIN)})
        assert r.status_code == 403 and r.json()["error"] == "forbidden", (headers, r.text)
    for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        r = httpx.post(respond, content=json.dumps(answer),
                       headers={"content-type": kind, **auth(ADMIN)})
        assert r.status_code == 415 and r.json()["field"] == "content-type", kind
    own = httpx.post(respond, json=answer, headers={"origin": server.url,
                                                    "sec-fetch-site": "same-origin",
                                                    **auth(ADMIN)})
    assert own.status_code == 200, own.text
    log = "".join(server.stderr_lines)
    assert "'http://evil.invalid'" in log and "ROUTER_EXT_CORS_ORIGINS" in log


def test_post_events_keeps_every_check_of_the_full_stack(server: ServerProcess) -> None:
    # Programs' POST /events skips the middleware stack (web/lean_events.py); it must refuse
    # and answer exactly as the stack does.
    url = f"{server.url}/events"
    body = {"source_app": "lean", "session_id": uuid.uuid4().hex, "hook_event_type": "Stop",
            "payload": {"n": 1}}
    for headers in ({"origin": "http://evil.invalid"}, {"sec-fetch-site": "cross-site"}):
        r = httpx.post(url, json=body, headers={**headers, **auth(INGEST)})
        assert r.status_code == 403 and r.json()["error"] == "forbidden", headers
    for kind in ("text/plain", "application/jsonx", "multipart/form-data"):
        r = httpx.post(url, content=json.dumps(body), headers={"content-type": kind,
                                                               **auth(INGEST)})
        assert r.status_code == 415 and r.json()["field"] == "content-type", kind
    for token, code in ((None, 401), ("Basic x", 401), (READ, 403), (ADMIN, 403)):
        headers = {} if token is None else {
            "authorization": token if token.startswith("Basic") else f"Bearer {token}"}
        assert httpx.post(url, json=body, headers=headers).status_code == code, token
    assert httpx.post(url, content=b"{", headers={"content-type": "application/json",
                                                  **auth(INGEST)}).json()["error"] == "invalid"
    assert not [e for e in httpx.get(f"{server.url}/events/recent", headers=auth(READ)).json()
                if e["session_id"] == body["session_id"]]
    lean = httpx.post(url, json=body, headers={"content-type": "application/json; charset=utf-8",
                                               **auth(INGEST)})
    assert lean.status_code == 200 and lean.headers["content-type"] == "application/json"
    # A listed page goes through the stack (CORS headers); a repeat answers the stored event.
    full = httpx.post(url, json={**body, "event_uid": lean.json()["event_uid"]},
                      headers={"origin": OTHER_UI, **auth(INGEST)})
    assert full.status_code == 200 and full.headers["access-control-allow-origin"] == OTHER_UI
    assert full.json() == lean.json()
    assert "access-control-allow-origin" not in lean.headers


def test_a_listed_origin_may_call_with_a_token(server: ServerProcess) -> None:
    event = question(server)
    preflight = httpx.options(f"{server.url}/events/{event['id']}/respond", headers={
        "origin": OTHER_UI, "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == OTHER_UI
    r = httpx.post(f"{server.url}/events/{event['id']}/respond", json={"response": "ok"},
                   headers={"origin": OTHER_UI, **auth(ADMIN)})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == OTHER_UI
    refused = httpx.options(f"{server.url}/events/1/respond", headers={
        "origin": "http://evil.invalid", "access-control-request-method": "POST"})
    assert "access-control-allow-origin" not in refused.headers


def test_websockets_check_origin(server: ServerProcess) -> None:
    assert ws_status(server, authorization=f"Bearer {READ}", origin="http://evil.invalid") == 403
    assert ws_status(server, authorization=f"Bearer {READ}", origin=server.url) == 101
    assert ws_status(server, authorization=f"Bearer {READ}", origin=OTHER_UI) == 101
    assert ws_status(server, authorization=f"Bearer {READ}") == 101  # programs send no Origin


# -- roles ----------------------------------------------------------------------------------

def status(server: ServerProcess, method: str, path: str, token: str | None,
           body: Any = None) -> int:
    headers = auth(token) if token else {}
    return httpx.request(method, f"{server.url}{path}", json=body, headers=headers,
                         timeout=10).status_code


EVENT = {"source_app": "roles", "session_id": "s", "hook_event_type": "Stop", "payload": {}}
HOOK = {"hook_event_name": "Stop", "session_id": "s"}


def test_each_role_does_what_it_should_and_nothing_more(server: ServerProcess) -> None:
    ask = question(server)
    Calls = dict[str, list[tuple[str, str, Any]]]
    can: Calls = {
        INGEST: [("POST", "/events", EVENT), ("POST", "/hooks/claude-code", HOOK),
                 ("POST", "/metrics/harness", {"source": "ralph", "event": "task_started"}),
                 ("GET", "/api/ralph/loop-r/control", None)],
        READ: [("GET", "/events/recent", None), ("GET", "/metrics", None),
               ("GET", "/api/ui/overview", None), ("GET", "/api/ralph/loop-r/control", None),
               ("POST", "/api/ui/ticket", {})],
        ADMIN: [("POST", f"/events/{ask['id']}/respond", {"response": "go"}),
                ("POST", "/api/ralph/loop-r/stop", {"reason": "done"}),
                ("GET", "/events/recent", None), ("POST", "/api/ui/ticket", {})],
    }
    cannot: Calls = {
        INGEST: [("GET", "/events/recent", None), ("GET", "/metrics", None),
                 ("POST", "/events/1/respond", {"response": "x"}),
                 ("POST", "/api/ralph/loop-r/stop", None), ("POST", "/api/ui/ticket", {})],
        READ: [("POST", "/events", EVENT), ("POST", "/events/1/respond", {"response": "x"}),
               ("POST", "/api/ralph/loop-r/stop", None)],
        ADMIN: [("POST", "/events", EVENT), ("POST", "/hooks/claude-code", HOOK)],
    }
    for token, calls in can.items():
        for method, path, body in calls:
            assert status(server, method, path, token, body) < 300, (token[:5], method, path)
    for token, calls in cannot.items():
        for method, path, body in calls:
            assert status(server, method, path, token, body) == 403, (token[:5], method, path)
    for method, path, body in [*can[INGEST], *can[READ], *can[ADMIN]]:
        assert status(server, method, path, None, body) == 401, (method, path)
    for path in ("/health", "/dashboard/", "/dashboard/js/main.js"):
        assert status(server, "GET", path, None) == 200, path


def test_tokens_in_the_url_are_not_accepted(server: ServerProcess) -> None:
    assert httpx.get(f"{server.url}/events/recent?token={READ}").status_code == 401
    assert ws_status(server, f"?token={READ}") == 401


def test_websocket_roles_and_stream_tickets(server: ServerProcess) -> None:
    assert ws_status(server) == 401
    assert ws_status(server, authorization=f"Bearer {INGEST}") == 403
    assert ws_status(server, authorization=f"Bearer {READ}") == 101
    assert ws_status(server, authorization=f"Bearer {ADMIN}") == 101
    ticket = httpx.post(f"{server.url}/api/ui/ticket", json={}, headers=auth(READ)).json()
    assert ticket["expires_in"] > 0
    assert ws_status(server, f"?ticket={ticket['ticket']}") == 101
    assert ws_status(server, f"?ticket={ticket['ticket']}x") == 401
    assert ws_status(server, "?ticket=1.2.3") == 401
    # A ticket opens streams and nothing else.
    with httpx.stream("GET", f"{server.url}/api/events/stream?ticket={ticket['ticket']}",
                      timeout=10) as sse:
        assert sse.status_code == 200 and "text/event-stream" in sse.headers["content-type"]
    assert httpx.get(f"{server.url}/events/recent?ticket={ticket['ticket']}").status_code == 401


def test_the_recorded_answer_says_which_credential_and_address(server: ServerProcess) -> None:
    event = question(server)
    r = httpx.post(f"{server.url}/events/{event['id']}/respond", headers=auth(ADMIN),
                   json={"response": "yes", "respondedBy": "typed-name"})
    status_ = r.json()["humanInTheLoopStatus"]
    assert status_["respondedBy"] == "typed-name"
    assert status_["respondedVia"] == {"credential": "ROUTER_EXT_ADMIN_TOKEN",
                                       "address": "127.0.0.1"}


def test_roles_no_token_grants_stay_open_on_loopback(tmp_path: Path) -> None:
    # The admin token also grants read, so only ingest is left open.
    proc = start_server(f"sqlite:///{tmp_path / 'db.sqlite'}",
                        env={"ROUTER_EXT_ADMIN_TOKEN": ADMIN})
    try:
        assert status(proc, "POST", "/events", None, EVENT) == 200
        assert status(proc, "GET", "/events/recent", None) == 401
        assert status(proc, "GET", "/events/recent", ADMIN) == 200
        assert status(proc, "POST", "/api/ralph/l/stop", None) == 401
        assert status(proc, "POST", "/api/ralph/l/stop", ADMIN) == 201
    finally:
        proc.stop()


# -- failed tokens --------------------------------------------------------------------------

def test_wrong_tokens_are_rate_limited_per_address(tmp_path: Path) -> None:
    proc = start_server(f"sqlite:///{tmp_path / 'db.sqlite'}",
                        env={**ROLES_ENV, "ROUTER_EXT_AUTH_FAILURES_PER_MINUTE": "3"})
    try:
        for _ in range(5):  # asking without a token is not guessing: not counted
            assert status(proc, "GET", "/events/recent", None) == 401
        assert status(proc, "GET", "/events/recent", READ) == 200
        for _ in range(3):
            assert status(proc, "GET", "/events/recent", "guess") == 401
        blocked = httpx.get(f"{proc.url}/events/recent", headers=auth(READ))
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
        assert blocked.json()["error"] == "rate_limited"
        assert status(proc, "POST", "/events", INGEST, EVENT) == 429  # ingest too
        assert ws_status(proc, authorization=f"Bearer {READ}") == 429
        assert status(proc, "GET", "/health", None) == 200  # open routes stay open
        metrics = httpx.get(f"{proc.url}/metrics", headers=auth(READ))
        assert metrics.status_code == 429  # the limit covers every protected route
    finally:
        proc.stop()


# -- the stream cap -------------------------------------------------------------------------

def test_streams_over_the_cap_are_refused_and_counted(tmp_path: Path) -> None:
    proc = start_server(f"sqlite:///{tmp_path / 'db.sqlite'}",
                        env={"ROUTER_EXT_MAX_STREAMS": "2"})

    async def run() -> None:
        first = await websockets.connect(f"{proc.ws_url}/stream")
        second = await websockets.connect(f"{proc.ws_url}/stream")
        third = await websockets.connect(f"{proc.ws_url}/stream")
        await asyncio.wait_for(third.wait_closed(), 10)
        assert third.close_code == 1013 and "ROUTER_EXT_MAX_STREAMS" in str(third.close_reason)
        async with httpx.AsyncClient(timeout=10) as http:
            sse = await http.get(f"{proc.url}/api/events/stream")
            assert sse.status_code == 503 and sse.json()["error"] == "overloaded"
        await first.close()
        await asyncio.sleep(0.3)  # the server notices the close and frees the slot
        async with websockets.connect(f"{proc.ws_url}/stream") as again:
            assert json.loads(await asyncio.wait_for(again.recv(), 10))["type"] == "initial"
        await second.close()

    try:
        asyncio.run(run())
        metrics = httpx.get(f"{proc.url}/metrics").text
        assert 'harness_connections_limited_total{reason="over_limit",transport="ws"} 1.0' \
            in metrics
        assert 'harness_connections_limited_total{reason="over_limit",transport="sse"} 1.0' \
            in metrics
    finally:
        proc.stop()
