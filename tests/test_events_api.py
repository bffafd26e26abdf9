"""Contract tests for POST /events, GET /events/recent and GET /events/filter-options."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from hooks.gate import _poll
from router_ext_client.client import Client
from router_ext_client.config import ClientConfig
from tests.support import FIXTURES, ServerProcess


def body(**fields: Any) -> dict[str, Any]:
    """A valid /events body with a unique session unless given."""
    out: dict[str, Any] = {"source_app": "api-test", "session_id": uuid.uuid4().hex,
                           "hook_event_type": "PreToolUse", "payload": {"tool_name": "Bash"}}
    out.update(fields)
    return out


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> httpx.Client:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client  # type: ignore[misc]


def test_post_returns_saved_event_with_id_and_keeps_extra_fields(http: httpx.Client) -> None:
    sent = body(timestamp=1_700_000_000_123, summary="ran ls", model_name="claude-sonnet-4-5",
                chat=[{"role": "user", "content": "hi"}], tool_use_id="toolu_1",
                agent_id="agent-7", custom_field={"nested": True})
    r = http.post("/events", json=sent)
    assert r.status_code == 200, r.text
    saved = r.json()
    assert isinstance(saved["id"], int) and saved["id"] > 0
    for key in ("source_app", "session_id", "hook_event_type", "payload", "timestamp", "summary",
                "model_name", "chat", "tool_use_id", "agent_id", "custom_field"):
        assert saved[key] == sent[key], key
    assert saved["tool_name"] == "Bash"  # derived from the payload


def test_timestamp_set_when_absent(http: httpx.Client) -> None:
    saved = http.post("/events", json=body()).json()
    assert saved["timestamp"] > 1_600_000_000_000


def test_event_uid_makes_retries_idempotent(http: httpx.Client) -> None:
    sent = body(event_uid=f"retry-{uuid.uuid4().hex}")
    first = http.post("/events", json=sent).json()
    again = http.post("/events", json=sent).json()
    assert again["id"] == first["id"]
    rows = http.get("/events/recent", params={"session_id": sent["session_id"]}).json()
    assert [r["id"] for r in rows] == [first["id"]]


@pytest.mark.parametrize(("payload", "field"), [
    ({"session_id": "s", "hook_event_type": "X", "payload": {}}, "source_app"),
    ({"source_app": "a", "hook_event_type": "X", "payload": {}}, "session_id"),
    ({"source_app": "a", "session_id": "s", "payload": {}}, "hook_event_type"),
    ({"source_app": "a", "session_id": "s", "hook_event_type": "X", "payload": None},
     "payload"),
    ({"source_app": "a", "session_id": "s", "hook_event_type": "X", "payload": "x"}, "payload"),
    ({"source_app": 5, "session_id": "s", "hook_event_type": "X", "payload": {}}, "source_app"),
    ({"source_app": "a", "session_id": "s", "hook_event_type": "X", "payload": {},
      "timestamp": "yesterday"}, "timestamp"),
    ({"source_app": "a", "session_id": "s", "hook_event_type": "X", "payload": {},
      "humanInTheLoop": {"question": "q", "type": "bogus"}}, "humanInTheLoop.type"),
])
def test_bad_bodies_are_400_naming_the_field(http: httpx.Client, payload: dict[str, Any],
                                             field: str) -> None:
    before = http.get("/health").json()["last_event_id"]
    r = http.post("/events", json=payload)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field
    assert http.get("/health").json()["last_event_id"] == before  # nothing written


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1,2]", b"null"])
def test_invalid_json_is_400(http: httpx.Client, raw: bytes) -> None:
    r = http.post("/events", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid"


def test_oversized_body_is_413_and_server_keeps_serving(http: httpx.Client) -> None:
    big = body(payload={"blob": "x" * (32 * 1024 * 1024 + 10)})  # ROUTER_EXT_MAX_EVENT_BYTES
    r = http.post("/events", json=big)
    assert r.status_code == 413
    assert r.json()["error"] == "too_large"
    assert http.post("/events", json=body()).status_code == 200


def test_a_chunked_body_is_read_whole_and_held_to_the_limit(http: httpx.Client) -> None:
    # No Content-Length: the body arrives in pieces and is counted as it comes.
    sent = body(payload={"text": "é" * 5000})
    text = json.dumps(sent).encode()

    def pieces(data: bytes, size: int) -> Any:
        for start in range(0, len(data), size):
            yield data[start:start + size]

    headers = {"content-type": "application/json"}
    r = http.post("/events", content=pieces(text, 997), headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["payload"] == sent["payload"] and "content-length" not in r.request.headers
    big = json.dumps(body(payload={"blob": "x" * (32 * 1024 * 1024 + 10)})).encode()
    r = http.post("/events", content=pieces(big, 1 << 20), headers=headers)
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    assert http.post("/events", json=body()).status_code == 200


def test_recent_is_newest_limit_oldest_first_ordered_by_id(http: httpx.Client) -> None:
    session = uuid.uuid4().hex
    # Client clocks disagree with arrival order: order must follow ids, not timestamps.
    ids = [http.post("/events", json=body(session_id=session, timestamp=ts)).json()["id"]
           for ts in (5_000, 1_000, 9_000, 3_000, 7_000)]
    rows = http.get("/events/recent", params={"session_id": session, "limit": 3}).json()
    assert [r["id"] for r in rows] == ids[-3:]
    page = http.get("/events/recent",
                    params={"session_id": session, "limit": 2, "offset": 1}).json()
    assert [r["id"] for r in page] == ids[2:4]
    before = http.get("/events/recent",
                      params={"session_id": session, "before_id": ids[2]}).json()
    assert [r["id"] for r in before] == ids[:2]
    after = http.get("/events/recent",
                     params={"session_id": session, "after_id": ids[1], "limit": 2}).json()
    assert [r["id"] for r in after] == ids[2:4]


def test_recent_filters(http: httpx.Client) -> None:
    app = f"app-{uuid.uuid4().hex[:8]}"
    http.post("/events", json=body(source_app=app, hook_event_type="Stop"))
    http.post("/events", json=body(source_app=app, hook_event_type="PreToolUse"))
    rows = http.get("/events/recent",
                    params={"source_app": app, "hook_event_type": "Stop"}).json()
    assert [(r["source_app"], r["hook_event_type"]) for r in rows] == [(app, "Stop")]


@pytest.mark.parametrize("params", [{"limit": "abc"}, {"limit": "0"}, {"limit": "-5"},
                                    {"limit": "1e3"}, {"offset": "-1"},
                                    {"before_id": "x"}, {"after_id": "1.5"}])
def test_recent_bad_params_are_400(http: httpx.Client, params: dict[str, str]) -> None:
    r = http.get("/events/recent", params=params)
    assert r.status_code == 400
    assert r.json()["field"] == next(iter(params))


def test_filter_options(http: httpx.Client) -> None:
    sent = body(source_app="filter-app", hook_event_type="SubagentStop")
    http.post("/events", json=sent)
    options = http.get("/events/filter-options").json()
    assert set(options) == {"source_apps", "session_ids", "hook_event_types"}
    assert "filter-app" in options["source_apps"]
    assert "SubagentStop" in options["hook_event_types"]
    assert sent["session_id"] in options["session_ids"]


def test_documented_hook_fixtures_post_as_events(http: httpx.Client) -> None:
    session = uuid.uuid4().hex
    names = []
    for path in sorted((FIXTURES / "documented" / "hooks").glob("*.json")):
        hook = json.loads(path.read_text())
        r = http.post("/events", json={"source_app": "fixtures", "session_id": session,
                                       "hook_event_type": hook["hook_event_name"],
                                       "payload": hook})
        assert r.status_code == 200, (path.name, r.text)
        names.append(hook["hook_event_name"])
    rows = http.get("/events/recent", params={"session_id": session}).json()
    assert [r["hook_event_type"] for r in rows] == names


def test_one_event_by_id_and_its_hitl_status_for_the_gates_poll(server: ServerProcess,
                                                                http: httpx.Client) -> None:
    asked = http.post("/events", json=body(humanInTheLoop={
        "question": "rm?", "type": "permission", "timeout": 60})).json()
    got = http.get(f"/events/{asked['id']}")
    assert got.status_code == 200 and got.json()["id"] == asked["id"]
    client = Client(ClientConfig(url=server.url))
    assert _poll(client, asked["id"]) == (False, None)  # still pending
    answered = http.post(f"/events/{asked['id']}/respond", json={"permission": True})
    assert answered.status_code == 200, answered.text
    assert _poll(client, asked["id"]) == (True, {"permission": True})
    assert http.get("/events/999999999").status_code == 404
    for bad in ("²", "12a", "9" * 20):
        r = http.get(f"/events/{bad}")
        assert r.status_code in (400, 413) and r.json()["field"] == "event_id", bad
