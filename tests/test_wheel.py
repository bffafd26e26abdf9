"""The built wheel alone serves the dashboard.

The source is copied, built into a wheel, installed with its dependencies in a fresh venv (the
pip cache makes this ~30 s) and started from an empty folder, so nothing of the checkout can
stand in for a file the wheel forgot. One test: it is the slow one.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT

# Top-level entries of the checkout a build never needs (caches, local state, the test suite).
NOT_SOURCE = {".git", ".venv", ".cache", "build", "dist", "data", "test-artifacts", "tests",
              "bench", "node_modules", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
DASHBOARD = ROOT / "dashboard"


def _ignore(folder: str, names: list[str]) -> set[str]:
    top = NOT_SOURCE if Path(folder) == ROOT else set()
    return {n for n in names if n in top or n == "__pycache__" or n.endswith(".egg-info")}


def _run(cmd: list[str], cwd: Path, timeout: float) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    output = done.stdout[-2000:] + done.stderr[-4000:]
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{output}"


def _first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(proc.stdout.readline() if proc.stdout else ""),
                     daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return ""


def _venv_env() -> dict[str, str]:
    """This environment less anything that would point the installed copy at the checkout."""
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "ROUTER_EXT_DASHBOARD_DIR", "DATABASE_URL"}
    return {k: v for k, v in os.environ.items() if k not in drop}


@pytest.mark.timeout(1200)
def test_installed_wheel_serves_the_dashboard(tmp_path: Path) -> None:
    source, dist, venv, empty = (tmp_path / n for n in ("src", "dist", "venv", "cwd"))
    shutil.copytree(ROOT, source, ignore=_ignore)
    empty.mkdir()
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, 180)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    _run([*pip, "wheel", "--no-deps", "-q", "-w", str(dist), str(source)], tmp_path, 600)
    wheels = list(dist.glob("router_ext-*.whl"))
    assert len(wheels) == 1, wheels
    _run([*pip, "install", "-q", str(wheels[0])], tmp_path, 900)

    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import router_ext; print(router_ext.__file__)"],
                           cwd=empty, env=_venv_env(), capture_output=True, text=True, timeout=60)
    assert Path(where.stdout.strip()).is_relative_to(venv), where  # the wheel, not the checkout

    env = {**_venv_env(), "DATABASE_URL": f"sqlite:///{tmp_path / 'db' / 'router-ext.db'}",
           "PYTHONUNBUFFERED": "1"}
    log = (tmp_path / "stderr.log").open("w")
    proc = subprocess.Popen([str(venv / "bin" / "router-ext"), "serve", "--host", "127.0.0.1",
                             "--http-port", "0", "--grpc-port", "0"],
                            cwd=empty, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        first = _first_line(proc, 60)
        assert first.startswith("http=127.0.0.1:"), (first, (tmp_path / "stderr.log").read_text())
        base = "http://" + first.split()[0].removeprefix("http=")
        with httpx.Client(base_url=base, timeout=10, follow_redirects=True) as http:
            page = http.get("/")
            assert page.status_code == 200
            assert str(page.url).endswith("/dashboard/")
            assert page.text == (DASHBOARD / "index.html").read_text()
            files = sorted(p for p in DASHBOARD.rglob("*") if p.is_file())
            assert any(p.suffix == ".js" for p in files)
            for path in files:  # every file, so a folder missing from data-files shows here
                got = http.get(f"/dashboard/{path.relative_to(DASHBOARD).as_posix()}")
                assert got.status_code == 200, path
                assert got.content == path.read_bytes(), path
            script = http.get("/dashboard/js/main.js")
            assert "javascript" in script.headers["content-type"]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
    assert proc.returncode == 0, (tmp_path / "stderr.log").read_text()[-3000:]
