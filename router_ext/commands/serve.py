"""`router-ext serve`: the server."""

from __future__ import annotations

import argparse

from router_ext.settings import Settings


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
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Start serving; returns when the server stops."""
    from router_ext.serve import run as serve_forever

    settings = Settings.from_env().with_(
        host=args.host, http_port=args.http_port, grpc_port=args.grpc_port,
        otlp_http_port=args.otlp_http_port, database_url=args.database_url,
    )
    serve_forever(settings)
    return 0
