"""The status line inside the real interactive Claude Code: installed by `router-ext hooks install
--statusline`, fed by the CLI's own statusLine JSON, drawn on its screen."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from router_ext.commands.statusline import money
from tests.e2e.claude import ClaudeRunner
from tests.e2e.interactive import Terminal, trust
from tests.support import ROOT, ServerProcess

pytestmark = pytest.mark.e2e
MODEL = "claude-sonnet-4-5"


def install(project: Path, server: str) -> None:
    done = subprocess.run([sys.executable, "-m", "router_ext.cli", "hooks", "install",
                           "--statusline", "--project", str(project), "--server", server],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr


def converse(claude: ClaudeRunner, project: Path, until: str) -> Terminal:
    """Start the CLI, ask one question, wait until `until` is on screen."""
    claude.scenario("hello", {"turns": [{"text": "Hello from the stand-in."}],
                              "usage": {"input_tokens": 1800, "output_tokens": 60,
                                        "cache_read_input_tokens": 5000}})
    trust(claude, project)
    term = Terminal(claude, project, ["--model", MODEL])
    assert term.wait_for(lambda s: "Sonnet 4.5 · " in s, 60), term.screen
    term.type("scenario:hello say hello")
    term.wait_for(lambda s: until in s, 90)
    return term


def test_the_status_line_shows_the_servers_numbers(claude: ClaudeRunner, server: ServerProcess,
                                                   tmp_path: Path) -> None:
    project = claude.project(tmp_path / "up")
    install(project, server.url)
    term = converse(claude, project, "Hello from the stand-in.")
    try:
        # The hooks report the first turn's usage after it ends; the line drawn after the
        # second answer shows it.
        term.type("scenario:hello again")
        found = term.wait_for(lambda s: "session $" in s and "session $0.00 " not in s, 60)
        screen = term.screen
    finally:
        term.close()
    assert found, screen
    (line,) = [s for s in screen.splitlines() if s.strip().startswith("Sonnet 4.5 · ")]
    parts = line.strip().split(" · ")
    assert parts[1].startswith("session $") and parts[2].startswith("today $"), line
    assert "/h " in parts[3] and parts[4] == "0 approvals", line
    assert len(line.strip()) <= 80  # Claude Code cuts longer status lines


def test_without_a_server_it_counts_the_local_transcript(claude: ClaudeRunner,
                                                         tmp_path: Path) -> None:
    project = claude.project(tmp_path / "down")
    install(project, "http://127.0.0.1:9")
    term = converse(claude, project, "Hello from the stand-in.")
    try:
        transcripts = claude.home / ".claude" / "projects"
        report = subprocess.run([sys.executable, "-m", "router_ext.cli", "report", "session",
                                 "--transcripts", str(transcripts), "--json"],
                                capture_output=True, text=True, timeout=60, cwd=ROOT)
        (session,) = json.loads(report.stdout)["sessions"]
        want = f"Sonnet 4.5 · session {money(session['totalCost'])} · today $"
        # The line is drawn again as the conversation moves; wait for the answered turn's.
        found = term.wait_for(lambda s: want in s, 30)
        screen = term.screen
    finally:
        term.close()
    assert session["totalCost"] > 0
    assert found, screen
    (line,) = [s for s in screen.splitlines() if want in s]
    assert line.strip().endswith(" · (local)")
