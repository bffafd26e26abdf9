"""The Ralph loop with the real Claude Code CLI: sessions match the CLI's own tokens and cost."""

from __future__ import annotations

import json
import os
import subprocess
import time
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
SCRIPT = ROOT / "scripts" / "ralph-wiggum.sh"
MODEL = "claude-sonnet-4-5"


def sessions(server: ServerProcess, label: str) -> dict[str, Any]:
    with server.channel() as channel:
        _, _, query = stubs(channel)
        found = query.ListSessions(query_pb2.ListSessionsRequest(source="ralph", label=label,
                                                                 limit=100), timeout=10)
    return {s.task_id: s for s in found.sessions}


def run_ralph(claude: ClaudeRunner, server: ServerProcess, tmp_path: Path, loop: str,
              tasks: list[str], *, wait: bool = True) -> Any:
    project = claude.project(tmp_path / loop)
    (project / "tasks.txt").write_text("".join(f"{loop}-T{n}\t{t}\n"
                                               for n, t in enumerate(tasks, 1)))
    env = claude.env({"ROUTER_EXT_SPOOL_DIR": str(tmp_path / "spool"),
                      "CLAUDE_BIN": claude.binary})
    env["PATH"] = os.environ.get("PATH", "")
    cmd = ["bash", str(SCRIPT), "--tasks-file", "tasks.txt", "--loop-id", loop,
           "--label", loop, "--server", server.url, "--model", MODEL,
           "--output-dir", str(tmp_path / "out"),
           "--", "--allowedTools", "Bash"]
    if not wait:
        return subprocess.Popen(cmd, cwd=project, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True,
                          timeout=240, check=False)


def test_three_tasks_make_three_sessions_matching_the_cli(
        claude: ClaudeRunner, server: ServerProcess, tmp_path: Path) -> None:
    claude.scenario("ralph_a", {"turns": [{"text": "done a"}],
                                "usage": {"input_tokens": 900, "output_tokens": 40}})
    claude.scenario("ralph_b", {"turns": [{"tool": "Bash", "input": {"command": "echo b"}},
                                          {"text": "done b"}],
                                "usage": {"input_tokens": 1500, "output_tokens": 70,
                                          "cache_read_input_tokens": 400}})
    claude.scenario("ralph_c", {"turns": [{"text": "done c"}],
                                "usage": {"input_tokens": 300, "output_tokens": 10,
                                          "cache_creation_input_tokens": 1000}})
    done = run_ralph(claude, server, tmp_path, "e2e-loop",
                     ["scenario:ralph_a go", "scenario:ralph_b go", "scenario:ralph_c go"])
    assert done.returncode == 0, done.stderr
    found = sessions(server, "e2e-loop")
    assert len(found) == 3, found.keys()
    for task_id, session in found.items():
        cli = json.loads((tmp_path / "out" / f"{task_id}.json").read_text())
        assert session.status == "completed" and session.success
        assert session.claude_session_id == cli["session_id"]
        assert session.num_turns == cli["num_turns"]
        assert session.tokens.input == cli["usage"]["input_tokens"]
        assert session.tokens.output == cli["usage"]["output_tokens"]
        assert session.tokens.cache_read == cli["usage"]["cache_read_input_tokens"]
        assert session.tokens.cache_creation == cli["usage"]["cache_creation_input_tokens"]
        assert session.cost_usd == pytest.approx(cli["total_cost_usd"], abs=1e-9)
        assert session.duration_ms > 0


def test_a_stop_request_ends_a_running_loop_after_its_task(
        claude: ClaudeRunner, server: ServerProcess, tmp_path: Path) -> None:
    claude.scenario("ralph_stop", {"turns": [
        {"tool": "Bash", "input": {"command": "sleep 2", "description": "work"}},
        {"text": "done"}]})
    proc = run_ralph(claude, server, tmp_path, "stop-loop",
                     ["scenario:ralph_stop one", "scenario:ralph_stop two",
                      "scenario:ralph_stop three"], wait=False)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
                r["hook_event_type"] == "task_started" for r in stored(server,
                                                                        session="stop-loop")):
            time.sleep(0.1)
        made = httpx.post(f"{server.url}/api/ralph/stop-loop/stop", timeout=5)
        assert made.status_code == 201
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    names = [r["hook_event_type"] for r in stored(server, session="stop-loop")]
    assert names.count("task_started") == 1 and names.count("task_completed") == 1
    assert stored(server, session="stop-loop")[-1]["payload"]["stop_reason"] == "stop_requested"
