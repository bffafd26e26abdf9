"""The server starts, answers /health and stores a published event."""

from __future__ import annotations

import httpx

from tests.grpc_helpers import event, publish
from tests.support import ServerProcess


def test_health_reports_backend(server: ServerProcess) -> None:
    body = httpx.get(f"{server.url}/health", timeout=5).json()
    assert body["status"] == "ok"
    assert body["storage_backend"] == "sqlite"
    assert body["uptime_seconds"] >= 0


def test_publish_then_duplicate(server: ServerProcess) -> None:
    with server.channel() as ch:
        ev = event()
        first = publish(ch, ev)
        again = publish(ch, ev)
    assert first.id > 0 and not first.duplicate
    assert again.id == first.id and again.duplicate
