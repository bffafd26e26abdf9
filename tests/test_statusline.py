"""`router-ext statusline` on Claude Code's real status line input, with the server up, down and
silent, and with nothing to read; and `router-ext hooks install --statusline`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from router_ext.commands.statusline import money
from tests.reports_support import Response, router_ext_report, write_transcripts
from tests.support import FIXTURES, ROOT, ServerProcess

SCRIPT = ROOT / "hooks" / "router_ext_statusline.py"
# Captured from the interactive Claude Code 2.1.328 CLI (tests/fixtures/README.md).
CAPTURED = json.loads((FIXTURES / "claude-code-2.1.328" / "statusline.json").read_text())
SESSION = "5e55a0e1-0000-4000-8000-00000000a11c"


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{ms % 1000:03d}Z"


@pytest.fixture(scope="module")
def recent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Claude config folder with three responses of the last minutes, one session of ours."""
    now = int(time.time() * 1000)
    root = tmp_path_factory.mktemp("claude")
    write_transcripts(root, [
        Response("proj", SESSION, iso(now - 240_000), "claude-sonnet-4-5", 2000, 400, 3000,
                 10000),
        Response("proj", SESSION, iso(now - 120_000), "claude-sonnet-4-5", 2500, 600, 0, 13000),
        Response("other", "5e55a0e1-0000-4000-8000-0000000000b2", iso(now - 60_000),
                 "claude-haiku-4-5", 900, 150, 0, 4000),
    ])
    return root


def status_input(root: Path) -> bytes:
    """The captured input, pointed at our session and its transcript."""
    data = dict(CAPTURED, session_id=SESSION,
                transcript_path=str(root / "projects" / "proj" / f"{SESSION}.jsonl"))
    return json.dumps(data).encode()


def run_statusline(stdin: bytes, server: str, cache: Path, *extra: str) -> str:
    env = {**os.environ, "ROUTER_EXT_STATUSLINE_CACHE": str(cache),
           "ROUTER_EXT_STATUSLINE_TIMEOUT": "0.5"}
    proc = subprocess.run([sys.executable, "-S", str(SCRIPT), "--server", server, *extra],
                          input=stdin, capture_output=True, timeout=30, env=env)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    out = proc.stdout.decode()
    assert out.endswith("\n") and out.count("\n") == 1
    return out.strip()


def expected_numbers(root: Path) -> dict[str, str]:
    """What the line must say, from the transcript reports (all usage is from today)."""
    sessions = {r["sessionId"]: r for r in router_ext_report("session", root)["sessions"]}
    blocks = router_ext_report("blocks", root)["blocks"]
    active = [b for b in blocks if b["isActive"]]
    assert len(active) == 1
    today = sum(r["totalCost"] for r in sessions.values())
    return {"session": money(sessions[SESSION]["totalCost"]), "today": money(today),
            "rate": money(active[0]["burnRate"]["costPerHour"])}


def test_server_up_gives_the_servers_numbers_and_approvals(
        fresh_server: ServerProcess, recent: Path, tmp_path: Path) -> None:
    imported = subprocess.run([sys.executable, "-m", "router_ext.cli", "import",
                               str(recent / "projects"), "--url", fresh_server.url],
                              capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert imported.returncode == 0, imported.stderr
    asked = httpx.post(f"{fresh_server.url}/events", timeout=10, json={
        "source_app": "statusline", "session_id": SESSION, "hook_event_type": "Notification",
        "payload": {}, "humanInTheLoop": {"question": "Deploy?", "type": "question"}})
    assert asked.status_code == 200
    want = expected_numbers(recent)
    line = run_statusline(status_input(recent), fresh_server.url, tmp_path / "cache.json")
    parts = line.split(" · ")
    assert parts[0] == "Sonnet 4.5"
    assert parts[1] == f"session {want['session']}"
    assert parts[2] == f"today {want['today']}"
    assert parts[3].startswith(f"{want['rate']}/h ") and parts[3][-1] == "m"
    assert parts[4] == "1 approval"
    assert not (tmp_path / "cache.json").exists()  # no local work when the server answered


def test_server_down_gives_the_same_numbers_from_local_transcripts(
        recent: Path, tmp_path: Path) -> None:
    want = expected_numbers(recent)
    cache = tmp_path / "cache.json"
    for _ in range(2):  # the second run reads only what the cache has not seen
        line = run_statusline(status_input(recent), "http://127.0.0.1:9", cache)
        assert line.split(" · ")[:3] == ["Sonnet 4.5", f"session {want['session']}",
                                         f"today {want['today']}"]
        assert f" · {want['rate']}/h " in line and line.endswith(" · (local)")
    assert oct(cache.stat().st_mode & 0o777) == "0o600"
    # A response appended to the transcript is counted on the next line.
    now = int(time.time() * 1000)
    write_transcripts(recent, [Response("proj", SESSION, iso(now), "claude-sonnet-4-5", 100,
                                        1000, 0, 0)])
    longer = run_statusline(status_input(recent), "http://127.0.0.1:9", cache)
    assert f"session {expected_numbers(recent)['session']}" in longer


@pytest.fixture
def silent_server() -> Iterator[tuple[str, list[int]]]:
    """A port that accepts connections and never answers; counts the connections."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    accepted: list[int] = []
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            held.append(conn)
            accepted.append(1)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", accepted
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    sock.close()


def test_a_silent_server_is_asked_once_then_left_alone(
        silent_server: tuple[str, list[int]], recent: Path, tmp_path: Path) -> None:
    url, accepted = silent_server
    cache = tmp_path / "cache.json"
    first = run_statusline(status_input(recent), url, cache)
    second = run_statusline(status_input(recent), url, cache)
    assert first.endswith("(local)") and second.endswith("(local)")
    assert len(accepted) == 1  # the second line did not wait for it again


def test_nothing_to_read_and_bad_input_still_print_a_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    line = run_statusline(json.dumps(CAPTURED).encode(), "http://127.0.0.1:9",
                          tmp_path / "c.json", "--transcripts", str(empty))
    assert line == "Sonnet 4.5 · today $0.00 · no block · (local)"
    assert run_statusline(b"not json", "http://127.0.0.1:9", tmp_path / "c.json",
                          "--transcripts", str(empty)) == "today $0.00 · no block · (local)"


def _settings(project: Path) -> dict[str, Any]:
    return dict(json.loads((project / ".claude" / "settings.json").read_text()))


def _hooks(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "router_ext.cli", "hooks", *args, "--project",
                           str(project)], capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_hooks_install_statusline(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    done = _hooks(project, "install", "--statusline", "--server", "http://127.0.0.1:4555")
    assert done.returncode == 0, done.stderr
    line = _settings(project)["statusLine"]
    assert line["type"] == "command"
    assert line["command"].split()[1:] == ["-S", str(SCRIPT), "--server", "http://127.0.0.1:4555"]
    assert "already up to date" in _hooks(project, "install", "--statusline", "--server",
                                          "http://127.0.0.1:4555").stdout
    removed = _hooks(project, "uninstall")
    assert removed.returncode == 0 and "statusLine" not in _settings(project)
    theirs = {"statusLine": {"type": "command", "command": "~/.claude/mine.sh"}}
    (project / ".claude" / "settings.json").write_text(json.dumps(theirs))
    refused = _hooks(project, "install", "--statusline")
    assert refused.returncode == 2 and "already has a statusLine" in refused.stderr
    assert _settings(project) == theirs
