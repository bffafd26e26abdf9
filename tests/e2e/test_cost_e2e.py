"""Real Claude Code runs: tokens and cost in harness_sessions and /metrics equal the CLI's own.

The CLI runs offline against the scripted stand-in with `--model claude-sonnet-4-5` (whose
list prices the CLI uses exactly), with the project's command hook reporting every event and
the usage it reads from the transcript on Stop and SessionEnd. A Ralph-style task report with
the `claude -p` result follows, linked by claude_session_id.
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from router_ext.sessions.pricing import PriceTable
from router_ext.sessions.usage import cost_of, price
from router_ext_client.usage import parse_result, read_transcript
from tests.e2e.claude import ClaudeResult, ClaudeRunner, runner
from tests.support import ROOT, ServerProcess

pytestmark = pytest.mark.e2e
MODEL = "claude-sonnet-4-5"
HOOK_EVENTS = ("SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse",
               "PostToolUseFailure", "Stop", "SubagentStop", "SessionEnd")
FIRST = {"input_tokens": 1200, "output_tokens": 42, "cache_creation_input_tokens": 300,
         "cache_read_input_tokens": 900}
SCENARIO = {"turns": [
    {"tool": "Bash", "input": {"command": "echo one", "description": "one"}, "usage": FIRST},
    {"tool": "Bash", "input": {"command": "echo two", "description": "two"},
     "usage": {**FIRST, "input_tokens": 1500, "output_tokens": 77}},
    {"text": "Both done.", "usage": {**FIRST, "cache_read_input_tokens": 2100}},
]}


def hook_settings(server: ServerProcess, spool: Path) -> dict[str, Any]:
    command = (f"{sys.executable} -S {ROOT / 'hooks' / 'router_ext_hook.py'} "
               f"--source-app cost-e2e --server {server.url} --spool-dir {spool}")
    entry = [{"matcher": "*", "hooks": [{"type": "command", "command": command, "timeout": 30}]}]
    return {"hooks": {name: entry for name in HOOK_EVENTS}}


def session_row(server: ServerProcess, session_id: str) -> dict[str, Any] | None:
    path = server.database_url.split(":///", 1)[1]
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM harness_sessions WHERE id = ?",
                           (session_id,)).fetchone()
    return dict(row) if row else None


def wait_for(server: ServerProcess, session_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        row = session_row(server, session_id)
        if row and row["status"] == status:
            return row
        assert time.monotonic() < deadline, f"session {session_id} never {status}: {row}"
        time.sleep(0.1)


def metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.fixture(scope="module")
def run(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory,
        claude_module: ClaudeRunner) -> tuple[ClaudeRunner, ClaudeResult]:
    claude_module.scenario("cost", SCENARIO)
    base = tmp_path_factory.mktemp("cost")
    project = claude_module.project(base / "shop", hook_settings(server, base / "spool"))
    result = claude_module.run("scenario:cost run the two commands", cwd=project,
                               args=["--model", MODEL, "--allowedTools", "Bash"],
                               env={"ROUTER_EXT_HOOK_DEADLINE": "5",
                                    "ROUTER_EXT_HOOK_ATTEMPT_TIMEOUT": "2"})
    assert result.returncode == 0, result.stderr[-2000:]
    return claude_module, result


@pytest.fixture(scope="module")
def claude_module(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The `claude` fixture, once for the module (one real run serves every check)."""
    yield from runner(tmp_path_factory.mktemp("claude"))


def test_transcript_cost_matches_the_cli_within_one_percent(run: Any) -> None:
    claude, result = run
    cli = parse_result(result.stdout)
    assert cli.model == MODEL and cli.total_cost_usd
    [transcript] = [p for p in claude.transcripts() if p.stem == cli.session_id]
    usage = read_transcript(transcript)
    price(usage.models, PriceTable.load())
    cost = cost_of(usage.models)
    assert cost == pytest.approx(cli.total_cost_usd, rel=0.01)
    assert usage.models[MODEL].output_tokens == cli.models[MODEL].output_tokens


def test_hook_session_tokens_and_cost_equal_the_cli(server: ServerProcess, run: Any) -> None:
    _claude, result = run
    cli = parse_result(result.stdout)
    row = wait_for(server, str(cli.session_id), "completed")
    total = cli.usage
    assert row["source"] == "interactive" and row["model"] == MODEL
    assert (row["input_tokens"], row["output_tokens"]) == (total.input_tokens,
                                                          total.output_tokens)
    assert row["cache_read_tokens"] == total.cache_read_input_tokens
    assert row["cache_creation_tokens"] == total.cache_creation_input_tokens
    assert row["cost_usd"] == pytest.approx(cli.total_cost_usd, rel=0.01)
    assert row["tool_calls_count"] == 2 and row["prompts_count"] == 1
    assert row["project"] == "shop"


def test_ralph_task_and_metrics_count_the_run_once(server: ServerProcess, run: Any) -> None:
    _claude, result = run
    cli = parse_result(result.stdout)
    wait_for(server, str(cli.session_id), "completed")
    raw = json.loads(result.stdout)
    r = httpx.post(f"{server.url}/metrics/harness", json={
        "source": "ralph", "event": "task_completed", "label": "e2e", "task_id": "cost-1",
        "duration_ms": cli.duration_ms, "success": not cli.is_error, "model": cli.model,
        "num_turns": cli.num_turns, "claude_session_id": cli.session_id,
        "model_usage": raw["modelUsage"], "cost_usd": cli.total_cost_usd})
    assert r.status_code == 200, r.text
    task = wait_for(server, "ralph:e2e:cost-1", "completed")
    assert task["cost_usd"] == pytest.approx(cli.total_cost_usd, rel=1e-9)
    assert task["input_tokens"] == cli.usage.input_tokens
    assert task["output_tokens"] == cli.usage.output_tokens
    assert task["tool_calls_count"] == 2 and task["num_turns"] == cli.num_turns
    text = httpx.get(f"{server.url}/metrics").text
    for field, kind, cache in (("input_tokens", "input", "none"),
                               ("output_tokens", "output", "none"),
                               ("cache_read_input_tokens", "input", "read"),
                               ("cache_creation_input_tokens", "input", "creation")):
        assert metric(text, "harness_tokens_total", model=MODEL, type=kind, cache=cache) == \
            getattr(cli.models[MODEL], field), field
    assert metric(text, "harness_cost_usd_total", model=MODEL) == \
        pytest.approx(cli.total_cost_usd, rel=0.01)
    assert re.search(r'harness_tool_calls_total\{outcome="success",tool="Bash"\} 2\.0', text)
