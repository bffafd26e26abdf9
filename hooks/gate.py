"""The PreToolUse gate: dangerous commands wait for a person's decision.

A Bash command matching one of the patterns is posted as a human-in-the-loop permission request
(`humanInTheLoop` with type "permission"). The answer comes back by the well-known dashboard's
protocol, the server connecting to a `responseWebSocketUrl` on a loopback listener this process
opens, or, when the server cannot reach it, by polling GET /events/{id}. With no answer by the
deadline the configured default applies. Standard library only.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import select
import socket
import time
from typing import Any

from router_ext_client.client import Client
from router_ext_client.retry import PermanentError, RetryableError

# rm -rf (any flag order) of /, /*, ~, ~/, $HOME or ${HOME}; disk wipes; fork bombs.
DEFAULT_PATTERNS = (
    r"\brm\s+(-[a-zA-Z]*[rR][a-zA-Z]*\s+-?[a-zA-Z]*[fF]|-[a-zA-Z]*[fF][a-zA-Z]*\s+-?[a-zA-Z]*[rR]"
    r"|-[a-zA-Z]*(rf|fr|Rf|fR)[a-zA-Z]*|--recursive\s+--force|--force\s+--recursive)"
    r"[^;&|]*\s(/|/\*|~|~/|~/\*|\$HOME|\$\{HOME\}|\$HOME/\*?|\"\$HOME\"/?)(\s|$|;|&|\|)",
    r"\bmkfs(\.\w+)?\s+/dev/",
    r"\bdd\b[^;&|]*\bof=/dev/(sd|nvme|hd|vd)",
    r":\(\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:",
    r"\bchmod\s+-R\s+0?777\s+/(\s|$)",
)
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
POLL_SECONDS = 0.5
ALLOW_WORDS = {"allow", "allowed", "approve", "approved", "yes", "y", "true", "ok"}
DENY_WORDS = {"deny", "denied", "block", "reject", "rejected", "no", "n", "false"}


def load_patterns(path: str = "") -> list[re.Pattern[str]]:
    """Patterns from a file (one regex per line, # comments) or the defaults."""
    path = path or os.environ.get("ROUTER_EXT_GATE_PATTERNS", "")
    lines: list[str] = list(DEFAULT_PATTERNS)
    if path:
        with contextlib.suppress(OSError), open(path, encoding="utf-8") as f:
            lines = [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
    out = []
    for line in lines:
        with contextlib.suppress(re.error):
            out.append(re.compile(line))
    return out


def dangerous(event: dict[str, Any], patterns: list[re.Pattern[str]]) -> str | None:
    """The Bash command when it matches a pattern, else None."""
    if event.get("hook_event_name") != "PreToolUse" or event.get("tool_name") != "Bash":
        return None
    tool_input = event.get("tool_input")
    command = tool_input.get("command") if isinstance(tool_input, dict) else None
    if isinstance(command, str) and any(p.search(command) for p in patterns):
        return command
    return None


def interpret(answer: Any) -> str | None:
    """`allow` or `deny` from a relayed answer or a stored response, else None."""
    if isinstance(answer, bool):
        return "allow" if answer else "deny"
    if isinstance(answer, str):
        word = answer.strip().lower()
        return "allow" if word in ALLOW_WORDS else "deny" if word in DENY_WORDS else None
    if isinstance(answer, dict):
        for key in ("permission", "approved", "allow", "response", "choice", "decision",
                    "behavior"):
            if key in answer:
                found = interpret(answer[key])
                if found:
                    return found
    return None


def _ws_accept(conn: socket.socket, deadline: float) -> Any:
    """Complete a WebSocket handshake and return the first text message, decoded."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        conn.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = conn.recv(4096)
        if not chunk:
            return None
        buf += chunk
    head, _, buf = buf.partition(b"\r\n\r\n")
    match = re.search(rb"(?im)^sec-websocket-key:\s*(\S+)", head)
    if not match:
        return None
    accept = base64.b64encode(hashlib.sha1(match.group(1) + WS_GUID.encode()).digest())
    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")

    def need(n: int) -> bytes:
        nonlocal buf
        while len(buf) < n:
            conn.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = conn.recv(65536)
            if not chunk:
                raise ConnectionError("closed mid-frame")
            buf += chunk
        out, buf = buf[:n], buf[n:]
        return out

    b0, b1 = need(2)
    length = b1 & 0x7F
    if length == 126:
        length = int.from_bytes(need(2), "big")
    elif length == 127:
        length = int.from_bytes(need(8), "big")
    mask = need(4) if b1 & 0x80 else b"\0\0\0\0"
    data = bytes(c ^ mask[i % 4] for i, c in enumerate(need(length)))
    with contextlib.suppress(OSError):
        conn.sendall(b"\x88\x00")  # close
    return json.loads(data) if b0 & 0x0F == 1 else None


def _poll(client: Client, event_id: int | None) -> tuple[bool, Any]:
    """(answered, answer) from GET /events/{id}; (True, None) means timed out or gone."""
    if event_id is None:
        return False, None
    event = client.get_json(f"/events/{event_id}", timeout=1.0)
    status = event.get("humanInTheLoopStatus") if isinstance(event, dict) else None
    if not isinstance(status, dict) or status.get("status") in (None, "pending"):
        return False, None
    return True, status.get("response")


def wait_for_answer(client: Client, listener: socket.socket, event_id: int | None,
                    deadline: float) -> Any:
    """The first answer by relay or by polling, or None at the deadline."""
    polling = event_id is not None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([listener], [], [], min(POLL_SECONDS,
                                                            deadline - time.monotonic()))
        if ready:
            conn, _ = listener.accept()
            with conn, contextlib.suppress(OSError, ValueError, ConnectionError):
                answer = _ws_accept(conn, deadline)
                if answer is not None:
                    return answer
        if polling:
            try:
                answered, answer = _poll(client, event_id)
            except PermanentError:
                polling = False  # no such route on this server: rely on the relay
                continue
            except (RetryableError, ValueError):
                continue
            if answered:
                return answer
    return None


def ask(client: Client, body: dict[str, Any], command: str, *, timeout: float,
        default: str) -> tuple[str, str]:
    """Post the permission request and wait; returns (decision, reason)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        body["humanInTheLoop"] = {
            "question": f"Allow this command?\n{command}", "type": "permission",
            "timeout": timeout, "responseWebSocketUrl": f"ws://127.0.0.1:{port}/",
            "requiresResponse": True,
        }
        deadline = time.monotonic() + timeout
        # The hook's 0.1 s budget is for reporting; asking a person may take the time it needs.
        asking = Client(client.config.with_(deadline=max(client.config.deadline, 5.0),
                                            attempt_timeout=2.0))
        outcome = asking.send_event(body)
        if outcome.status != "sent":
            return default, f"router-ext could not ask for approval ({outcome.status}); " \
                            f"default is {default}"
        answer = wait_for_answer(client, listener, outcome.id, deadline)
    decision = interpret(answer)
    if decision is None:
        return default, f"no answer within {timeout:g}s; default is {default}"
    return decision, f"{'approved' if decision == 'allow' else 'denied'} through router-ext"


def output(decision: str, reason: str) -> str:
    """The PreToolUse hook answer Claude Code reads from stdout."""
    return json.dumps({"hookSpecificOutput": {
        "hookEventName": "PreToolUse", "permissionDecision": decision,
        "permissionDecisionReason": reason}})
