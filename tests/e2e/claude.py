"""Run the real Claude Code CLI offline against the scripted Anthropic stand-in.

Usage in a test:

    def test_x(claude: ClaudeRunner, tmp_path):
        claude.scenario("two_tools", {"turns": [...], "usage": {...}})
        project = claude.project(tmp_path / "proj", settings={"hooks": {...}})
        result = claude.run("scenario:two_tools do it", cwd=project,
                            args=["--model", "claude-sonnet-4-5", "--allowedTools", "Bash"])
        result.json  # the --output-format json result object
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT, require

CLAUDE_BIN = ROOT / ".cache" / "claude-code" / "node_modules" / ".bin" / "claude"
FAKE_API = Path(__file__).with_name("fake_anthropic.py")
RUN_TIMEOUT = 120


@dataclass
class ClaudeResult:
    """What one `claude -p` run printed and returned."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict[str, Any]:
        """The single result object of `--output-format json`."""
        return json.loads(self.stdout)


class ClaudeRunner:
    """Holds the stand-in API and a throw-away HOME; runs the CLI in project folders."""

    def __init__(self, base: Path, api_url: str, scenarios: Path) -> None:
        self.home = base / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.api_url = api_url
        self.scenarios = scenarios
        self.binary = str(CLAUDE_BIN)

    def scenario(self, name: str, body: dict[str, Any]) -> None:
        """Write a scenario the stand-in plays when a prompt says `scenario:NAME`."""
        (self.scenarios / f"{name}.json").write_text(json.dumps(body))

    def project(self, path: Path, settings: dict[str, Any] | None = None) -> Path:
        """A project folder, with `.claude/settings.json` when settings are given."""
        path.mkdir(parents=True, exist_ok=True)
        if settings is not None:
            (path / ".claude").mkdir(exist_ok=True)
            (path / ".claude" / "settings.json").write_text(json.dumps(settings, indent=2))
        return path

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The environment a run gets: throw-away HOME, the stand-in as the API."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE"))}
        env.update({
            "HOME": str(self.home),
            "ANTHROPIC_BASE_URL": self.api_url,
            "ANTHROPIC_API_KEY": "sk-ant-test",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        })
        env.update(extra or {})
        return env

    def run(self, prompt: str, *, cwd: Path, args: list[str] | None = None,
            env: dict[str, str] | None = None, timeout: float = RUN_TIMEOUT) -> ClaudeResult:
        """`claude -p PROMPT --output-format json ARGS` in `cwd`."""
        cmd = [self.binary, "-p", prompt, "--output-format", "json", *(args or [])]
        proc = subprocess.run(cmd, cwd=cwd, env=self.env(env), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        return ClaudeResult(proc.returncode, proc.stdout, proc.stderr)

    def transcripts(self) -> list[Path]:
        """Every transcript the CLI wrote under the throw-away HOME."""
        return sorted((self.home / ".claude" / "projects").glob("*/*.jsonl"))


def start_fake_api(scenarios: Path, log: Path) -> tuple[subprocess.Popen[str], str]:
    """Start the stand-in on a free port; returns the process and its base URL."""
    proc = subprocess.Popen(
        [sys.executable, str(FAKE_API), "--port", "0", "--scenarios", str(scenarios),
         "--log", str(log)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, line.strip().rsplit(" ", 1)[-1]


def runner(base: Path) -> Iterator[ClaudeRunner]:
    """A ClaudeRunner with its own stand-in API and HOME under `base` (for fixtures)."""
    require(CLAUDE_BIN.exists(), f"Claude Code CLI not installed at {CLAUDE_BIN} "
                                 "(run scripts/test-deps.sh)")
    scenarios = base / "scenarios"
    scenarios.mkdir()
    proc, url = start_fake_api(scenarios, base / "api.log")
    try:
        yield ClaudeRunner(base, url, scenarios)
    finally:
        proc.terminate()
        proc.wait(5)


@pytest.fixture
def claude(tmp_path: Path) -> Iterator[ClaudeRunner]:
    """A ClaudeRunner with its own stand-in API and HOME (fails in CI if the CLI is absent)."""
    yield from runner(tmp_path)
