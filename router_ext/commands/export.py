"""`router-ext export`: events and sessions as JSONL, for moving or keeping history.

Reads through reader connections, so it runs next to a live server. `router-ext import FILE`
reads the file back (SQLite or PostgreSQL), idempotently.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from router_ext.settings import Settings


def when(text: str) -> int:
    """Milliseconds since the epoch from digits, or from an ISO 8601 date or time (UTC default)."""
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time: {text!r} (use 2026-11-30, 2026-11-30T12:00:00+01:00 or ms)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the subcommand."""
    p = sub.add_parser("export", help="write events and sessions as JSONL",
                       description="Write events (by timestamp) and sessions (active in the "
                                   "window) as JSON lines; `router-ext import FILE` reads them "
                                   "back into SQLite or PostgreSQL.")
    p.add_argument("--since", type=when, help="first time included (ISO 8601 or ms)")
    p.add_argument("--until", type=when, help="first time excluded (ISO 8601 or ms)")
    p.add_argument("--source-app", help="only this source_app")
    p.add_argument("--output", "-o", type=Path, help="file to write (default: standard output)")
    p.add_argument("--database-url", help="sqlite:///path or postgresql://... (DATABASE_URL)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Write the export; the counts go to standard error (or stdout when writing a file)."""
    from router_ext.store import schema
    from router_ext.store.db import make_engine
    from router_ext.store.portable import Filters, export

    settings = Settings.from_env().with_(database_url=args.database_url)
    engine = make_engine(settings, writer=False)
    try:
        state = schema.state(engine)
        if state.current is None and not state.legacy:
            print("router-ext export: the database is empty (no router-ext tables)",
                  file=sys.stderr)
            return 2
        revision = state.current or schema.BASELINE
        filters = Filters(args.since, args.until, args.source_app)
        with _output(args.output) as out:
            counts = export(engine, out, filters, revision, int(time.time() * 1000))
    except schema.SchemaError as exc:
        print(f"router-ext export: {exc.message}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(json.dumps(counts, sort_keys=True), file=sys.stdout if args.output else sys.stderr)
    return 0


@contextlib.contextmanager
def _output(path: Path | None) -> Iterator[IO[str]]:
    """Standard output, or a file that appears whole (and owner-only) when done."""
    if path is None:
        yield sys.stdout
        return
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with open(fd, "w", encoding="utf-8") as out:
            yield out
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(path)
