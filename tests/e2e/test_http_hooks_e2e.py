"""The real Claude Code CLI with `type: "http"` hooks pointed at router-ext: its hooks land as
events, and a PermissionRequest held by the server is allowed in one run and denied in another
by a person answering through POST /events/{id}/respond."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.claude import ClaudeRunner
from tests.support import ServerProcess, start_server

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


def test_http_hooks_report_with_the_ingest_token_and_a_person_answers_as_admin(
        claude: ClaudeRunner, tmp_path: Path) -> None:
    """With role tokens set, Claude Code sends the ingest token from its environment (as
    `router-ext hooks install` writes it) and only the admin token can answer."""
    ingest, admin = "ingest-" + uuid.uuid4().hex, "admin-" + uuid.uuid4().hex
    server = start_server(f"sqlite:///{tmp_path / 'roles.db'}", env={
        "ROUTER_EXT_INGEST_TOKEN": ingest, "ROUTER_EXT_ADMIN_TOKEN": admin})
    try:
        config = settings(server, "e2e-roles")
        for groups in config["hooks"].values():
            groups[0]["hooks"][0].update(
                headers={"Authorization": "Bearer $ROUTER_EXT_INGEST_TOKEN"},
                allowedEnvVars=["ROUTER_EXT_INGEST_TOKEN"])
        project = claude.project(tmp_path / "roles", config)
        target = project / MARKER
        claude.scenario("perm", {"turns": [
            {"tool": "Bash", "input": {"command": f"touch {target}", "description": "touch"}},
            {"text": "Finished."},
        ]})
        answered: list[dict[str, Any]] = []

        def person() -> None:
            with httpx.Client(base_url=server.url, timeout=10,
                              headers={"authorization": f"Bearer {admin}"}) as http:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and not answered:
                    rows = http.get("/events/recent", params={
                        "source_app": "e2e-roles", "hook_event_type": "PermissionRequest"}).json()
                    if rows:
                        event_id = rows[-1]["id"]
                        refused = httpx.post(f"{server.url}/events/{event_id}/respond",
                                             json={"permission": True}, timeout=10,
                                             headers={"authorization": f"Bearer {ingest}"})
                        assert refused.status_code == 403
                        answered.append(http.post(f"/events/{event_id}/respond",
                                                  json={"permission": True}).json())
                    time.sleep(0.1)

        thread = threading.Thread(target=person, daemon=True)
        thread.start()
        result = claude.run("scenario:perm make the file", cwd=project,
                            args=["--model", "claude-sonnet-4-5"],
                            env={"ROUTER_EXT_INGEST_TOKEN": ingest})
        thread.join(5)
        assert result.returncode == 0, result.stderr[-2000:]
        assert answered and answered[0]["humanInTheLoopStatus"]["respondedVia"][
            "credential"] == "ROUTER_EXT_ADMIN_TOKEN"
        assert target.exists(), "the admin's allow should have let the tool run"
        kinds = [r["hook_event_type"] for r in httpx.get(
            f"{server.url}/events/recent", params={"source_app": "e2e-roles"}, timeout=10,
            headers={"authorization": f"Bearer {admin}"}).json()]
        assert "UserPromptSubmit" in kinds and "PostToolUse" in kinds, kinds
    finally:
        server.stop()
