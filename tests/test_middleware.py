"""harness.middleware on a real uvicorn server, reporting to a real router-ext server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from harness.middleware import HarnessMiddleware, Reporter
from router_ext_client.client import Client
from router_ext_client.config import ClientConfig
from tests.support import ServerProcess
from tests.test_client import stored


def app_with(reporter: Reporter, *, require_project: bool = False) -> Starlette:
    async def item(request: Request) -> JSONResponse:
        return JSONResponse({"id": request.path_params["item_id"]})

    async def boom(request: Request) -> PlainTextResponse:
        raise RuntimeError("broken")

    return Starlette(routes=[Route("/items/{item_id}", item), Route("/boom", boom)],
                     middleware=[Middleware(HarnessMiddleware, reporter=reporter,
                                            require_project=require_project)])


class Served:
    """A uvicorn server on a free port in a background thread."""

    def __init__(self, app: Starlette) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.sock = sock
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                       daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(params=["http", "grpc"])
def reporter(request: pytest.FixtureRequest, server: ServerProcess,
             tmp_path: Path) -> Iterator[Reporter]:
    url = server.url if request.param == "http" else f"grpc://{server.grpc_target}"
    client = Client(ClientConfig.from_env(url=url, spool_dir=str(tmp_path / "spool")))
    rep = Reporter(client)
    yield rep
    rep.close()
    client.close()


def test_records_route_template_status_duration_and_headers(server: ServerProcess,
                                                            reporter: Reporter) -> None:
    served = Served(app_with(reporter))
    try:
        session = f"mw-1-{id(reporter)}"
        headers = {"X-Project": "alpha", "X-Session-ID": session}
        with httpx.Client(base_url=served.url, headers=headers, timeout=10) as http:
            assert http.get("/items/42").status_code == 200
            assert http.post("/items/7").status_code == 405
            assert http.get("/nowhere/123").status_code == 404
            assert http.get("/boom").status_code == 500
        assert reporter.flush(10)
    finally:
        served.stop()
    rows = stored(server, session=session)
    got = [(r["payload"]["method"], r["payload"]["route"], r["payload"]["status"])
           for r in rows]
    assert sorted(got) == sorted([("GET", "/items/{item_id}", 200),
                                  ("POST", "/items/{item_id}", 405),
                                  ("GET", "unmatched", 404), ("GET", "/boom", 500)])
    for row in rows:
        body = row["payload"]
        assert row["source_app"] == "api" and row["hook_event_type"] == "request"
        assert body["project"] == "alpha" and body["duration_us"] >= 0
        assert body["success"] == (body["status"] < 500)


def test_require_project_answers_400_naming_the_header(server: ServerProcess,
                                                       reporter: Reporter) -> None:
    served = Served(app_with(reporter, require_project=True))
    try:
        with httpx.Client(base_url=served.url, timeout=10) as http:
            session = f"mw-2-{id(reporter)}"
            refused = http.get("/items/1", headers={"X-Session-ID": session})
            accepted = http.get("/items/1", headers={"X-Project": "p", "X-Session-ID": session})
        assert reporter.flush(10)
    finally:
        served.stop()
    assert refused.status_code == 400
    assert refused.json()["field"] == "X-Project" and "X-Project" in refused.json()["detail"]
    assert accepted.status_code == 200
    statuses = [r["payload"]["status"] for r in stored(server, session=session)]
    assert sorted(statuses) == [200, 400]


def test_a_silent_router_ext_never_slows_requests(tmp_path: Path) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    config = ClientConfig.from_env(url=f"http://127.0.0.1:{silent.getsockname()[1]}",
                                   spool_dir=str(tmp_path / "spool"), deadline=2.0,
                                   attempt_timeout=1.0)
    rep = Reporter(Client(config), max_pending=3)
    served = Served(app_with(rep))
    try:
        with httpx.Client(base_url=served.url, timeout=10) as http:
            started = time.monotonic()
            for n in range(10):
                assert http.get(f"/items/{n}").status_code == 200
            elapsed = time.monotonic() - started
    finally:
        served.stop()
        silent.close()
    # Ten requests while each report waits up to 2 s: they must not wait for it.
    assert elapsed < 1.5, f"requests took {elapsed:.2f}s"
    assert rep.dropped > 0  # the queue bound held instead of growing
