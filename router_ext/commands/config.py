"""`router-ext config [--markdown]`: the server settings in force, or the reference table."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from router_ext.settings import Settings, declared, default_text
from router_ext_client.environment import VARIABLES

SECRET_NAMES = ("token", "password", "secret")
START, END = "<!-- settings-table -->", "<!-- /settings-table -->"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the subcommand."""
    p = sub.add_parser("config", help="show the server settings in force",
                       description="Print the settings the server would run with (from the "
                                   "environment), or with --markdown the reference table.")
    p.add_argument("--markdown", action="store_true",
                   help="print the docs/configuration.md table of every variable")
    p.add_argument("--write-docs", metavar="PATH",
                   help="put the table between the settings-table markers of PATH")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the settings or the table, or write the table into a document."""
    if args.write_docs:
        path = Path(args.write_docs)
        path.write_text(with_table(path.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print(markdown() if args.markdown else current(Settings.from_env()))
    return 0


def with_table(document: str) -> str:
    """`document` with the text between the settings-table markers replaced by the table."""
    head, start, rest = document.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise SystemExit(f"router-ext: the document has no {START} ... {END} markers")
    return f"{head}{START}\n{markdown()}\n{END}{tail}"


def current(settings: Settings) -> str:
    """`VARIABLE=value` for every server setting, secrets masked."""
    lines = []
    for f in fields(settings):
        if "env" not in f.metadata:
            continue
        value = getattr(settings, f.name)
        if isinstance(value, tuple):
            value = ",".join(value)
        if value and any(word in f.name for word in SECRET_NAMES):
            value = "***"
        lines.append(f"{f.metadata['env']}={value}")
    return "\n".join(lines)


def markdown() -> str:
    """Both reference tables: the server's settings, then everything read outside it."""
    out = ["## Server (`router-ext serve`)", "",
           "| variable | default | meaning |", "|---|---|---|"]
    out += [f"| `{f.metadata['env']}` | {default_text(f)} | {f.metadata['meaning']} |"
            for f in declared()]
    out += ["", "## Clients, hooks, the Ralph script and the harness API", "",
            "| variable | default | meaning | read by |", "|---|---|---|---|"]
    out += [f"| `{name}` | {default} | {meaning} | {who} |"
            for name, default, meaning, who in VARIABLES]
    return "\n".join(out)
