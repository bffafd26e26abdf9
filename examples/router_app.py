"""A small LLM-router stand-in with router-ext mounted into it.

The router has its own OpenAI-style `/v1/chat/completions` and its own Prometheus `/metrics`;
`mount()` adds `/metrics/harness`, `/events`, the dashboard and the rest, and registers the
harness metrics in the router's registry, so one scrape of `/metrics` carries both.

    python examples/router_app.py --port 8080
    curl -s localhost:8080/v1/chat/completions -d '{"model": "m", "messages": []}'
    curl -s localhost:8080/metrics | grep -E '^(router|harness)_' | head

The first line printed is `http=HOST:PORT` (port 0 picks a free one). DATABASE_URL and the
ROUTER_EXT_* variables configure router-ext as they do for `router-ext serve`.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import time

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from router_ext import mount

REGISTRY = CollectorRegistry()
REQUESTS = Counter("router_requests", "Chat completion requests served by the router",
                   ["model"], registry=REGISTRY)


async def chat_completions(request: Request) -> JSONResponse:
    """A canned answer in the OpenAI chat-completions shape."""
    body = await request.json()
    model = str(body.get("model") or "default")
    REQUESTS.labels("other" if len(model) > 64 else model).inc()
    return JSONResponse({
        "id": f"chatcmpl-{time.time_ns()}", "object": "chat.completion",
        "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "Hello from the router."}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
    })


async def metrics(request: Request) -> Response:
    """The router's own /metrics: its counters and, through mount(), the harness ones."""
    return Response(await asyncio.to_thread(generate_latest, REGISTRY),
                    media_type=CONTENT_TYPE_LATEST)


def create_app(prefix: str = "") -> Starlette:
    """The router with router-ext mounted (at `prefix`, or alongside its own routes)."""
    app = Starlette(routes=[
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/metrics", metrics, methods=["GET"]),
    ])
    mount(app, registry=REGISTRY, prefix=prefix)
    return app


def main() -> None:
    """Serve the example router."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--prefix", default="", help="mount router-ext under this path")
    args = parser.parse_args()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    print(f"http={args.host}:{sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(create_app(args.prefix), lifespan="on", log_level="warning",
                            timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
