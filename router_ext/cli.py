"""The `router-ext` console script: each subcommand lives in router_ext.commands.<name>."""

from __future__ import annotations

import argparse
import importlib
import sys

from router_ext._version import __version__
from router_ext.settings import SettingError

# Imported lazily by name so `router-ext --help` stays fast.
COMMANDS = ("serve", "config", "tail", "emit", "spool", "hooks", "importer", "db", "backup",
            "export", "doctor", "report", "statusline")


def build_parser() -> argparse.ArgumentParser:
    """The parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="router-ext",
        description="Claude Code, Ralph loop and claude-harness metrics for an LLM router.",
    )
    parser.add_argument("--version", action="version", version=f"router-ext {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"router_ext.commands.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the chosen subcommand."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except SettingError as exc:  # a malformed variable: one line naming it, no traceback
        print(f"router-ext: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
