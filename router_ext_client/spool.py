"""The local spool: events the server could not take yet, kept on disk until replayed.

One JSON object per line in `spool.jsonl` (owner-only: the folder is 0700, files 0600). Many
hook processes append at once, so every change happens under an exclusive `flock`. Replay is
single-flight: the replaying process holds `drain.lock`, moves `spool.jsonl` aside to
`draining.jsonl` (the older events, always sent first) and sends from there; whatever it could
not send stays in `draining.jsonl` for the next replay. A crash mid-replay leaves that file in
place, and the server's event_uid dedup makes sending an event twice harmless.

The spool is bounded: an event that would push it past `max_bytes` is dropped and counted in
`state.json`; so is every damaged line found on replay, which is skipped while the rest is
recovered.

An event the server refuses for good (400, 413, 422: it broke a field rule) must not block the
events behind it: it moves to `dead-letter.jsonl` beside the spool (owner-only, bounded by
`dead_max_bytes`, each line the entry plus the server's status and answer), is counted, and
the replay goes on. `router-ext spool status` shows how many wait there.
"""

from __future__ import annotations

import fcntl
import os
import time

from router_ext_client.redact import scrub_line

TYPE_CHECKING = False  # typing and dataclasses cost a hook start-up ~14 ms; avoided
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

try:  # the C codec under the json package, without json's `re` and `enum` imports
    import _json

    _C_JSON: Any = _json
except ImportError:  # another Python: the json package it is
    _C_JSON = None

SPOOL = "spool.jsonl"
DRAINING = "draining.jsonl"
STATE = "state.json"
DEAD = "dead-letter.jsonl"
# Answers from a replay's send function for each entry (or a Refused: never to be sent again).
SENT, RETRY_LATER = True, False


class _ScanContext:
    """What _json.make_scanner reads from json.JSONDecoder: strict parsing, plain types."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo: dict[str, Any] = {}

    @staticmethod
    def parse_constant(name: str) -> float:
        return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


def _no_default(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_WHITESPACE = " \t\n\r"
if _C_JSON is not None:
    _scan = _C_JSON.make_scanner(_ScanContext)
    _encode = _C_JSON.make_encoder({}, _no_default, _C_JSON.encode_basestring_ascii, None,
                                   ":", ",", False, False, True)


def dumps(value: Any) -> str:
    """Compact JSON, ASCII only: json.dumps(value, separators=(",", ":")).

    Importing the json package costs a hook process 5-15 ms (it imports `re`, which imports
    `enum`); the hook, client and spool use the same C codec directly instead.
    """
    if _C_JSON is None:
        import json

        return json.dumps(value, separators=(",", ":"))
    return "".join(_encode(value, 0))


def loads(data: str | bytes) -> Any:
    """Parse one JSON document; ValueError when it is not one."""
    text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
    if _C_JSON is not None:
        start = len(text) - len(text.lstrip(_WHITESPACE))
        try:
            value, end = _scan(text, start)
        except Exception:
            pass  # bad input: the json package below says why (the C scanner alone cannot)
        else:
            if not text[end:].strip(_WHITESPACE):
                return value
    import json

    return json.loads(text)


class Entry:
    """One spooled event: kind is `event` (POST /events) or `metric` (POST /metrics/harness)."""

    __slots__ = ("body", "kind", "spooled_at")

    def __init__(self, kind: str, body: dict[str, Any], spooled_at: int = 0) -> None:
        self.kind = kind
        self.body = body
        self.spooled_at = spooled_at

    def line(self) -> bytes:
        """The JSONL form."""
        data = {"kind": self.kind, "body": self.body, "spooled_at": self.spooled_at}
        return (dumps(data) + "\n").encode()


class Refused:
    """A send function's answer for an event the server refused for good (status, answer)."""

    __slots__ = ("detail", "status")

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        self.detail = detail


class ReplayResult:
    """What one replay did: sent, refused (dead-lettered), damaged (skipped), remaining, busy."""

    __slots__ = ("busy", "damaged", "refused", "remaining", "sent")

    def __init__(self) -> None:
        self.sent = 0
        self.refused = 0
        self.damaged = 0
        self.remaining = 0
        self.busy = False

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"sent": self.sent, "refused": self.refused, "damaged": self.damaged,
                "remaining": self.remaining, "busy": self.busy}


def _parse(raw: bytes) -> Entry | None:
    try:
        data = loads(raw)
        if isinstance(data, dict) and isinstance(data.get("body"), dict) and data.get(
                "kind") in ("event", "metric"):
            return Entry(data["kind"], data["body"], int(data.get("spooled_at") or 0))
    except (ValueError, TypeError, UnicodeDecodeError):
        pass
    return None


class _Lock:
    """An exclusive flock on a file, as a context manager; `with` yields whether it was got.

    Written out rather than with contextlib, whose imports cost a hook start-up several ms.
    """

    def __init__(self, path: str, blocking: bool) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self.blocking = blocking

    def __enter__(self) -> bool:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | (0 if self.blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            return False
        return True

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)  # closing releases the lock


class Spool:
    """A folder of spooled events. Safe to use from many processes at once."""

    def __init__(self, directory: str, max_bytes: int = 64 * 1024 * 1024,
                 dead_max_bytes: int = 16 * 1024 * 1024) -> None:
        self.dir = directory
        self.max_bytes = max_bytes
        self.dead_max_bytes = dead_max_bytes

    def _path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def _ensure(self) -> None:
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        try:  # noqa: SIM105 - contextlib's imports cost a hook start-up several ms
            os.chmod(self.dir, 0o700)
        except OSError:
            pass

    def _locked(self, name: str = ".lock", *, blocking: bool = True) -> _Lock:
        self._ensure()
        return _Lock(self._path(name), blocking)

    def _size(self, name: str) -> int:
        try:
            return os.path.getsize(self._path(name))
        except OSError:
            return 0

    def size(self) -> int:
        """Bytes held (spool plus any interrupted replay)."""
        return self._size(SPOOL) + self._size(DRAINING)

    def append(self, kind: str, body: dict[str, Any]) -> bool:
        """Keep one event; False (and the drop counted) when the spool is full."""
        # Nothing reaches the disk with a secret in it (router_ext_client.redact).
        line = scrub_line(Entry(kind, body, time.time_ns() // 1_000_000).line())
        with self._locked():
            if self.size() + len(line) > self.max_bytes:
                self._count("dropped", 1)
                return False
            fd = os.open(self._path(SPOOL), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        return True

    def dead_letter(self, entry: Entry, refused: Refused) -> bool:
        """Keep an event the server refused, with its answer; False (counted) when full."""
        data = {"kind": entry.kind, "body": entry.body, "spooled_at": entry.spooled_at,
                "refused_at": time.time_ns() // 1_000_000, "status": refused.status,
                "error": refused.detail[:2000]}
        line = (dumps(data) + "\n").encode()
        with self._locked():
            if self._size(DEAD) + len(line) > self.dead_max_bytes:
                self._count("dead_dropped", 1)
                return False
            fd = os.open(self._path(DEAD), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
            self._count("dead_letter", 1)
        return True

    # -- counters -----------------------------------------------------------------------

    def _read_state(self) -> dict[str, int]:
        try:
            with open(self._path(STATE), "rb") as f:
                data = loads(f.read())
            return {k: int(v) for k, v in data.items()} if isinstance(data, dict) else {}
        except (OSError, ValueError, TypeError):
            return {}

    def _count(self, name: str, n: int) -> None:
        """Add to a counter; the caller holds the append lock."""
        state = self._read_state()
        state[name] = state.get(name, 0) + n
        self._write(STATE, dumps(state).encode())

    def _write(self, name: str, data: bytes) -> None:
        tmp = self._path(name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, self._path(name))

    def _lines(self, name: str) -> int:
        try:
            with open(self._path(name), "rb") as f:
                return sum(1 for raw in f if raw.strip())
        except OSError:
            return 0

    def status(self) -> dict[str, Any]:
        """Pending events, bytes, the dead letter, and the dropped and damaged counters."""
        state = self._read_state()
        return {"dir": self.dir, "pending": self._lines(DRAINING) + self._lines(SPOOL),
                "bytes": self.size(), "max_bytes": self.max_bytes,
                "dropped": state.get("dropped", 0), "damaged": state.get("damaged", 0),
                "dead_letter": self._lines(DEAD), "dead_letter_path": self._path(DEAD),
                "dead_letter_bytes": self._size(DEAD),
                "dead_letter_total": state.get("dead_letter", 0),
                "dead_letter_dropped": state.get("dead_dropped", 0)}

    # -- replay -------------------------------------------------------------------------

    def _take(self) -> list[bytes]:
        """The lines to replay now: an interrupted replay's first, else the whole spool."""
        if not os.path.exists(self._path(DRAINING)):
            with self._locked():
                if self._size(SPOOL) == 0:
                    return []
                os.replace(self._path(SPOOL), self._path(DRAINING))
        with open(self._path(DRAINING), "rb") as f:
            return [raw for raw in f if raw.strip()]

    def replay(self, send: Callable[[Entry], bool | Refused], *, limit: int | None = None,
               deadline: float | None = None) -> ReplayResult:
        """Send spooled events oldest first until done, a send fails, `limit` or `deadline`.

        `send` returns True when the server has the event (stored or a duplicate), False to
        stop and keep it, or a :class:`Refused` for an event the server will never take: it
        goes to the dead letter and the replay goes on, so it cannot block the rest.
        """
        result = ReplayResult()
        if not os.path.isdir(self.dir):
            return result
        with self._locked("drain.lock", blocking=False) as got:
            if not got:
                result.busy = True
                return result
            while limit is None or result.sent < limit:
                lines = self._take()
                if not lines:
                    break
                done = self._send_lines(lines, send, result, limit, deadline, self.dead_letter)
                rest = lines[done:]
                if rest:
                    self._write(DRAINING, b"".join(rest))
                    result.remaining = len(rest)
                    break
                os.unlink(self._path(DRAINING))
            if result.damaged:
                with self._locked():
                    self._count("damaged", result.damaged)
        return result

    @staticmethod
    def _send_lines(lines: list[bytes], send: Callable[[Entry], bool | Refused],
                    result: ReplayResult, limit: int | None, deadline: float | None,
                    dead: Callable[[Entry, Refused], bool]) -> int:
        """Send lines in order; returns how many were consumed (sent, refused or damaged)."""
        for i, raw in enumerate(lines):
            if (limit is not None and result.sent + result.refused >= limit) or (
                    deadline is not None and time.monotonic() >= deadline):
                return i
            entry = _parse(raw)
            if entry is None:
                result.damaged += 1
                continue
            outcome = send(entry)
            if isinstance(outcome, Refused):
                dead(entry, outcome)
                result.refused += 1
                continue
            if not outcome:
                return i
            result.sent += 1
        return len(lines)
