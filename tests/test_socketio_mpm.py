"""claude-mpm over Socket.IO: a real python-socketio client in the place of claude-mpm's dashboard
and of its emitters, and claude-mpm's real hook handler (in its own venv, from
scripts/test-deps.sh) run against router-ext for every hook type it handles."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio

from tests.support import FIXTURES, ROOT, ServerProcess, require, served

PEERS = FIXTURES / "documented" / "peers"
MPM_PYTHON = ROOT / ".cache" / "claude-mpm" / "bin" / "python"
CLAUDE_BIN = ROOT / ".cache" / "claude-code" / "node_modules" / ".bin"
WAIT = 20.0


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mpm") / "router-ext.db"


@pytest.fixture(scope="module")
def mpm_server(db_path: Path) -> Iterator[ServerProcess]:
    from tests.support import start_server

    proc = start_server(f"sqlite:///{db_path}")
    try:
        yield proc
    finally:
        proc.stop()


class Dashboard:
    """A Socket.IO client listening as claude-mpm's dashboard does."""

    def __init__(self, url: str, **connect: Any) -> None:
        self.events: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []
        self.changed = threading.Condition()
        self.client = socketio.Client(reconnection=False)
        self.client.on("claude_event", self._event)
        self.client.on("event_history", self._history)
        self.client.connect(url, wait_timeout=10, **connect)

    def _event(self, data: dict[str, Any]) -> None:
        with self.changed:
            self.events.append(data)
            self.changed.notify_all()

    def _history(self, data: dict[str, Any]) -> None:
        with self.changed:
            self.history = list(data["events"])
            self.changed.notify_all()

    def wait_for(self, count: int, session: str) -> list[dict[str, Any]]:
        """The events of `session` once there are `count` of them (fails after WAIT s)."""
        deadline = time.monotonic() + WAIT
        with self.changed:
            while True:
                mine = [e for e in self.events if e["session_id"] == session]
                left = deadline - time.monotonic()
                if len(mine) >= count or left <= 0:
                    return mine
                self.changed.wait(left)

    def close(self) -> None:
        self.client.disconnect()


def mpm_event(session: str, subtype: str, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """What claude-mpm 5.x's connection pool emits as `mpm_event`: the normalised event plus
    the pool's ISO timestamp and batch id."""
    return {"event": "mpm_event", "source": "mpm_hook", "type": "hook", "subtype": subtype,
            "timestamp": "2026-11-30T03:00:00.000000", "data": {**data, "session_id": session},
            "session_id": session, "cwd": "/home/dev/proj", "batch_id": "batch_1", **extra}


def test_an_emitter_s_events_reach_the_dashboard_in_mpm_shape(mpm_server: ServerProcess) -> None:
    session = uuid.uuid4().hex
    dashboard = Dashboard(mpm_server.url)
    emitter = socketio.Client(reconnection=False)
    emitter.connect(mpm_server.url, wait_timeout=10)
    try:
        ack = emitter.call("mpm_event", mpm_event(session, "pre_tool", {
            "tool_name": "Bash", "tool_input": {"command": "ls"}}), timeout=10)
        assert isinstance(ack["id"], int), ack
        older = json.loads((PEERS / "claude-mpm-hook-http.json").read_text())["data"]
        older = {**older, "session_id": session, "data": {**older["data"],
                                                          "session_id": session}}
        assert "id" in emitter.call("claude_event", older, timeout=10)  # older emitters
        [pre, old] = dashboard.wait_for(2, session)
    finally:
        emitter.disconnect()
        dashboard.close()
    assert pre["type"] == "hook" and pre["subtype"] == "pre_tool"
    assert pre["data"]["tool_input"] == {"command": "ls"} and pre["source"] == "mpm_hook"
    assert pre["source_app"] == "claude-mpm" and pre["hook_event_type"] == "PreToolUse"
    assert pre["timestamp"].endswith("Z") and pre["id"] == ack["id"]
    assert old["subtype"] == "pre_tool" and old["cwd"] == "/home/dev/proj"
    stored = httpx.get(f"{mpm_server.url}/events/{ack['id']}", timeout=10).json()
    assert stored["source_app"] == "claude-mpm" and stored["mpm_source"] == "mpm_hook"


def test_events_from_other_senders_reach_the_dashboard_and_history(
        mpm_server: ServerProcess) -> None:
    session = uuid.uuid4().hex
    dashboard = Dashboard(mpm_server.url)
    try:
        r = httpx.post(f"{mpm_server.url}/events", timeout=10, json={
            "source_app": "proj", "session_id": session, "hook_event_type": "UserPromptSubmit",
            "payload": {"prompt": "hi", "cwd": "/w"}})
        assert r.status_code == 200
        [event] = dashboard.wait_for(1, session)
    finally:
        dashboard.close()
    assert (event["subtype"], event["source"], event["cwd"]) == ("user_prompt", "proj", "/w")
    late = Dashboard(mpm_server.url)
    try:
        deadline = time.monotonic() + WAIT
        while not late.history and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(e["session_id"] == session for e in late.history)
    finally:
        late.close()


def test_hook_execution_is_stored_but_not_a_step_of_the_session(mpm_server: ServerProcess,
                                                                db_path: Path) -> None:
    session = uuid.uuid4().hex
    emitter = socketio.Client(reconnection=False)
    emitter.connect(mpm_server.url, wait_timeout=10)
    try:
        emitter.call("mpm_event", mpm_event(session, "post_tool", {"tool_name": "Bash"}),
                     timeout=10)
        ack = emitter.call("mpm_event", mpm_event(
            session, "hook_execution", {"hook_name": "PostToolUse", "hook_type": "PostToolUse",
                                        "duration_ms": 3, "success": True},
            type="PostToolUse"), timeout=10)
    finally:
        emitter.disconnect()
    stored = httpx.get(f"{mpm_server.url}/events/{ack['id']}", timeout=10).json()
    assert stored["hook_event_type"] == "hook_execution"
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        [(calls,)] = conn.execute("SELECT tool_calls_count FROM harness_sessions WHERE id = ?",
                                  (session,)).fetchall()
    assert calls == 1


def test_a_bad_event_is_answered_with_the_error(mpm_server: ServerProcess) -> None:
    emitter = socketio.Client(reconnection=False)
    emitter.connect(mpm_server.url, wait_timeout=10)
    try:
        answer = emitter.call("claude_event", {"type": "hook", "subtype": "stop",
                                               "data": {}}, timeout=10)
    finally:
        emitter.disconnect()
    assert answer["error"] == "invalid" and answer["field"] == "session_id"


# -- roles and origins ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from served(tmp_path_factory, "mpm-guarded", {
        "ROUTER_EXT_INGEST_TOKEN": "ingest-secret", "ROUTER_EXT_READ_TOKEN": "read-secret"})


def test_socketio_needs_a_token_and_each_role_does_its_part(guarded: ServerProcess) -> None:
    with pytest.raises(socketio.exceptions.ConnectionError):
        socketio.Client(reconnection=False).connect(guarded.url, wait_timeout=5)
    session = uuid.uuid4().hex
    reader = Dashboard(guarded.url, headers={"Authorization": "Bearer read-secret"})
    writer = socketio.Client(reconnection=False)
    writer.connect(guarded.url, wait_timeout=10,
                   headers={"Authorization": "Bearer ingest-secret"})
    try:
        refused = reader.client.call("mpm_event", mpm_event(session, "stop", {}), timeout=10)
        assert refused["error"] == "forbidden"
        assert "id" in writer.call("mpm_event", mpm_event(session, "stop", {}), timeout=10)
        [event] = reader.wait_for(1, session)
        assert event["subtype"] == "stop"
    finally:
        writer.disconnect()
        reader.close()


def test_socketio_from_another_origin_is_refused(mpm_server: ServerProcess) -> None:
    r = httpx.get(f"{mpm_server.url}/socket.io/?EIO=4&transport=polling", timeout=10)
    assert r.status_code == 200  # no Origin: a program, let in
    with pytest.raises(socketio.exceptions.ConnectionError):
        socketio.Client(reconnection=False).connect(
            mpm_server.url, wait_timeout=5, transports=["websocket"],
            headers={"Origin": "http://evil.invalid"})


# -- claude-mpm's real hook handler ---------------------------------------------------------------

HOOKS = {  # hook input -> the hook_event_type router-ext stores
    "UserPromptSubmit": {"prompt": "list the files"},
    "PreToolUse": {"tool_name": "Bash", "tool_input": {"command": "ls"}},
    "PostToolUse": {"tool_name": "Bash", "tool_input": {"command": "ls"},
                    "tool_response": {"stdout": "a\nb\n"}},
    "Notification": {"message": "Claude needs your permission"},
    "Stop": {"stop_hook_active": False},
    "SubagentStart": {"agent_type": "engineer"},
    "SubagentStop": {"agent_type": "engineer", "stop_hook_active": False},
    "SessionStart": {"source": "startup"},
}


def run_mpm_hook(server: ServerProcess, home: Path, event: dict[str, Any]) -> str:
    env = {"PATH": f"{CLAUDE_BIN}:{os.environ['PATH']}", "HOME": str(home),
           "CLAUDE_MPM_SOCKETIO_PORT": str(server.http_port),
           "CLAUDE_MPM_SERVER_PORT": str(server.http_port)}
    proc = subprocess.run([str(MPM_PYTHON), "-m", "claude_mpm.hooks.claude_hooks.hook_handler"],
                          input=json.dumps(event), capture_output=True, text=True, env=env,
                          cwd=home, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_claude_mpm_s_real_hook_handler_for_every_hook_type(mpm_server: ServerProcess,
                                                           db_path: Path,
                                                           tmp_path: Path) -> None:
    require(MPM_PYTHON.exists(), "claude-mpm's venv (bash scripts/test-deps.sh)")
    require((CLAUDE_BIN / "claude").exists(), "the Claude Code CLI (bash scripts/test-deps.sh)")
    session = str(uuid.uuid4())
    dashboard = Dashboard(mpm_server.url)
    try:
        for name, fields in HOOKS.items():
            out = run_mpm_hook(mpm_server, tmp_path, {
                "session_id": session, "hook_event_name": name, "cwd": str(tmp_path),
                "transcript_path": str(tmp_path / "t.jsonl"), **fields})
            assert '"continue": true' in out
        seen = dashboard.wait_for(len(HOOKS), session)
    finally:
        dashboard.close()
    rows = httpx.get(f"{mpm_server.url}/events/recent",
                     params={"session_id": session, "limit": 1000}, timeout=10).json()
    stored = {r["hook_event_type"] for r in rows}
    assert {r["source_app"] for r in rows} == {"claude-mpm"}
    assert set(HOOKS) <= stored, stored
    assert len(seen) == len(rows)
    # Its own bookkeeping (one hook_execution per hook run) is kept, and leaves the counts be.
    assert "hook_execution" in stored
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        [counts] = conn.execute("SELECT prompts_count, tool_calls_count FROM harness_sessions "
                                "WHERE id = ?", (session,)).fetchall()
    assert counts == (1, 1)
