"""The real Claude Code CLI with `type: "http"` hooks pointed at router-ext: its hooks land as
events, and a PermissionRequest held by the server is allowed in one run and denied in another
by a person answering through POST /events/{id}/respond."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.claude import ClaudeRunner
from tests.support import ServerProcess

pytestmark = pytest.mark.e2e
HOOKS = ("UserPromptSubmit", "PreToolUse", "PermissionRequest", "PostToolUse", "Stop",
         "SessionEnd")
MARKER = "made-by-agent"


def settings(server: ServerProcess, source_app: str) -> dict[str, Any]:
    url = f"{server.url}/hooks/claude-code?source_app={source_app}"
    hooks = {name: [{"hooks": [{"type": "http", "url": url,
                                "timeout": 60 if name == "PermissionRequest" else 10}]}]
             for name in HOOKS}
    return {"allowedHttpHookUrls": [f"{server.url}/*"], "hooks": hooks}


def answer_when_asked(server: ServerProcess, source_app: str, allow: bool,
                      answered: list[dict[str, Any]]) -> threading.Thread:
    """A person watching the dashboard: answer the first pending PermissionRequest."""

    def run() -> None:
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=server.url, timeout=10) as http:
            while time.monotonic() < deadline:
                rows = http.get("/events/recent", params={
                    "source_app": source_app, "hook_event_type": "PermissionRequest"}).json()
                pending = [r for r in rows
                           if r.get("humanInTheLoopStatus", {}).get("status") == "pending"]
                if pending:
                    r = http.post(f"/events/{pending[0]['id']}/respond",
                                  json={"permission": allow, "respondedBy": "e2e"})
                    answered.append(r.json())
                    return
                time.sleep(0.1)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def run_scenario(claude: ClaudeRunner, server: ServerProcess, tmp_path: Path,
                 source_app: str, allow: bool) -> tuple[Path, list[dict[str, Any]],
                                                        list[dict[str, Any]]]:
    project = claude.project(tmp_path / source_app, settings(server, source_app))
    target = project / MARKER
    claude.scenario("perm", {"turns": [
        {"tool": "Bash", "input": {"command": f"touch {target}", "description": "touch"}},
        {"text": "Finished."},
    ]})
    answered: list[dict[str, Any]] = []
    person = answer_when_asked(server, source_app, allow, answered)
    # No --allowedTools for Bash: Claude Code must ask, through the held HTTP hook.
    result = claude.run("scenario:perm make the file", cwd=project,
                        args=["--model", "claude-sonnet-4-5"])
    person.join(5)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = httpx.get(f"{server.url}/events/recent", params={"source_app": source_app},
                     timeout=10).json()
    return target, answered, rows


def test_http_hooks_land_and_allow_lets_the_tool_run(claude: ClaudeRunner,
                                                     fresh_server: ServerProcess,
                                                     tmp_path: Path) -> None:
    target, answered, rows = run_scenario(claude, fresh_server, tmp_path, "e2e-allow", True)
    assert answered and answered[0]["humanInTheLoopStatus"]["delivery"] == "delivered"
    kinds = [r["hook_event_type"] for r in rows]
    for name in ("UserPromptSubmit", "PreToolUse", "PermissionRequest", "PostToolUse", "Stop"):
        assert name in kinds, kinds
    assert target.exists(), "allow should have let the Bash tool run"
    request = next(r for r in rows if r["hook_event_type"] == "PermissionRequest")
    assert request["tool_name"] == "Bash" and MARKER in request["humanInTheLoop"]["question"]
    assert request["humanInTheLoopStatus"]["status"] == "responded"


def test_deny_stops_the_tool(claude: ClaudeRunner, fresh_server: ServerProcess,
                             tmp_path: Path) -> None:
    target, answered, rows = run_scenario(claude, fresh_server, tmp_path, "e2e-deny", False)
    assert answered and answered[0]["humanInTheLoopStatus"]["response"] == {"permission": False}
    kinds = [r["hook_event_type"] for r in rows]
    assert "PermissionRequest" in kinds and "PostToolUse" not in kinds, kinds
    assert not target.exists(), "deny should have stopped the Bash tool"
