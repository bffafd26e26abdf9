"""POST/GET /metrics/harness, its stats, and the /api/metrics snapshot and SSE stream."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import FIXTURES, ServerProcess

RALPH = FIXTURES / "documented" / "ralph"


def body(name: str, **changes: Any) -> dict[str, Any]:
    """A documented Ralph body, stamped now (so it counts as today)."""
    data = json.loads((RALPH / f"harness-metric.{name}.json").read_text())
    data["timestamp"] = time.time()
    data.update(changes)
    return data


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def test_existing_ralph_bodies_are_accepted_and_listed(http: httpx.Client) -> None:
    label = f"loop-{uuid.uuid4().hex[:6]}"
    ids = []
    for name in ("session_started", "task_started", "task_completed", "task_failed"):
        r = http.post("/metrics/harness", json=body(name, label=label))
        assert r.status_code == 200, r.text
        assert r.json()["ok"] is True and r.json()["duplicate"] is False
        ids.append(r.json()["id"])
    listed = http.get("/metrics/harness", params={"label": label}).json()["metrics"]
    assert [m["id"] for m in listed] == sorted(ids, reverse=True)
    assert {m["event"] for m in listed} == {"session_started", "task_started",
                                           "task_completed", "task_failed"}
    failed = http.get("/metrics/harness", params={"label": label, "event": "task_failed"})
    assert [m["task_id"] for m in failed.json()["metrics"]] == ["home-server-m7q2"]
    assert failed.json()["metrics"][0]["error"] == "Claude execution failed"


def test_a_batch_is_accepted_and_retries_are_idempotent(http: httpx.Client) -> None:
    uid = uuid.uuid4().hex
    items = [body("task_started", label="batch", event_uid=uid), body("session_started")]
    first = http.post("/metrics/harness", json=items)
    again = http.post("/metrics/harness", json=items[0])
    assert first.status_code == 200 and len(first.json()["results"]) == 2
    assert again.json()["duplicate"] is True
    assert again.json()["id"] == first.json()["results"][0]["id"]


@pytest.mark.parametrize("bad,field", [
    ({"event": "task_started"}, "source"),
    ({"source": "ralph"}, "event"),
    ({"source": "ralph", "event": "task_completed", "duration_ms": "long"}, "duration_ms"),
    ({"source": "ralph", "event": "task_completed", "success": "yes"}, "success"),
    ({"source": "ralph", "event": "task_completed", "task_id": 12}, "task_id"),
    ({"source": "ralph", "event": "task_completed", "cost_usd": "free"}, "cost_usd"),
    ({"source": "ralph", "event": "task_completed", "tokens": [1]}, "tokens"),
    ({"source": "ralph", "event": "task_completed", "timestamp": "yesterday"}, "timestamp"),
])
def test_wrong_types_and_missing_fields_are_400_naming_the_field(
        http: httpx.Client, bad: dict[str, Any], field: str) -> None:
    r = http.post("/metrics/harness", json=bad)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field


def test_not_json_or_not_an_object_is_400(http: httpx.Client) -> None:
    assert http.post("/metrics/harness", content=b"{nope",
                     headers={"content-type": "application/json"}).status_code == 400
    assert http.post("/metrics/harness", json="task_started").status_code == 400
    r = http.post("/metrics/harness", json=[body("task_started"), {"source": "ralph"}])
    assert r.status_code == 400 and r.json()["field"] == "[1].event"


def test_unknown_event_is_stored_and_counted(http: httpx.Client) -> None:
    r = http.post("/metrics/harness", json={"source": "ralph", "event": "loop_paused",
                                             "label": "odd"})
    assert r.status_code == 200
    listed = http.get("/metrics/harness", params={"event": "loop_paused"}).json()["metrics"]
    assert listed and listed[0]["label"] == "odd"
    metrics = http.get("/metrics").text
    assert 'harness_events_received_total{event_type="other",source="ralph",transport="http"}' \
        in metrics


def test_stats_answer_the_operators_questions(http: httpx.Client) -> None:
    label = f"stats-{uuid.uuid4().hex[:6]}"
    before = http.get("/metrics/harness/stats").json()
    http.post("/metrics/harness", json=body("session_started", label=label))
    http.post("/metrics/harness", json=body("task_started", label=label, project="shop"))
    http.post("/metrics/harness", json=body(
        "task_completed", label=label, project="shop", model="claude-sonnet-4-5",
        input_tokens=1_000_000, output_tokens=100_000, cost_usd=4.5, num_turns=7))
    stats = http.get("/metrics/harness/stats").json()
    assert stats["tasks_today"]["completed"] == before["tasks_today"]["completed"] + 1
    assert stats["cost_today_usd"] == pytest.approx(before["cost_today_usd"] + 4.5)
    assert stats["active_ralph_loops"] >= 1
    assert label in {loop["loop"] for loop in stats["ralph_loops"]}
    by_label = {row["label"]: row for row in stats["by_label"]}
    assert by_label[label]["completed"] == 1 and by_label[label]["cost_usd"] == 4.5
    assert by_label[label]["success_rate"] == 1.0
    assert {row["project"] for row in stats["by_project"]} >= {"shop"}
    assert "ralph" in {row["source"] for row in stats["by_source"]}
    session = next(s for s in stats["recent_sessions"] if s["label"] == label)
    assert session["num_turns"] == 7 and session["model"] == "claude-sonnet-4-5"
    assert session["model_usage"]["claude-sonnet-4-5"]["cost_usd"] == 4.5
    http.post("/metrics/harness", json={"source": "ralph", "event": "session_completed",
                                         "label": label, "timestamp": time.time()})
    after = http.get("/metrics/harness/stats").json()
    assert label not in {loop["loop"] for loop in after["ralph_loops"]}


def test_snapshot_has_the_headline_numbers(http: httpx.Client) -> None:
    http.post("/metrics/harness", json=body("task_failed", label="snap",
                                            error="tests failed twice"))
    snap = http.get("/api/metrics").json()
    for key in ("active_tasks", "completed_24h", "failed_24h", "tool_usage_24h", "top_errors"):
        assert key in snap
    assert set(snap["cost_usd"]) == {"last_24h", "today", "month"}
    assert "tests failed twice" in {e["error"] for e in snap["top_errors"]}


def _read_sse(url: str, out: list[dict[str, Any]], stop: threading.Event) -> None:
    try:
        with httpx.Client(timeout=30) as client, client.stream("GET", url) as response:
            for line in response.iter_lines():
                if line.startswith("data: "):
                    out.append(json.loads(line[6:]))
                if stop.is_set():
                    return
    except httpx.HTTPError:  # the server stopped under the stream at the end of the module
        return


def test_snapshot_stream_sends_only_on_change(server: ServerProcess,
                                              http: httpx.Client) -> None:
    got: list[dict[str, Any]] = []
    stop = threading.Event()
    reader = threading.Thread(target=_read_sse, args=(f"{server.url}/api/metrics/stream", got,
                                                      stop), daemon=True)
    reader.start()
    deadline = time.monotonic() + 10
    while not got and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(got) == 1
    # Events that change nothing in the snapshot send nothing.
    http.post("/metrics/harness", json={"source": "api", "event": "request", "route": "/x",
                                         "method": "GET", "status": 200, "duration_ms": 3})
    time.sleep(2.5)
    assert len(got) == 1
    http.post("/metrics/harness", json=body("task_failed", label="stream", error="boom"))
    deadline = time.monotonic() + 10
    while len(got) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    assert len(got) == 2
    assert got[1]["failed_24h"] == got[0]["failed_24h"] + 1
