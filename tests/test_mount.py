"""router-ext mounted into an LLM router: the example app, run as a real server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from router_ext import mount
from router_ext.settings import Settings
from tests.support import ROOT

EXAMPLE = ROOT / "examples" / "router_app.py"


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("mount") / "router-ext.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(EXAMPLE), "--port", "0"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith("http="), first + (proc.stderr.read() if proc.stderr else "")
    url = "http://" + first.strip().split("=", 1)[1]
    deadline = time.monotonic() + 20
    while True:  # the socket is bound before the lifespan has run
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the example router never became ready"
        time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(20)


def test_router_keeps_its_own_routes(router: str) -> None:
    r = httpx.post(f"{router}/v1/chat/completions",
                   json={"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200 and r.json()["object"] == "chat.completion"


def test_harness_routes_and_lifespan_work_in_the_router(router: str) -> None:
    r = httpx.post(f"{router}/metrics/harness", json={
        "source": "ralph", "event": "task_completed", "label": "mounted", "task_id": "t1",
        "duration_ms": 2000, "success": True, "model": "claude-haiku-4-5",
        "input_tokens": 1000, "output_tokens": 100})
    assert r.status_code == 200, r.text
    stats = httpx.get(f"{router}/metrics/harness/stats").json()
    assert "mounted" in {row["label"] for row in stats["by_label"]}  # the fold ran
    assert httpx.post(f"{router}/metrics/harness", json={"event": "x"}).status_code == 400


def test_one_metrics_endpoint_carries_router_and_harness_metrics(router: str) -> None:
    httpx.post(f"{router}/v1/chat/completions", json={"model": "gpt-x", "messages": []})
    text = httpx.get(f"{router}/metrics").text
    assert 'router_requests_total{model="gpt-x"}' in text
    assert 'harness_tokens_total{cache="none",model="claude-haiku-4-5",type="input"} 1000.0' \
        in text
    assert "harness_sessions_active" in text and "harness_build_info" in text


def test_mount_under_a_prefix(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    app = Starlette()
    registry = CollectorRegistry()
    # Mounted, router-ext still refuses Host names nobody listed (DNS rebinding).
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                        allowed_hosts=("router",))
    core = mount(app, settings=settings, registry=registry, prefix="/harness")
    assert app.state.router_ext is core

    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=transport, base_url="http://router") as client:
            r = await client.post("/harness/metrics/harness",
                                  json={"source": "api", "event": "job_started", "task_id": "j1"})
            assert r.status_code == 200, r.text
            assert (await client.get("/metrics/harness")).status_code == 404
            stats = (await client.get("/harness/metrics/harness/stats")).json()
            assert stats["active_sessions"] == {"api": 1}
            foreign = await client.get("/harness/metrics/harness/stats",
                                       headers={"host": "rebound.invalid"})
            assert foreign.status_code == 400 and foreign.json()["field"] == "host"

    asyncio.run(run())
    assert b"harness_sessions_started_total" in generate_latest(registry)
    with pytest.raises(ValueError):
        mount(Starlette(), settings=settings, registry=CollectorRegistry(), prefix="harness/")
