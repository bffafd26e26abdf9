"""`router-ext tail`: subscribe over gRPC and print events as JSON lines, resuming on reconnect."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

BACKOFF_MAX = 2.0  # reconnect attempts are cheap; a restarted server is picked up quickly


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the subcommand."""
    p = sub.add_parser("tail", help="print live events as JSON lines",
                       description="Subscribe to the gRPC stream and print one JSON event per "
                                   "line, flushed as it arrives. Reconnects and resumes.")
    p.add_argument("--grpc", default=os.environ.get("ROUTER_EXT_GRPC", "127.0.0.1:4317"),
                   help="server address HOST:PORT (ROUTER_EXT_GRPC, default 127.0.0.1:4317)")
    p.add_argument("--source-app", action="append", default=[], help="only this app (repeat)")
    p.add_argument("--session", action="append", default=[], help="only this session (repeat)")
    p.add_argument("--type", action="append", default=[], help="only this event type (repeat)")
    p.add_argument("--after-id", type=int, default=None,
                   help="replay stored events after this id first (default: live only)")
    p.add_argument("--updates", action="store_true", help="also print updates (HITL answers)")
    p.add_argument("--token", default=os.environ.get("ROUTER_EXT_READ_TOKEN")
                   or os.environ.get("ROUTER_EXT_TOKEN", ""),
                   help="bearer token of the read role (ROUTER_EXT_READ_TOKEN, else "
                        "ROUTER_EXT_TOKEN)")
    p.add_argument("--max-reconnects", type=int, default=-1,
                   help="give up after this many failed reconnects in a row (default: never)")
    p.set_defaults(run=run)


def _line(event: Any, kind: str) -> str:
    from router_ext.v1 import types_pb2  # noqa: F401  (keeps the import local to the command)

    out = {
        "id": event.id, "event_uid": event.event_uid, "source_app": event.source_app,
        "session_id": event.session_id, "hook_event_type": event.hook_event_type,
        "timestamp": event.timestamp_ms, "payload": json.loads(event.payload_json or "{}"),
    }
    for name in ("model_name", "host", "agent_id", "tool_name", "tool_use_id", "summary"):
        if getattr(event, name):
            out[name] = getattr(event, name)
    if kind == "update":
        out["update"] = True
        status = event.human_in_the_loop_status
        out["humanInTheLoopStatus"] = {"status": status.status,
                                       "respondedBy": status.responded_by}
    return json.dumps(out, separators=(",", ":"))


def run(args: argparse.Namespace) -> int:
    """Stream until interrupted; each reconnect resumes after the last printed id."""
    import grpc

    from router_ext.v1 import stream_pb2, stream_pb2_grpc, types_pb2

    last_id: int | None = args.after_id
    failures = 0
    metadata = (("authorization", f"Bearer {args.token}"),) if args.token else ()
    options = [("grpc.keepalive_time_ms", 30_000), ("grpc.keepalive_timeout_ms", 10_000),
               ("grpc.keepalive_permit_without_calls", 1)]
    while True:
        request = stream_pb2.SubscribeRequest(
            filter=types_pb2.EventFilter(source_apps=args.source_app, session_ids=args.session,
                                         hook_event_types=args.type),
            include_updates=args.updates,
        )
        if last_id is not None:
            request.after_id = last_id
        try:
            with grpc.insecure_channel(args.grpc, options=options) as channel:
                stub = stream_pb2_grpc.StreamServiceStub(channel)
                # Subscribe is long-lived by design, so it has no deadline; keepalive detects
                # a dead peer instead.
                for message in stub.Subscribe(request, metadata=metadata, wait_for_ready=False):
                    failures = 0
                    kind = message.WhichOneof("kind")
                    if kind == "heartbeat":
                        last_id = max(last_id or 0, message.heartbeat.last_id)
                        continue
                    event = getattr(message, kind)
                    sys.stdout.write(_line(event, kind) + "\n")
                    sys.stdout.flush()
                    if kind == "event":
                        last_id = event.id
        except grpc.RpcError as exc:
            code = exc.code()
            if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INVALID_ARGUMENT):
                print(f"router-ext tail: {exc.details()}", file=sys.stderr)
                return 1
            for key, value in exc.trailing_metadata() or ():
                if key == "resume-after-id":
                    last_id = int(value)
            failures += 1
            if 0 <= args.max_reconnects < failures:
                print(f"router-ext tail: giving up: {exc.details()}", file=sys.stderr)
                return 1
            delay = min(BACKOFF_MAX, 0.2 * 2 ** min(failures, 5))
            print(f"router-ext tail: {code.name}: {exc.details()}; reconnecting in "
                  f"{delay:.1f}s after id {last_id}", file=sys.stderr, flush=True)
            time.sleep(delay)
