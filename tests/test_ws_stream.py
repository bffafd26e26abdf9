"""WS /stream with a real WebSocket client: initial page, live events, updates, heartbeats,
filters, resume, and slow clients closed with the id to resume from (never silent loss)."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from router_ext.v1 import ingest_pb2
from tests.grpc_helpers import event as grpc_event
from tests.grpc_helpers import stubs
from tests.support import ServerProcess, served, start_server


def grpc_channel(server: ServerProcess) -> Any:
    """A gRPC channel to the server under test (a context manager)."""
    return server.channel()

QUEUE = 20


@pytest.fixture(scope="module")
def ws_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from served(tmp_path_factory, "ws", {"ROUTER_EXT_HEARTBEAT_SECONDS": "0.3",
                                               "ROUTER_EXT_SUBSCRIBER_QUEUE_SIZE": str(QUEUE)})


def post(server: ServerProcess, session: str, **fields: Any) -> dict[str, Any]:
    body = {"source_app": "ws-test", "session_id": session, "hook_event_type": "PreToolUse",
            "payload": {"n": 1}, **fields}
    r = httpx.post(f"{server.url}/events", json=body, timeout=10)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def recv_json(ws: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    return dict(json.loads(await asyncio.wait_for(ws.recv(), timeout)))


async def next_event(ws: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    while True:
        msg = await recv_json(ws, timeout)
        if msg["type"] != "heartbeat":
            return msg


def test_initial_then_live_events_in_order(ws_server: ServerProcess) -> None:
    session = uuid.uuid4().hex
    old = [post(ws_server, session)["id"] for _ in range(3)]

    async def run() -> None:
        url = f"{ws_server.ws_url}/stream?session_id={session}&limit=2"
        async with websockets.connect(url) as ws:
            initial = await recv_json(ws)
            assert initial["type"] == "initial"
            assert [e["id"] for e in initial["data"]] == old[-2:]
            new = [await asyncio.to_thread(post, ws_server, session) for _ in range(3)]
            got = [await next_event(ws) for _ in range(3)]
            assert [m["type"] for m in got] == ["event"] * 3
            assert [m["data"]["id"] for m in got] == [e["id"] for e in new]
            assert got[0]["data"]["session_id"] == session

    asyncio.run(run())


def test_initial_default_is_300_newest(ws_server: ServerProcess) -> None:
    session = uuid.uuid4().hex
    with ws_server.channel() as channel:  # one batch, so the test stays fast
        ingest, _, _ = stubs(channel)
        batch = [grpc_event(source_app="bulk", session_id=session, hook_event_type="Stop")
                 for _ in range(310)]
        acks = ingest.PublishBatch(ingest_pb2.PublishBatchRequest(events=batch), timeout=30).acks
    ids = [ack.id for ack in acks]

    async def run() -> None:
        async with websockets.connect(f"{ws_server.ws_url}/stream?session_id={session}") as ws:
            initial = await recv_json(ws)
            assert [e["id"] for e in initial["data"]] == ids[-300:]

    asyncio.run(run())


def test_filters_and_heartbeats(ws_server: ServerProcess) -> None:
    session, other = uuid.uuid4().hex, uuid.uuid4().hex

    async def run() -> None:
        url = f"{ws_server.ws_url}/stream?session_id={session}&hook_event_type=Stop"
        async with websockets.connect(url) as ws:
            assert (await recv_json(ws))["data"] == []
            beat = await recv_json(ws, timeout=3)
            assert beat["type"] == "heartbeat" and isinstance(beat["last_id"], int)
            await asyncio.to_thread(post, ws_server, other, hook_event_type="Stop")
            await asyncio.to_thread(post, ws_server, session, hook_event_type="PreToolUse")
            wanted = await asyncio.to_thread(post, ws_server, session, hook_event_type="Stop")
            msg = await next_event(ws)
            assert msg["data"]["id"] == wanted["id"]

    asyncio.run(run())


def test_resume_with_after_id(ws_server: ServerProcess) -> None:
    session = uuid.uuid4().hex
    ids = [post(ws_server, session)["id"] for _ in range(4)]

    async def run() -> None:
        url = f"{ws_server.ws_url}/stream?session_id={session}&after_id={ids[1]}"
        async with websockets.connect(url) as ws:
            assert (await recv_json(ws)) == {"type": "initial", "data": []}
            got = [(await next_event(ws))["data"]["id"] for _ in range(2)]
            assert got == ids[2:]

    asyncio.run(run())


def test_hitl_update_is_sent_again_with_same_id(ws_server: ServerProcess) -> None:
    session = uuid.uuid4().hex

    async def run() -> None:
        async with websockets.connect(f"{ws_server.ws_url}/stream?session_id={session}") as ws:
            await recv_json(ws)
            asked = await asyncio.to_thread(
                post, ws_server, session,
                humanInTheLoop={"question": "Proceed?", "type": "question", "timeout": 60})
            first = await next_event(ws)
            assert first["data"]["humanInTheLoopStatus"]["status"] == "pending"
            r = await asyncio.to_thread(
                httpx.post, f"{ws_server.url}/events/{asked['id']}/respond",
                json={"response": "yes", "respondedBy": "alice"}, timeout=10)
            assert r.status_code == 200, r.text
            update = await next_event(ws)
            assert update["type"] == "event" and update["data"]["id"] == asked["id"]
            status = update["data"]["humanInTheLoopStatus"]
            assert status["status"] == "responded" and status["respondedBy"] == "alice"

    asyncio.run(run())


@pytest.mark.parametrize("query, named", [("limit=abc", "limit"), ("batch=2", "batch")])
def test_bad_query_parameter_closes_with_reason(ws_server: ServerProcess, query: str,
                                                named: str) -> None:
    async def run() -> None:
        async with websockets.connect(f"{ws_server.ws_url}/stream?{query}") as ws:
            with pytest.raises(websockets.ConnectionClosed) as info:
                await recv_json(ws)
            assert info.value.rcvd is not None
            assert info.value.rcvd.code == 4400 and named in info.value.rcvd.reason

    asyncio.run(run())


class StalledClient:
    """A WebSocket client on a raw socket with a tiny receive buffer that reads only on demand,
    so the server really sees a consumer that cannot keep up."""

    def __init__(self, url: str) -> None:
        self.proto = ClientProtocol(parse_uri(url), max_size=None)
        host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(10)
        self.sock.connect((host, int(port)))
        self.proto.send_request(self.proto.connect())
        self._flush()
        self.messages: list[dict[str, Any]] = []
        while not self.messages:  # handshake and the initial message
            self._read()

    def _flush(self) -> None:
        for chunk in self.proto.data_to_send():
            if chunk:
                self.sock.sendall(chunk)

    def _read(self) -> bool:
        data = self.sock.recv(1 << 20)
        if not data:
            self.proto.receive_eof()
            return False
        self.proto.receive_data(data)
        for item in self.proto.events_received():
            if isinstance(item, Frame) and item.opcode == Opcode.TEXT:
                data = json.loads(item.data)  # with batch=1, an array of messages
                self.messages.extend(data if isinstance(data, list) else [data])
        self._flush()
        return True

    def read_until_closed(self) -> tuple[int, str]:
        """Read everything; returns the close code and reason."""
        while self.proto.close_rcvd is None and self._read():
            pass
        close = self.proto.close_rcvd
        assert close is not None, "the server never closed the connection"
        self.sock.close()
        return close.code, close.reason


@pytest.mark.parametrize("batch", ["0", "1"], ids=["stock", "batched"])
def test_slow_client_is_closed_with_resume_id_and_loses_nothing(ws_server: ServerProcess,
                                                                batch: str) -> None:
    session = uuid.uuid4().hex
    url = f"{ws_server.ws_url}/stream?session_id={session}"
    client = StalledClient(f"{url}&batch={batch}")
    assert client.messages[0]["type"] == "initial"
    # While the client reads nothing, the socket buffers fill (a few MB), the server's sends
    # block, and its bounded queue for this client (20 events here) overflows.
    blob = "x" * 64_000
    total = 160
    with httpx.Client(base_url=ws_server.url, timeout=20) as http:
        sent = [http.post("/events", json={"source_app": "slow", "session_id": session,
                                           "hook_event_type": "PreToolUse",
                                           "payload": {"blob": blob}}).json()["id"]
                for _ in range(total)]
    code, reason = client.read_until_closed()
    got = [m["data"]["id"] for m in client.messages if m["type"] == "event"]
    assert code == 4000, (code, reason)
    resume = int(reason.rsplit("=", 1)[1])
    assert got == sent[:len(got)] and resume == got[-1] and len(got) < total

    async def rest() -> list[int]:
        async with websockets.connect(f"{url}&after_id={resume}", max_size=None) as ws:
            await recv_json(ws)
            return [(await next_event(ws))["data"]["id"] for _ in range(total - len(got))]

    # Resuming from the id in the close reason delivers exactly the rest.
    assert got + asyncio.run(rest()) == sent


def sse_events(server: ServerProcess, session: str, after_id: int, count: int
               ) -> list[tuple[int, dict[str, Any]]]:
    """(id, data) of the first `count` events of GET /api/events/stream after `after_id`."""
    out: list[tuple[int, dict[str, Any]]] = []
    with httpx.stream("GET", f"{server.url}/api/events/stream", params={"sessionId": session},
                      headers={"Last-Event-ID": str(after_id)}, timeout=10) as r:
        event_id = None
        for line in r.iter_lines():
            if line.startswith("id: "):
                event_id = int(line[4:])
            elif line.startswith("data: ") and event_id is not None:
                out.append((event_id, json.loads(line[6:])))
                event_id = None
                if len(out) == count:
                    return out
    raise AssertionError(f"the stream ended after {len(out)} events")


# A client that offers no compression gets frames the server pre-encodes and writes straight to
# the socket (web/ws_frames.py); one that offers permessage-deflate gets uvicorn's own framing.
# By default a direct loopback client is not compressed for, so the deflate client arrives as if
# through a proxy (a header only: nothing is sent to that address).
THROUGH_PROXY = {"X-Forwarded-For": "198.51.100.7"}


@pytest.mark.parametrize("compression", ["deflate", None], ids=["deflate", "pre-encoded"])
def test_stock_clients_see_one_event_per_frame_and_batch_clients_the_same_in_arrays(
        ws_server: ServerProcess, compression: str | None) -> None:
    session = uuid.uuid4().hex
    start = post(ws_server, session)["id"]
    total = 18  # a commit of 15 (under the queue of 20) and 3 more

    async def frames(ws: ClientConnection, events: int) -> list[str]:
        """Frames (heartbeats included) until `events` events have come."""
        out: list[str] = []
        seen = 0
        while seen < events:
            text = str(await asyncio.wait_for(ws.recv(), 10))
            out.append(text)
            data = json.loads(text)
            seen += sum(1 for m in (data if isinstance(data, list) else [data])
                        if m["type"] == "event")
        return out

    async def run() -> tuple[list[str], list[str], dict[str, Any]]:
        url = f"{ws_server.ws_url}/stream?session_id={session}&after_id={start}"
        proxied = THROUGH_PROXY if compression else None
        async with websockets.connect(url, compression=compression,
                                      additional_headers=proxied) as stock, \
                websockets.connect(f"{url}&batch=1", compression=compression,
                                   additional_headers=proxied) as batched:
            for ws in (stock, batched):
                assert ws.response is not None
                offered = ws.response.headers.get("Sec-WebSocket-Extensions", "")
                assert ("permessage-deflate" in offered) is (compression is not None)
            assert json.loads(await stock.recv()) == {"type": "initial", "data": []}
            assert json.loads(await batched.recv()) == {"type": "initial", "data": []}
            with grpc_channel(ws_server) as channel:  # one commit: a backlog at once
                ingest, _, _ = stubs(channel)
                ingest.PublishBatch(ingest_pb2.PublishBatchRequest(events=[
                    grpc_event(source_app="bulk", session_id=session, payload={"n": n})
                    for n in range(15)]), timeout=20)
            for _ in range(3):
                await asyncio.to_thread(post, ws_server, session)
            got = await asyncio.gather(frames(stock, total), frames(batched, total))
        async with websockets.connect(f"{ws_server.ws_url}/stream?session_id={session}"
                                      f"&limit={total}") as page:
            initial = json.loads(await page.recv())
        return got[0], got[1], initial

    stock, batched, initial = asyncio.run(run())
    # Stock clients: exactly one message per frame, as the well-known dashboard expects.
    stock_events = [t for t in stock if json.loads(t)["type"] == "event"]
    assert len(stock_events) == total
    assert all(t.startswith('{"type":"event","data":{') for t in stock_events)
    assert all(json.loads(t)["type"] == "heartbeat" for t in stock if t not in stock_events)
    events = [json.loads(t)["data"] for t in stock_events]
    assert events == initial["data"]  # the same JSON as the initial page gives each event
    # Batch clients: arrays whose elements are the stock frames' texts, in the same order.
    batched_events = [t for t in batched if '"type":"event"' in t]
    assert all(t.startswith("[") for t in batched)
    assert "[" + ",".join(stock_events) + "]" == "[" + ",".join(
        t[1:-1] for t in batched_events) + "]"
    assert len(batched_events) < total  # the backlog came in fewer frames
    # Server-Sent Events carry the same events in the same order.
    sse = sse_events(ws_server, session, start, total)
    assert [i for i, _ in sse] == [e["id"] for e in events]
    assert [d for _, d in sse] == events


def _negotiated_extensions(server: ServerProcess, headers: dict[str, str] | None = None) -> str:
    """The Sec-WebSocket-Extensions the server answered a client offering permessage-deflate
    (the websockets client offers it, as browsers do), after one live event arrived whole."""
    async def run() -> str:
        async with websockets.connect(f"{server.ws_url}/stream?limit=0",
                                      additional_headers=headers) as ws:
            assert (await recv_json(ws))["type"] == "initial"
            sent = await asyncio.to_thread(post, server, uuid.uuid4().hex)
            assert (await next_event(ws))["data"]["id"] == sent["id"]
            assert ws.response is not None
            return str(ws.response.headers.get("Sec-WebSocket-Extensions", ""))

    return asyncio.run(run())


def test_compression_by_default_only_for_clients_across_a_network_or_proxy(
        ws_server: ServerProcess) -> None:
    assert _negotiated_extensions(ws_server) == ""  # loopback: nothing saved by compressing
    assert "permessage-deflate" in _negotiated_extensions(ws_server, THROUGH_PROXY)


@pytest.mark.parametrize(("mode", "direct", "proxied"), [("on", True, True), ("0", False, False)])
def test_compression_can_be_forced_on_or_off(
        tmp_path_factory: pytest.TempPathFactory, mode: str, direct: bool, proxied: bool) -> None:
    server = start_server(f"sqlite:///{tmp_path_factory.mktemp('ws-' + mode) / 'r.db'}",
                          env={"ROUTER_EXT_WS_COMPRESSION": mode})
    try:
        assert ("permessage-deflate" in _negotiated_extensions(server)) is direct
        assert ("permessage-deflate" in _negotiated_extensions(server, THROUGH_PROXY)) is proxied
    finally:
        server.stop()
