"""The real Claude Code CLI in interactive mode, in a pseudo-terminal, for what `-p` never runs
(the status line). Offline like tests/e2e/claude.py: the scripted API, a throw-away HOME."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pyte

from tests.e2e.claude import ClaudeRunner

COLUMNS, LINES = 200, 40


def trust(claude: ClaudeRunner, project: Path) -> None:
    """What a person clicks through on first start: onboarding, trusting the folder, the key."""
    (claude.home / ".claude.json").write_text(json.dumps({
        "hasCompletedOnboarding": True, "theme": "dark",
        "customApiKeyResponses": {"approved": ["sk-ant-test"], "rejected": []},
        "projects": {str(project): {"hasTrustDialogAccepted": True,
                                    "hasCompletedProjectOnboarding": True}}}))


class Terminal:
    """`claude` running in a pty, its output rendered by a terminal emulator (the TUI redraws
    only the cells that change, so the byte stream alone is not what a person sees)."""

    def __init__(self, claude: ClaudeRunner, project: Path, args: list[str]) -> None:
        env = {**claude.env(), "TERM": "xterm-256color", "COLUMNS": str(COLUMNS),
               "LINES": str(LINES)}
        self._screen = pyte.Screen(COLUMNS, LINES)
        self._stream = pyte.ByteStream(self._screen)
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: become the CLI
            os.chdir(project)
            os.execve(claude.binary, [claude.binary, *args], env)

    def pump(self, seconds: float) -> None:
        """Read what the CLI draws for `seconds`."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    self._stream.feed(os.read(self.fd, 65536))
                except OSError:
                    return

    @property
    def screen(self) -> str:
        """The terminal's lines as a person sees them now."""
        return "\n".join(line.rstrip() for line in self._screen.display)

    def type(self, text: str) -> None:
        """Type like a person, a key at a time, then Enter."""
        for char in text:
            os.write(self.fd, char.encode())
            self.pump(0.03)
        self.pump(0.5)
        os.write(self.fd, b"\r")

    def wait_for(self, found: Callable[[str], bool], timeout: float) -> bool:
        """Pump until `found(screen)` or the timeout."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if found(self.screen):
                return True
            self.pump(0.3)
        return found(self.screen)

    def close(self) -> None:
        """Ctrl-C twice, then make sure the CLI is gone."""
        for _ in range(2):
            try:
                os.write(self.fd, b"\x03")
            except OSError:
                break
            self.pump(0.5)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)
