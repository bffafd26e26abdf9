"""Installed hooks with the real Claude Code CLI: a session's events reach router-ext."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from router_ext_client.usage import read_transcript, total
from tests.e2e.claude import ClaudeRunner
from tests.support import ROOT, ServerProcess
from tests.test_client import stored

pytestmark = pytest.mark.e2e
MODEL = "claude-sonnet-4-5"
SCENARIO = {"turns": [{"tool": "Bash", "input": {"command": "echo hooked",
                                                 "description": "Say hooked"}},
                      {"text": "All done."}],
            "usage": {"input_tokens": 1000, "output_tokens": 50,
                      "cache_creation_input_tokens": 200, "cache_read_input_tokens": 700}}


def install(project: Path, server: ServerProcess, mode: str, source_app: str) -> None:
    done = subprocess.run([sys.executable, "-m", "router_ext.cli", "hooks", "install",
                           "--project", str(project), "--source-app", source_app,
                           "--server", server.url, "--mode", mode],
                          capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def session_events(server: ServerProcess, session: str, wanted: set[str]) -> list[dict[str, Any]]:
    """The session's events, waiting briefly for the last hooks to land."""
    deadline = time.monotonic() + 10
    rows = stored(server, session=session)
    while not wanted <= {r["hook_event_type"] for r in rows} and time.monotonic() < deadline:
        time.sleep(0.2)
        rows = stored(server, session=session)
    return rows


def run_session(claude: ClaudeRunner, project: Path, spool: Path) -> dict[str, Any]:
    claude.scenario("hooked", SCENARIO)
    result = claude.run("scenario:hooked run echo", cwd=project,
                        args=["--model", MODEL, "--allowedTools", "Bash"],
                        env={"ROUTER_EXT_SPOOL_DIR": str(spool)})
    assert result.returncode == 0, result.stderr
    return result.json


def test_command_hooks_report_the_session(claude: ClaudeRunner, server: ServerProcess,
                                          tmp_path: Path) -> None:
    project = claude.project(tmp_path / "cmdproj")
    install(project, server, "command", "e2e-command")
    result = run_session(claude, project, tmp_path / "spool")
    wanted = {"SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop",
              "SessionEnd"}
    rows = session_events(server, result["session_id"], wanted)
    names = {r["hook_event_type"] for r in rows}
    assert wanted <= names, names
    assert {r["source_app"] for r in rows} == {"e2e-command"}
    pre = next(r for r in rows if r["hook_event_type"] == "PreToolUse")
    assert pre["payload"]["tool_input"]["command"] == "echo hooked"
    # Usage from the transcript, read incrementally by Stop and SessionEnd, adds up to the
    # transcript's own deduplicated total, and names the model.
    reported = [r["payload"]["router_ext_usage"] for r in rows
                if "router_ext_usage" in r["payload"]]
    assert reported and all(u["model"] == MODEL for u in reported)
    outputs = sum(m["output_tokens"] for u in reported for m in u["models"].values())
    (transcript,) = [p for p in claude.transcripts() if result["session_id"] in p.name]
    assert outputs == total(read_transcript(transcript).models).output_tokens
    assert outputs == result["usage"]["output_tokens"]


def test_http_hooks_report_the_session(claude: ClaudeRunner, server: ServerProcess,
                                       tmp_path: Path) -> None:
    project = claude.project(tmp_path / "httpproj")
    install(project, server, "http", "e2e-http")
    result = run_session(claude, project, tmp_path / "spool")
    wanted = {"SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop"}
    rows = session_events(server, result["session_id"], wanted)
    names = {r["hook_event_type"] for r in rows}
    assert wanted <= names, names
    assert {r["source_app"] for r in rows} == {"e2e-http"}
