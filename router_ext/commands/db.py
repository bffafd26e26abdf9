"""`router-ext db upgrade|current|history|revision`: the database schema and its migrations."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from router_ext.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the subcommand."""
    p = sub.add_parser("db", help="upgrade the database schema or show its revision",
                       description="upgrade: apply the packaged migrations (a 0.1.0 database "
                                   "is recognised and stamped first); current: the database's "
                                   "revision and the code's; history: every revision; "
                                   "revision: write a new migration from the models "
                                   "(for developers, in a source checkout).")
    p.add_argument("action", choices=("upgrade", "current", "history", "revision"))
    p.add_argument("message", nargs="?", help="revision: what the migration does")
    p.add_argument("--database-url", help="sqlite:///path or postgresql://... (DATABASE_URL)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Exit 0 on success, 2 when the database is newer than this code or not router-ext's."""
    from router_ext.store import schema

    if args.action == "history":
        for revision, doc in schema.history():
            print(f"{revision}  {doc}")
        return 0
    if args.action == "revision":
        return _revision(args.message)
    settings = Settings.from_env().with_(database_url=args.database_url)
    from router_ext.store.db import make_engine

    engine = make_engine(settings, writer=True)
    try:
        result = schema.upgrade(engine) if args.action == "upgrade" else schema.state(engine)
    except schema.SchemaError as exc:
        print(f"router-ext db: {exc.message}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(json.dumps(result.as_dict(), sort_keys=True))
    return 0


def _revision(message: str | None) -> int:
    """Autogenerate the next numbered migration against a scratch database at head."""
    from alembic import command

    from router_ext.store import schema
    from router_ext.store.db import make_throwaway_engine

    if not message:
        print("router-ext db revision: say what the migration does", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_throwaway_engine(f"sqlite:///{Path(scratch) / 'head.db'}")
        schema.upgrade(engine)
        with engine.begin() as conn:
            script = command.revision(schema.alembic_config(conn), message, autogenerate=True,
                                      rev_id=f"{int(schema.head()) + 1:04d}")
        engine.dispose()
    print(getattr(script, "path", script))
    return 0
