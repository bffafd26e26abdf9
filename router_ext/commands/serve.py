"""`router-ext serve`: the server."""

from __future__ import annotations

import argparse
import sys

from router_ext.settings import SettingError, Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the subcommand."""
    p = sub.add_parser("serve", help="run the HTTP and gRPC server",
                       description="Run the server. Options override ROUTER_EXT_* variables.")
    p.add_argument("--host", help="address to bind (ROUTER_EXT_HOST, default 127.0.0.1)")
    p.add_argument("--http-port", type=int,
                   help="HTTP port, 0 for any free one (ROUTER_EXT_HTTP_PORT, default 4000)")
    p.add_argument("--grpc-port", type=int,
                   help="gRPC port, 0 for any free one (ROUTER_EXT_GRPC_PORT, default 4317)")
    p.add_argument("--otlp-http-port", type=int,
                   help="OTLP/HTTP-only port, 0 = off (ROUTER_EXT_OTLP_HTTP_PORT, default 4318)")
    p.add_argument("--database-url",
                   help="sqlite:///path or postgresql://... (DATABASE_URL, "
                        "default sqlite:///data/router-ext.db)")
    p.add_argument("--insecure", action="store_true",
                   help="serve a non-loopback address even when a role has no token "
                        "(anyone who can reach it may then read, report or approve)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Serve until stopped; 2 with one line on stderr (no traceback) when it cannot start."""
    from router_ext.access.exposure import refusal, warning
    from router_ext.serve import StartupError
    from router_ext.serve import run as serve_forever

    try:
        settings = Settings.from_env()
    except SettingError as exc:  # a malformed ROUTER_EXT_* value; the message names it
        return _refuse(str(exc))
    settings = settings.with_(host=args.host, http_port=args.http_port,
                              grpc_port=args.grpc_port, otlp_http_port=args.otlp_http_port,
                              database_url=args.database_url, insecure=args.insecure or None)
    problem = refusal(settings)
    if problem and not settings.insecure:
        return _refuse(problem)
    if problem:
        print(f"router-ext: {warning(settings)}", file=sys.stderr)
    try:
        serve_forever(settings)
    except StartupError as exc:
        return _refuse(str(exc))
    return 0


def _refuse(message: str) -> int:
    print(f"router-ext: {message}", file=sys.stderr, flush=True)
    return 2
