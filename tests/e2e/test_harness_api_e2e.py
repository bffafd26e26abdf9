"""The reference harness API with the real Claude Code CLI: jobs and completions are recorded."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from router_ext.v1 import query_pb2
from tests.e2e.claude import ClaudeRunner
from tests.grpc_helpers import stubs
from tests.support import ROOT, ServerProcess
from tests.test_client import stored

pytestmark = pytest.mark.e2e
MODEL = "claude-sonnet-4-5"


@pytest.fixture
def api(claude: ClaudeRunner, server: ServerProcess, tmp_path: Path) -> Iterator[str]:
    """`python -m harness.api` on a free port, running the real CLI, reporting to router-ext."""
    workdir = claude.project(tmp_path / "work")
    env = claude.env({
        "HARNESS_CLAUDE_BIN": claude.binary, "HARNESS_CLAUDE_ARGS": "--allowedTools Bash",
        "HARNESS_MODEL": MODEL, "HARNESS_WORKDIR": str(workdir),
        "ROUTER_EXT_URL": f"grpc://{server.grpc_target}",
        "ROUTER_EXT_SPOOL_DIR": str(tmp_path / "spool"), "PYTHONPATH": str(ROOT)})
    proc = subprocess.Popen([sys.executable, "-m", "harness.api", "--port", "0"], env=env,
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("http="), proc.stderr.read() if proc.stderr else line
    yield "http://" + line.strip().split("=", 1)[1]
    proc.terminate()
    proc.wait(20)


def api_sessions(server: ServerProcess) -> dict[str, Any]:
    with server.channel() as channel:
        _, _, query = stubs(channel)
        found = query.ListSessions(query_pb2.ListSessionsRequest(source="api", limit=100),
                                   timeout=10)
    return {s.task_id: s for s in found.sessions}


def wait_for(check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


def test_chat_completion_and_jobs_are_recorded(api: str, claude: ClaudeRunner,
                                               server: ServerProcess) -> None:
    claude.scenario("api_chat", {"turns": [{"text": "Hello from the harness."}],
                                 "usage": {"input_tokens": 800, "output_tokens": 30,
                                           "cache_read_input_tokens": 100}})
    claude.scenario("api_job", {"turns": [{"tool": "Bash", "input": {"command": "echo job"}},
                                          {"text": "job finished"}],
                                "usage": {"input_tokens": 1200, "output_tokens": 60}})
    headers = {"X-Project": "harness-e2e", "X-Session-ID": "api-e2e"}
    with httpx.Client(base_url=api, headers=headers, timeout=120) as http:
        chat = http.post("/v1/chat/completions", json={
            "model": MODEL, "messages": [{"role": "user", "content": "scenario:api_chat hi"}]})
        assert chat.status_code == 200, chat.text
        body = chat.json()
        assert body["object"] == "chat.completion"
        assert body["choices"][0]["message"]["content"] == "Hello from the harness."
        usage = body["usage"]
        assert usage["completion_tokens"] == body["claude"]["tokens"]["output"] > 0
        assert body["cost_usd"] > 0
        made = http.post("/v1/jobs", json={"prompt": "scenario:api_job run it"})
        assert made.status_code == 202
        job_id = made.json()["id"]
        job = wait_for(lambda: (j := http.get(f"/v1/jobs/{job_id}").json())["status"]
                       not in ("queued", "running") and j)
        assert job["status"] == "completed" and job["result"] == "job finished"
        assert [j["id"] for j in http.get("/v1/jobs").json()["data"]] == [job_id]
        assert http.get("/v1/jobs/nope").status_code == 404
        bad = http.post("/v1/chat/completions", json={"messages": []})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "messages"
    sessions = wait_for(lambda: (s := api_sessions(server)) and len(s) >= 2 and all(
        x.status == "completed" for x in s.values()) and s)
    chat_session = next(s for s in sessions.values() if s.task_id.startswith("chat_"))
    assert chat_session.tokens.output == body["claude"]["tokens"]["output"]
    assert chat_session.cost_usd == pytest.approx(body["cost_usd"])
    job_session = sessions[job_id]
    assert job_session.tokens.input == job["tokens"]["input"]
    assert job_session.cost_usd == pytest.approx(job["cost_usd"])
    assert job_session.project == "harness-e2e" and job_session.duration_ms > 0
    requests = wait_for(lambda: [r for r in stored(server, session="api-e2e")
                                 if r["hook_event_type"] == "request"] or None)
    routes = {(r["payload"]["method"], r["payload"]["route"], r["payload"]["status"])
              for r in requests}
    assert ("POST", "/v1/chat/completions", 200) in routes
    assert ("POST", "/v1/jobs", 202) in routes
    assert ("GET", "/v1/jobs/{job_id}", 200) in routes
    chat_request = next(r for r in requests if r["payload"]["route"] == "/v1/chat/completions"
                        and r["payload"]["status"] == 200)
    assert chat_request["payload"]["duration_ms"] > 0  # timed around the real CLI run


def test_delete_cancels_a_running_job(api: str, claude: ClaudeRunner) -> None:
    claude.scenario("api_slow", {"turns": [{"tool": "Bash", "input": {"command": "sleep 20"}},
                                           {"text": "never"}]})
    with httpx.Client(base_url=api, timeout=60) as http:
        job_id = http.post("/v1/jobs", json={"prompt": "scenario:api_slow wait"}).json()["id"]
        wait_for(lambda: http.get(f"/v1/jobs/{job_id}").json()["status"] == "running")
        started = time.monotonic()
        gone = http.delete(f"/v1/jobs/{job_id}")
        assert gone.status_code == 200 and gone.json()["status"] == "cancelled"
        assert time.monotonic() - started < 10
