"""`router-ext import PATH...`: backfill Claude Code transcripts and JSONL hook logs, and read
back files written by `router-ext export`.

Writes through its own writer into DATABASE_URL (or --database-url). With SQLite, stop the
server first or use --url to send the events to the running server instead: SQLite 3.40 must
never see two writers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from router_ext.settings import Settings

HTTP_TIMEOUT = 10.0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the subcommand."""
    p = sub.add_parser("import", help="backfill transcripts and hook logs",
                       description="Import Claude Code transcript folders (~/.claude/projects) "
                                   "JSONL hook logs (logs/sessions/<uuid>/*.jsonl), PAI's "
                                   "capture-all-events logs (*_all-events.jsonl) and files "
                                   "written by `router-ext export` (same event_uids, sessions "
                                   "restored) into events and sessions. Importing twice "
                                   "changes nothing.")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                   help="files or folders to import")
    p.add_argument("--database-url", help="sqlite:///path or postgresql://... (DATABASE_URL)")
    p.add_argument("--url", help="send to a running server at this base URL instead")
    p.add_argument("--token", help="bearer token for --url (ROUTER_EXT_INGEST_TOKEN, else "
                                            "ROUTER_EXT_TOKEN)")
    p.add_argument("--source-app", default="claude-code",
                   help="source_app of imported events whose file names none")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Import and print a JSON report."""
    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        print(f"router-ext import: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    settings = Settings.from_env().with_(database_url=args.database_url)
    from router_ext.store.portable import is_export

    exports = [p for p in args.paths if is_export(p)]
    args.paths = [p for p in args.paths if p not in exports]
    if exports and args.url:
        print("router-ext import: export files are imported into a database "
              "(--database-url), not sent to a server", file=sys.stderr)
        return 2
    report: dict[str, Any] = {}
    if exports:
        from router_ext.store.schema import SchemaError

        try:
            report.update(asyncio.run(_restore(exports, settings)))
        except (ValueError, SchemaError) as exc:
            print(f"router-ext import: {exc}", file=sys.stderr)
            return 2
    if args.paths:
        other = _send(args, settings) if args.url else asyncio.run(_store(args, settings))
        for key, value in other.items():  # counts both kinds have are added up
            report[key] = report.get(key, 0) + value
    print(json.dumps(report, sort_keys=True))
    return 0


async def _restore(paths: list[Path], settings: Settings) -> dict[str, Any]:
    """Read export files through a writer of their own: no sessions fold, no sweeper."""
    from router_ext.store import schema
    from router_ext.store.db import make_engine
    from router_ext.store.portable import ImportReport, import_file
    from router_ext.store.writer import Writer

    engine = make_engine(settings, writer=True)
    await asyncio.to_thread(schema.upgrade, engine)
    writer = Writer(engine, max_queue=settings.write_queue_size,
                    batch_max=settings.write_batch_max)
    report = ImportReport()
    await writer.start()
    try:
        for path in paths:
            await import_file(writer, path, report)
    finally:
        await writer.stop()
        engine.dispose()
    return report.as_dict()


async def _store(args: argparse.Namespace, settings: Settings) -> dict[str, int]:
    from router_ext.ingest.backfill import import_paths
    from router_ext.runtime import RouterExt

    core = RouterExt(settings)
    await core.start()
    try:
        report = await import_paths(core, args.paths, source_app=args.source_app)
    finally:
        await core.stop()
    return report.as_dict()


def _send(args: argparse.Namespace, settings: Settings) -> dict[str, int]:
    from router_ext.ingest.backfill import ImportReport, events

    report = ImportReport()
    token = args.token or settings.ingest_token or settings.token
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    for event in events(args.paths, report, settings.session_idle_seconds):
        body = {"event_uid": event.event_uid, "source_app": event.source_app or args.source_app,
                "session_id": event.session_id, "hook_event_type": event.hook_event_type,
                "timestamp": event.timestamp, "payload": event.payload}
        request = urllib.request.Request(f"{args.url.rstrip('/')}/events", method="POST",
                                         data=json.dumps(body).encode(), headers=headers)
        report.events += 1
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            if not 400 <= exc.code < 500:
                raise
            # Refused by the field rules: counted and skipped, as a local import does.
            report.counters["refused"] = report.counters.get("refused", 0) + 1
            print(f"router-ext import: event {event.event_uid} refused: {exc.code} "
                  f"{exc.read()[:300].decode('utf-8', 'replace')}", file=sys.stderr)
            continue
        report.sessions.add(event.session_id)
    return report.as_dict()
