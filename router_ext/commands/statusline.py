"""`router-ext statusline`: one line for Claude Code's `statusLine` setting.

Claude Code pipes a JSON object on stdin (session_id, transcript_path, model.display_name,
cost, workspace, ...) after each assistant message and shows the first line printed:

    Opus 4.6 · session $0.31 · today $4.20 · $1.20/h 2h14m · 2 approvals

(the current 5-hour block's burn rate and the time left in it; Claude Code cuts status lines at
about 80 characters, so the line stays short)

The numbers come from the server when it answers within ROUTER_EXT_STATUSLINE_TIMEOUT (every
host's usage, pending approvals); otherwise from local transcripts through a small cache
(:mod:`router_ext.reports.recent`), marked `(local)`. A server that did not answer is not asked
again for ROUTER_EXT_STATUSLINE_RETRY seconds, so a down server costs one timeout, not one per
line. Installed by `router-ext hooks install --statusline` as
`python -S .../hooks/router_ext_statusline.py`, which skips site-packages to start fast; this
module imports only the standard library and the client package until it needs transcripts.
"""

from __future__ import annotations

import os
import sys
import time

from router_ext_client.spool import loads

TYPE_CHECKING = False  # typing costs a status line ~5 ms
if TYPE_CHECKING:
    import argparse
    from typing import Any

DEFAULT_TIMEOUT = 0.25
RETRY_AFTER = 30.0
MAX_STDIN = 1024 * 1024
SEP = " · "


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the subcommand."""
    p = sub.add_parser("statusline", help="print Claude Code's status line (reads its JSON)",
                       description="Read Claude Code's statusLine JSON on stdin and print one "
                                   "line: model, session cost, today's cost, the current "
                                   "5-hour block's burn rate and pending approvals.")
    p.add_argument("--server", help="server URL (ROUTER_EXT_URL)")
    p.add_argument("--transcripts", metavar="DIR",
                   help="projects folder for the local numbers (default: the one holding the "
                        "session's transcript, else ~/.claude/projects)")
    p.set_defaults(run=lambda args: main(server=args.server, transcripts=args.transcripts))


def _float_env(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name) or default)
    except ValueError:
        return default


def money(value: float) -> str:
    """`$0.004`, `$12.34`, `$1,234`: three places under a dollar, none past a thousand."""
    if value >= 1000:
        return f"${value:,.0f}"
    return f"${value:.2f}" if value >= 1 or value == 0 else f"${value:.3f}"


def minutes_text(minutes: float) -> str:
    """`2h14m` or `35m`."""
    whole = max(0, int(minutes))
    return f"{whole // 60}h{whole % 60:02d}m" if whole >= 60 else f"{whole}m"


def block_text(block: dict[str, Any] | None) -> str:
    """The current block's burn rate (`-/h` until it has two responses) and time left."""
    if not block:
        return "no block"
    rate = block.get("cost_per_hour")
    head = f"{money(rate)}/h" if rate is not None else "-/h"
    return f"{head} {minutes_text(block.get('remaining_minutes') or 0)}"


def line(model: str, status: dict[str, Any]) -> str:
    """The status line from what was gathered."""
    parts = [model] if model else []
    if status.get("session_cost") is not None:
        parts.append(f"session {money(status['session_cost'])}")
    if status.get("today_cost") is not None:
        parts.append(f"today {money(status['today_cost'])}")
    parts.append(block_text(status.get("block")))
    if status.get("source") == "server":
        n = int(status.get("pending_approvals") or 0)
        parts.append(f"{n} approval{'s' if n != 1 else ''}")
    else:
        parts.append("(local)")
    return SEP.join(parts)


def model_name(data: dict[str, Any]) -> str:
    """The model as Claude Code names it on screen."""
    model = data.get("model")
    if isinstance(model, dict):
        return str(model.get("display_name") or model.get("id") or "")
    return str(model or "")


def _option(argv: list[str], name: str) -> str | None:
    """`--name VALUE` from argv (argparse costs the fast path ~5 ms)."""
    if name in argv[:-1]:
        return argv[argv.index(name) + 1]
    return None


def main(argv: list[str] | None = None, *, server: str | None = None,
         transcripts: str | None = None) -> int:
    """Read stdin, print the line; never fails (a status line must not break Claude Code)."""
    argv = argv or []
    server = server or _option(argv, "--server")
    transcripts = transcripts or _option(argv, "--transcripts")
    try:
        raw = sys.stdin.buffer.read(MAX_STDIN)
        data = loads(raw) if raw.strip() else {}
    except (OSError, ValueError):
        data = {}
    data = data if isinstance(data, dict) else {}
    try:
        status = gather(data, server, transcripts)
    except Exception as exc:  # a broken cache or transcript: say so in the line, exit 0
        status = {"error": str(exc) or type(exc).__name__}
    text = line(model_name(data), status)
    if status.get("error"):
        text = f"{model_name(data)}{SEP}router-ext: {status['error']}"[:200]
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    return 0


def gather(data: dict[str, Any], server: str | None, transcripts: str | None) -> dict[str, Any]:
    """From the server when it answers, else from local transcripts."""
    found_id = data.get("session_id")
    session = found_id if isinstance(found_id, str) else ""
    from router_ext.reports.recent import default_cache_path

    cache = default_cache_path()
    found = ask_server(session, server, cache)
    if found is not None and found.get("session_cost") is not None:
        return found
    local = from_transcripts(data, session, transcripts, cache)
    if found is not None:  # the server does not know this session: its cost from here
        found["session_cost"] = local.get("session_cost")
        return found
    return local


def _down_marker(cache: str) -> str:
    return cache + ".server-down"


def ask_server(session: str, server: str | None, cache: str) -> dict[str, Any] | None:
    """The server's numbers, or None when it does not answer in time (remembered a while)."""
    marker = _down_marker(cache)
    try:
        if time.time() - os.stat(marker).st_mtime < _float_env("ROUTER_EXT_STATUSLINE_RETRY",
                                                                RETRY_AFTER):
            return None
    except OSError:
        pass
    from router_ext_client.client import http_request
    from router_ext_client.config import ClientConfig
    from router_ext_client.retry import RetryableError

    config = ClientConfig.from_env(url=server)
    if config.transport != "http":
        return None
    host, port, prefix = config.address()
    path = (f"{prefix}/api/statusline?session_id={_quote(session)}"
            f"&tz_offset_min={_tz_offset_min()}")
    try:
        status, body = http_request(host, port, "GET", path, None, token=config.token,
                                    timeout=_float_env("ROUTER_EXT_STATUSLINE_TIMEOUT",
                                                       DEFAULT_TIMEOUT))
        if status != 200:
            raise RetryableError(f"server answered {status}")
        found = loads(body)
    except (RetryableError, ValueError):
        _touch(marker)
        return None
    if not isinstance(found, dict):
        return None
    found["source"] = "server"
    return found


def _quote(text: str) -> str:
    """Percent-encoding for a query value (urllib.parse costs a status line ~4 ms)."""
    safe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"
    return "".join(c if c in safe else "".join(f"%{b:02X}" for b in c.encode()) for c in text)


def _touch(marker: str) -> None:
    try:
        os.makedirs(os.path.dirname(marker) or ".", mode=0o700, exist_ok=True)
        with open(marker, "a"):
            pass
        os.utime(marker)
    except OSError:
        pass


def _tz_offset_min() -> int:
    local = time.localtime()
    return int(local.tm_gmtoff // 60)


def from_transcripts(data: dict[str, Any], session: str, transcripts: str | None,
                     cache: str) -> dict[str, Any]:
    """The numbers from local transcripts (this machine's usage only)."""
    from router_ext.reports.blocks import block_status
    from router_ext.reports.recent import RecentUsage

    root = transcripts or _projects_of(data)
    now_ms = int(time.time() * 1000)
    recent = RecentUsage(root, cache, now_ms, os.environ.get("ROUTER_EXT_PRICES", ""))
    recent.refresh()
    recent.save()
    block = block_status(recent.points(), now_ms)
    local = time.localtime(now_ms / 1000)
    midnight = now_ms - ((local.tm_hour * 60 + local.tm_min) * 60 + local.tm_sec) * 1000 \
        - now_ms % 1000
    return {"source": "local", "session_cost": recent.session_cost(session) if session else None,
            "today_cost": recent.cost_since(midnight), "block": block}


def _projects_of(data: dict[str, Any]) -> str:
    """The projects folder holding this session's transcript, else the default one."""
    transcript = data.get("transcript_path")
    if isinstance(transcript, str) and transcript:
        projects = os.path.dirname(os.path.dirname(transcript))
        if os.path.basename(projects) == "projects":
            return projects
    config = os.environ.get("CLAUDE_CONFIG_DIR", "").split(",")[0].strip()
    return os.path.join(config or os.path.join(os.path.expanduser("~"), ".claude"), "projects")
