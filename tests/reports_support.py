"""Helpers for the report tests: transcripts written from a compact spec, both CLIs run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support import ROOT, require

CCUSAGE = ROOT / ".cache" / "ccusage" / "node_modules" / ".bin" / "ccusage"


@dataclass(frozen=True)
class Response:
    """One API response written as one transcript line (single-line responses)."""

    project: str
    session: str
    at: str  # ISO time, UTC
    model: str
    input: int
    output: int
    cache_create: int = 0
    cache_read: int = 0


def write_transcripts(root: Path, responses: list[Response]) -> Path:
    """`root/projects/<project>/<session>.jsonl`, a user line then one line per response."""
    projects = root / "projects"
    for n, r in enumerate(responses):
        path = projects / r.project / f"{r.session}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = []
        if not path.exists():
            lines.append({"type": "user", "sessionId": r.session, "timestamp": r.at,
                          "uuid": f"u-{n}", "cwd": f"/work/{r.project}",
                          "message": {"role": "user", "content": "go"}})
        lines.append({
            "type": "assistant", "sessionId": r.session, "timestamp": r.at, "uuid": f"a-{n}",
            "cwd": f"/work/{r.project}", "version": "2.1.328", "requestId": f"req_{n:04d}",
            "message": {"id": f"msg_{n:04d}", "type": "message", "role": "assistant",
                        "model": r.model, "content": [{"type": "text", "text": "ok"}],
                        "stop_reason": "end_turn",
                        "usage": {"input_tokens": r.input, "output_tokens": r.output,
                                  "cache_creation_input_tokens": r.cache_create,
                                  "cache_read_input_tokens": r.cache_read}}})
        with path.open("a") as out:
            out.writelines(json.dumps(line) + "\n" for line in lines)
    return projects


def router_ext_report(kind: str, transcripts: Path, *extra: str) -> dict[str, Any]:
    """`router-ext report KIND --transcripts DIR --json` (UTC days)."""
    proc = subprocess.run([sys.executable, "-m", "router_ext.cli", "report", kind,
                           "--transcripts", str(transcripts), "--json", "--timezone", "UTC",
                           *extra], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def ccusage_report(kind: str, config_dir: Path, *extra: str) -> Any:
    """ccusage's own `--json --offline` output for a Claude config folder (UTC days)."""
    require(CCUSAGE.exists(), f"ccusage not installed at {CCUSAGE} (scripts/test-deps.sh)")
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(config_dir), "TZ": "UTC", "NO_COLOR": "1"}
    proc = subprocess.run([str(CCUSAGE), kind, "--json", "--offline", "--timezone", "UTC",
                           *extra], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
