"""Property tests: generated valid, near-valid and hostile inputs against ONE real server.

Every HTTP route with a body, every GET route and its query and path parameters, the WebSocket
parameters and every gRPC method get inputs drawn by Hypothesis: deep nesting, huge and
negative numbers, NaN and Infinity, lone surrogates, NUL, invalid UTF-8, oversized fields,
wrong types, raw bytes. Inputs go in batches over one keep-alive connection; after each batch:

- no answer is a 5xx (a 4xx carries {"error", "detail"}), no gRPC status is UNKNOWN/INTERNAL,
  and a WebSocket is answered or closed with a 4xxx code;
- rows added == answers that reported a new row (a rejected input writes nothing);
- an accepted /events body reads back equal to the body after the documented normalisation,
  and a body the rules call valid is accepted (so refusing everything cannot pass);
- /health answers.

At the end the server is stopped and started again on the database the run left behind.
The run is derandomized (the same inputs every CI run); HYPOTHESIS_PROFILE=deep draws ten
times as many, at random. The last test checks that at least MIN_INPUTS inputs were sent.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, quote_from_bytes

import grpc
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from router_ext.v1 import ingest_pb2, query_pb2, stream_pb2, types_pb2
from tests.grpc_helpers import stubs
from tests.support import ServerProcess, start_server

settings.register_profile(
    "ci", deadline=None, derandomize=True, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much, HealthCheck.large_base_example])
settings.register_profile("deep", parent=settings.get_profile("ci"), derandomize=False)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)
SCALE = 10 if PROFILE == "deep" else 1
MIN_INPUTS = 10_000
BATCH = 8
MAX_SAFE = 2**53 - 1
SENT: Counter[str] = Counter()  # inputs sent, by surface


def examples(n: int) -> Any:
    return settings(max_examples=n * SCALE)


# -- the server ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def prop_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    db = tmp_path_factory.mktemp("props") / "router-ext.db"
    server = start_server(f"sqlite:///{db}", env={
        "ROUTER_EXT_PERMISSION_HOLD_SECONDS": "0.2", "ROUTER_EXT_HEARTBEAT_SECONDS": "0.05",
        "ROUTER_EXT_HITL_RELAY_TIMEOUT_SECONDS": "0.2"})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http(prop_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=prop_server.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def channel(prop_server: ServerProcess) -> Iterator[grpc.Channel]:
    with prop_server.channel() as ch:
        yield ch


@pytest.fixture(scope="module")
def pending_ids(http: httpx.Client) -> list[int]:
    """HITL requests to answer: one of each type, plus ids that do not exist."""
    ids = []
    for hitl in ({"question": "q"}, {"question": "q", "type": "permission"},
                 {"question": "q", "type": "choice", "choices": ["a", "b"]}):
        r = http.post("/events", json={"source_app": "props", "session_id": "hitl",
                                       "hook_event_type": "Notification", "payload": {},
                                       "humanInTheLoop": hitl})
        assert r.status_code == 200, r.text
        ids.append(int(r.json()["id"]))
    return [*ids, 0, MAX_SAFE]


def last_id(http: httpx.Client) -> int:
    r = http.get("/health")
    assert r.status_code == 200, r.text
    return int(r.json()["last_event_id"])


def check_answer(r: httpx.Response, where: str) -> None:
    assert r.status_code < 500, (where, r.status_code, r.text[:300])
    if r.status_code >= 400:
        error = r.json()
        assert error["error"] and error["detail"], (where, error)


# -- strategies ------------------------------------------------------------------------------

SPECIAL_TEXT = ["", "\x00", "a\x00b", "²", "\uff11\uff12", "٣", "\ud800", "x\udfff", "\ud83d",
                "\U0001F600", "NaN", "Infinity", "-1", "99999999999999999999", "9007199254740992",
                " ", "\n", "'; DROP TABLE events; --", "%00", "\\u0000", "x" * 129, "x" * 257,
                "x" * 300, "é" * 200]
surrogates = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
                     min_size=1, max_size=3)
hostile_text = st.one_of(st.text(max_size=12), st.sampled_from(SPECIAL_TEXT), surrogates,
                         st.text(max_size=4).map(lambda t: t + "\ud83d"),
                         st.integers(100, 320).map(lambda n: "y" * n))
names = st.one_of(st.sampled_from(["app", "PreToolUse", "Stop", "s-1", "x" * 128]),
                  hostile_text)
numbers = st.one_of(st.integers(-2**70, 2**70), st.sampled_from([0, -1, 2**53 - 1, 2**53,
                                                                 2**63, 2**64, 1e308]),
                    st.floats(allow_nan=True, allow_infinity=True))
scalars = st.one_of(st.none(), st.booleans(), numbers, hostile_text)
json_values = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                     st.dictionaries(hostile_text, inner, max_size=3)),
    max_leaves=8)
ISO_TIMES = {"2026-01-02T03:04:05.678Z": 1_767_323_045_678,
             "2026-01-02T03:04:05": 1_767_323_045_000,
             "2026-01-02T05:04:05+02:00": 1_767_323_045_000}
timestamps = st.one_of(st.none(), numbers, st.booleans(), st.sampled_from(
    [*ISO_TIMES, "yesterday", "1767323045", "0001-01-01", "", "²", "1e3"]))


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


payloads = st.one_of(st.dictionaries(hostile_text, json_values, max_size=4),
                     st.integers(55, 80).map(lambda d: {"deep": nested(d)}),
                     st.just({"big": "z" * 1_100_000}), json_values)


def dumps(value: Any) -> bytes:
    """What a sender puts on the wire: NaN as a literal, surrogates as \\ud800 escapes."""
    return json.dumps(value, allow_nan=True).encode()


@st.composite
def events_bodies(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key in ("source_app", "session_id", "hook_event_type"):
        if draw(st.integers(0, 9)):
            body[key] = draw(st.one_of(names, scalars))
    if draw(st.integers(0, 9)):
        body["payload"] = draw(payloads)
    for key, values in (("timestamp", timestamps), ("summary", hostile_text),
                        ("model_name", names), ("note", json_values)):
        if draw(st.booleans()):
            body[key] = draw(values)
    if draw(st.booleans()):
        body["event_uid"] = draw(st.one_of(st.just(uuid.uuid4().hex), hostile_text))
    return body


# -- the oracle for /events: which bodies the rules accept, and how they are normalised -------

REPLACEMENT = "\ufffd"


def repaired(value: Any) -> Any:
    """What the server stores: JSON joins surrogate pairs; a lone surrogate becomes U+FFFD."""
    if isinstance(value, str):
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    if isinstance(value, list):
        return [repaired(v) for v in value]
    if isinstance(value, dict):
        return {repaired(k): repaired(v) for k, v in value.items()}
    return value


def finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(finite(v) for v in value)
    if isinstance(value, dict):
        return all(finite(v) for v in value.values())
    return True


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


def ident_ok(value: Any, limit: int, required: bool) -> bool:
    if value is None or value == "":
        return not required
    return isinstance(value, str) and len(value) <= limit and "\x00" not in value


def expected_ms(value: Any) -> int | bool | None:
    """The stored timestamp, None for 'the time received', False when refused."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        if value.isascii() and value.isdigit():
            return expected_ms(int(value))
        return ISO_TIMES.get(value, False)
    if (isinstance(value, float) and not math.isfinite(value)) or value < 0:
        return False
    ms = value * 1000 if value < 1e11 else value
    return False if ms > MAX_SAFE else (int(ms) or None)


def oracle(body: dict[str, Any], limit: int) -> dict[str, Any] | None:
    """The stored event's normalised fields when the rules accept the body, else None."""
    if not finite(body) or depth(body) > 64:
        return None
    checks = [ident_ok(body.get("source_app"), 256, True),
              ident_ok(body.get("session_id"), 256, True),
              ident_ok(body.get("hook_event_type"), 128, True),
              ident_ok(body.get("model_name"), 256, False),
              ident_ok(body.get("event_uid"), 128, False),
              body.get("summary") is None or (isinstance(body["summary"], str)
                                              and len(body["summary"]) <= 65_536),
              "payload" not in body or isinstance(body["payload"], dict),
              expected_ms(body.get("timestamp")) is not False]
    if not all(checks):
        return None
    # Without `payload` (PAI's flat bodies) the body as sent is the payload.
    payload = repaired(body.get("payload", body))
    if len(json.dumps(payload, ensure_ascii=False, separators=(",", ":"))) > limit:
        return None
    out = {k: repaired(body[k]) for k in ("source_app", "session_id", "hook_event_type")}
    out["payload"] = payload
    out["timestamp"] = expected_ms(body.get("timestamp"))
    return out


# -- HTTP bodies -------------------------------------------------------------------------------

LIMIT = 32 * 1024 * 1024  # ROUTER_EXT_MAX_EVENT_BYTES: the /events body and payload


def post(http: httpx.Client, path: str, data: bytes) -> httpx.Response:
    SENT["http"] += 1
    r = http.post(path, content=data, headers={"content-type": "application/json"})
    check_answer(r, path)
    return r


def new_id(r: httpx.Response, before: int) -> int:
    """1 when a 2xx answer reports a row stored by it (an id past what existed), else 0."""
    if r.status_code >= 300:
        return 0
    answer = r.json()
    return int(isinstance(answer, dict) and int(answer.get("id") or 0) > before)


@examples(260)
@given(st.lists(events_bodies(), min_size=BATCH, max_size=BATCH))
def test_events_bodies(http: httpx.Client, bodies: list[dict[str, Any]]) -> None:
    before = last_id(http)
    accepted: list[tuple[int, dict[str, Any]]] = []
    added = 0
    for body in bodies:
        r = post(http, "/events", dumps(body))
        expected = oracle(body, LIMIT)
        if expected is not None and r.status_code != 200:
            raise AssertionError(f"a valid body was refused: {r.text[:300]} {body!r:.300}")
        if expected is None:
            assert r.status_code in (400, 413), (r.status_code, r.text[:300], body)
            continue
        added += new_id(r, before)
        if int(r.json()["id"]) > before:
            accepted.append((int(r.json()["id"]), expected))
    assert last_id(http) - before == added
    if accepted:
        rows = http.get("/events/recent", params={"after_id": before, "limit": 1000})
        stored = {row["id"]: row for row in json.loads(rows.text, parse_constant=_no_nan)}
        for event_id, expected in accepted:
            row = stored[event_id]
            got = {k: row[k] for k in ("source_app", "session_id", "hook_event_type",
                                       "payload")}
            want = {k: v for k, v in expected.items() if k != "timestamp"}
            assert got == want
            if expected["timestamp"] is not None:
                assert row["timestamp"] == expected["timestamp"]


def _no_nan(name: str) -> Any:
    raise AssertionError(f"{name} in a JSON answer")


def _hostile_object(keys: dict[str, Any]) -> Any:
    """An object with the given keys (each maybe left out or made hostile)."""
    return st.fixed_dictionaries({}, optional={k: st.one_of(v, scalars) for k, v in keys.items()})


pai_bodies = st.one_of(
    _hostile_object({"type": names, "session_id": names, "timestamp": timestamps,
                     "data": payloads, "source_app": names, "model": names,
                     "event_uid": hostile_text}),
    _hostile_object({"event": st.sampled_from(["claude_event", "hook_event"]),
                     "subtype": names, "type": names, "session_id": names,
                     "timestamp": timestamps, "data": payloads, "id": numbers}),
    _hostile_object({"namespace": names, "event": st.just("claude_event"),
                     "data": _hostile_object({"subtype": names, "session_id": names,
                                              "data": payloads})}),
    events_bodies())
hook_bodies = _hostile_object({
    "hook_event_name": st.one_of(names, st.sampled_from(["PostToolUse", "PermissionRequest",
                                                         "SessionStart", "Stop"])),
    "session_id": names, "tool_name": names, "agent_id": names, "tool_use_id": names,
    "tool_input": json_values, "tool_response": payloads, "cwd": hostile_text})
metric_bodies = _hostile_object({
    "source": names, "event": st.one_of(names, st.sampled_from(
        ["task_started", "task_completed", "job_completed", "session_started"])),
    "label": names, "task_id": names, "task_title": hostile_text, "session_id": names,
    "duration_ms": numbers, "exit_code": numbers, "num_turns": numbers, "cost_usd": numbers,
    "success": scalars, "tokens": _hostile_object({"input": numbers, "output": numbers}),
    "model_usage": json_values, "timestamp": timestamps, "event_uid": hostile_text,
    "error": hostile_text, "extra": payloads})


@examples(150)
@given(st.lists(pai_bodies, min_size=BATCH, max_size=BATCH))
def test_pai_and_mpm_bodies(http: httpx.Client, bodies: list[Any]) -> None:
    before = last_id(http)
    added = sum(new_id(post(http, "/api/events", dumps(b)), before) for b in bodies)
    assert last_id(http) - before == added


@examples(150)
@given(st.lists(hook_bodies, min_size=BATCH, max_size=BATCH), st.booleans())
def test_claude_code_http_hook_bodies(http: httpx.Client, bodies: list[Any],
                                      hold: bool) -> None:
    before = last_id(http)
    added = 0
    for body in bodies:
        r = post(http, "/hooks/claude-code" + ("" if hold else "?hold=0"), dumps(body))
        added += r.status_code == 200
        if r.status_code == 200 and not hold:
            assert r.json() == {}
    assert last_id(http) - before == added
    if added:
        rows = http.get("/events/recent", params={"after_id": before, "limit": 1000}).json()
        sent = [repaired(b) for b in bodies]
        assert all(row["payload"] in sent for row in rows)


@examples(150)
@given(st.lists(st.one_of(metric_bodies, st.lists(metric_bodies, max_size=3)),
                min_size=BATCH, max_size=BATCH))
def test_metric_bodies(http: httpx.Client, bodies: list[Any]) -> None:
    before = last_id(http)
    added = 0
    for body in bodies:
        r = post(http, "/metrics/harness", dumps(body))
        if r.status_code == 200:
            answer = r.json()
            results = answer.get("results", [answer])
            added += sum(1 for a in results if not a["duplicate"] and a["id"] > before)
    assert last_id(http) - before == added


respond_bodies = _hostile_object({"response": hostile_text, "permission": scalars,
                                  "choice": st.one_of(st.sampled_from(["a", "b"]), names),
                                  "respondedBy": hostile_text})


@examples(100)
@given(st.lists(st.tuples(st.integers(0, 4), st.one_of(respond_bodies, json_values)),
                min_size=BATCH, max_size=BATCH))
def test_respond_bodies(http: httpx.Client, pending_ids: list[int],
                        answers: list[tuple[int, Any]]) -> None:
    before = last_id(http)
    for index, body in answers:
        r = post(http, f"/events/{pending_ids[index]}/respond", dumps(body))
        assert r.status_code in (200, 400, 404, 409, 413), r.text
    assert last_id(http) == before  # an answer changes a row, it adds none


@examples(60)
@given(st.lists(st.tuples(names, st.one_of(_hostile_object(
    {"reason": hostile_text, "requested_by": hostile_text}), json_values)),
    min_size=BATCH, max_size=BATCH))
def test_ralph_stop_bodies(http: httpx.Client, stops: list[tuple[str, Any]]) -> None:
    before = last_id(http)
    added = 0
    for loop, body in stops:
        if not loop or "/" in loop or loop in (".", ".."):
            continue  # not one path segment: another route
        r = post(http, f"/api/ralph/{quote(loop, safe='', errors='surrogatepass')}/stop",
                 dumps(body))
        added += new_id(r, before)
    assert last_id(http) - before == added


JSON_ROUTES = ["/events", "/api/events", "/hooks/claude-code?hold=0", "/metrics/harness",
               "/events/1/respond", "/api/ralph/loop/stop"]


@st.composite
def raw_bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["bytes", "deep", "invalid_utf8", "truncated", "escape"]))
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    if kind == "deep":
        n = draw(st.sampled_from([65, 500, 5_000, 20_000]))
        return b'{"payload":' + b"[" * n + b"]" * n + b"}"
    text = dumps(draw(events_bodies()))
    if kind == "invalid_utf8":
        at = draw(st.integers(0, len(text)))
        return text[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"])) + text[at:]
    if kind == "truncated":
        return text[:draw(st.integers(0, len(text)))]
    return text.replace(b"app", b"\\ud800\\u0000")


@examples(100)
@given(st.lists(st.tuples(st.sampled_from(JSON_ROUTES), raw_bodies()),
                min_size=BATCH, max_size=BATCH))
def test_raw_bodies_on_every_json_route(http: httpx.Client,
                                        sends: list[tuple[str, bytes]]) -> None:
    before = last_id(http)
    added = 0
    for path, data in sends:
        r = post(http, path, data)
        added += new_id(r, before) if "respond" not in path else 0
        if r.status_code == 200 and path.startswith("/hooks"):
            added += 1
    assert last_id(http) - before == added


# -- query and path parameters on every GET route ----------------------------------------------

GET_ROUTES = {
    "/health": [], "/events/recent": ["limit", "offset", "before_id", "after_id", "source_app",
                                      "session_id", "hook_event_type"],
    "/events/filter-options": [], "/metrics/harness": ["limit", "since", "source", "event",
                                                       "label", "project"],
    "/metrics/harness/stats": ["since"], "/metrics": [], "/api/metrics": [],
    "/api/sessions": ["limit"], "/api/sessions/{id}": ["limit"],
    "/api/analytics/tools": ["hours"], "/api/analytics/agents": ["hours"],
    "/api/events/stream": ["after_id", "sessionId", "source_app"],
    "/api/ui/overview": ["days", "tz_offset_min"],
    "/api/ui/sessions": ["limit", "before", "q", "source", "project", "label", "status"],
    "/api/ui/session-facets": [], "/api/ui/sessions/{id}": [],
    "/api/ui/sessions/{id}/timeline": ["after_id", "limit"],
    "/api/ui/events": ["before_id", "limit", "q", "source_app", "session_id"],
    "/api/ui/cursor": ["source_app", "session_id", "hook_event_type"],
    "/api/ui/filter-options": [], "/api/ui/rate": ["minutes", "lanes", "source_app"],
    "/api/ui/approvals": ["state", "limit", "before_id"],
    "/api/ui/analytics": ["days", "tz_offset_min"], "/api/ui/ralph": ["limit"],
    "/api/ralph/{id}/control": [],
}
STREAMS = ("/api/events/stream",)
CLEAN_SPECIALS = [t for t in SPECIAL_TEXT if not any(0xD800 <= ord(c) <= 0xDFFF for c in t)]
clean_text = st.one_of(st.text(max_size=12), st.sampled_from(CLEAN_SPECIALS),
                       st.integers(100, 320).map(lambda n: "p" * n))
class Escaped(str):
    """A query value that is already percent-encoded (its bytes may not be UTF-8)."""


param_values = st.one_of(
    st.sampled_from(["0", "1", "5", "300", "-1", "-60", "99999999999999999999", "²",
                     "\uff11\uff12", "9007199254740991", "9007199254740992", "1e3", "0x10",
                     " 7", "1_0", "", "pending", "resolved", "12:s", "99999999999999999999:x",
                     "²:x", ":"]),
    st.integers(-2**70, 2**70).map(str),
    st.text(max_size=8),  # no surrogates: a URL cannot carry them
    st.binary(max_size=6).map(lambda b: Escaped(quote_from_bytes(b))),  # maybe not UTF-8
    st.integers(200, 400).map(lambda n: "q" * n))


def _query_part(name: str, value: str) -> str:
    if isinstance(value, Escaped):
        return f"{name}={value}"
    return f"{name}={quote(value, safe='')}"


@st.composite
def get_requests(draw: st.DrawFn) -> str:
    route = draw(st.sampled_from(sorted(GET_ROUTES)))
    path = route.replace("{id}", quote(draw(st.one_of(clean_text, param_values)), safe=""))
    params = draw(st.lists(st.sampled_from(GET_ROUTES[route]), max_size=3)) if GET_ROUTES[
        route] else []
    query = "&".join(_query_part(p, draw(param_values)) for p in params)
    return f"{path}?{query}" if query else path


@examples(250)
@given(st.lists(get_requests(), min_size=BATCH, max_size=BATCH))
def test_query_and_path_parameters_on_every_get_route(http: httpx.Client,
                                                      urls: list[str]) -> None:
    before = last_id(http)
    for url in urls:
        _get(http, url)
    assert last_id(http) == before


def _get(http: httpx.Client, url: str) -> None:
    SENT["http"] += 1
    if url.split("?")[0] in STREAMS:
        with http.stream("GET", url) as r:
            assert r.status_code < 500, (url, r.status_code)
        return
    r = http.get(url)
    check_answer(r, url)
    if r.status_code == 200 and r.headers["content-type"].startswith("application/json"):
        json.loads(r.text, parse_constant=_no_nan)


# -- WebSocket parameters ----------------------------------------------------------------------

WS_PARAMS = ["limit", "after_id", "source_app", "session_id", "hook_event_type"]


@examples(150)
@given(st.lists(st.tuples(st.sampled_from(WS_PARAMS), param_values), max_size=3))
def test_websocket_parameters(prop_server: ServerProcess,
                              params: list[tuple[str, str]]) -> None:
    SENT["ws"] += 1
    # A small initial page unless `limit` is drawn (a later value wins), to keep the run short.
    query = "&".join(["limit=5", *(_query_part(name, value) for name, value in params)])
    # No client-side frame cap: a clamped page of large events may exceed the 1 MiB default.
    with connect(f"{prop_server.ws_url}/stream?{query}", open_timeout=10, max_size=None) as ws:
        try:
            first = json.loads(ws.recv(timeout=10), parse_constant=_no_nan)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and 4400 <= closed.rcvd.code < 4500, closed
            assert closed.rcvd.reason
            return
        assert first["type"] == "initial"


# -- gRPC --------------------------------------------------------------------------------------

proto_text = clean_text
payload_texts = st.one_of(payloads.map(lambda v: json.dumps(v, allow_nan=True)),
                          st.sampled_from(['{"a":NaN}', '{"a":"\\ud800"}', "[1]", "{", "",
                                           '{"a":1e999}', "\n{}\n"]))
proto_events = st.builds(
    types_pb2.Event, source_app=proto_text, session_id=proto_text, hook_event_type=proto_text,
    payload_json=payload_texts, timestamp_ms=st.integers(-2**63, 2**63 - 1),
    event_uid=st.one_of(st.just(""), proto_text), summary=proto_text, chat_json=st.one_of(
        st.just(""), payload_texts), human_in_the_loop=st.one_of(st.none(), st.builds(
            types_pb2.HumanInTheLoop, question=proto_text,
            type=st.sampled_from(["", "question", "choice", "permission", "x"]),
            timeout_seconds=st.floats(allow_nan=True, allow_infinity=True))))
proto_metrics = st.builds(
    types_pb2.HarnessMetric, source=proto_text, event=proto_text, label=proto_text,
    duration_ms=st.integers(-2**63, 2**63 - 1), num_turns=st.integers(-2**31, 2**31 - 1),
    cost_usd=st.floats(allow_nan=True, allow_infinity=True), timestamp_ms=st.integers(
        -2**63, 2**63 - 1), extra_json=st.one_of(st.just(""), payload_texts))
int64 = st.integers(-2**63, 2**63 - 1)
filters = st.builds(types_pb2.EventFilter, source_apps=st.lists(proto_text, max_size=2),
                    session_ids=st.lists(proto_text, max_size=2))


def _ok_codes(exc: grpc.RpcError) -> None:
    assert exc.code() not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL), exc


def _call(fn: Callable[[], Any]) -> Any:
    SENT["grpc"] += 1
    try:
        return fn()
    except grpc.RpcError as exc:
        _ok_codes(exc)
        return None


GRPC_METHODS = ["Publish", "PublishBatch", "PublishMetric", "ListEvents", "ListSessions",
                "GetSession", "GetFilterOptions", "Subscribe", "raw"]


@st.composite
def grpc_calls(draw: st.DrawFn) -> tuple[str, Any]:
    method = draw(st.sampled_from(GRPC_METHODS))
    if method == "Publish":
        return method, ingest_pb2.PublishRequest(event=draw(proto_events))
    if method == "PublishBatch":
        return method, ingest_pb2.PublishBatchRequest(events=draw(st.lists(proto_events,
                                                                           max_size=3)))
    if method == "PublishMetric":
        return method, ingest_pb2.PublishMetricRequest(metric=draw(proto_metrics))
    if method == "ListEvents":
        return method, query_pb2.ListEventsRequest(
            filter=draw(filters), limit=draw(st.integers(-5, 2000)),
            before_id=draw(int64), after_id=draw(int64))
    if method == "ListSessions":
        return method, query_pb2.ListSessionsRequest(
            source=draw(proto_text), label=draw(proto_text), limit=draw(st.integers(-5, 2000)),
            started_before_ms=draw(int64))
    if method == "GetSession":
        return method, query_pb2.GetSessionRequest(id=draw(proto_text))
    if method == "GetFilterOptions":
        return method, query_pb2.GetFilterOptionsRequest()
    if method == "Subscribe":
        return method, stream_pb2.SubscribeRequest(filter=draw(filters),
                                                   after_id=draw(st.integers(-2, 2**63 - 1)))
    target = draw(st.sampled_from([
        "/router_ext.v1.IngestService/Publish", "/router_ext.v1.IngestService/PublishBatch",
        "/router_ext.v1.IngestService/PublishMetric", "/router_ext.v1.QueryService/ListEvents",
        "/router_ext.v1.QueryService/GetSession", "/router_ext.v1.QueryService/ListSessions"]))
    return target, draw(st.binary(max_size=40))


def _run_grpc(channel: grpc.Channel, method: str, request: Any) -> int:
    """Run one call; returns the number of rows it reports as newly stored."""
    ingest, stream, query = stubs(channel)
    if method.startswith("/"):
        _call(lambda: channel.unary_unary(method)(request, timeout=10))
        return -1  # raw bytes may decode as a valid publish: counted from /health instead
    if method == "Subscribe":
        SENT["grpc"] += 1
        call = stream.Subscribe(request, timeout=5)
        try:
            next(iter(call))
        except grpc.RpcError as exc:
            _ok_codes(exc)
        finally:
            call.cancel()
        return 0
    fn = {"Publish": ingest.Publish, "PublishBatch": ingest.PublishBatch,
          "PublishMetric": ingest.PublishMetric, "ListEvents": query.ListEvents,
          "ListSessions": query.ListSessions, "GetSession": query.GetSession,
          "GetFilterOptions": query.GetFilterOptions}[method]
    answer = _call(lambda: fn(request, timeout=10))
    if answer is None or not method.startswith("Publish"):
        return 0
    acks = list(answer.acks) if method == "PublishBatch" else [answer]
    return sum(1 for a in acks if not a.duplicate and not a.error and a.id)


@examples(200)
@given(st.lists(grpc_calls(), min_size=5, max_size=5))
def test_every_grpc_method(http: httpx.Client, channel: grpc.Channel,
                           calls: list[tuple[str, Any]]) -> None:
    before = last_id(http)
    added = [_run_grpc(channel, method, request) for method, request in calls]
    after = last_id(http)
    if -1 not in added:
        assert after - before == sum(added)


# -- after the run -----------------------------------------------------------------------------

def test_the_server_restarts_on_the_database_the_run_left(prop_server: ServerProcess,
                                                          http: httpx.Client) -> None:
    rows_before = last_id(http)
    assert prop_server.stop() == 0
    again = start_server(prop_server.database_url)
    try:
        with httpx.Client(base_url=again.url, timeout=30) as client:
            assert last_id(client) == rows_before
            for path in ("/events/recent?limit=1000", "/api/ui/events", "/api/ui/approvals",
                         "/api/sessions", "/api/ui/sessions", "/metrics/harness"):
                r = client.get(path)
                assert r.status_code == 200, (path, r.text[:300])
                json.loads(r.text, parse_constant=_no_nan)
    finally:
        assert again.stop() == 0


def test_the_run_sent_enough_inputs() -> None:
    total = sum(SENT.values())
    print(f"\nproperty inputs sent: {total} {dict(SENT)}")
    assert total >= MIN_INPUTS * SCALE, dict(SENT)

