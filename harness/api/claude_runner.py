"""Running `claude -p --output-format json` as a subprocess, with a timeout and cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import time
import uuid
from dataclasses import dataclass, field

from router_ext_client.usage import RunResult, parse_result

MAX_OUTPUT = 16 * 1024 * 1024


@dataclass(frozen=True)
class RunnerConfig:
    """How to run the CLI: HARNESS_CLAUDE_BIN, HARNESS_CLAUDE_ARGS, HARNESS_WORKDIR, ..."""

    binary: str = "claude"
    extra_args: tuple[str, ...] = ()
    workdir: str = ""
    model: str = ""
    timeout: float = 600.0

    @classmethod
    def from_env(cls) -> RunnerConfig:
        """Read the HARNESS_* variables."""
        return cls(
            binary=os.environ.get("HARNESS_CLAUDE_BIN") or os.environ.get("CLAUDE_BIN")
            or "claude",
            extra_args=tuple(shlex.split(os.environ.get("HARNESS_CLAUDE_ARGS", ""))),
            workdir=os.environ.get("HARNESS_WORKDIR", ""),
            model=os.environ.get("HARNESS_MODEL", ""),
            timeout=float(os.environ.get("HARNESS_TIMEOUT") or 600),
        )


@dataclass
class RunOutcome:
    """One finished run: the exit code, the parsed result (None if unparseable), timing."""

    exit_code: int
    duration_ms: int
    session_id: str
    result: RunResult | None = None
    stderr: str = ""
    error: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        """Exit code 0 and a result that is not an error."""
        return self.exit_code == 0 and self.result is not None and not self.result.is_error


async def run_claude(prompt: str, config: RunnerConfig, *, model: str = "",
                     session_id: str = "") -> RunOutcome:
    """Run one prompt; a timeout or cancellation kills the process (and re-raises a cancel)."""
    session_id = session_id or str(uuid.uuid4())
    cmd = [config.binary, "-p", prompt, "--output-format", "json", "--session-id", session_id]
    if model or config.model:
        cmd += ["--model", model or config.model]
    cmd += list(config.extra_args)
    started = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, cwd=config.workdir or None, limit=MAX_OUTPUT,
            start_new_session=True)  # its own process group, so a cancel stops its tools too
    except OSError as exc:
        return RunOutcome(127, 0, session_id, error=f"cannot start {config.binary}: {exc}")
    try:
        out, err = await asyncio.wait_for(proc.communicate(), config.timeout)
    except (TimeoutError, asyncio.CancelledError) as exc:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        if isinstance(exc, asyncio.CancelledError):
            raise
        return RunOutcome(-9, _ms(started), session_id,
                          error=f"claude did not finish within {config.timeout:g}s")
    outcome = RunOutcome(proc.returncode or 0, _ms(started), session_id,
                         stderr=err.decode("utf-8", "replace")[-4000:])
    try:
        outcome.result = parse_result(out)
    except ValueError:
        outcome.error = f"claude exited {outcome.exit_code} without a result: " \
                        f"{outcome.stderr[-500:] or out[-500:]!r}"
    else:
        outcome.error = outcome.result.error
        if outcome.result.session_id:
            outcome.session_id = outcome.result.session_id
    return outcome


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
