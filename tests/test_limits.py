"""Connection limits on a real server: slow and stalled requests are closed, connections over
the cap get 503, and a non-loopback bind with no tokens refuses to start."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support import ROOT, ServerProcess, served

# Generous: "closed within seconds" must hold on a loaded machine too.
CLOSED_WITHIN = 20.0


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from served(tmp_path_factory, "slow", {"ROUTER_EXT_HEADER_TIMEOUT_SECONDS": "1",
                                                 "ROUTER_EXT_BODY_TIMEOUT_SECONDS": "2"})


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from served(tmp_path_factory, "capped", {"ROUTER_EXT_MAX_CONNECTIONS": "3"})


def connect(server: ServerProcess, first: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.http_port), timeout=5)
    if first:
        sock.sendall(first)
    return sock


def read_until_closed(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes; and how long that took."""
    started = time.monotonic()
    sock.settimeout(CLOSED_WITHIN)
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except TimeoutError:
        raise AssertionError(f"still open after {CLOSED_WITHIN} s; got {data!r}") from None
    except ConnectionResetError:
        pass
    return data, time.monotonic() - started


def limited(server: ServerProcess, transport: str, reason: str) -> float:
    for line in httpx.get(f"{server.url}/metrics", timeout=10).text.splitlines():
        if line.startswith("harness_connections_limited_total{") and \
                f'reason="{reason}"' in line and f'transport="{transport}"' in line:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no harness_connections_limited_total for {transport} {reason}")


def test_idle_slow_and_stalled_requests_are_closed(slow_server: ServerProcess) -> None:
    idle = connect(slow_server)
    headers = connect(slow_server, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    trickle = connect(slow_server, b"G")
    body = connect(slow_server, b"POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
    for byte in b"ET /":  # one byte at a time does not keep a request alive
        time.sleep(0.3)
        try:
            trickle.sendall(bytes([byte]))
        except OSError:
            break  # already closed
    for sock in (idle, headers, trickle, body):
        with sock:
            data, _ = read_until_closed(sock)
        if sock in (headers, trickle):
            assert data.startswith(b"HTTP/1.1 408"), data
    assert limited(slow_server, "http", "header_timeout") >= 3
    assert limited(slow_server, "http", "body_timeout") >= 1
    # The server is still fine, and an ordinary request is not affected.
    assert httpx.get(f"{slow_server.url}/health", timeout=10).status_code == 200


def test_a_keep_alive_connection_is_not_cut_between_requests(slow_server: ServerProcess) -> None:
    with httpx.Client(base_url=slow_server.url, timeout=10) as http:
        assert http.get("/health").status_code == 200
        time.sleep(1.5)  # longer than the header timeout, shorter than keep-alive
        assert http.get("/health").status_code == 200
        body = {"source_app": "slow", "session_id": "s", "hook_event_type": "X", "payload": {}}
        assert http.post("/events", json=body).status_code == 200


def test_a_second_request_stalled_in_its_headers_gets_408(slow_server: ServerProcess) -> None:
    # The deadline moves per request (headers, then body, then none between requests): the
    # header deadline of a later request on the same connection must still be enforced.
    body = b'{"source_app":"slow","session_id":"s","hook_event_type":"X","payload":{}}'
    with connect(slow_server, b"POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              b"Content-Type: application/json\r\n"
                              b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
                              + body) as sock:
        first = b""
        while b"\r\n\r\n" not in first:
            first += sock.recv(4096)
        assert first.startswith(b"HTTP/1.1 200"), first
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        data, _ = read_until_closed(sock)
    assert b"HTTP/1.1 408" in data, data


def test_connections_over_the_cap_get_503(capped: ServerProcess) -> None:
    held = [connect(capped) for _ in range(3)]
    try:
        time.sleep(0.2)  # the server has accepted them
        over = connect(capped, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        with over:
            data, _ = read_until_closed(over)
        assert data.startswith(b"HTTP/1.1 503"), data
        key = base64.b64encode(os.urandom(16))
        ws = connect(capped, b"GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                             b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                             b"Sec-WebSocket-Key: " + key + b"\r\n\r\n")
        with ws:
            data, _ = read_until_closed(ws)
        assert data.startswith(b"HTTP/1.1 503") and b"MAX_CONNECTIONS" in data, data
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    assert httpx.get(f"{capped.url}/health", timeout=10).status_code == 200
    assert limited(capped, "http", "over_limit") >= 1
    assert limited(capped, "ws", "over_limit") >= 1


def test_an_exposed_bind_without_tokens_refuses_to_start() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTER_EXT_")}
    done = subprocess.run([sys.executable, "-m", "router_ext.cli", "serve", "--host", "0.0.0.0",
                           "--http-port", "0", "--grpc-port", "0",
                           "--database-url", "sqlite:///:memory:"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "0.0.0.0" in lines[0] and "ROUTER_EXT_TOKEN" in lines[0] and "--insecure" in lines[0]
    assert not done.stdout  # it never got as far as listening
