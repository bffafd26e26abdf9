"""`router-ext spool flush|status`: replay or inspect the client spool."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the subcommand."""
    p = sub.add_parser("spool", help="replay (flush) or inspect (status) the client spool",
                       description="Events a client could not deliver wait in the spool "
                                   "(ROUTER_EXT_SPOOL_DIR). flush sends them oldest first; an "
                                   "event the server refuses moves to the dead letter "
                                   "(dead-letter.jsonl beside the spool) and the rest go on. "
                                   "status shows pending, dead-letter, dropped and damaged "
                                   "counts.")
    p.add_argument("action", choices=("flush", "status"))
    p.add_argument("--server", help="server URL (ROUTER_EXT_URL)")
    p.add_argument("--token", help="bearer token (ROUTER_EXT_INGEST_TOKEN, else "
                                        "ROUTER_EXT_TOKEN)")
    p.add_argument("--spool-dir", help="spool folder (ROUTER_EXT_SPOOL_DIR)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """flush: exit 0 when the spool is empty afterwards; status: always 0."""
    from router_ext_client.client import Client
    from router_ext_client.config import ClientConfig

    client = Client(ClientConfig.from_env(url=args.server, token=args.token,
                                          spool_dir=args.spool_dir))
    if args.action == "status":
        print(json.dumps(client.spool.status()))
        return 0
    try:
        result = client.replay()
    finally:
        client.close()
    status = client.spool.status()
    print(json.dumps({**result.to_dict(), "pending": status["pending"],
                      "dropped": status["dropped"], "damaged_total": status["damaged"],
                      "dead_letter": status["dead_letter"],
                      "dead_letter_path": status["dead_letter_path"]}))
    if result.busy:
        print("router-ext spool: another process is replaying this spool", flush=True)
    return 0 if status["pending"] == 0 else 1
