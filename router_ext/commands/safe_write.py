"""Replacing a user's file safely: atomic, never through a planted symlink, mode kept.

A file is written to a fresh temp file beside it (created with O_EXCL and O_NOFOLLOW under a
random name, so nothing placed there in advance is written through) and renamed over the old
one, which also replaces a symlink at a backup path instead of following it. The file keeps its
mode (a 0600 settings file stays 0600) and, when root writes it, its owner. A settings file that
is itself a symlink is written through to its target; a dangling link or a read-only file is
refused with the reason.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


class WriteRefused(Exception):
    """The file must not be written; the message says why."""


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def target_of(path: Path) -> Path:
    """The file to write for `path`: itself, or the file its symlink points to."""
    if not path.is_symlink():
        if path.exists() and not path.is_file():
            raise WriteRefused(f"{path} is not a regular file")
        return path
    target = Path(os.path.realpath(path))
    if not target.exists():
        raise WriteRefused(f"{path} is a symlink to {target}, which does not exist; "
                           "router-ext will not create files through a dangling link")
    if not target.is_file():
        raise WriteRefused(f"{path} is a symlink to {target}, which is not a regular file")
    return target


def check_writable(target: Path) -> None:
    """Refuse a file its owner made read-only (root could write it, but should not)."""
    if target.exists() and not target.stat().st_mode & stat.S_IWUSR:
        raise WriteRefused(f"{target} is read-only (mode {stat.S_IMODE(target.stat().st_mode):o})"
                           "; router-ext leaves it alone (chmod u+w to let it install)")


def replace_file(path: Path, data: bytes, *, like: os.stat_result | None = None) -> None:
    """Atomically make `path` hold `data`, with the mode and owner of `like` (else new-file
    defaults). A symlink at `path` is replaced, never followed."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), stat.S_IMODE(like.st_mode) if like else _umask_mode())
            if like is not None and os.geteuid() == 0:
                os.fchown(f.fileno(), like.st_uid, like.st_gid)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_with_backup(path: Path, data: bytes, backup: Path) -> Path:
    """Write `data` to `path` (through a symlink to its target), keeping the old contents at
    `backup` with the old mode. Returns the file actually written."""
    target = target_of(path)
    check_writable(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    old = target.stat() if target.exists() else None
    if old is not None:
        replace_file(backup, target.read_bytes(), like=old)
    replace_file(target, data, like=old)
    return target
