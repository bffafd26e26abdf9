"""The real Claude Code CLI exporting its own telemetry to router-ext, set up by
`router-ext hooks install --otel`: over gRPC alone, and over http/protobuf with router-ext's
command hooks installed as well. The session's tokens and cost equal the CLI's own result,
and nothing is counted twice when hooks, transcript usage and OTLP all report the run.
(http/json runs in tests/browser/test_dashboard_otlp.py, which also shows it in the page.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.claude import ClaudeRunner, runner
from tests.otlp_helpers import metric, wait_session
from tests.support import ROOT, ServerProcess
from tests.test_client import stored

pytestmark = pytest.mark.e2e
MODEL = "claude-sonnet-4-5"
SCENARIO = {"turns": [
    {"tool": "Bash", "input": {"command": "echo exported", "description": "one"}},
    {"tool": "Bash", "input": {"command": "ls /definitely-missing-dir", "description": "fails"}},
    {"text": "Done."}],
    "usage": {"input_tokens": 1200, "output_tokens": 42, "cache_creation_input_tokens": 300,
              "cache_read_input_tokens": 900}}
# Short export intervals so a test does not wait a minute for the first metrics.
EXPORT_ENV = {"OTEL_METRIC_EXPORT_INTERVAL": "1000", "OTEL_LOGS_EXPORT_INTERVAL": "500",
              "ROUTER_EXT_HOOK_DEADLINE": "5", "ROUTER_EXT_HOOK_ATTEMPT_TIMEOUT": "2"}
USAGE_COLUMNS = {"input_tokens": "inputTokens", "output_tokens": "outputTokens",
                 "cache_read_input_tokens": "cacheReadInputTokens",
                 "cache_creation_input_tokens": "cacheCreationInputTokens"}


def install(claude: ClaudeRunner, project: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "router_ext.cli", "hooks", "install",
                           "--project", str(project), "--otel", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
                          env={**os.environ, "HOME": str(claude.home)})
    assert done.returncode == 0, done.stderr


def run(claude: ClaudeRunner, project: Path) -> dict[str, Any]:
    result = claude.run("scenario:otlp run both commands", cwd=project, env=EXPORT_ENV,
                        args=["--model", MODEL, "--allowedTools", "Bash"])
    assert result.returncode == 0, result.stderr[-2000:]
    return result.json


def matches_cli(cli: dict[str, Any]) -> Any:
    """True once the session's cost reached the CLI's (the last export has arrived)."""
    return lambda row: row["cost_usd"] >= cli["total_cost_usd"] * 0.99


def assert_usage_equals_the_cli(row: dict[str, Any], cli: dict[str, Any]) -> None:
    assert row["cost_usd"] == pytest.approx(cli["total_cost_usd"], rel=0.01)
    assert set(row["model_usage"]) == set(cli["modelUsage"])
    for model, theirs in cli["modelUsage"].items():
        ours = row["model_usage"][model]
        for field, key in USAGE_COLUMNS.items():
            assert ours[field] == pytest.approx(theirs[key], rel=0.01), (model, field)
        assert ours["cost_usd"] == pytest.approx(theirs["costUSD"], rel=0.01)
    assert (row["tool_calls_count"], row["tool_failures_count"], row["prompts_count"]) == (2, 1, 1)


@pytest.fixture(scope="module")
def claude_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClaudeRunner]:
    """One stand-in API and HOME for the module's runs."""
    yield from runner(tmp_path_factory.mktemp("claude-otlp"))


@pytest.fixture(scope="module")
def grpc_run(server: ServerProcess, claude_module: ClaudeRunner) -> dict[str, Any]:
    claude_module.scenario("otlp", SCENARIO)
    project = claude_module.project(claude_module.home.parent / "otlp-grpc")
    install(claude_module, project, "--no-hooks", "--server", server.url,
            "--otel-endpoint", f"http://{server.grpc_target}")
    return run(claude_module, project)


@pytest.fixture(scope="module")
def hooked_run(server: ServerProcess, claude_module: ClaudeRunner,
               grpc_run: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
    """http/protobuf plus router-ext's command hooks; Prometheus text before and after."""
    claude_module.scenario("otlp", SCENARIO)
    project = claude_module.project(claude_module.home.parent / "otlp-hooked")
    install(claude_module, project, "--otel-protocol", "http/protobuf", "--server", server.url,
            "--source-app", "otlp-hooked")
    before = httpx.get(f"{server.url}/metrics", timeout=5).text
    cli = run(claude_module, project)
    wait_session(server, cli["session_id"], lambda row: matches_cli(cli)(row) and
                 row["status"] == "completed" and
                 "hooks" in json.loads(row["source_totals"])["usage"])
    return cli, before, httpx.get(f"{server.url}/metrics", timeout=5).text


def test_grpc_export_alone_equals_the_clis_own_totals(server: ServerProcess,
                                                       grpc_run: dict[str, Any]) -> None:
    cli = grpc_run
    row = wait_session(server, cli["session_id"], matches_cli(cli))
    assert_usage_equals_the_cli(row, cli)
    assert row["source_app"] == "claude-code" and row["project"] == "otlp-grpc"
    assert row["api_requests_count"] >= 3 and row["active_seconds"] > 0
    kinds = [e["hook_event_type"] for e in stored(server, session=cli["session_id"])]
    assert kinds.count("claude_code.tool_result") == 2
    assert kinds.count("claude_code.api_request") == row["api_requests_count"]
    assert "claude_code.user_prompt" in kinds and "claude_code.metrics" in kinds
    assert not {"PostToolUse", "Stop"} & set(kinds)  # nothing but Claude Code's own export


def test_hooks_and_otlp_together_count_nothing_twice(server: ServerProcess,
                                                     hooked_run: tuple[dict[str, Any], str, str]
                                                     ) -> None:
    cli, before, after = hooked_run
    row = wait_session(server, cli["session_id"], matches_cli(cli))
    assert_usage_equals_the_cli(row, cli)
    sources = json.loads(row["source_totals"])
    assert set(sources["usage"]) == {"hooks", "otlp_events", "otlp_metrics"}
    for usage in sources["usage"].values():  # every source saw the whole run on its own
        assert usage[MODEL]["output_tokens"] == cli["modelUsage"][MODEL]["outputTokens"]
    events = stored(server, session=cli["session_id"])
    kinds = [e["hook_event_type"] for e in events]
    assert kinds.count("PostToolUse") + kinds.count("PostToolUseFailure") == 2
    assert kinds.count("claude_code.tool_result") == 2
    assert {e["source_app"] for e in events} == {"otlp-hooked", "claude-code"}

    def grew(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert grew("harness_tool_calls_total", tool="Bash", outcome="success") == 1
    assert grew("harness_tool_calls_total", tool="Bash", outcome="failure") == 1
    assert grew("harness_tokens_total", model=MODEL, type="input", cache="none") == \
        cli["modelUsage"][MODEL]["inputTokens"]
    assert grew("harness_cost_usd_total", model=MODEL) == pytest.approx(
        cli["total_cost_usd"], rel=0.01)
    assert grew("harness_sessions_started_total", source="interactive") == 1
