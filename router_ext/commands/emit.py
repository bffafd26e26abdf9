"""`router-ext emit`: the command-line emitter (same as `python -m router_ext_client.emit`)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the subcommand."""
    from router_ext_client import emit

    p = sub.add_parser("emit", help="report an event or harness metric through the "
                                    "retrying client",
                       description=(emit.__doc__ or "").split("\n\n")[0])
    emit.configure(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Send, spool, or answer; see router_ext_client.emit."""
    from router_ext_client import emit

    return emit.run(args)
