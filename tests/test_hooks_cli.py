"""`router-ext hooks install|uninstall|doctor` on real settings files."""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from router_ext.commands.hook_entries import COMMAND_ONLY, EVENTS
from tests.support import ROOT, ServerProcess

USER_HOOK = {"type": "command", "command": "/usr/local/bin/my-own-hook", "timeout": 7}


def cli(*args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    if home is not None:
        env["HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "router_ext.cli", "hooks", *args],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=60,
                          check=False)


def settings(project: Path) -> dict[str, Any]:
    return json.loads((project / ".claude" / "settings.json").read_text())


def ours(data: dict[str, Any], event: str) -> list[dict[str, Any]]:
    return [h for g in data["hooks"].get(event, []) for h in g["hooks"]
            if "router_ext_hook.py" in h.get("command", "")
            or "managed_by=router-ext" in h.get("url", "")]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project whose settings already hold a hook of the user's own and other keys."""
    proj = tmp_path / "myproj"
    (proj / ".claude").mkdir(parents=True)
    (proj / ".claude" / "settings.json").write_text(json.dumps({
        "model": "claude-sonnet-4-5",
        "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [USER_HOOK]}]},
    }))
    return proj


def test_install_command_mode_covers_every_event(project: Path) -> None:
    done = cli("install", "--project", str(project), "--source-app", "demo",
               "--server", "http://127.0.0.1:4555")
    assert done.returncode == 0, done.stderr
    data = settings(project)
    assert data["model"] == "claude-sonnet-4-5"
    assert data["hooks"]["PreToolUse"][0] == {"matcher": "Bash", "hooks": [USER_HOOK]}
    for event in EVENTS:
        (hook,) = ours(data, event)
        assert hook["type"] == "command" and isinstance(hook["timeout"], int)
        argv = shlex.split(hook["command"])
        assert Path(argv[0]).is_absolute() and Path(argv[2]).is_absolute()
        assert Path(argv[2]).exists()
        assert argv[argv.index("--source-app") + 1] == "demo"
        assert argv[argv.index("--server") + 1] == "http://127.0.0.1:4555"
    backup = project / ".claude" / "settings.json.router-ext.bak"
    assert json.loads(backup.read_text())["hooks"]["PreToolUse"][0]["hooks"] == [USER_HOOK]


def test_install_is_idempotent_and_uninstall_removes_only_ours(project: Path) -> None:
    assert cli("install", "--project", str(project)).returncode == 0
    first = settings(project)
    again = cli("install", "--project", str(project))
    assert again.returncode == 0 and "already up to date" in again.stdout
    assert settings(project) == first
    assert cli("uninstall", "--project", str(project)).returncode == 0
    assert settings(project) == {"model": "claude-sonnet-4-5", "hooks": {
        "PreToolUse": [{"matcher": "Bash", "hooks": [USER_HOOK]}]}}


def test_http_mode_uses_http_hooks_where_claude_code_can(project: Path) -> None:
    done = cli("install", "--project", str(project), "--mode", "http", "--source-app", "web",
               "--server", "http://127.0.0.1:4555")
    assert done.returncode == 0, done.stderr
    data = settings(project)
    for event in EVENTS:
        (hook,) = ours(data, event)
        if event in COMMAND_ONLY:
            assert hook["type"] == "command"
        else:
            assert hook["type"] == "http"
            assert hook["url"].startswith("http://127.0.0.1:4555/hooks/claude-code?source_app=web")
            assert isinstance(hook["timeout"], int) and hook["timeout"] >= 5
    assert ours(data, "PermissionRequest")[0]["timeout"] > 120  # outlasts the server's hold
    # switching modes replaces our entries instead of adding a second set
    assert cli("install", "--project", str(project), "--mode", "command").returncode == 0
    assert all(len(ours(settings(project), e)) == 1 for e in EVENTS)


def test_user_scope(tmp_path: Path) -> None:
    done = cli("install", "--user", home=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / ".claude" / "settings.json").read_text())
    assert all(ours(data, e) for e in EVENTS)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"hooks": []}'])
def test_refuses_settings_it_cannot_parse(tmp_path: Path, text: str) -> None:
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text(text)
    done = cli("install", "--project", str(tmp_path))
    assert done.returncode == 2
    assert "will not overwrite" in done.stderr
    assert path.read_text() == text
    assert not path.with_name("settings.json.router-ext.bak").exists()


def test_doctor(project: Path, server: ServerProcess, tmp_path: Path) -> None:
    env_spool = {"ROUTER_EXT_SPOOL_DIR": str(tmp_path / "spool")}
    os.environ.update(env_spool)
    try:
        missing = cli("doctor", "--project", str(project))
        assert missing.returncode == 1 and "no router-ext hook for" in missing.stdout
        assert cli("install", "--project", str(project), "--server", server.url).returncode == 0
        healthy = cli("doctor", "--project", str(project))
        assert healthy.returncode == 0, healthy.stdout
        assert "answers" in healthy.stdout
        down = cli("doctor", "--project", str(project), "--server", "http://127.0.0.1:1")
        assert down.returncode == 1 and "does not answer" in down.stdout
    finally:
        for key in env_spool:
            os.environ.pop(key, None)


# -- writing the file safely ------------------------------------------------------------------

def claude_dir(project: Path) -> Path:
    return project / ".claude"


def leftovers(project: Path) -> list[str]:
    return [p.name for p in claude_dir(project).iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("planted", ["settings.json.router-ext.tmp",
                                     "settings.json.router-ext.bak"])
def test_never_writes_through_a_planted_symlink(project: Path, tmp_path: Path,
                                                planted: str) -> None:
    victim = tmp_path / "bashrc"
    victim.write_text("alias ll='ls -l'\n")
    (claude_dir(project) / planted).symlink_to(victim)
    done = cli("install", "--project", str(project))
    assert done.returncode == 0, done.stderr
    assert victim.read_text() == "alias ll='ls -l'\n"
    assert all(ours(settings(project), e) for e in EVENTS)
    backup = claude_dir(project) / "settings.json.router-ext.bak"
    assert not backup.is_symlink()
    assert json.loads(backup.read_text())["model"] == "claude-sonnet-4-5"
    assert [name for name in leftovers(project) if name != planted] == []


def test_a_symlinked_settings_file_is_written_through_to_its_target(project: Path,
                                                                   tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    real = dotfiles / "claude-settings.json"
    link = claude_dir(project) / "settings.json"
    real.write_text(link.read_text())
    real.chmod(0o640)
    link.unlink()
    link.symlink_to(real)
    done = cli("install", "--project", str(project))
    assert done.returncode == 0, done.stderr
    assert str(real) in done.stdout
    assert link.is_symlink() and link.resolve() == real
    assert all(ours(json.loads(real.read_text()), e) for e in EVENTS)
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert [p.name for p in dotfiles.iterdir()] == ["claude-settings.json"]


def test_a_dangling_symlink_is_refused(tmp_path: Path) -> None:
    link = tmp_path / ".claude" / "settings.json"
    link.parent.mkdir()
    link.symlink_to(tmp_path / "gone" / "settings.json")
    done = cli("install", "--project", str(tmp_path))
    assert done.returncode == 2 and "dangling" in done.stderr
    assert not (tmp_path / "gone").exists() and link.is_symlink()


def test_mode_is_kept_and_read_only_is_respected(project: Path) -> None:
    path = claude_dir(project) / "settings.json"
    path.chmod(0o600)
    assert cli("install", "--project", str(project)).returncode == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    backup = path.with_name("settings.json.router-ext.bak")
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert leftovers(project) == []
    path.chmod(0o444)
    before = path.read_text()
    done = cli("uninstall", "--project", str(project))
    assert done.returncode == 2 and "read-only" in done.stderr
    assert path.read_text() == before and stat.S_IMODE(path.stat().st_mode) == 0o444



def user_settings(home: Path) -> dict[str, Any]:
    return json.loads((home / ".claude" / "settings.json").read_text())


def test_otel_writes_claude_codes_telemetry_env(project: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    args = ("install", "--project", str(project), "--otel", "--no-hooks",
            "--server", "http://router.invalid:4000")
    done = cli(*args, home=home)
    assert done.returncode == 0, done.stderr
    # Claude Code ignores exporter variables in a project's settings: they go to the user's.
    env = user_settings(home)["env"]
    assert env["CLAUDE_CODE_ENABLE_TELEMETRY"] == "1"
    assert (env["OTEL_LOGS_EXPORTER"], env["OTEL_METRICS_EXPORTER"]) == ("otlp", "otlp")
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://router.invalid:4317"
    assert "OTEL_EXPORTER_OTLP_HEADERS" not in env
    data = settings(project)
    assert data["hooks"] == {"PreToolUse": [{"matcher": "Bash", "hooks": [USER_HOOK]}]}
    assert data["env"]["OTEL_RESOURCE_ATTRIBUTES"] == "router_ext.project=myproj"
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in data["env"]
    again = cli(*args, home=home).stdout
    assert again.count("already up to date") == 2


def test_otel_with_hooks_a_token_and_http_then_uninstall(project: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / ".claude").mkdir(parents=True)
    (home / ".claude" / "settings.json").write_text(json.dumps({"env": {"MINE": "1"}}))
    settings_file = project / ".claude" / "settings.json"
    data = settings(project)
    data["env"] = {"MY_VAR": "kept", "OTEL_RESOURCE_ATTRIBUTES": "team=core"}
    settings_file.write_text(json.dumps(data))
    monkeypatch.setenv("ROUTER_EXT_TOKEN", "tok-123")
    done = cli("install", "--project", str(project), "--otel", "--otel-protocol", "http/json",
               "--server", "http://127.0.0.1:4555", home=home)
    assert done.returncode == 0, done.stderr
    data = settings(project)
    assert ours(data, "PostToolUse")  # the hooks too
    assert data["env"]["OTEL_RESOURCE_ATTRIBUTES"] == "team=core,router_ext.project=myproj"
    assert data["env"]["MY_VAR"] == "kept"
    env = user_settings(home)["env"]
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4555"
    assert env["OTEL_EXPORTER_OTLP_HEADERS"] == "Authorization=Bearer tok-123"
    assert env["MINE"] == "1"
    assert (home / ".claude" / "settings.json").stat().st_mode & 0o077 == 0  # holds the token
    done = cli("uninstall", "--project", str(project), "--otel", home=home)
    assert done.returncode == 0, done.stderr
    data = settings(project)
    assert data["env"] == {"MY_VAR": "kept", "OTEL_RESOURCE_ATTRIBUTES": "team=core"}
    assert not ours(data, "PostToolUse")
    assert user_settings(home) == {"env": {"MINE": "1"}}


def test_no_hooks_alone_is_refused(project: Path) -> None:
    done = cli("install", "--project", str(project), "--no-hooks")
    assert done.returncode == 2 and "--otel" in done.stderr
