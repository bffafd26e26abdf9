"""`router-ext backup PATH`: a consistent copy of the live SQLite database."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path

from router_ext.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the subcommand."""
    p = sub.add_parser("backup", help="copy the SQLite database while the server runs",
                       description="Take a consistent copy of the SQLite database with SQLite's "
                                   "online backup API; ingest goes on meanwhile. Restore: stop "
                                   "the server and put the copy in the database's place. "
                                   "PostgreSQL: use pg_dump, or `router-ext export`.")
    p.add_argument("path", type=Path, metavar="PATH", help="where to write the copy")
    p.add_argument("--database-url", help="sqlite:///path (DATABASE_URL)")
    p.add_argument("--force", action="store_true", help="replace PATH if it exists")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print what the copy holds as JSON; exit 2 when no copy could be taken."""
    from router_ext.store.backup import BackupError, backup_sqlite

    settings = Settings.from_env().with_(database_url=args.database_url)
    source = settings.sqlite_path()
    if source is None:
        print("router-ext backup: the database is not a SQLite file; for PostgreSQL use "
              "pg_dump or `router-ext export`", file=sys.stderr)
        return 2
    if args.path.exists() and not args.force:
        print(f"router-ext backup: {args.path} exists (--force replaces it)", file=sys.stderr)
        return 2
    try:
        report = backup_sqlite(source, args.path)
    except (BackupError, OSError, sqlite3.Error) as exc:
        print(f"router-ext backup: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, sort_keys=True))
    return 0
