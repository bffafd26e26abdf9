"""Every reported poison input against a real server: it is refused or kept, alone, as a 4xx
naming the field, the neighbours commit, the server keeps serving and starts again afterwards.

Each case was a 5xx, a gRPC UNKNOWN, a failed batch or a server that would not restart.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from router_ext.v1 import ingest_pb2, query_pb2, stream_pb2, types_pb2
from router_ext_client.spool import Spool
from tests.grpc_helpers import event, stubs
from tests.support import ROOT, ServerProcess, served, start_server
from tests.test_client import closed_port
from tests.test_hook_entry import HOOK, hook_input

DEEP = 10_000
JSON_ROUTES = ("/events", "/api/events", "/hooks/claude-code?hold=0", "/metrics/harness",
               "/events/1/respond", "/api/ralph/loop-1/stop")


def strict_json(text: str) -> Any:
    """json.loads that refuses NaN and Infinity, as a browser's JSON.parse does."""
    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def body(session: str, **fields: Any) -> dict[str, Any]:
    return {"source_app": "poison", "session_id": session, "hook_event_type": "Note",
            "payload": {"tool_name": "Bash"}, **fields}


def post_raw(http: httpx.Client, path: str, text: str | bytes) -> httpx.Response:
    return http.post(path, content=text, headers={"content-type": "application/json"})


@pytest.fixture(scope="module")
def poison_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from served(tmp_path_factory, "poison")


@pytest.fixture(scope="module")
def http(poison_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=poison_server.url, timeout=30) as client:
        yield client


def last_id(http: httpx.Client) -> int:
    r = http.get("/health")
    assert r.status_code == 200
    return int(r.json()["last_event_id"])


@pytest.mark.parametrize("timeout", ["1e308", "NaN", "Infinity", "-Infinity", "0", "-1",
                                     '"300"', "true", "1e400"])
def test_hitl_timeouts_that_cannot_be_kept_are_400(http: httpx.Client, timeout: str) -> None:
    before = last_id(http)
    text = json.dumps(body(uuid.uuid4().hex))[:-1] + (
        ',"humanInTheLoop":{"question":"Go?","timeout":' + timeout + "}}")
    r = post_raw(http, "/events", text)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "humanInTheLoop.timeout"
    assert last_id(http) == before


@pytest.mark.parametrize("seconds", [float("inf"), float("nan"), 1e308, -5.0])
def test_grpc_hitl_timeouts_that_cannot_be_kept_are_invalid_argument(
        poison_server: ServerProcess, seconds: float) -> None:
    ev = event(session_id=uuid.uuid4().hex)
    ev.human_in_the_loop.CopyFrom(types_pb2.HumanInTheLoop(question="Go?",
                                                           timeout_seconds=seconds))
    with poison_server.channel() as channel, pytest.raises(grpc.RpcError) as info:
        stubs(channel)[0].Publish(ingest_pb2.PublishRequest(event=ev), timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "humanInTheLoop.timeout" in (info.value.details() or "")


def test_poison_events_sent_with_good_ones_fail_alone(http: httpx.Client) -> None:
    session = uuid.uuid4().hex
    bodies = [json.dumps(body(session, payload={"n": n})) for n in range(150)]
    surrogate = json.dumps(body(session, payload={"out": "cut \ud83d"}))  # an \ud83d escape
    overflow = json.dumps(body(session, timestamp=2**63))
    for i in range(5):
        bodies.insert(i * 30 + 3, surrogate if i % 2 else overflow)
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda text: post_raw(http, "/events", text), bodies))
    codes = [r.status_code for r in answers]
    assert codes.count(200) == 152 and codes.count(400) == 3, codes
    assert all(r.json()["field"] == "timestamp" for r in answers if r.status_code == 400)
    rows = http.get("/events/recent", params={"session_id": session, "limit": 1000}).json()
    assert len(rows) == 152
    assert sorted(r["payload"]["n"] for r in rows if "n" in r["payload"]) == list(range(150))
    assert [r["payload"]["out"] for r in rows if "out" in r["payload"]] == ["cut \ufffd"] * 2
    metrics = http.get("/metrics").text
    assert 'harness_input_repaired_total{what="lone_surrogate"}' in metrics


def test_nan_inside_a_payload_is_refused_and_reads_stay_valid_json(http: httpx.Client) -> None:
    session = uuid.uuid4().hex
    for text in ('{"x":NaN}', '{"x":[1,{"y":Infinity}]}', '{"x":-Infinity}', '{"x":1e999}'):
        r = post_raw(http, "/events", json.dumps(body(session))[:-len('{"tool_name": "Bash"}}')]
                     + text + "}")
        assert r.status_code == 400, r.text
        assert r.json()["field"].startswith("payload.x")
    assert post_raw(http, "/events", json.dumps(body(session))).status_code == 200
    for path in ("/events/recent", "/api/ui/events", f"/api/sessions/{session}",
                 "/api/ui/approvals", f"/api/ui/sessions/{session}/timeline"):
        r = http.get(path)
        assert r.status_code == 200, (path, r.text)
        strict_json(r.text)


@pytest.mark.parametrize("path", JSON_ROUTES)
def test_json_nested_ten_thousand_deep_is_413_on_every_route(http: httpx.Client,
                                                             path: str) -> None:
    before = last_id(http)
    for text in ("[" * DEEP + "]" * DEEP, '{"payload":' + '{"a":' * DEEP + "1" + "}" * DEEP
                 + "}"):
        r = post_raw(http, path, text)
        assert r.status_code == 413, (path, r.status_code, r.text[:200])
        assert r.json()["error"] == "too_large"
    assert last_id(http) == before


@pytest.mark.parametrize(("path", "param"), [
    ("/events/recent", "before_id"), ("/events/recent", "after_id"),
    ("/events/recent", "offset"), ("/events/recent", "limit"),
    ("/metrics/harness", "since"), ("/metrics/harness/stats", "since"),
    ("/api/ui/events", "before_id"), ("/api/ui/approvals", "before_id"),
    ("/api/ui/sessions/x/timeline", "after_id"), ("/api/events/stream", "after_id"),
    ("/api/sessions", "limit"), ("/api/analytics/tools", "hours"),
    ("/api/ui/analytics", "days"),
])
@pytest.mark.parametrize("value", ["99999999999999999999", "²", "\uff11\uff12",
                                   "9007199254740992", "-1", "1e3", "%00"])
def test_bad_integers_in_queries_are_400_naming_them(http: httpx.Client, path: str,
                                                     param: str, value: str) -> None:
    r = http.get(f"{path}?{param}={value}")
    assert r.status_code == 400, (path, param, value, r.status_code, r.text[:200])
    assert r.json()["field"] == param


@pytest.mark.parametrize("value", ["²", "99999999999999999999", "\uff11", "-3"])
def test_bad_integers_in_paths_are_400(http: httpx.Client, value: str) -> None:
    r = http.post(f"/events/{value}/respond", json={"response": "x"})
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "event_id"


def test_last_event_id_header_is_checked(http: httpx.Client) -> None:
    r = http.get("/api/events/stream", headers={"last-event-id": "99999999999999999999"})
    assert r.status_code == 400 and r.json()["field"] == "Last-Event-ID"


@pytest.mark.parametrize(("query", "field"), [
    ("after_id=99999999999999999999", "after_id"), ("after_id=%C2%B2", "after_id"),
    ("limit=-1", "limit"), ("limit=1e3", "limit"), ("session_id=a%00b", "session_id")])
def test_websocket_with_a_bad_parameter_closes_4400_with_a_reason(
        poison_server: ServerProcess, query: str, field: str) -> None:
    with connect(f"{poison_server.ws_url}/stream?{query}", open_timeout=10) as ws, \
            pytest.raises(ConnectionClosed) as info:
        ws.recv(timeout=10)
    close = info.value.rcvd
    assert close is not None and close.code == 4400, close
    assert field in close.reason


GRPC_METHODS = [
    ("/router_ext.v1.IngestService/Publish", "unary"),
    ("/router_ext.v1.IngestService/PublishBatch", "unary"),
    ("/router_ext.v1.IngestService/PublishMetric", "unary"),
    ("/router_ext.v1.QueryService/ListEvents", "unary"),
    ("/router_ext.v1.QueryService/GetFilterOptions", "unary"),
    ("/router_ext.v1.QueryService/ListSessions", "unary"),
    ("/router_ext.v1.QueryService/GetSession", "unary"),
    ("/router_ext.v1.StreamService/Subscribe", "server_stream"),
    ("/grpc.health.v1.Health/Check", "unary"),
]


@pytest.mark.parametrize(("method", "kind"), GRPC_METHODS)
@pytest.mark.parametrize("data", [b"\xff\xff\xff", b"\x0a\x05ab", b"\x0a\xff\xff\xff\xff\x0f"])
def test_malformed_protobuf_bytes_are_invalid_argument(poison_server: ServerProcess,
                                                       method: str, kind: str,
                                                       data: bytes) -> None:
    with poison_server.channel() as channel:
        if kind == "unary":
            call = channel.unary_unary(method)
            with pytest.raises(grpc.RpcError) as info:
                call(data, timeout=10)
        else:
            stream = channel.unary_stream(method)(data, timeout=10)
            with pytest.raises(grpc.RpcError) as info:
                next(iter(stream))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value


def test_invalid_utf8_in_a_protobuf_string_is_invalid_argument(
        poison_server: ServerProcess) -> None:
    ev = event(session_id="placeholder").SerializeToString().replace(b"placeholder",
                                                                     b"placeh\xffder")
    data = ingest_pb2.PublishRequest.FromString(b"")  # an empty request, then the raw event
    raw = data.SerializeToString() + b"\x0a" + bytes([len(ev)]) + ev
    with poison_server.channel() as channel, pytest.raises(grpc.RpcError) as info:
        channel.unary_unary("/router_ext.v1.IngestService/Publish")(raw, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value


def test_a_malformed_message_in_a_publish_stream_fails_alone(
        poison_server: ServerProcess) -> None:
    session = uuid.uuid4().hex
    good = [ingest_pb2.PublishRequest(event=event(session_id=session)).SerializeToString()
            for _ in range(2)]
    with poison_server.channel() as channel:
        call = channel.stream_stream("/router_ext.v1.IngestService/PublishStream",
                                     response_deserializer=ingest_pb2.Ack.FromString)
        acks = list(call(iter([good[0], b"\xff\xff\xff", good[1]]), timeout=10))
        assert [bool(a.error) for a in acks] == [False, True, False]
        assert acks[1].error_code == "INVALID_ARGUMENT"
        listed = stubs(channel)[2].ListEvents(query_pb2.ListEventsRequest(
            filter=types_pb2.EventFilter(session_ids=[session])), timeout=10)
    assert len(listed.events) == 2


def test_a_field_over_its_limit_is_413_on_every_route(http: httpx.Client,
                                                      poison_server: ServerProcess) -> None:
    long = "x" * 300
    sends = [
        ("/events", body("s", source_app=long), "source_app"),
        ("/api/events", {"type": "Note", "session_id": long, "data": {}}, "session_id"),
        ("/hooks/claude-code?hold=0", {"hook_event_name": "Note", "session_id": long},
         "session_id"),
        ("/metrics/harness", {"source": long, "event": "task_started"}, "source"),
        ("/metrics/harness", {"source": "ralph", "event": "e", "label": long}, "label"),
    ]
    for path, sent, field in sends:
        r = http.post(path, json=sent)
        assert (r.status_code, r.json()["field"]) == (413, field), (path, r.text)
    with poison_server.channel() as channel:
        with pytest.raises(grpc.RpcError) as info:
            stubs(channel)[0].Publish(ingest_pb2.PublishRequest(
                event=event(session_id=long)), timeout=10)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        metadata = dict(info.value.trailing_metadata() or ())
        assert metadata["router-ext-error"] == "too_large"
        assert metadata["router-ext-field"] == "session_id"
        with pytest.raises(grpc.RpcError) as info:
            stubs(channel)[0].PublishMetric(ingest_pb2.PublishMetricRequest(
                metric=types_pb2.HarnessMetric(source="ralph", event="e", label=long)),
                timeout=10)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_grpc_subscribe_with_a_bad_filter_is_invalid_argument(
        poison_server: ServerProcess) -> None:
    with poison_server.channel() as channel:
        stream = stubs(channel)[1].Subscribe(stream_pb2.SubscribeRequest(
            filter=types_pb2.EventFilter(session_ids=["a\x00b"]), after_id=0), timeout=10)
        with pytest.raises(grpc.RpcError) as info:
            next(iter(stream))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# -- the spool: a refused event goes to the dead letter, the events behind it arrive ----------

def test_a_refused_spooled_event_goes_to_the_dead_letter_and_the_rest_arrive(
        poison_server: ServerProcess, http: httpx.Client, tmp_path: Path) -> None:
    session = uuid.uuid4().hex
    spool = Spool(str(tmp_path / "spool"))
    spool.append("event", {**body(session, payload={"n": 1}), "event_uid": uuid.uuid4().hex})
    spool.append("event", {**body(session, timestamp=2**63), "event_uid": uuid.uuid4().hex})
    spool.append("metric", {"source": "ralph", "event": "task_started", "num_turns": -4})
    spool.append("event", {**body(session, payload={"n": 2}), "event_uid": uuid.uuid4().hex})
    flush = subprocess.run([sys.executable, "-m", "router_ext.cli", "spool", "flush",
                            "--server", poison_server.url, "--spool-dir", spool.dir],
                           capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
    assert flush.returncode == 0, flush.stdout + flush.stderr
    report = json.loads(flush.stdout.splitlines()[0])
    assert (report["sent"], report["refused"], report["pending"]) == (2, 2, 0)
    rows = http.get("/events/recent", params={"session_id": session}).json()
    assert [r["payload"]["n"] for r in rows] == [1, 2]
    status = subprocess.run([sys.executable, "-m", "router_ext.cli", "spool", "status",
                             "--spool-dir", spool.dir], capture_output=True, text=True,
                            cwd=ROOT, timeout=60, check=True)
    shown = json.loads(status.stdout)
    assert (shown["pending"], shown["dead_letter"], shown["dead_letter_total"]) == (0, 2, 2)
    dead = Path(shown["dead_letter_path"])
    assert dead.stat().st_mode & 0o777 == 0o600
    lines = [json.loads(line) for line in dead.read_text().splitlines()]
    assert [line["status"] for line in lines] == [400, 400]
    assert "timestamp" in lines[0]["error"] and "num_turns" in lines[1]["error"]


def test_a_hook_output_ending_in_a_split_emoji_is_spooled_then_flushed(
        poison_server: ServerProcess, http: httpx.Client, tmp_path: Path) -> None:
    session = uuid.uuid4().hex
    # Claude Code cuts long tool output in UTF-16 units: the JSON ends in a lone \ud83d escape.
    raw = hook_input(session, "PostToolUse", tool_response={"stdout": "done \ud83d"})
    assert "\\ud83d" in raw
    down = f"http://127.0.0.1:{closed_port()}"
    env = {"ROUTER_EXT_SPOOL_DIR": str(tmp_path / "spool"), "ROUTER_EXT_HOOK_DETACH": "0"}
    proc = subprocess.run([sys.executable, "-S", str(HOOK), "--source-app", "poison",
                           "--server", down], input=raw.encode(), capture_output=True,
                          env={**os.environ, **env}, timeout=30, check=False)
    assert proc.returncode == 0
    assert Spool(str(tmp_path / "spool")).status()["pending"] == 1
    flush = subprocess.run([sys.executable, "-m", "router_ext.cli", "spool", "flush",
                            "--server", poison_server.url, "--spool-dir",
                            str(tmp_path / "spool")],
                           capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
    assert flush.returncode == 0, flush.stdout + flush.stderr
    (row,) = http.get("/events/recent", params={"session_id": session}).json()
    assert row["payload"]["tool_response"]["stdout"] == "done \ufffd"


# -- stored data never stops the server --------------------------------------------------------

LEGACY_REQUESTS = {  # what older servers stored before the field rules, as JSON text
    "huge": '{"question":"q","type":"question","timeout":1e308}',
    "infinite": '{"question":"q","type":"question","timeout":Infinity}',
    "nan": '{"question":"q","type":"question","timeout":NaN}',
    "negative": '{"question":"q","type":"permission","timeout":-5}',
    "text": '{"question":"q","type":"choice","choices":["a"],"timeout":"soon"}',
    "corrupt": '{"question":',
    "not_object": "[1,2]",
    "expired": '{"question":"q","type":"question","timeout":1}',
}


def _store_legacy(db: Path) -> dict[str, int]:
    ids: dict[str, int] = {}
    now = int(time.time() * 1000)
    with sqlite3.connect(db) as conn:
        for name, request in LEGACY_REQUESTS.items():
            started = now - 3_600_000 if name == "expired" else now
            status = json.dumps({"status": "pending", "requestedAt": started})
            if name == "huge":
                status = '{"status":"pending","requestedAt":1e308}'
            cur = conn.execute(
                "INSERT INTO events (event_uid, source_app, session_id, hook_event_type, "
                "payload, timestamp, received_at, human_in_the_loop, human_in_the_loop_status,"
                " hitl_status) VALUES (?, 'legacy', ?, 'Notification', '{}', ?, ?, ?, ?, "
                "'pending')", (uuid.uuid4().hex, name, started, started, request, status))
            ids[name] = int(cur.lastrowid or 0)
    return ids


def test_restart_after_every_kind_of_stored_hitl_request(tmp_path: Path) -> None:
    db = tmp_path / "hitl.db"
    first = start_server(f"sqlite:///{db}")
    try:
        with httpx.Client(base_url=first.url, timeout=30) as client:
            for hitl in ({"question": "q"}, {"question": "q", "type": "permission"},
                         {"question": "q", "type": "choice", "choices": ["a", "b"]},
                         {"question": "q", "timeout": 604_800},
                         {"question": "q", "responseWebSocketUrl": "ws://127.0.0.1:9/x"}):
                r = client.post("/events", json=body(uuid.uuid4().hex, humanInTheLoop=hitl))
                assert r.status_code == 200, r.text
    finally:
        assert first.stop() == 0
    ids = _store_legacy(db)
    for run in range(2):  # twice: the run that times the expired one out leaves a usable DB too
        again = start_server(f"sqlite:///{db}")
        try:
            with httpx.Client(base_url=again.url, timeout=30) as client:
                assert client.get("/health").status_code == 200
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    rows = client.get("/events/recent", params={"source_app": "legacy"}).json()
                    states = {r["session_id"]: r["humanInTheLoopStatus"]["status"] for r in rows}
                    if states.get("expired") == "timeout":
                        break
                    time.sleep(0.1)
                assert states["expired"] == "timeout"
                assert states["huge"] == "pending"  # armed with the bounded wait instead
                r = client.post(f"/events/{ids['corrupt']}/respond", json={"response": "x"})
                assert r.status_code == 409, r.text
                r = client.post(f"/events/{ids['nan']}/respond", json={"response": "yes"})
                assert r.status_code == (200 if run == 0 else 409), r.text
                for path in ("/events/recent", "/api/ui/approvals", "/api/ui/events"):
                    r = client.get(path)
                    assert r.status_code == 200, (path, r.text[:300])
                    strict_json(r.text)
                with again.channel() as channel:
                    listed = stubs(channel)[2].ListEvents(query_pb2.ListEventsRequest(
                        filter=types_pb2.EventFilter(source_apps=["legacy"])), timeout=10)
                    assert len(listed.events) == len(LEGACY_REQUESTS)
        finally:
            assert again.stop() == 0
