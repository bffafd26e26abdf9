"""`router-ext tail` prints events as JSON lines as they arrive and resumes across a restart."""

from __future__ import annotations

import json
import queue
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

from router_ext.v1 import ingest_pb2
from tests.grpc_helpers import event, stubs
from tests.support import ROOT, ServerProcess, start_server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def publish(server: ServerProcess, count: int, **fields: Any) -> list[int]:
    with server.channel() as ch:
        ingest, _, _ = stubs(ch)
        response = ingest.PublishBatch(ingest_pb2.PublishBatchRequest(
            events=[event(**fields) for _ in range(count)]), timeout=10)
    return [a.id for a in response.acks]


class Tail:
    """`router-ext tail` as a child process, its stdout lines in a queue."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "router_ext.cli", "tail", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, bufsize=1)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def read(self, count: int, timeout: float = 15) -> list[dict[str, Any]]:
        return [json.loads(self.lines.get(timeout=timeout)) for _ in range(count)]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


def test_tail_filters_flushes_and_resumes_after_a_restart(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'router-ext.db'}"
    port = free_port()
    app = f"tail-{uuid.uuid4().hex[:8]}"
    server = start_server(db, grpc_port=port)
    tail = Tail("--grpc", f"127.0.0.1:{port}", "--source-app", app, "--after-id", "0")
    try:
        first = publish(server, 3, source_app=app, payload={"n": 1})
        publish(server, 2, source_app="someone-else")
        lines = tail.read(3)
        assert [line["id"] for line in lines] == first
        assert all(line["source_app"] == app and line["payload"] == {"n": 1} for line in lines)

        server.stop()
        server = start_server(db, grpc_port=port)
        second = publish(server, 4, source_app=app, hook_event_type="Stop")
        lines = tail.read(4, timeout=20)
        assert [line["id"] for line in lines] == second  # no repeat of the first three, no gap
        assert all(line["hook_event_type"] == "Stop" for line in lines)
        assert tail.lines.empty()
    finally:
        tail.stop()
        server.stop()


def test_tail_gives_up_after_max_reconnects() -> None:
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "router_ext.cli", "tail", "--grpc", f"127.0.0.1:{port}",
         "--max-reconnects", "1"],
        capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert result.returncode == 1
    assert "giving up" in result.stderr
