"""The command hook as Claude Code runs it: a process per event, JSON on stdin, exit 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from router_ext_client.usage import read_transcript, total
from tests import test_client
from tests.support import FIXTURES, ROOT, ServerProcess
from tests.test_client import closed_port, stored

HOOK = ROOT / "hooks" / "router_ext_hook.py"
CAPTURED = FIXTURES / "claude-code-2.1.328"
silent_port = test_client.silent_port  # the fixture, shared


@pytest.fixture(scope="module", autouse=True)
def compiled() -> None:
    """Byte-compile the hook's modules, as `router-ext hooks install` does."""
    import compileall

    for folder in ("harness", "hooks"):
        compileall.compile_dir(str(ROOT / folder), quiet=1)


def run_hook(stdin: bytes | str, server: str, spool: Path, *args: str,
             env: dict[str, str] | None = None,
             timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    # Reports in this process, so a test can read the event as soon as the hook exits; the
    # detached reporting of Stop events has its own test.
    full_env = {**os.environ, "ROUTER_EXT_SPOOL_DIR": str(spool),
                "ROUTER_EXT_HOOK_DETACH": "0", **(env or {})}
    return subprocess.run([sys.executable, "-S", str(HOOK), "--source-app", "hook-test",
                           "--server", server, *args], input=data, capture_output=True,
                          env=full_env, timeout=timeout, check=False)


def hook_input(session: str, name: str = "PreToolUse", **fields: Any) -> str:
    event = {"session_id": session, "hook_event_name": name, "cwd": "/tmp/project",
             "transcript_path": "/nonexistent/transcript.jsonl", "tool_name": "Bash",
             "tool_input": {"command": "echo hi"}, "tool_use_id": "toolu_1", **fields}
    return json.dumps(event)


def test_reports_the_raw_hook_input(server: ServerProcess, tmp_path: Path) -> None:
    raw = hook_input("entry-1")
    proc = run_hook(raw, server.url, tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    (row,) = stored(server, session="entry-1")
    assert row["source_app"] == "hook-test" and row["hook_event_type"] == "PreToolUse"
    assert row["payload"] == json.loads(raw)


def test_every_captured_event_is_stored(server: ServerProcess, tmp_path: Path) -> None:
    lines = (CAPTURED / "hooks-session.jsonl").read_text().splitlines()
    for line in lines:
        assert run_hook(line, server.url, tmp_path).returncode == 0
    sessions = {json.loads(line)["session_id"] for line in lines}
    rows = [r for s in sessions for r in stored(server, session=s)]
    assert len(rows) == len(lines)
    assert {r["hook_event_type"] for r in rows} == {json.loads(x)["hook_event_name"]
                                                    for x in lines}


@pytest.mark.parametrize("stdin", [b"", b"   \n", b"{not json", b"[1, 2]", b"\xff\xfe\x00"])
def test_bad_stdin_exits_zero_quietly(server: ServerProcess, tmp_path: Path,
                                      stdin: bytes) -> None:
    proc = run_hook(stdin, server.url, tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    if stdin.strip():  # kept, not lost: the raw text is stored for inspection
        rows = [r for r in stored(server, session="unknown")
                if r["payload"].get("raw_input") == stdin.decode("utf-8", "replace").strip()]
        assert rows and "invalid hook input" in rows[0]["payload"]["router_ext_error"]


def test_unknown_event_is_kept(server: ServerProcess, tmp_path: Path) -> None:
    assert run_hook(hook_input("entry-unknown", "BrandNewEvent2027"), server.url,
                    tmp_path).returncode == 0
    (row,) = stored(server, session="entry-unknown")
    assert row["hook_event_type"] == "BrandNewEvent2027"


def test_server_down_or_silent_spools_and_exits_fast(tmp_path: Path, silent_port: int,
                                                     server: ServerProcess) -> None:
    for n, url in enumerate([f"http://127.0.0.1:{closed_port()}",
                             f"http://127.0.0.1:{silent_port}"]):
        started = time.monotonic()
        proc = run_hook(hook_input(f"entry-down-{n}"), url, tmp_path / "spool")
        elapsed = time.monotonic() - started
        assert (proc.returncode, proc.stdout) == (0, b"")
        assert elapsed < 2.0, f"hook took {elapsed:.2f}s against {url}"
    flush = subprocess.run([sys.executable, "-m", "router_ext.cli", "spool", "flush",
                            "--server", server.url, "--spool-dir", str(tmp_path / "spool")],
                           capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
    assert flush.returncode == 0, flush.stdout + flush.stderr
    assert len(stored(server, session="entry-down-0")) == 1
    assert len(stored(server, session="entry-down-1")) == 1


def _transcript(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "session.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_the_attempt_gets_what_the_wall_budget_leaves(monkeypatch: pytest.MonkeyPatch) -> None:
    from hooks import entry

    age = entry.since_process_start()
    assert 0 < age < time.clock_gettime(time.CLOCK_BOOTTIME)
    monkeypatch.setenv("ROUTER_EXT_HOOK_BUDGET", "3600")  # a fresh process: the usual budget
    assert entry.config({}).deadline == entry.HOOK_DEADLINE
    monkeypatch.setenv("ROUTER_EXT_HOOK_BUDGET", str(age / 2))  # started too long ago
    late = entry.config({})
    assert late.deadline == entry.MIN_ATTEMPT
    assert late.attempt_timeout == entry.MIN_ATTEMPT


def test_stop_adds_only_new_transcript_usage(server: ServerProcess, tmp_path: Path) -> None:
    lines = (CAPTURED / "transcript.jsonl").read_text().splitlines()
    half = 1 + next(i for i, line in enumerate(lines) if '"type":"assistant"' in line)
    path = _transcript(tmp_path, lines[:half])
    first_expected = total(read_transcript(path).models)
    assert run_hook(hook_input("entry-stop", "Stop", transcript_path=str(path)), server.url,
                    tmp_path / "spool").returncode == 0
    path.write_text("".join(line + "\n" for line in lines))
    whole = total(read_transcript(path).models)
    assert run_hook(hook_input("entry-stop", "SessionEnd", transcript_path=str(path)),
                    server.url, tmp_path / "spool").returncode == 0
    rows = stored(server, session="entry-stop")
    usages = [r["payload"].get("router_ext_usage") for r in rows]
    got = [sum(m["output_tokens"] + m["input_tokens"] + m["cache_read_input_tokens"]
               + m["cache_creation_input_tokens"] for m in (u or {"models": {}})["models"].values())
           for u in usages]
    assert got[0] == first_expected.total_tokens > 0
    assert got[0] + got[1] == whole.total_tokens  # the second read counted only new lines
    model = read_transcript(path).model
    assert rows[0]["model_name"] == model
    assert "message" not in json.dumps(rows[0]["payload"]["router_ext_usage"])  # no transcript


def test_stop_usage_is_reported_after_the_hook_exits(server: ServerProcess,
                                                     tmp_path: Path) -> None:
    path = _transcript(tmp_path, (CAPTURED / "transcript.jsonl").read_text().splitlines())
    raw = hook_input("entry-detached", "Stop", transcript_path=str(path))
    proc = run_hook(raw, server.url, tmp_path / "spool", env={"ROUTER_EXT_HOOK_DETACH": "1"})
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    deadline = time.monotonic() + 10
    rows = stored(server, session="entry-detached")
    while not rows and time.monotonic() < deadline:
        time.sleep(0.05)
        rows = stored(server, session="entry-detached")
    (row,) = rows
    expected = total(read_transcript(path).models)
    got = row["payload"]["router_ext_usage"]["models"]
    assert sum(m["output_tokens"] for m in got.values()) == expected.output_tokens


def test_missing_transcript_still_reports(server: ServerProcess, tmp_path: Path) -> None:
    proc = run_hook(hook_input("entry-missing", "Stop"), server.url, tmp_path)
    assert proc.returncode == 0
    (row,) = stored(server, session="entry-missing")
    assert "router_ext_usage" not in row["payload"]


DANGEROUS = "rm -rf ~/"


def test_gate_denies_by_default_when_no_one_answers(server: ServerProcess,
                                                    tmp_path: Path) -> None:
    raw = hook_input("gate-1", tool_input={"command": DANGEROUS})
    proc = run_hook(raw, server.url, tmp_path, "--gate",
                    env={"ROUTER_EXT_GATE_TIMEOUT": "1.5"})
    assert proc.returncode == 0
    answer = json.loads(proc.stdout)["hookSpecificOutput"]
    assert answer["permissionDecision"] == "deny" and "no answer" in answer[
        "permissionDecisionReason"]
    (row,) = stored(server, session="gate-1")
    assert row["payload"]["tool_input"]["command"] == DANGEROUS


def test_gate_follows_a_persons_answer(server: ServerProcess, tmp_path: Path) -> None:
    raw = hook_input("gate-2", tool_input={"command": "sudo rm -rf / --no-preserve-root"})
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(proc=run_hook(
        raw, server.url, tmp_path, "--gate", env={"ROUTER_EXT_GATE_TIMEOUT": "20"})))
    thread.start()
    deadline = time.monotonic() + 15
    rows: list[dict[str, Any]] = []
    while not rows and time.monotonic() < deadline:
        rows = stored(server, session="gate-2")
        time.sleep(0.05)
    assert rows, "the permission request never reached the server"
    answer = httpx.post(f"{server.url}/events/{rows[0]['id']}/respond",
                        json={"permission": True, "respondedBy": "tester"}, timeout=10)
    assert answer.status_code < 300, answer.text
    thread.join(20)
    proc = result["proc"]
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["hookSpecificOutput"]["permissionDecision"] == "allow"


def test_gate_lets_safe_commands_through_silently(server: ServerProcess,
                                                  tmp_path: Path) -> None:
    proc = run_hook(hook_input("gate-3", tool_input={"command": "rm -rf build/"}),
                    server.url, tmp_path, "--gate")
    assert (proc.returncode, proc.stdout) == (0, b"")


def test_500_hooks_with_server_down_are_all_stored_once_after_replay(
        server: ServerProcess, tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{closed_port()}"
    spool = tmp_path / "spool"

    def fire(n: int) -> subprocess.CompletedProcess[bytes]:
        return run_hook(hook_input("burst-500", tool_use_id=f"toolu_{n}"), down, spool)

    with ThreadPoolExecutor(max_workers=4) as pool:  # more buys nothing on 2 cores
        results = list(pool.map(fire, range(500)))
    assert all(r.returncode == 0 and r.stdout == b"" for r in results)
    flush = [sys.executable, "-m", "router_ext.cli", "spool", "flush", "--server", server.url,
             "--spool-dir", str(spool)]
    done = subprocess.run(flush, capture_output=True, text=True, cwd=ROOT, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout.splitlines()[0])["sent"] == 500
    rows = stored(server, session="burst-500")
    assert len(rows) == 500
    assert len({r["payload"]["tool_use_id"] for r in rows}) == 500
    again = subprocess.run(flush, capture_output=True, text=True, cwd=ROOT, timeout=60,
                           check=False)
    assert json.loads(again.stdout.splitlines()[0])["sent"] == 0
    assert len(stored(server, session="burst-500")) == 500
