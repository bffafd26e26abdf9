"""`router-ext hooks install|uninstall|doctor`: router-ext's entries in Claude Code settings.

install merges one entry per hook event into `.claude/settings.json` (a project's, or the
user's with --user), with absolute paths; entries are recognised as router-ext's by the hook
script name (command mode) or the `managed_by=router-ext` query (http mode), so installing twice
changes nothing and uninstall removes only them. The previous file is kept as
`settings.json.router-ext.bak` whenever it changes. A settings file that does not parse, or is
read-only, is never overwritten; one that is a symlink is written through to its target, and
nothing is written through a symlink planted at a temp or backup path.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from router_ext.commands import otel_env
from router_ext.commands.hook_entries import (
    EVENTS,
    HOOK_SCRIPT,
    is_our_statusline,
    is_ours,
    merged,
    server_url,
    without_ours,
)
from router_ext.commands.safe_write import WriteRefused, write_with_backup
from router_ext_client.config import DEFAULT_URL


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the subcommand."""
    p = sub.add_parser("hooks", help="install, remove or check router-ext's Claude Code hooks",
                       description=(__doc__ or "").split("\n\n")[1])
    p.add_argument("action", choices=("install", "uninstall", "doctor"))
    where = p.add_mutually_exclusive_group()
    where.add_argument("--project", metavar="DIR", help="DIR/.claude/settings.json (default .)")
    where.add_argument("--user", action="store_true", help="~/.claude/settings.json")
    p.add_argument("--source-app", help="source_app for this project's events (default: the "
                                        "project folder's name)")
    p.add_argument("--server", default=None, help=f"server URL (ROUTER_EXT_URL, {DEFAULT_URL})")
    p.add_argument("--mode", choices=("command", "http"), default="command",
                   help="command: a hook process per event; http: Claude Code posts to the "
                        "server itself where it can (a command hook for the rest)")
    p.add_argument("--gate", action="store_true",
                   help="ask a person before dangerous Bash commands (PreToolUse)")
    p.add_argument("--statusline", action="store_true",
                   help="also show router-ext's status line (session and today's cost, burn "
                        "rate, approvals waiting); refused if another status line is set")
    p.add_argument("--python", default=sys.executable, help="interpreter for command hooks")
    otel_env.add_arguments(p)
    p.set_defaults(run=run)


def settings_path(args: argparse.Namespace) -> Path:
    """Which settings file the options name."""
    if args.user:
        return Path.home() / ".claude" / "settings.json"
    return Path(args.project or ".").resolve() / ".claude" / "settings.json"


def load(path: Path) -> dict[str, Any]:
    """The settings object; {} for a missing or empty file; ValueError when unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); fix it by hand first, "
                         "router-ext will not overwrite it") from exc
    if not isinstance(data, dict) or not isinstance(data.get("hooks", {}), dict) or \
            not isinstance(data.get("env", {}), dict):
        raise ValueError(f"{path} does not hold a settings object with 'hooks' and 'env' "
                         "objects; router-ext will not overwrite it")
    return data


def installed(settings: dict[str, Any], args: argparse.Namespace, path: Path) -> dict[str, Any]:
    """Settings with router-ext's hooks and, with --otel, the project's resource attribute."""
    out = settings if args.no_hooks else merged(settings, args, path)
    if args.otel and not args.user:
        env = out.get("env") or {}
        out = otel_env.with_otel(out, otel_env.project_env(env, path.parent.parent.name))
    return out


def _changes(args: argparse.Namespace, path: Path,
             current: dict[str, Any]) -> list[tuple[Path, dict[str, Any], dict[str, Any]]]:
    """(file, before, after) for every settings file the action changes."""
    install = args.action == "install"
    new = installed(current, args, path) if install else otel_env.without_otel(
        without_ours(current))
    changes = [(path, current, new)]
    if args.otel:  # the exporter variables count only in the user's (or managed) settings
        user = Path.home() / ".claude" / "settings.json"
        before = new if user == path else load(user)
        after = (otel_env.with_otel(before, otel_env.exporter_env(args, server_url(args)))
                 if install else otel_env.without_otel(before))
        if user == path:
            changes = [(path, current, after)]
        else:
            changes.append((user, before, after))
    return changes


def write(path: Path, settings: dict[str, Any]) -> Path:
    """Back up the old file, then replace it atomically (router_ext.commands.safe_write);
    returns the file written (a symlink's target)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(settings, indent=2) + "\n").encode("utf-8")
    written = write_with_backup(path, data, path.with_name(path.name + ".router-ext.bak"))
    if "OTEL_EXPORTER_OTLP_HEADERS" in (settings.get("env") or {}):
        written.chmod(0o600)  # it holds the ingest token
    return written


def _precompile() -> None:
    # Hooks start with -S and often under PYTHONDONTWRITEBYTECODE; compiled modules make them
    # start several ms faster.
    import compileall

    root = HOOK_SCRIPT.parent.parent
    for folder in ("router_ext_client", "hooks", "router_ext"):
        compileall.compile_dir(str(root / folder), quiet=1)


def _server_of(hook: dict[str, Any]) -> str | None:
    if hook.get("type") == "http":
        return str(hook.get("url", "")).split("/hooks/claude-code", 1)[0]
    parts = shlex.split(str(hook.get("command", "")))
    return parts[parts.index("--server") + 1] if "--server" in parts[:-1] else None


def _check_entries(current: dict[str, Any]) -> tuple[list[str], set[str]]:
    problems: list[str] = []
    servers: set[str] = set()
    hooks = current.get("hooks") or {}
    ours = {event: [h for g in groups if isinstance(g, dict) for h in g.get("hooks", [])
                    if is_ours(h)]
            for event, groups in hooks.items() if isinstance(groups, list)}
    missing = [e for e in EVENTS if not ours.get(e)]
    if missing:
        problems.append(f"no router-ext hook for: {', '.join(missing)}")
    for event, entries in ours.items():
        for hook in entries:
            servers.add(_server_of(hook) or "")
            if hook.get("type") == "command":
                parts = shlex.split(str(hook.get("command", "")))
                for exe in parts[:1] + parts[2:3]:
                    if not Path(exe).exists():
                        problems.append(f"{event}: {exe} does not exist")
    return problems, {s for s in servers if s}


def doctor(path: Path, current: dict[str, Any], args: argparse.Namespace) -> int:
    """Check the settings, the hook files, the server and the spool; exit 1 on a problem."""
    from router_ext_client.client import Client
    from router_ext_client.config import ClientConfig

    problems, servers = _check_entries(current)
    print(f"settings: {path} ({'parsed' if path.exists() else 'missing'})")
    if args.server:
        servers = {args.server}
    for server in sorted(servers or {os.environ.get("ROUTER_EXT_URL") or DEFAULT_URL}):
        client = Client(ClientConfig.from_env(url=server))
        try:
            health = client.get_json("/health", timeout=3.0)
            print(f"server: {server} answers ({health.get('status', '?')})")
        except Exception as exc:
            problems.append(f"server {server} does not answer: {exc}")
        status = client.spool.status()
        print(f"spool: {status['dir']} pending={status['pending']} dropped={status['dropped']} "
              f"damaged={status['damaged']} dead_letter={status['dead_letter']}")
        if status["pending"]:
            problems.append(f"{status['pending']} events wait in the spool "
                            "(router-ext spool flush)")
    for problem in problems:
        print(f"problem: {problem}")
    print("ok" if not problems else f"{len(problems)} problem(s)")
    return 0 if not problems else 1


def _what(before: dict[str, Any], after: dict[str, Any]) -> str:
    parts = []
    if before.get("hooks") != after.get("hooks"):
        parts.append("hooks")
    if before.get("env") != after.get("env"):
        parts.append("telemetry settings")
    return " and ".join(parts) or "settings"


def run(args: argparse.Namespace) -> int:
    """install / uninstall / doctor; exit 2 when the settings file cannot be used."""
    path = settings_path(args)
    try:
        current = load(path)
    except ValueError as exc:
        print(f"router-ext hooks: {exc}", file=sys.stderr)
        return 2
    if args.action == "doctor":
        return doctor(path, current, args)
    if args.action == "install" and args.statusline and current.get("statusLine") \
            and not is_our_statusline(current):
        print(f"router-ext hooks: {path} already has a statusLine "
              f"({json.dumps(current['statusLine'])[:200]}); remove it first, nothing was "
              "changed", file=sys.stderr)
        return 2
    if args.no_hooks and not args.otel:
        print("router-ext hooks: --no-hooks needs --otel", file=sys.stderr)
        return 2
    try:
        changes = _changes(args, path, current)
    except ValueError as exc:
        print(f"router-ext hooks: {exc}", file=sys.stderr)
        return 2
    if args.action == "install" and not args.no_hooks:
        _precompile()
    for target, before, after in changes:
        if after == before:
            print(f"{target}: already up to date")
            continue
        try:
            written = write(target, after)
        except (WriteRefused, OSError) as exc:
            print(f"router-ext hooks: {exc}", file=sys.stderr)
            return 2
        shown = target if written == target else f"{target} -> {written}"
        verb = "installed router-ext" if args.action == "install" else "removed router-ext"
        print(f"{shown}: {verb} {_what(before, after)}")
        if "OTEL_EXPORTER_OTLP_HEADERS" in after.get("env", {}):
            print(f"{target} holds the token (made owner-only); keep it out of version control",
                  file=sys.stderr)
    return 0
