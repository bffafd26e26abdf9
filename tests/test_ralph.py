"""The Ralph loop script and the stop-request routes, with a stand-in `claude` executable.

The stand-in prints a `claude -p --output-format json` result shaped like the real CLI's; the
end-to-end tests (tests/e2e/test_ralph_e2e.py) run the real CLI.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import ROOT, ServerProcess
from tests.test_client import closed_port, stored

SCRIPT = ROOT / "scripts" / "ralph-wiggum.sh"
FAKE_CLAUDE = '''#!PYTHON
import json, sys, time
args = sys.argv[1:]
prompt = args[args.index("-p") + 1]
session = args[args.index("--session-id") + 1]
if "slow" in prompt:
    time.sleep(1.0)
failed = "fail" in prompt
text = "<promise>DONE</promise>" if "promise" in prompt else "done: " + prompt
print(json.dumps({"type": "result", "subtype": "error_during_execution" if failed else "success",
    "is_error": failed, "duration_ms": 40, "num_turns": 3, "result": text,
    "session_id": session, "total_cost_usd": 0.0123,
    "usage": {"input_tokens": 100, "output_tokens": 20, "cache_read_input_tokens": 300,
              "cache_creation_input_tokens": 50},
    "modelUsage": {"claude-sonnet-4-5": {"inputTokens": 100, "outputTokens": 20,
        "cacheReadInputTokens": 300, "cacheCreationInputTokens": 50, "costUSD": 0.0123}}}))
sys.exit(1 if failed else 0)
'''


@pytest.fixture
def fake_claude(tmp_path: Path) -> Path:
    path = tmp_path / "claude"
    path.write_text(FAKE_CLAUDE.replace("PYTHON", sys.executable))
    path.chmod(0o755)
    return path


def ralph(tmp_path: Path, server: str, control: str, *args: str,
          claude: Path | None = None, wait: bool = True) -> Any:
    cmd = ["bash", str(SCRIPT), "--server", server, "--control-url", control,
           "--label", "mercury", *(["--claude", str(claude)] if claude else []), *args]
    env = {**os.environ, "ROUTER_EXT_SPOOL_DIR": str(tmp_path / "spool")}
    if not wait:
        return subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def tasks(tmp_path: Path, *prompts: str) -> str:
    path = tmp_path / "tasks.txt"
    path.write_text("".join(f"T{n}\t{p}\n" for n, p in enumerate(prompts, 1)))
    return str(path)


def events(server: ServerProcess, loop: str) -> list[dict[str, Any]]:
    return stored(server, session=loop)


def test_stop_routes(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert http.get("/api/ralph/loop-a/control").json()["stop"] is False
        made = http.post("/api/ralph/loop-a/stop", json={"reason": "enough",
                                                         "requested_by": "ops"})
        assert made.status_code == 201 and made.json()["stop"] is True
        control = http.get("/api/ralph/loop-a/control").json()
        assert (control["stop"], control["reason"], control["requested_by"]) == (
            True, "enough", "ops")
        assert http.post("/api/ralph/loop-a/stop").status_code == 201  # no body is fine
        assert http.get("/api/ralph/loop-b/control").json()["stop"] is False
        bad = http.post("/api/ralph/loop-a/stop", content=b"{nope",
                        headers={"content-type": "application/json"})
        assert bad.status_code == 400 and "JSON" in bad.json()["detail"]
        untyped = http.post("/api/ralph/loop-a/stop", content=b"{}")  # a body must say JSON
        assert untyped.status_code == 415 and untyped.json()["field"] == "content-type"
        wrong = http.post("/api/ralph/loop-a/stop", json={"reason": 5})
        assert wrong.status_code == 400 and wrong.json()["field"] == "reason"
    (row, _) = [r for r in events(server, "loop-a")]
    assert (row["source_app"], row["hook_event_type"]) == ("ralph", "stop_requested")


def test_help_and_dry_run(tmp_path: Path, server: ServerProcess) -> None:
    shown = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True,
                           timeout=10, check=False)
    assert shown.returncode == 0 and "--max-iterations" in shown.stdout
    dry = ralph(tmp_path, server.url, server.url, "--dry-run", "--loop-id", "dry-1",
                "--tasks-file", tasks(tmp_path, "one", "two"))
    assert dry.returncode == 0 and dry.stdout.count("would run task") == 2
    assert events(server, "dry-1") == []
    bad = ralph(tmp_path, server.url, server.url, "--max-iterations", "lots")
    assert bad.returncode == 2


def test_tasks_are_reported_with_usage_and_outcome(tmp_path: Path, server: ServerProcess,
                                                   fake_claude: Path) -> None:
    done = ralph(tmp_path, server.url, server.url, "--loop-id", "loop-1",
                 "--tasks-file", tasks(tmp_path, "first", "this will fail", "third"),
                 claude=fake_claude)
    assert done.returncode == 1, done.stderr  # one task failed
    rows = events(server, "loop-1")
    assert [r["hook_event_type"] for r in rows] == [
        "session_started", "task_started", "task_completed", "task_started", "task_failed",
        "task_started", "task_completed", "session_completed"]
    finished = [r["payload"] for r in rows if r["hook_event_type"] in ("task_completed",
                                                                       "task_failed")]
    for body in finished:
        assert body["tokens"] == {"input": 100, "output": 20, "cache_read": 300,
                                  "cache_creation": 50}
        assert body["cost_usd"] == 0.0123 and body["num_turns"] == 3
        assert body["claude_session_id"] and body["duration_ms"] >= 0
        assert body["source"] == "ralph" and body["label"] == "mercury"
    assert [b["success"] for b in finished] == [True, False, True]
    assert [b["exit_code"] for b in finished] == [0, 1, 0]
    last = rows[-1]["payload"]
    assert (last["completed_tasks"], last["failed_tasks"], last["stop_reason"]) == (
        2, 1, "no_more_tasks")


def test_completion_promise_and_max_iterations(tmp_path: Path, server: ServerProcess,
                                               fake_claude: Path) -> None:
    url = f"grpc://{server.grpc_target}"
    promised = ralph(tmp_path, url, server.url, "--loop-id", "loop-2", "--tasks-file",
                     tasks(tmp_path, "a", "say the promise", "never run"),
                     "--completion-promise", "DONE", claude=fake_claude)
    assert promised.returncode == 0, promised.stderr
    assert events(server, "loop-2")[-1]["payload"]["stop_reason"] == "completion_promise"
    (tmp_path / "PROMPT.md").write_text("keep going")
    capped = ralph(tmp_path, url, server.url, "--loop-id", "loop-3", "--prompt-file",
                   "PROMPT.md", "--max-iterations", "2", claude=fake_claude)
    assert capped.returncode == 0
    rows = events(server, "loop-3")
    assert sum(r["hook_event_type"] == "task_completed" for r in rows) == 2
    assert rows[-1]["payload"]["stop_reason"] == "max_iterations"


def test_reporting_failure_never_fails_the_loop(tmp_path: Path, server: ServerProcess,
                                                fake_claude: Path) -> None:
    down = f"http://127.0.0.1:{closed_port()}"
    done = ralph(tmp_path, down, down, "--loop-id", "loop-4",
                 "--tasks-file", tasks(tmp_path, "one", "two"), claude=fake_claude)
    assert done.returncode == 0, done.stderr
    flush = subprocess.run([sys.executable, "-m", "router_ext.cli", "spool", "flush",
                            "--server", f"grpc://{server.grpc_target}",
                            "--spool-dir", str(tmp_path / "spool")],
                           capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
    assert flush.returncode == 0, flush.stdout + flush.stderr
    assert len(events(server, "loop-4")) == 6  # nothing was lost


def test_stop_request_ends_the_loop_after_the_current_task(
        tmp_path: Path, server: ServerProcess, fake_claude: Path) -> None:
    proc = ralph(tmp_path, f"grpc://{server.grpc_target}", server.url, "--loop-id", "loop-5",
                 "--tasks-file", tasks(tmp_path, "slow 1", "slow 2", "slow 3", "slow 4"),
                 claude=fake_claude, wait=False)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(
                r["hook_event_type"] == "task_started" for r in events(server, "loop-5")):
            time.sleep(0.05)
        httpx.post(f"{server.url}/api/ralph/loop-5/stop", json={"reason": "test"}, timeout=5)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    rows = [r for r in events(server, "loop-5") if r["source_app"] == "ralph"]
    names = [r["hook_event_type"] for r in rows]
    assert names.count("task_completed") == 1  # the running task finished, no other began
    assert rows[-1]["payload"]["stop_reason"] == "stop_requested"
