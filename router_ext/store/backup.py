"""A consistent copy of a live SQLite database, taken with SQLite's online backup API.

The copy is read in one backup step from a read-only connection: one read transaction, so it is
the database as of the moment the step began, while the server's writer keeps committing (WAL
readers never block the writer). It is written next to the target, checked, switched to a
plain rollback journal (one self-contained file), made owner-only and then renamed into place,
so a PATH that exists is always a whole backup.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import Any

BUSY_TIMEOUT_MS = 5_000


class BackupError(Exception):
    """The backup could not be taken (the message says why)."""


def _stats(conn: sqlite3.Connection) -> dict[str, Any]:
    events, last = conn.execute("SELECT count(*), coalesce(max(id), 0) FROM events").fetchone()
    sessions = conn.execute("SELECT count(*) FROM harness_sessions").fetchone()[0]
    return {"events": events, "last_event_id": last, "sessions": sessions}


def backup_sqlite(source: Path, target: Path) -> dict[str, Any]:
    """Copy `source` to `target` while it may be written; returns what the copy holds."""
    if not source.exists():
        raise BackupError(f"no database at {source}")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)  # pages=-1: every page in one step, one consistent snapshot
            dst.execute("PRAGMA journal_mode=DELETE")
            check = dst.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise BackupError(f"the copy failed its integrity check: {check}")
            stats = _stats(dst)
        finally:
            dst.close()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    os.chmod(partial, 0o600)  # it holds every prompt and command the events carried
    _fsync(partial)
    os.replace(partial, target)
    _fsync(target.parent)
    return {"path": str(target), "bytes": target.stat().st_size, **stats}


def _fsync(path: Path) -> None:
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
    fd = os.open(path, flags)
    try:
        with contextlib.suppress(OSError):  # some file systems cannot fsync a folder
            os.fsync(fd)
    finally:
        os.close(fd)
