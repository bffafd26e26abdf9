"""Test support: start a real router-ext server process on free ports and talk to it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"  # in the repository: a fresh clone tests on its own
STARTUP_SECONDS = 30


def require(condition: bool, reason: str) -> None:
    """Skip when something the test needs is absent, or fail when CI demands everything.

    `.ci/run` sets ROUTER_EXT_REQUIRE_ALL=1 so a missing browser, CLI or database is a failure
    there, never a quiet skip.
    """
    if condition:
        return
    if os.environ.get("ROUTER_EXT_REQUIRE_ALL") == "1":
        pytest.fail(f"required for this test but absent: {reason}")
    pytest.skip(reason)


@dataclass
class ServerProcess:
    """A running `router-ext serve` child process."""

    proc: subprocess.Popen[str]
    http_port: int
    grpc_port: int
    database_url: str
    host: str = "127.0.0.1"
    stderr_lines: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        """Base HTTP URL."""
        return f"http://{self.host}:{self.http_port}"

    @property
    def ws_url(self) -> str:
        """Base WebSocket URL."""
        return f"ws://{self.host}:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        """gRPC HOST:PORT."""
        return f"{self.host}:{self.grpc_port}"

    def channel(self) -> grpc.Channel:
        """A new blocking channel to the server."""
        return grpc.insecure_channel(self.grpc_target)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        """Signal the server and wait for it to exit; returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return int(self.proc.returncode)


def served(tmp_path_factory: Any, name: str,
           env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    """A server on a fresh SQLite file, for fixtures: `yield from served(factory, "ws", env)`."""
    proc = start_server(f"sqlite:///{tmp_path_factory.mktemp(name) / 'router-ext.db'}", env=env)
    try:
        yield proc
    finally:
        proc.stop()


def start_server(database_url: str, *, env: dict[str, str] | None = None,
                 http_port: int = 0, grpc_port: int = 0) -> ServerProcess:
    """Start `router-ext serve` on the given (default: free) ports and wait for its ready line."""
    # The OTLP/HTTP listener's fixed default port (4318) would collide between test servers.
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "ROUTER_EXT_OTLP_HTTP_PORT": "0",
                **(env or {})}
    cmd = [sys.executable, "-m", "router_ext.cli", "serve", "--host", "127.0.0.1",
           "--http-port", str(http_port), "--grpc-port", str(grpc_port),
           "--database-url", database_url]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=full_env, cwd=ROOT)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stderr or []), daemon=True).start()
    deadline = time.monotonic() + STARTUP_SECONDS
    assert proc.stdout is not None
    first = proc.stdout.readline()
    if not first.startswith("http="):
        proc.kill()
        time.sleep(0.2)
        raise RuntimeError(f"server did not start: {first!r} {''.join(lines)[-3000:]}")
    threading.Thread(target=lambda: [None for _ in proc.stdout or []], daemon=True).start()
    http_part, grpc_part = first.split()
    http = int(http_part.rsplit(":", 1)[1])
    grpc_p = int(grpc_part.rsplit(":", 1)[1])
    assert time.monotonic() < deadline
    return ServerProcess(proc, http, grpc_p, database_url, stderr_lines=lines)


@contextmanager
def running_server(database_url: str, **kwargs: object) -> Iterator[ServerProcess]:
    """A server for the duration of a with-block."""
    server = start_server(database_url, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


async def ingest_with_restarts(database_url: str, batches: list[tuple[list[Any], bool]]) -> None:
    """Store each batch of rows through a real core's writer; after a batch marked True the
    core stops and a new one starts on the same database."""
    from router_ext.runtime import RouterExt
    from router_ext.settings import Settings

    core = RouterExt(Settings(database_url=database_url))
    await core.start()
    try:
        for rows, restart in batches:
            await core.ingest(rows, "test")
            if restart:
                await core.stop()
                core = RouterExt(Settings(database_url=database_url))
                await core.start()
    finally:
        await core.stop()
