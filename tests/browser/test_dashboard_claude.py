"""The dashboard with data from the real Claude Code CLI: the sessions view shows the run's
tokens and cost, the session detail shows its timeline, and approving a held permission request
in the page lets the waiting Claude Code tool run."""

from __future__ import annotations

import shlex
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import assert_session_row, cli_tokens, open_detail, shot
from tests.e2e.claude import ClaudeResult, ClaudeRunner
from tests.support import ROOT, ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
MODEL = "claude-sonnet-4-5"
HOOK = ROOT / "hooks" / "router_ext_hook.py"
# Generous hook budget: on a busy test machine a 100 ms deadline would spool the last event.
HOOK_ENV = {"ROUTER_EXT_HOOK_DEADLINE": "5", "ROUTER_EXT_HOOK_ATTEMPT_TIMEOUT": "2"}


def command_hooks(server: ServerProcess, source_app: str, events: list[str]) -> dict[str, Any]:
    command = shlex.join([sys.executable, "-S", str(HOOK), "--source-app", source_app,
                          "--server", server.url])
    entry = {"type": "command", "command": command, "timeout": 30}
    return {name: [{"matcher": "*", "hooks": [entry]}] for name in events}


def http_hooks(server: ServerProcess, source_app: str, events: list[str]) -> dict[str, Any]:
    entry = {"type": "http", "url": f"{server.url}/hooks/claude-code?source_app={source_app}",
             "timeout": 60}
    return {name: [{"matcher": "*", "hooks": [entry]}] for name in events}


def test_sessions_view_shows_the_runs_tokens_and_cost(page: Any, server: ServerProcess,
                                                      claude: ClaudeRunner,
                                                      tmp_path: Path) -> None:
    claude.scenario("dash_two_tools", {
        "turns": [{"tool": "Bash",
                   "input": {"command": "echo dashboard-one", "description": "one"}},
                  {"tool": "Bash", "input": {"command": "ls /definitely-missing-dir",
                                             "description": "fails"}},
                  {"text": "Done."}],
        "usage": {"input_tokens": 1500, "output_tokens": 120, "cache_creation_input_tokens": 400,
                  "cache_read_input_tokens": 2000}})
    hooks = command_hooks(server, "dash-cc", ["SessionStart", "UserPromptSubmit", "PreToolUse",
                                              "PostToolUse", "PostToolUseFailure", "Stop",
                                              "SessionEnd"])
    project = claude.project(tmp_path / "proj", {"hooks": hooks})
    result = claude.run("scenario:dash_two_tools please", cwd=project, env=HOOK_ENV,
                        args=["--model", MODEL, "--allowedTools", "Bash"])
    assert result.returncode == 0, result.stderr
    out = result.json
    sid = out["session_id"]
    tokens = cli_tokens(out)

    api = httpx.get(f"{server.url}/api/ui/sessions/{sid}", timeout=5).json()["session"]
    assert abs(api["cost_usd"] - out["total_cost_usd"]) < 1e-6
    assert api["input_tokens"] + api["output_tokens"] + api["cache_read_tokens"] + \
        api["cache_creation_tokens"] == tokens

    page.goto(f"{server.url}/dashboard/#/sessions")
    row, cost = assert_session_row(page, sid, out["total_cost_usd"], tokens)
    shot(page, "sessions-after-claude")

    open_detail(page, row, MODEL, cost, 2)
    text = page.locator("ol.timeline").inner_text()
    assert "echo dashboard-one" in text and "failed" in text
    assert "UserPromptSubmit" in text
    shot(page, "session-detail-claude")

    # A Ralph task that ran this session links to it, and its cost is not counted twice.
    task = {"source": "ralph", "label": "dash-loop", "task_id": "dash-1", "task_title": "Dash",
            "claude_session_id": sid, "completed_tasks": 0, "failed_tasks": 0}
    for event in ("task_started", "task_completed"):
        r = httpx.post(f"{server.url}/metrics/harness", timeout=5,
                       json={**task, "event": event, "success": True, "duration_ms": 2000})
        assert r.status_code in (200, 201, 202), r.text
    tasks = httpx.get(f"{server.url}/api/ui/sessions", params={"source": "ralph"},
                      timeout=5).json()["sessions"]
    (ralph,) = [t for t in tasks if t["task_id"] == "dash-1"]
    overview = httpx.get(f"{server.url}/api/ui/overview", timeout=5).json()
    assert overview["today"]["cost_usd"] == pytest.approx(out["total_cost_usd"])
    page.goto(f"{server.url}/dashboard/#/session/{ralph['id']}")
    link = page.locator(f'a[href="#/session/{sid}"]').first
    link.wait_for()
    shot(page, "ralph-task-linked")
    link.click()
    page.wait_for_selector(f'tr[data-model="{MODEL}"]')


def test_approving_in_the_page_lets_the_waiting_tool_run(page: Any, server: ServerProcess,
                                                         claude: ClaudeRunner,
                                                         tmp_path: Path) -> None:
    project = tmp_path / "perm-proj"
    made = project / "made-by-agent"
    claude.scenario("dash_perm", {"turns": [
        {"tool": "Bash", "input": {"command": f"touch {made}", "description": "touch a file"}},
        {"text": "Finished."}]})
    hooks = http_hooks(server, "dash-perm", ["UserPromptSubmit", "PreToolUse",
                                             "PermissionRequest", "PostToolUse", "Stop"])
    claude.project(project, {"hooks": hooks})
    outcome: list[ClaudeResult] = []
    # No --allowedTools: Claude Code must ask, and the server holds its PermissionRequest.
    runner = threading.Thread(target=lambda: outcome.append(claude.run(
        "scenario:dash_perm go", cwd=project, args=["--model", MODEL])), daemon=True)
    runner.start()

    page.goto(f"{server.url}/dashboard/#/approvals")
    card = page.locator('article.approval[data-kind="permission"]').filter(has_text="touch")
    card.wait_for(timeout=60_000)
    assert not made.exists()
    shot(page, "approval-held-claude")
    card.get_by_role("button", name="Approve").click()
    runner.join(90)
    assert outcome, "claude did not finish"
    assert outcome[0].returncode == 0, outcome[0].stderr
    assert made.exists(), "the approved tool did not run"
    page.wait_for_selector("tbody tr:has-text('approved')")
