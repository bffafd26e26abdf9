"""`router-ext import`: transcript folders and hook logs, idempotent, tolerant of bad lines."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import FIXTURES, ROOT, running_server

DOC = FIXTURES / "documented"
EXPECTED = json.loads((DOC / "transcript.expected.json").read_text())
SESSION = EXPECTED["session_id"]
SUBAGENT_LINE = {
    "type": "assistant", "requestId": "req_sub", "isSidechain": True, "agentId": "a4d2c8f1",
    "timestamp": "2026-08-20T14:02:40.000Z", "sessionId": SESSION,
    "message": {"id": "msg_sub", "model": "claude-haiku-4-5-20251001", "usage": {
        "input_tokens": 36, "output_tokens": 648, "cache_read_input_tokens": 61234,
        "cache_creation_input_tokens": 9120,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 9120}}},
}


def run_import(*args: str) -> dict[str, int]:
    proc = subprocess.run([sys.executable, "-m", "router_ext.cli", "import", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def rows(db: Path, sql: str, *params: Any) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(sql, params)]


@pytest.fixture
def projects(tmp_path: Path) -> Path:
    """A ~/.claude/projects folder with one session, its subagent and a malformed line."""
    folder = tmp_path / "projects" / "-workspace-polyjuiced"
    folder.mkdir(parents=True)
    lines = (DOC / "transcript.jsonl").read_text().splitlines()
    (folder / f"{SESSION}.jsonl").write_text("\n".join([*lines[:4], "{oops", *lines[4:]]) + "\n")
    sub = folder / SESSION / "subagents"
    sub.mkdir(parents=True)
    (sub / "agent-a4d2c8f1e0b3a297.jsonl").write_text(json.dumps(SUBAGENT_LINE) + "\n")
    return tmp_path / "projects"


def test_transcripts_import_with_exact_tokens_and_cost(projects: Path, tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    report = run_import(str(projects), "--database-url", f"sqlite:///{db}")
    assert report["transcripts"] == 1 and report["malformed_lines"] == 1
    assert report["stored"] == report["events"] > 0
    [session] = rows(db, "SELECT * FROM harness_sessions")
    assert session["id"] == SESSION and session["status"] == "completed"
    main = EXPECTED["main_loop_tokens_correct"]["claude-opus-4-6"]
    sub = EXPECTED["subagent_totals_not_in_this_file"]["claude-haiku-4-5-20251001"]
    assert session["input_tokens"] == main["input_tokens"] + sub["inputTokens"]
    assert session["output_tokens"] == main["output_tokens"] + sub["outputTokens"]
    assert session["cache_read_tokens"] == main["cache_read_input_tokens"] + \
        sub["cacheReadInputTokens"]
    assert session["cost_usd"] == pytest.approx(EXPECTED["session_total_cost_usd"], abs=1e-6)
    assert session["tool_calls_count"] == sum(EXPECTED["tool_calls"].values())
    assert session["subagents_count"] == 1 and session["prompts_count"] == 1
    assert session["project"] == "polyjuiced"
    tools = rows(db, "SELECT tool_name, count(*) AS n FROM events "
                     "WHERE hook_event_type = 'PreToolUse' GROUP BY tool_name")
    assert {r["tool_name"]: r["n"] for r in tools} == EXPECTED["tool_calls"]

    # Importing again changes nothing.
    before = rows(db, "SELECT * FROM harness_sessions")
    count = rows(db, "SELECT count(*) AS n FROM events")[0]["n"]
    again = run_import(str(projects), "--database-url", f"sqlite:///{db}")
    assert again["stored"] == 0 and again["duplicates"] == report["events"]
    assert rows(db, "SELECT * FROM harness_sessions") == before
    assert rows(db, "SELECT count(*) AS n FROM events")[0]["n"] == count


def hook_logs(tmp_path: Path) -> Path:
    """logs/sessions/<uuid>/pre_tool_use.jsonl and post_tool_use.jsonl as hook scripts write."""
    session = "5d2c9e1a-0000-4000-8000-00000000abcd"
    folder = tmp_path / "logs" / "sessions" / session
    folder.mkdir(parents=True)
    pre = json.loads((DOC / "hooks" / "PreToolUse.json").read_text())
    post = json.loads((DOC / "hooks" / "PostToolUse.json").read_text())
    pre_lines, post_lines = [], []
    for n in range(3):
        pre_lines.append(json.dumps({**pre, "session_id": session, "tool_use_id": f"t{n}"}))
        post_lines.append(json.dumps({**post, "session_id": session, "tool_use_id": f"t{n}"}))
    (folder / "pre_tool_use.jsonl").write_text("\n".join(pre_lines) + "\n")
    (folder / "post_tool_use.jsonl").write_text("\n".join([*post_lines, "not json"]) + "\n")
    return tmp_path / "logs"


def test_hook_logs_import_idempotently(tmp_path: Path) -> None:
    logs = hook_logs(tmp_path)
    db = tmp_path / "db.sqlite"
    report = run_import(str(logs), "--database-url", f"sqlite:///{db}")
    assert report["hook_logs"] == 2 and report["stored"] == 6 and report["malformed_lines"] == 1
    [session] = rows(db, "SELECT * FROM harness_sessions")
    assert session["tool_calls_count"] == 3
    assert run_import(str(logs), "--database-url", f"sqlite:///{db}")["stored"] == 0
    assert rows(db, "SELECT tool_calls_count FROM harness_sessions")[0]["tool_calls_count"] == 3


def test_import_into_a_running_server(projects: Path, tmp_path: Path) -> None:
    with running_server(f"sqlite:///{tmp_path / 'live.db'}") as server:
        for _ in range(2):
            run_import(str(projects), "--url", server.url)
        recent = httpx.get(f"{server.url}/metrics/harness/stats",
                           params={"since": 0}).json()["recent_sessions"]
        [session] = [s for s in recent if s["id"] == SESSION]
        assert session["cost_usd"] == pytest.approx(EXPECTED["session_total_cost_usd"], abs=1e-6)


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "router_ext.cli", "import",
                           str(tmp_path / "nope")], cwd=ROOT, capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 2 and "no such file" in proc.stderr
    assert shutil.which(sys.executable)


def test_pai_capture_all_events_logs_import_idempotently(tmp_path: Path) -> None:
    """Both layouts PAI has used: history/raw-outputs/ and MEMORY/raw-outputs/."""
    lines = (DOC / "peers" / "pai-capture-all-events.jsonl").read_text().splitlines()
    pai = tmp_path / "pai"
    for layout, session in (("history", "pai-old"), ("MEMORY", "pai-new")):
        folder = pai / layout / "raw-outputs" / "2026-03"
        folder.mkdir(parents=True)
        moved = [json.dumps({**json.loads(line), "session_id": session}) for line in lines]
        (folder / "2026-03-14_all-events.jsonl").write_text("\n".join([*moved, "{cut"]) + "\n")
    db = tmp_path / "db.sqlite"
    report = run_import(str(pai), "--database-url", f"sqlite:///{db}")
    assert report["pai_logs"] == 2 and report["stored"] == 4 and report["malformed_lines"] == 2
    stored = rows(db, "SELECT source_app, session_id, hook_event_type, timestamp, payload "
                      "FROM events ORDER BY session_id DESC, id")
    assert {r["source_app"] for r in stored} == {"PAI"}
    assert [(r["session_id"], r["hook_event_type"]) for r in stored] == [
        ("pai-old", "PreToolUse"), ("pai-old", "Stop"), ("pai-new", "PreToolUse"),
        ("pai-new", "Stop")]
    first = json.loads(lines[0])
    assert stored[0]["timestamp"] == first["timestamp"]
    payload = json.loads(stored[0]["payload"])
    assert payload["tool_input"] == first["payload"]["tool_input"]
    assert payload["pai_local_time"] == first["timestamp_pst"]
    assert run_import(str(pai), "--database-url", f"sqlite:///{db}")["stored"] == 0
    assert len(rows(db, "SELECT id FROM events")) == 4
