"""The Claude Code command hook's work: read the hook JSON on stdin and report it to router-ext.

Run through hooks/router_ext_hook.py (`python -S /abs/path/hooks/router_ext_hook.py --source-app
NAME [--server URL] [--gate] [--add-chat]`). It always exits 0 and prints nothing, except as the
PreToolUse gate, whose decision it prints. Every failure (bad stdin, server down or silent,
unreadable transcript) ends in the spool or is ignored: a hook must never slow or break Claude
Code. `-S` skips site-packages to start fast; only the standard library and harness's stdlib-only
modules are imported on the fast path."""

from __future__ import annotations

import os
import sys
import time

from router_ext_client.client import Client
from router_ext_client.config import ClientConfig
from router_ext_client.redact import scrub_parsed
from router_ext_client.spool import loads

TYPE_CHECKING = False  # importing typing costs a hook ~5 ms
if TYPE_CHECKING:
    from typing import Any

USAGE_EVENTS = ("Stop", "SubagentStop", "SessionEnd")
# Budget for one event, start to spool included, well under what Claude Code would notice.
HOOK_DEADLINE = 0.1
HOOK_ATTEMPT = 0.1
# The whole process, start to the end of its send, stays within this: a slow interpreter start
# (a loaded machine) leaves less for the attempt, so a down or silent server never costs Claude
# Code more than ~the budget plus the spool write. An attempt always gets MIN_ATTEMPT.
HOOK_WALL_BUDGET = 0.11
MIN_ATTEMPT = 0.03
# Detached reports (Stop, SubagentStop, SessionEnd) keep no one waiting, so they get the
# ordinary client budget and the session's last events rarely wait in the spool.
DETACHED_DEADLINE = 5.0
DETACHED_ATTEMPT = 2.0
# One attempt: with a 0.1 s budget the spool, replayed on the next good send, is the retry.
HOOK_ATTEMPTS = 1
MAX_STDIN = 8 * 1024 * 1024


def _options(argv: list[str]) -> dict[str, str]:
    """--name value pairs and bare --flags (argparse costs a hook several ms to import)."""
    out: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--"):
            if i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                out[arg[2:]] = argv[i + 1]
                i += 1
            else:
                out[arg[2:]] = "1"
        i += 1
    return out


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name) or default)
    except ValueError:
        return default


def since_process_start() -> float:
    """Seconds since this process started (10 ms resolution, from /proc); 0 where unknown."""
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: start, in ticks
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


def config(opts: dict[str, str]) -> ClientConfig:
    """Client settings for a hook: the environment, the options, and a short deadline."""
    left = _env_float("ROUTER_EXT_HOOK_BUDGET", HOOK_WALL_BUDGET) - since_process_start()
    deadline = min(_env_float("ROUTER_EXT_HOOK_DEADLINE", HOOK_DEADLINE), max(MIN_ATTEMPT, left))
    return ClientConfig.from_env(
        url=opts.get("server") or None,
        spool_dir=opts.get("spool-dir") or None,
        deadline=deadline,
        attempt_timeout=min(deadline, _env_float("ROUTER_EXT_HOOK_ATTEMPT_TIMEOUT",
                                                 HOOK_ATTEMPT)),
        max_attempts=max(1, int(_env_float("ROUTER_EXT_HOOK_ATTEMPTS", HOOK_ATTEMPTS))),
    )


def build_body(raw: bytes, opts: dict[str, str]) -> dict[str, Any] | None:
    """The /events body for one hook input; None for empty input."""
    text = raw.decode("utf-8", "replace").strip()
    if not text:
        return None
    try:
        event = loads(text)
        if not isinstance(event, dict):
            raise ValueError("the hook input is not a JSON object")
    except ValueError as exc:
        # Kept, not dropped: the raw text tells what Claude Code sent.
        event = {"router_ext_error": f"invalid hook input: {exc}", "raw_input": text[:65536]}
    # Secrets go before the event is sent or spooled; `re` is imported only when one may be in it.
    event = scrub_parsed(text, event)
    name = event.get("hook_event_name") or opts.get("event") or "unknown"
    return {
        "source_app": opts.get("source-app") or os.environ.get("ROUTER_EXT_SOURCE_APP")
        or os.path.basename(str(event.get("cwd") or os.getcwd())) or "claude-code",
        "session_id": str(event.get("session_id") or "unknown"),
        "hook_event_type": str(name),
        "payload": event,
    }


def add_usage(body: dict[str, Any], state_dir: str) -> None:
    """On Stop, SubagentStop and SessionEnd: model and token usage new since the last read."""
    event = body["payload"]
    if body["hook_event_type"] not in USAGE_EVENTS:
        return
    path = event.get("agent_transcript_path") if body["hook_event_type"] == "SubagentStop" \
        else event.get("transcript_path")
    try:
        from hooks.transcript_tail import read_new_usage

        usage = read_new_usage(str(path or ""), state_dir)
    except Exception:  # a damaged transcript must not cost the event
        return
    if usage:
        event["router_ext_usage"] = usage
        if usage.get("model"):
            body["model_name"] = usage["model"]


def add_chat(body: dict[str, Any]) -> None:
    """`--add-chat`: the session's transcript as `chat`, as the well-known dashboard's hook
    sends it. A server that finds the event too large gets it again without the chat
    (router_ext_client.client.without_chat), so the event itself is never lost."""
    path = body["payload"].get("transcript_path")
    chat: list[Any] = []
    try:
        with open(str(path or ""), encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    chat.append(loads(line))
                except ValueError:
                    continue  # a line being written when the hook ran
    except OSError:
        return
    if chat:
        body["chat"] = chat


def _enable_site() -> None:
    # The retry path needs tenacity from site-packages, skipped at start-up by -S.
    if sys.flags.no_site:
        import site

        site.main()


def detach() -> str:
    """Fork: "parent" (return now and exit), "child" (on its own), or "inline" (no fork).

    Reading a transcript means importing router_ext_client.usage and parsing new lines: tens of
    ms that Claude Code need not wait for. The child leaves the process group (so Claude Code
    ending does not end it) and lets go of the hook's stdin, stdout and stderr (so Claude Code
    sees the hook finish). If fork fails, the work is done in this process.
    """
    if os.environ.get("ROUTER_EXT_HOOK_DETACH", "1") == "0":
        return "inline"
    try:
        if os.fork() > 0:
            return "parent"
    except OSError:
        return "inline"
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    return "child"


def run(argv: list[str], stdin: Any, stdout: Any) -> None:
    """Report one hook event; print a decision only when gating."""
    opts = _options(argv)
    body = build_body(stdin.read(MAX_STDIN), opts)
    if body is None:
        return
    cfg = config(opts)
    client = Client(cfg)
    client.before_retry = _enable_site
    if body["hook_event_type"] in USAGE_EVENTS:
        mode = detach()
        if mode == "parent":
            return
        if mode == "child":
            client = Client(cfg.with_(deadline=DETACHED_DEADLINE,
                                      attempt_timeout=DETACHED_ATTEMPT))
        add_usage(body, os.path.join(cfg.spool_dir, "transcripts"))
        if opts.get("add-chat"):
            add_chat(body)
    if opts.get("gate") or os.environ.get("ROUTER_EXT_GATE") == "1":
        from hooks import gate

        command = gate.dangerous(body["payload"], gate.load_patterns(opts.get("gate-patterns",
                                                                                 "")))
        if command is not None:
            decision, reason = gate.ask(
                client, body, command,
                timeout=_env_float("ROUTER_EXT_GATE_TIMEOUT", 60.0),
                default=os.environ.get("ROUTER_EXT_GATE_DEFAULT", "deny"))
            stdout.write(gate.output(decision, reason))
            stdout.flush()
            return
    client.send_event(body)


def main() -> int:
    """Entry point: never raises, always 0."""
    started = time.monotonic()
    try:
        run(sys.argv[1:], sys.stdin.buffer, sys.stdout)
    except BaseException as exc:  # a hook must not fail Claude Code, whatever happens
        _note_failure(exc, started)
    return 0


def _note_failure(exc: BaseException, started: float) -> None:
    # Kept for `router-ext hooks doctor`; stays quiet on stdout and stderr.
    try:
        spool = os.environ.get("ROUTER_EXT_SPOOL_DIR") or ClientConfig.from_env().spool_dir
        os.makedirs(spool, mode=0o700, exist_ok=True)
        with open(os.path.join(spool, "hook-errors.log"), "a", encoding="utf-8") as f:
            f.write(f"{time.time():.0f} {type(exc).__name__}: {exc} "
                    f"after {time.monotonic() - started:.3f}s\n")
    except Exception:
        pass

