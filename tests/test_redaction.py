"""Secrets at rest: every listed shape, sent over every transport and through the command hook
(server up and down), appears nowhere: not in the database, the spool, /events/recent, the
WebSocket, SSE or gRPC streams. Markers name the kind and are counted; patterns come from a
file too; the database is created owner-only."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import stat
import string
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from router_ext.v1 import ingest_pb2, stream_pb2, types_pb2
from router_ext_client.redact import Redactor
from tests.grpc_helpers import event as grpc_event
from tests.grpc_helpers import stubs
from tests.support import ROOT, ServerProcess, start_server

HOOK = ROOT / "hooks" / "router_ext_hook.py"


def rand(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def samples() -> dict[str, tuple[str, str]]:
    """kind -> (text holding the secret, the secret part that must vanish); fresh every run."""
    upper = string.ascii_uppercase + string.digits
    key_body = rand(64, string.ascii_letters + string.digits + "+/")
    jwt = f"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOi{rand(20)}.{rand(43)}"
    return {
        "anthropic-key": (f"sk-ant-api03-{(s := rand(60))}", s),
        "openai-key": (f"sk-proj-{(s := rand(48))}", s),
        "github-token": (f"ghp_{(s := rand(36))}", s),
        "aws-access-key": (f"AKIA{(s := rand(16, upper))}", s),
        "slack-token": (f"xoxb-1234567890-{(s := rand(24))}", s),
        "google-key": (f"AIza{(s := rand(35))}", s),
        "jwt": (jwt, jwt.split(".")[2]),
        "authorization": (f"Authorization: Basic {(s := rand(24))}", s),
        "bearer": (f"bearer {(s := rand(32))}", s),
        "private-key": ("-----BEGIN OPENSSH PRIVATE KEY-----\n" + key_body +
                        "\n-----END OPENSSH PRIVATE KEY-----", key_body),
        "named-secret": (f"DB_PASSWORD={(s := rand(20))}", s),
        "acme-key": (f"acme_{(s := rand(16, string.ascii_lowercase))}", s),
    }


SAMPLES = samples()
TEXT = " ; ".join(text for text, _ in SAMPLES.values())
VALUES = [value for _, value in SAMPLES.values()]


def holds_secret(blob: str | bytes) -> list[str]:
    data = blob.encode() if isinstance(blob, str) else blob
    return [v for v in VALUES if v.encode() in data]


@pytest.fixture(scope="module")
def patterns(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A patterns file adding a kind of our own; the server and the hook both read it."""
    path = tmp_path_factory.mktemp("patterns") / "patterns.txt"
    path.write_text("# our own keys\nacme-key acme_[a-z]{16}\n")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, patterns: Path) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("redact")
    proc = start_server(f"sqlite:///{folder / 'data' / 'router-ext.db'}",
                        env={"ROUTER_EXT_REDACT_PATTERNS": str(patterns)})
    yield proc
    proc.stop()


# -- the pattern set ------------------------------------------------------------------------

@pytest.mark.parametrize("kind", list(SAMPLES))
def test_each_shape_becomes_a_marker_naming_it(kind: str) -> None:
    text, value = SAMPLES[kind]
    redactor = Redactor([("acme-key", "acme_[a-z]{16}")])
    counts: dict[str, int] = {}
    out = redactor.text(f"before {text} after", counts)
    assert value not in out and f"[REDACTED:{kind}]" in out, out
    assert counts == {kind: 1} and out.startswith("before ") and out.endswith(" after")


def test_names_json_and_false_friends() -> None:
    redactor = Redactor()
    counts: dict[str, int] = {}
    out = redactor.text("export GITHUB_TOKEN=ghp_" + "a1" * 18 + " API_KEY=$API_KEY "
                        "task-abcdefghijklmnopqrstuvwxyz0123 max_tokens=4096", counts)
    assert out.startswith("export GITHUB_TOKEN=[REDACTED:github-token] API_KEY=$API_KEY ")
    assert "task-abcdefghijklmnopqrstuvwxyz0123" in out  # not an OpenAI key
    doc = {"tool_input": {"command": "curl -H 'Authorization: Bearer " + rand(30) + "'",
                          "password": "hunter2", "input_tokens": 12}, "note": "[REDACTED:jwt]"}
    text = json.dumps(doc)
    found: dict[str, int] = {}
    scrubbed = json.loads(redactor.scrub_json(text, found))
    assert scrubbed["tool_input"]["password"] == "[REDACTED:secret-field]"
    assert scrubbed["tool_input"]["input_tokens"] == 12
    assert scrubbed["tool_input"]["command"] == \
        "curl -H 'Authorization: Bearer [REDACTED:authorization]'"
    assert found == {"secret-field": 1, "authorization": 1, "jwt": 1}  # markers counted too
    plain = json.dumps({"tool_input": {"command": "ls -la"}})
    assert redactor.scrub_json(plain, {}) is plain


# -- every transport ------------------------------------------------------------------------

def send_everything(server: ServerProcess, tag: str) -> None:
    payload = {"tool_name": "Bash", "tool_input": {"command": TEXT}, "tag": tag}
    with httpx.Client(base_url=server.url, timeout=15) as http:
        for r in (
            http.post("/events", json={"source_app": "redact", "session_id": tag,
                                       "hook_event_type": "PreToolUse", "payload": payload,
                                       "summary": TEXT, "chat": [{"content": TEXT}],
                                       "humanInTheLoop": {"question": TEXT}}),
            http.post("/hooks/claude-code?source_app=redact",
                      json={"hook_event_name": "PreToolUse", "session_id": tag,
                            "tool_name": "Bash", "tool_input": {"command": TEXT}}),
            http.post("/api/events", json={"type": "PreToolUse", "session_id": tag,
                                           "source_app": "redact", "data": {"text": TEXT}}),
            http.post("/metrics/harness", json={"source": "ralph", "event": "task_failed",
                                                "task_id": tag, "error": TEXT,
                                                "task_title": "t"}),
            http.post(f"/api/ralph/{tag}/stop", json={"reason": TEXT}),
        ):
            assert r.status_code < 300, r.text
            assert not holds_secret(r.text), r.text  # the answer carries markers too
    with server.channel() as channel:
        ingest, _, _ = stubs(channel)
        one = grpc_event(source_app="redact", session_id=tag, payload=payload, summary=TEXT)
        ingest.Publish(ingest_pb2.PublishRequest(event=one), timeout=10)
        ingest.PublishBatch(ingest_pb2.PublishBatchRequest(events=[grpc_event(
            source_app="redact", session_id=tag, payload=payload)]), timeout=10)
        list(ingest.PublishStream(iter([ingest_pb2.PublishRequest(event=grpc_event(
            source_app="redact", session_id=tag, payload=payload))]), timeout=10))
        ingest.PublishMetric(ingest_pb2.PublishMetricRequest(metric=types_pb2.HarnessMetric(
            source="ralph", event="task_failed", task_id=tag + "-g", error=TEXT,
            extra_json=json.dumps({"note": TEXT}))), timeout=10)


def run_hook(server_url: str, spool: Path, tag: str, patterns: Path) -> None:
    stdin = json.dumps({"hook_event_name": "PreToolUse", "session_id": tag, "tool_name": "Bash",
                        "tool_input": {"command": TEXT}, "cwd": "/tmp"}).encode()
    env = {**os.environ, "ROUTER_EXT_SPOOL_DIR": str(spool), "ROUTER_EXT_HOOK_DEADLINE": "5",
           "ROUTER_EXT_HOOK_ATTEMPT_TIMEOUT": "2", "ROUTER_EXT_HOOK_BUDGET": "10",
           "ROUTER_EXT_REDACT_PATTERNS": str(patterns)}
    subprocess.run([sys.executable, "-S", str(HOOK), "--source-app", "redact-hook", "--server",
                    server_url], input=stdin, env=env, timeout=60, check=True)


def ws_live(server: ServerProcess, received: list[str], ready: threading.Event,
            stop: threading.Event) -> None:
    async def run() -> None:
        async with websockets.connect(f"{server.ws_url}/stream?limit=0") as ws:
            ready.set()
            while not stop.is_set():
                try:
                    received.append(str(await asyncio.wait_for(ws.recv(), 0.5)))
                except TimeoutError:
                    continue
                except websockets.ConnectionClosed:
                    return

    asyncio.run(run())


def test_no_secret_survives_any_transport(server: ServerProcess, tmp_path: Path,
                                          patterns: Path) -> None:
    tag = uuid.uuid4().hex
    live: list[str] = []
    ready, stop = threading.Event(), threading.Event()
    watcher = threading.Thread(target=ws_live, args=(server, live, ready, stop), daemon=True)
    watcher.start()
    assert ready.wait(10)
    send_everything(server, tag)
    run_hook(server.url, tmp_path / "spool-up", tag, patterns)
    down = tmp_path / "spool-down"
    run_hook("http://127.0.0.1:9", down, tag, patterns)  # nobody listens on the discard port
    spooled = (down / "spool.jsonl").read_bytes()
    assert b"[REDACTED:anthropic-key]" in spooled and not holds_secret(spooled)

    recent = httpx.get(f"{server.url}/events/recent", params={"limit": 1000}, timeout=10)
    last_id = max(e["id"] for e in recent.json())
    assert not holds_secret(recent.text)
    stop.set()
    watcher.join(10)
    assert any(f'"id":{last_id},' in m for m in live) and not holds_secret("".join(live))
    with httpx.stream("GET", f"{server.url}/api/events/stream?after_id=0", timeout=15) as sse:
        text = ""
        for chunk in sse.iter_text():
            text += chunk
            if f"id: {last_id}\n" in text:
                break
    assert not holds_secret(text)
    assert not holds_secret(grpc_replay(server, last_id))
    kinds = {kind for e in recent.json() for kind in SAMPLES if f"[REDACTED:{kind}]" in
             json.dumps(e)}
    assert kinds == set(SAMPLES), set(SAMPLES) - kinds
    db = Path(server.database_url.split(":///", 1)[1])
    for path in (db, db.with_name(db.name + "-wal")):
        if path.exists():
            assert not holds_secret(path.read_bytes()), path
    metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
    for kind in SAMPLES:
        line = next(x for x in metrics.splitlines()
                    if x.startswith(f'harness_redacted_values_total{{kind="{kind}"}}'))
        assert float(line.rsplit(" ", 1)[1]) > 0, line


def grpc_replay(server: ServerProcess, last_id: int) -> str:
    seen: list[str] = []
    with server.channel() as channel:
        _, stream, _ = stubs(channel)
        call = stream.Subscribe(stream_pb2.SubscribeRequest(after_id=0), timeout=30)
        try:
            for message in call:
                if message.HasField("event"):
                    seen.append(str(message.event))
                    if message.event.id >= last_id:
                        break
        finally:
            call.cancel()
    assert seen
    return "".join(seen)


def test_database_is_created_owner_only(server: ServerProcess) -> None:
    db = Path(server.database_url.split(":///", 1)[1])
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    wal = db.with_name(db.name + "-wal")
    if wal.exists():
        assert stat.S_IMODE(wal.stat().st_mode) == 0o600


def test_redaction_can_be_turned_off(tmp_path: Path) -> None:
    proc = start_server(f"sqlite:///{tmp_path / 'db.sqlite'}", env={"ROUTER_EXT_REDACT": "0"})
    try:
        text, value = SAMPLES["github-token"]
        r = httpx.post(f"{proc.url}/events", timeout=10, json={
            "source_app": "off", "session_id": "s", "hook_event_type": "X",
            "payload": {"command": text}})
        assert value in r.text
    finally:
        proc.stop()
