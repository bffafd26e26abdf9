"""`router-ext doctor`: is the server side healthy? Database, schema, disk, retention, spool.

Every check reads only (reader connections, no writes), so it is safe next to a running
server. Exit status 0 when nothing failed (warnings allowed), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from router_ext.settings import Settings

HTTP_TIMEOUT = 5.0
LOW_DISK_BYTES = 512 * 1024 * 1024
LOW_DISK_SHARE = 0.05


@dataclass
class Check:
    """One line of the report."""

    name: str
    status: str  # ok | warn | fail
    detail: str


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the subcommand."""
    p = sub.add_parser("doctor", help="check the database, schema, disk, retention and spool",
                       description="Check the server side: the database answers, its schema "
                                   "revision, free disk, the retention policy and what it "
                                   "would delete, the local client spool; with --url also "
                                   "the running server's /health.")
    p.add_argument("--database-url", help="sqlite:///path or postgresql://... (DATABASE_URL)")
    p.add_argument("--url", help="a running server's base URL, to read its /health too")
    p.add_argument("--spool-dir", help="client spool folder (ROUTER_EXT_SPOOL_DIR)")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print each check; exit 1 when one failed."""
    settings = Settings.from_env().with_(database_url=args.database_url)
    checks = diagnose(settings, url=args.url, spool_dir=args.spool_dir)
    if args.json:
        print(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        for c in checks:
            print(f"{c.status:<4}  {c.name:<10} {c.detail}")
    return 1 if any(c.status == "fail" for c in checks) else 0


def diagnose(settings: Settings, *, url: str | None = None,
             spool_dir: str | None = None) -> list[Check]:
    """Every check, in order; a database that does not answer skips those that need it."""
    from router_ext.store.db import make_engine, ping

    engine = make_engine(settings, writer=False)
    checks: list[Check] = []
    try:
        try:
            ping(engine)
            checks.append(Check("database", "ok", f"{settings.backend} reachable"))
        except Exception as exc:
            checks.append(Check("database", "fail", f"{exc.__class__.__name__}: {exc}"[:300]))
        else:
            for step in (_schema, _size, _retention):
                checks.append(_guarded(step, engine, settings))
    finally:
        engine.dispose()
    checks.append(_disk(settings))
    checks.append(_spool(spool_dir))
    if url:
        checks.append(_server(url, settings.token))
    return checks


def _guarded(step: Callable[[Any, Settings], Check], engine: Any, settings: Settings) -> Check:
    try:
        return step(engine, settings)
    except Exception as exc:
        return Check(step.__name__.strip("_"), "fail", f"{exc.__class__.__name__}: {exc}"[:300])


def _schema(engine: Any, settings: Settings) -> Check:
    from router_ext.store import schema

    try:
        state = schema.state(engine)
    except schema.SchemaError as exc:
        return Check("schema", "fail", exc.message)
    if state.up_to_date:
        return Check("schema", "ok", f"revision {state.current} (current)")
    when = "at the next start" if settings.db_auto_upgrade else "by `router-ext db upgrade`"
    return Check("schema", "warn", f"revision {schema._name(state)}, upgraded to "
                                   f"{state.head} {when}")


def _size(engine: Any, settings: Settings) -> Check:
    from router_ext.store import sizes

    on_disk = sizes.file_bytes(engine)
    bound = settings.max_db_bytes
    if not bound:
        return Check("size", "ok", f"{_mib(on_disk)} on disk, no size bound")
    used, _rows = sizes.used_bytes(engine, bound)
    status = "ok" if used <= bound else "warn"
    return Check("size", status, f"{_mib(used)} in use of a {_mib(bound)} bound "
                                 f"({_mib(on_disk)} on disk)")


def _retention(engine: Any, settings: Settings) -> Check:
    from router_ext.store.retention import DAY_MS, count_older

    if not settings.retention_enabled:
        return Check("retention", "ok", "off (ROUTER_EXT_RETENTION_DAYS and "
                                        "ROUTER_EXT_MAX_DB_BYTES unset): events are kept")
    parts = []
    if settings.retention_days > 0:
        cutoff = int(time.time() * 1000 - settings.retention_days * DAY_MS)
        parts.append(f"{settings.retention_days:g} days ({count_older(engine, cutoff)} "
                     f"events are older and go at the next run)")
    if settings.max_db_bytes > 0:
        parts.append(f"size bound {_mib(settings.max_db_bytes)}")
    status = "ok"
    if settings.backend == "sqlite":
        with engine.connect() as conn:
            mode = conn.exec_driver_sql("PRAGMA auto_vacuum").scalar()
        if mode != 2:
            status = "warn"
            parts.append("file not in incremental-vacuum mode yet (one VACUUM at next start)")
    return Check("retention", status, "; ".join(parts))


def _disk(settings: Settings) -> Check:
    path = settings.sqlite_path()
    if path is None:
        return Check("disk", "ok", "PostgreSQL: free space is the database server's")
    folder = path.resolve().parent
    usage = shutil.disk_usage(folder if folder.exists() else folder.anchor)
    low = usage.free < LOW_DISK_BYTES or usage.free < usage.total * LOW_DISK_SHARE
    return Check("disk", "warn" if low else "ok",
                 f"{_mib(usage.free)} free of {_mib(usage.total)} at {folder}")


def _spool(spool_dir: str | None) -> Check:
    from router_ext_client.config import ClientConfig
    from router_ext_client.spool import Spool

    config = ClientConfig.from_env(spool_dir=spool_dir)
    status = Spool(config.spool_dir, config.spool_max_bytes).status()
    detail = (f"{status['pending']} pending, {status['dropped']} dropped, "
              f"{status['damaged']} damaged in {config.spool_dir}")
    bad = status["pending"] or status["dropped"] or status["damaged"]
    return Check("spool", "warn" if bad else "ok", detail)


def _server(url: str, token: str) -> Check:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"{url.rstrip('/')}/health", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            health = json.loads(response.read())
    except (OSError, ValueError) as exc:
        return Check("server", "fail", f"{url}: {exc}"[:300])
    retention = health.get("retention") or {}
    last = retention.get("last_run_at")
    ran = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(last)) if last else "not yet"
    return Check("server", "ok", f"{url} up {health.get('uptime_seconds')} s, schema "
                                 f"{(health.get('schema') or {}).get('revision')}, retention "
                                 f"last ran {ran}, deleted {retention.get('deleted_total', 0)}")


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"
