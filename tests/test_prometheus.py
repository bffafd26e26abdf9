"""GET /metrics: the catalog, bounded labels, promtool, and a real Prometheus server scraping it."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import FIXTURES, ServerProcess, require, running_server

pytestmark = pytest.mark.prometheus
HOOKS = FIXTURES / "claude-code-2.1.328" / "hooks-session.jsonl"
CATALOG = (
    "harness_events_received_total", "harness_tool_calls_total", "harness_tool_duration_seconds",
    "harness_sessions_started_total", "harness_sessions_ended_total", "harness_sessions_active",
    "harness_session_duration_seconds", "harness_ralph_tasks_total",
    "harness_api_request_duration_seconds", "harness_tokens_total", "harness_cost_usd_total",
    "harness_hitl_requests_total", "harness_hitl_resolutions_total", "harness_hitl_pending",
    "harness_stream_subscribers", "harness_stream_messages_dropped_total", "harness_build_info",
    "harness_ralph_loops_active", "harness_db_size_bytes", "harness_write_batch_rows",
    "harness_write_duration_seconds",
)


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one series in an exposition, or None."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if line.startswith(name + "{") and any(found.get(k) != v for k, v in labels.items()):
            continue
        return float(line.rsplit(" ", 1)[1])
    return None


@pytest.fixture(scope="module")
def fed(server: ServerProcess) -> ServerProcess:
    """The module's server after a hook session, a Ralph task and an API request."""
    session = uuid.uuid4().hex
    with httpx.Client(base_url=server.url, timeout=10) as http:
        for line in HOOKS.read_text().splitlines()[:6]:
            payload = json.loads(line)
            payload["session_id"] = session
            if payload["hook_event_name"] == "Stop":
                payload["router_ext_usage"] = {"model": "claude-sonnet-4-5", "models": {
                    "claude-sonnet-4-5": {"input_tokens": 2000, "output_tokens": 100},
                    "totally-new-model": {"input_tokens": 5}}}
            r = http.post("/events", json={"source_app": "proj", "session_id": session,
                                           "hook_event_type": payload["hook_event_name"],
                                           "payload": payload})
            assert r.status_code == 200, r.text
        http.post("/events", json={"source_app": "proj", "session_id": session,
                                   "hook_event_type": "PostToolUse",
                                   "payload": {"tool_name": "mcp__github__create_issue",
                                               "duration_ms": 40}})
        http.post("/metrics/harness", json={"source": "ralph", "event": "task_completed",
                                             "label": "mercury", "task_id": "t1",
                                             "duration_ms": 5000, "success": True})
        http.post("/metrics/harness", json={"source": "api", "event": "request",
                                             "route": "/v1/jobs", "method": "POST",
                                             "status": 201, "duration_ms": 12})
    return server


def test_catalog_is_exposed_and_zero_initialized(fed: ServerProcess) -> None:
    text = httpx.get(f"{fed.url}/metrics").text
    for name in CATALOG:
        assert name in text, name
    assert sample(text, "harness_tool_calls_total", tool="Edit", outcome="failure") == 0
    assert sample(text, "harness_cost_usd_total", model="claude-opus-4-5") == 0
    assert sample(text, "harness_sessions_ended_total", source="api", outcome="abandoned") == 0


def test_counts_follow_what_was_committed(fed: ServerProcess) -> None:
    text = httpx.get(f"{fed.url}/metrics").text
    assert sample(text, "harness_tool_calls_total", tool="Bash", outcome="success") == 1
    assert sample(text, "harness_tool_calls_total", tool="mcp", outcome="success") == 1
    assert sample(text, "harness_tokens_total", model="claude-sonnet-4-5", type="input",
                  cache="none") == 2000
    assert sample(text, "harness_tokens_total", model="other", type="input", cache="none") == 5
    assert sample(text, "harness_cost_usd_total", model="claude-sonnet-4-5") == \
        pytest.approx((2000 * 3 + 100 * 15) / 1e6)
    assert sample(text, "harness_usage_unpriced_total") == 1
    assert sample(text, "harness_ralph_tasks_total", label="mercury", outcome="success") == 1
    assert sample(text, "harness_sessions_ended_total", source="interactive",
                  outcome="completed") == 1
    assert sample(text, "harness_api_request_duration_seconds_count", route="/v1/jobs",
                  method="POST", status="201") == 1
    assert sample(text, "harness_sessions_active", source="interactive") == 0


def test_writer_transactions_account_for_every_row(fed: ServerProcess) -> None:
    """Every row sent through the writer, a repeated one too, is in exactly one transaction."""
    before = httpx.get(f"{fed.url}/metrics").text
    uids = [uuid.uuid4().hex for _ in range(5)]
    with httpx.Client(base_url=fed.url, timeout=10) as http:
        for uid in [*uids, uids[0]]:
            r = http.post("/events", json={"source_app": "proj", "session_id": "writer-rows",
                                           "hook_event_type": "Notification", "event_uid": uid,
                                           "payload": {"message": "hello"}})
            assert r.status_code == 200, r.text
        after = http.get("/metrics").text
        r = http.post("/events", json={"source_app": "proj", "session_id": "writer-rows",
                                       "hook_event_type": "SessionEnd", "payload": {}})
        assert r.status_code == 200, r.text  # leaves no session running for the other tests

    def grew(name: str, **labels: str) -> float:
        return (sample(after, name, **labels) or 0.0) - (sample(before, name, **labels) or 0.0)

    # One request at a time, each answered after its commit: six one-row transactions.
    assert grew("harness_write_batch_rows_count") == 6
    assert grew("harness_write_batch_rows_sum") == 6
    assert grew("harness_write_batch_rows_bucket", le="1.0") == 6
    assert grew("harness_write_duration_seconds_count") == 6
    assert 0 < grew("harness_write_duration_seconds_sum") < 60


def test_labels_stay_bounded(fed: ServerProcess) -> None:
    text = httpx.get(f"{fed.url}/metrics").text
    labels = set(re.findall(r'\w+="([^"]*)"', text))
    assert not any(re.fullmatch(r"[0-9a-f]{32}", value) for value in labels)  # no session ids
    assert "totally-new-model" not in text and "mcp__github__create_issue" not in text
    assert not any(value.startswith("/home/") for value in labels)


def test_promtool_check_metrics_passes(fed: ServerProcess) -> None:
    promtool = shutil.which("promtool")
    require(promtool is not None, "promtool not installed (Debian package prometheus)")
    assert promtool is not None
    text = httpx.get(f"{fed.url}/metrics").text
    proc = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_metrics_behind_the_bearer_token(tmp_path: Path) -> None:
    with running_server(f"sqlite:///{tmp_path / 'db.sqlite'}",
                        env={"ROUTER_EXT_TOKEN": "s3cret"}) as server:
        assert httpx.get(f"{server.url}/metrics").status_code == 401
        ok = httpx.get(f"{server.url}/metrics", headers={"authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and "harness_build_info" in ok.text


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def prometheus(fed: ServerProcess, tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    require(Path(binary).exists(), "prometheus server not installed (Debian package prometheus)")
    port = _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: router-ext\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{fed.http_port}']}}]\n")
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_real_prometheus_scrapes_router_ext(prometheus: str) -> None:
    deadline = time.monotonic() + 25
    last: object = None
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"{prometheus}/api/v1/query", timeout=2,
                          params={"query": 'harness_tokens_total{model="claude-sonnet-4-5",'
                                           'type="input",cache="none"}'})
            last = r.json()
            result = last["data"]["result"] if r.status_code == 200 else []  # type: ignore[index]
            if result:
                assert float(result[0]["value"][1]) == 2000
                up = httpx.get(f"{prometheus}/api/v1/query", params={"query": "up"}).json()
                assert up["data"]["result"][0]["value"][1] == "1"
                return
        except (httpx.HTTPError, ValueError) as exc:  # ValueError: "Service Unavailable" text
            last = exc                                   # while Prometheus is still starting
        time.sleep(0.3)
    pytest.fail(f"Prometheus never scraped router-ext: {last}")
