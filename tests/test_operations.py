"""Running router-ext as a service: the unit file, the image, JSON logs, `router-ext doctor`."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import zipfile
from collections import defaultdict
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from router_ext.store import schema
from router_ext.store.db import make_throwaway_engine
from tests.support import ROOT, require, running_server, start_server

UNIT = ROOT / "deploy" / "router-ext.service"
DOCKERFILE = ROOT / "Dockerfile"


def unit_keys(path: Path) -> dict[str, list[str]]:
    """`Section.Key` -> every value it is given (systemd allows a key more than once)."""
    keys: dict[str, list[str]] = defaultdict(list)
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        keys[f"{section}.{key.strip()}"].append(value.strip())
    return keys


def test_unit_file_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    require(analyze is not None, "systemd-analyze is not installed")
    # verify checks that ExecStart's program exists: point it at this checkout's script.
    script = Path(sys.executable).parent / "router-ext"
    unit = tmp_path / "router-ext.service"
    unit.write_text(UNIT.read_text().replace("/opt/router-ext/bin/router-ext", str(script)))
    result = subprocess.run([str(analyze), "verify", str(unit)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""  # an unknown key or bad value is only a warning


def test_unit_file_runs_the_server_hardened_with_its_settings_as_environment() -> None:
    keys = unit_keys(UNIT)
    assert keys["Service.ExecStart"] == ["/opt/router-ext/bin/router-ext serve"]
    assert keys["Service.Restart"] == ["on-failure"]
    assert keys["Service.RestartPreventExitStatus"] == ["2"]  # schema newer than the code
    assert keys["Service.KillSignal"] == ["SIGTERM"]
    assert keys["Service.StateDirectory"] == ["router-ext"]
    assert "DATABASE_URL=sqlite:////var/lib/router-ext/router-ext.db" in keys[
        "Service.Environment"]
    assert keys["Service.EnvironmentFile"] == ["-/etc/router-ext/router-ext.env"]
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict",
                       "ProtectHome": "yes", "PrivateTmp": "yes", "DynamicUser": "yes",
                       "UMask": "0077"}.items():
        assert keys[f"Service.{key}"] == [value], key
    assert keys["Install.WantedBy"] == ["multi-user.target"]
    env_file = (ROOT / "deploy" / "router-ext.env").read_text()
    assert "ROUTER_EXT_RETENTION_DAYS" in env_file and "ROUTER_EXT_MAX_DB_BYTES" in env_file


def test_dockerfile_runs_the_server_unprivileged_with_a_state_volume() -> None:
    lines = [x.strip() for x in DOCKERFILE.read_text().splitlines()]
    assert 'ENTRYPOINT ["router-ext"]' in lines and 'CMD ["serve"]' in lines
    assert "USER router-ext" in lines and "STOPSIGNAL SIGTERM" in lines
    assert 'VOLUME ["/var/lib/router-ext"]' in lines and "EXPOSE 4000 4317" in lines
    assert any(x.startswith("ENV DATABASE_URL=sqlite:////var/lib/router-ext/") for x in lines)


def test_the_wheel_ships_the_migrations(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                             "--no-build-isolation", "-w", str(tmp_path), str(ROOT)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    [wheel] = tmp_path.glob("router_ext-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    base = "router_ext/store/migrations/"
    assert {f"{base}env.py", f"{base}script.py.mako",
            f"{base}versions/0001_initial.py"} <= names
    assert {f"{base}versions/{p.name}" for p in (ROOT / base / "versions").glob("0*.py")} \
        <= names


def test_json_logs_are_one_object_per_line(tmp_path: Path) -> None:
    server = start_server(f"sqlite:///{tmp_path / 'db.sqlite'}",
                          env={"ROUTER_EXT_LOG_FORMAT": "json"})
    try:
        assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200
    finally:
        assert server.stop(signal.SIGTERM) == 0
    records = [json.loads(line) for line in server.stderr_lines if line.strip()]
    assert records and all({"ts", "level", "logger", "message"} <= r.keys() for r in records)
    assert any(r["message"].startswith("router-ext listening") for r in records)
    bad = subprocess.run([sys.executable, "-m", "router_ext.cli", "serve"], cwd=ROOT,
                         env={"ROUTER_EXT_LOG_FORMAT": "yaml", "PATH": "/usr/bin"},
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "ROUTER_EXT_LOG_FORMAT must be text or json" in bad.stderr


def doctor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "router_ext.cli", "doctor", *args], cwd=ROOT,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=60)


def test_doctor_reports_database_schema_disk_retention_spool_and_server(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    env = {"ROUTER_EXT_RETENTION_DAYS": "30", "ROUTER_EXT_MAX_DB_BYTES": str(1 << 30)}
    with running_server(url, env=env) as server:
        result = doctor("--database-url", url, "--url", server.url, "--json",
                        "--spool-dir", str(tmp_path / "spool"), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    assert list(checks) == ["database", "schema", "size", "retention", "disk", "spool",
                            "server"]
    assert all(c["status"] == "ok" for c in checks.values()), checks
    assert f"revision {schema.head()}" in checks["schema"]["detail"]
    assert "30 days (0 events are older" in checks["retention"]["detail"]
    assert "0 pending" in checks["spool"]["detail"]
    assert "retention last ran" in checks["server"]["detail"]


@pytest.mark.parametrize("problem", ["unreachable", "newer"])
def test_doctor_fails_on_a_database_it_cannot_use(tmp_path: Path, problem: str) -> None:
    if problem == "unreachable":
        url = "postgresql://nobody@127.0.0.1:1/none"
    else:
        url = f"sqlite:///{tmp_path / 'newer.db'}"
        engine = make_throwaway_engine(url)
        schema.upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0999'"))
        engine.dispose()
    result = doctor("--database-url", url, "--spool-dir", str(tmp_path / "spool"))
    assert result.returncode == 1
    failed = [x for x in result.stdout.splitlines() if x.startswith("fail")]
    expected = "database" if problem == "unreachable" else "schema"
    assert len(failed) == 1 and failed[0].split()[1] == expected
    if problem == "newer":
        assert "0999" in failed[0]
