"""Per-request overhead of harness.middleware on a Starlette app.

    .venv/bin/python bench/bench_middleware.py [--requests 20000]

The same Starlette app is called directly as ASGI (no network, so the difference is the
middleware alone), with and without HarnessMiddleware, interleaved so both see the same machine
load. The middleware's reporter sends every record to a real router-ext server from its
background thread while this runs. Prints p50/p99 per request for both and the p50 overhead.
Nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import bench_server, percentile  # type: ignore[import-not-found]


def build(with_middleware: bool, reporter: Any) -> Any:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from harness.middleware import HarnessMiddleware

    async def job(request: Request) -> JSONResponse:
        return JSONResponse({"id": request.path_params["job_id"], "status": "running"})

    middleware = [Middleware(HarnessMiddleware, reporter=reporter)] if with_middleware else []
    return Starlette(routes=[Route("/v1/jobs/{job_id}", job)], middleware=middleware)


def scope(n: int) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": f"/v1/jobs/job_{n}", "raw_path": f"/v1/jobs/job_{n}".encode(),
            "root_path": "", "query_string": b"", "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 5000),
            "headers": [(b"host", b"api"), (b"x-project", b"bench"),
                        (b"x-session-id", b"bench-session")]}


async def call(app: Any, n: int) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    started = time.perf_counter_ns()
    await app(scope(n), receive, send)
    return (time.perf_counter_ns() - started) / 1e6


async def measure(requests: int, reporter: Any) -> tuple[list[float], list[float]]:
    plain, wrapped = build(False, None), build(True, reporter)
    for n in range(500):  # warm both paths
        await call(plain, n)
        await call(wrapped, n)
    without, with_mw = [], []
    for n in range(requests):
        without.append(await call(plain, n))
        with_mw.append(await call(wrapped, n))
    return without, with_mw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    from harness.middleware import Reporter
    from router_ext_client.client import Client
    from router_ext_client.config import ClientConfig

    with tempfile.TemporaryDirectory() as tmp, bench_server() as server:
        client = Client(ClientConfig.from_env(url=f"grpc://{server.grpc_target}",
                                              spool_dir=f"{tmp}/spool"))
        reporter = Reporter(client, max_pending=1_000_000)
        without, with_mw = asyncio.run(measure(args.requests, reporter))
        started = time.monotonic()
        reporter.flush(120)
        print(f"requests per case: {args.requests}")
        print(f"without middleware: p50={percentile(without, 50) * 1000:7.1f} us  "
              f"p99={percentile(without, 99) * 1000:7.1f} us")
        print(f"with middleware:    p50={percentile(with_mw, 50) * 1000:7.1f} us  "
              f"p99={percentile(with_mw, 99) * 1000:7.1f} us")
        overhead = percentile(with_mw, 50) - percentile(without, 50)
        print(f"middleware overhead p50: {overhead * 1000:.1f} us ({overhead:.4f} ms)")
        print(f"reported {reporter.sent} records (dropped {reporter.dropped}); the backlog "
              f"drained {time.monotonic() - started:.1f} s after the last request")
        reporter.close()
        client.close()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
