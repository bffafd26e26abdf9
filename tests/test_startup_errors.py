"""A server that cannot start says why in one line, names the setting to change, and exits 2."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import require


def serve(cwd: Path, *args: str, env: dict[str, str] | None = None,
          prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Run `router-ext serve` on free ports (unless args say otherwise) until it exits."""
    inherited = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    full_env = {**inherited, **(env or {})}
    cmd = [*prefix, sys.executable, "-m", "router_ext.cli", "serve", "--host", "127.0.0.1",
           "--http-port", "0", "--grpc-port", "0", *args]
    return subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=60)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a refused start (exit 2, nothing on stdout, no traceback)."""
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith("router-ext: ")
    return lines[0]


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another socket is listening on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'router-ext.db'}"


@pytest.mark.parametrize(("flag", "what", "setting"), [
    ("--http-port", "HTTP", "ROUTER_EXT_HTTP_PORT or --http-port"),
    ("--grpc-port", "gRPC", "ROUTER_EXT_GRPC_PORT or --grpc-port"),
])
def test_busy_port(tmp_path: Path, taken_port: int, flag: str, what: str, setting: str) -> None:
    line = one_line(serve(tmp_path, flag, str(taken_port), "--database-url", sqlite_url(tmp_path)))
    assert f"cannot listen for {what} on 127.0.0.1:{taken_port} (address already in use)" in line
    assert line.endswith(f"set {setting}")
    assert not (tmp_path / "router-ext.db").exists()  # refused before the database was touched


def test_unknown_host(tmp_path: Path) -> None:
    # A token, so the refusal to serve a non-loopback address without one does not come first.
    line = one_line(serve(tmp_path, "--host", "router-ext-test.invalid",
                          "--database-url", sqlite_url(tmp_path),
                          env={"ROUTER_EXT_TOKEN": "t0ken-for-this-test"}))
    assert "router-ext-test.invalid" in line
    assert line.endswith("set ROUTER_EXT_HOST or --host")


def _drop_root() -> tuple[str, ...]:
    """As root every folder is writable: run in a new user namespace, where mode bits hold."""
    if os.geteuid() != 0:
        return ()
    unshare = shutil.which("unshare")
    works = unshare is not None and subprocess.run(
        [unshare, "--user", "true"], capture_output=True, timeout=30).returncode == 0
    require(works, "unshare --user (util-linux) to run without root's override of file modes")
    return (str(unshare), "--user")


def test_unwritable_database_folder(tmp_path: Path) -> None:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        line = one_line(serve(tmp_path, "--database-url", sqlite_url(folder),
                              prefix=_drop_root()))
    finally:
        folder.chmod(0o755)
    # The file is created owner-only before SQLite opens it, so that is where it fails.
    assert f"cannot create the database {folder / 'router-ext.db'}" in line
    assert f"its folder {folder} must be writable" in line
    assert line.endswith("set DATABASE_URL or --database-url")
    assert list(folder.iterdir()) == []


def test_database_folder_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    line = one_line(serve(tmp_path, "--database-url", sqlite_url(blocker / "data")))
    assert f"cannot create the database folder {blocker / 'data'}" in line
    assert line.endswith("set DATABASE_URL or --database-url")


def test_bad_database_url_keeps_its_password_out(tmp_path: Path) -> None:
    line = one_line(serve(tmp_path, env={"DATABASE_URL": "mysql://app:s3cret@db.invalid/x"}))
    assert "unsupported database URL (mysql)" in line
    assert "s3cret" not in line
    assert line.endswith("set DATABASE_URL or --database-url")
    assert list(tmp_path.iterdir()) == []  # no stray folder named after the URL


def test_malformed_port_variable(tmp_path: Path) -> None:
    line = one_line(serve(tmp_path, env={"ROUTER_EXT_GRPC_PORT": "four"}))
    assert line == "router-ext: ROUTER_EXT_GRPC_PORT must be an integer, got 'four'"
