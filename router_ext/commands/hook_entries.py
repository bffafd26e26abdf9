"""router-ext's entries in Claude Code settings: what they look like and how they merge.

An entry is recognised as router-ext's by the hook script name (command mode) or the
`managed_by=router-ext` query (http mode), so merging twice changes nothing and removing takes
out only router-ext's entries. Pure functions over the settings dict; reading and writing the
file is `router_ext.commands.hooks`.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
from pathlib import Path
from typing import Any

from router_ext_client.config import DEFAULT_URL

HOOK_SCRIPT = Path(__file__).resolve().parents[2] / "hooks" / "router_ext_hook.py"
STATUSLINE_SCRIPT = HOOK_SCRIPT.with_name("router_ext_statusline.py")
MARK_COMMAND = "router_ext_hook.py"
MARK_URL = "managed_by=router-ext"
# Every documented hook event except WorktreeCreate/WorktreeRemove, whose hooks replace git's
# own behaviour (a hook there must create or remove the worktree itself).
EVENTS = (
    "SessionStart", "Setup", "InstructionsLoaded", "UserPromptSubmit", "UserPromptExpansion",
    "PreToolUse", "PermissionRequest", "PermissionDenied", "PostToolUse", "PostToolUseFailure",
    "PostToolBatch", "Notification", "MessageDisplay", "SubagentStart", "SubagentStop",
    "TaskCreated", "TaskCompleted", "TeammateIdle", "Elicitation", "ElicitationResult",
    "PreCompact", "PostCompact", "ConfigChange", "CwdChanged", "DirectoryAdded", "FileChanged",
    "Stop", "StopFailure", "SessionEnd",
)
TOOL_EVENTS = {"PreToolUse", "PermissionRequest", "PermissionDenied", "PostToolUse",
               "PostToolUseFailure"}
# Claude Code sends nothing over HTTP for these (seen with 2.1.328 for SessionStart).
COMMAND_ONLY = {"SessionStart", "Setup"}
COMMAND_TIMEOUT = 5  # seconds; the hook itself gives up after ~0.1 s
HTTP_TIMEOUT = 5
PERMISSION_HTTP_TIMEOUT = 130  # the server holds a PermissionRequest up to 120 s by default
GATE_TIMEOUT = 60


def is_ours(hook: Any) -> bool:
    """True for a hook entry router-ext wrote."""
    if not isinstance(hook, dict):
        return False
    return MARK_COMMAND in str(hook.get("command", "")) or MARK_URL in str(hook.get("url", ""))


def command_hook(args: argparse.Namespace, source_app: str, server: str,
                 event: str) -> dict[str, Any]:
    """A command hook entry with absolute paths."""
    parts = [args.python, "-S", str(HOOK_SCRIPT), "--source-app", source_app,
             "--server", server]
    timeout = COMMAND_TIMEOUT
    if args.gate and event == "PreToolUse":
        parts.append("--gate")
        timeout = GATE_TIMEOUT + 10
    return {"type": "command", "command": shlex.join(parts), "timeout": timeout}


def http_hook(source_app: str, server: str, event: str) -> dict[str, Any]:
    """An http hook entry posting to /hooks/claude-code."""
    from urllib.parse import quote

    hook: dict[str, Any] = {
        "type": "http",
        "url": f"{server.rstrip('/')}/hooks/claude-code?source_app={quote(source_app)}"
               f"&{MARK_URL}",
        "timeout": PERMISSION_HTTP_TIMEOUT if event == "PermissionRequest" else HTTP_TIMEOUT,
    }
    for name in ("ROUTER_EXT_INGEST_TOKEN", "ROUTER_EXT_TOKEN"):
        if os.environ.get(name):
            # Claude Code fills $NAME from its environment; the secret is not stored.
            hook["headers"] = {"Authorization": f"Bearer ${name}"}
            hook["allowedEnvVars"] = [name]
            break
    return hook


def is_our_statusline(settings: dict[str, Any]) -> bool:
    """True when the settings' status line is router-ext's."""
    line = settings.get("statusLine")
    return isinstance(line, dict) and STATUSLINE_SCRIPT.name in str(line.get("command", ""))


def statusline_entry(args: argparse.Namespace, server: str) -> dict[str, Any]:
    """The statusLine setting running router-ext's status line."""
    return {"type": "command", "padding": 0,
            "command": shlex.join([args.python, "-S", str(STATUSLINE_SCRIPT), "--server",
                                   server])}


def without_ours(settings: dict[str, Any]) -> dict[str, Any]:
    """A copy with every router-ext entry removed (and groups or events left empty)."""
    out = json.loads(json.dumps(settings))
    if is_our_statusline(out):
        del out["statusLine"]
    hooks = out.get("hooks")
    if not isinstance(hooks, dict):
        return out
    for event in list(hooks):
        groups = hooks[event] if isinstance(hooks[event], list) else []
        kept = []
        for group in groups:
            if isinstance(group, dict) and isinstance(group.get("hooks"), list):
                group["hooks"] = [h for h in group["hooks"] if not is_ours(h)]
                if not group["hooks"]:
                    continue
            kept.append(group)
        if kept:
            hooks[event] = kept
        else:
            del hooks[event]
    if not hooks:
        del out["hooks"]
    return out


def server_url(args: argparse.Namespace) -> str:
    """The server the options name."""
    return str(args.server or os.environ.get("ROUTER_EXT_URL") or DEFAULT_URL)


def merged(settings: dict[str, Any], args: argparse.Namespace, path: Path) -> dict[str, Any]:
    """Settings with router-ext's entries (re)placed for every event."""
    server = server_url(args)
    source_app = args.source_app or path.parent.parent.name or "claude-code"
    out = without_ours(settings)
    hooks = out.setdefault("hooks", {})
    for event in EVENTS:
        use_http = args.mode == "http" and event not in COMMAND_ONLY
        hook = http_hook(source_app, server, event) if use_http else command_hook(
            args, source_app, server, event)
        group: dict[str, Any] = {"hooks": [hook]}
        if event in TOOL_EVENTS:
            group = {"matcher": "*", **group}
        hooks.setdefault(event, []).append(group)
    if getattr(args, "statusline", False):
        out["statusLine"] = statusline_entry(args, server)
    if args.mode == "http":
        allowed = out.setdefault("allowedHttpHookUrls", [])
        pattern = f"{server.rstrip('/')}/hooks/claude-code*"
        if isinstance(allowed, list) and pattern not in allowed:
            allowed.append(pattern)
    return out
