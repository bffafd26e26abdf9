"""`python -m harness.api [--host H] [--port P] [--require-project]`: serve the harness API.

Prints `http=HOST:PORT` once listening. Reports to router-ext through ROUTER_EXT_URL; runs
`claude` from HARNESS_CLAUDE_BIN with HARNESS_CLAUDE_ARGS in HARNESS_WORKDIR.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import uvicorn

from harness.api.app import create_app


def main(argv: list[str] | None = None) -> int:
    """Parse options and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m harness.api",
                                     description="The reference claude-harness API.")
    parser.add_argument("--host", default=os.environ.get("HARNESS_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("HARNESS_PORT", 8000)))
    parser.add_argument("--require-project", action="store_true",
                        default=os.environ.get("HARNESS_REQUIRE_PROJECT") == "1",
                        help="answer 400 to requests without X-Project")
    parser.add_argument("--max-running", type=int,
                        default=int(os.environ.get("HARNESS_MAX_RUNNING", 4)),
                        help="jobs run at once (the rest queue)")
    args = parser.parse_args(argv)
    app = create_app(require_project=args.require_project, max_running=args.max_running)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning",
                            lifespan="on")
    server = uvicorn.Server(config)

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.02)
        if server.started:
            port = server.servers[0].sockets[0].getsockname()[1]
            print(f"http={args.host}:{port}", flush=True)
        await task

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
