"""The last day of usage from local transcripts, kept up to date in a small cache file.

The status line runs after every assistant message, so it cannot re-read every transcript each
time. The cache remembers, per transcript, how far it was read, every response of the last 24
hours (deduplicated as in :mod:`router_ext.reports.transcripts`: message.id + requestId, the line
with the most output tokens counts), each recent session's total, and the rates of the models
seen. A run reads only what was appended since, from files modified within the window, and writes
the cache back atomically. Imports stay light: the price table loads only for a model not seen
before.
"""

from __future__ import annotations

import marshal
import os
import sys
import time

from router_ext.reports.times import timestamp_ms
from router_ext.sessions.rates import tokens_cost
from router_ext_client.lines import api_usage_fields, assistant_response, json_object_line

TYPE_CHECKING = False  # typing costs a status line ~5 ms
if TYPE_CHECKING:
    from typing import Any

WINDOW_MS = 24 * 3_600_000
VERSION = f"3/{sys.version_info[0]}.{sys.version_info[1]}"  # marshal's format is per Python
# A response as cached: [at, session, project, model, input, output, cache create, cache read,
# cost]; output decides which streamed line of a response counts.
AT, SESSION, PROJECT, OUTPUT, COST = 0, 1, 2, 5, 8


def default_cache_path() -> str:
    """ROUTER_EXT_STATUSLINE_CACHE, else `$XDG_CACHE_HOME/router-ext/statusline.cache`."""
    named = os.environ.get("ROUTER_EXT_STATUSLINE_CACHE")
    if named:
        return named
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "router-ext", "statusline.cache")


def projects_folder(root: str) -> str:
    """A projects folder: `root`, or `root/projects` when that exists."""
    inner = os.path.join(root, "projects")
    return inner if os.path.isdir(inner) else root


def _empty() -> dict[str, Any]:
    return {"v": VERSION, "files": {}, "responses": {}, "sessions": {}, "rates": {}}


class RecentUsage:
    """Responses of the last 24 hours under a projects folder, read incrementally."""

    def __init__(self, root: str, cache_path: str, now_ms: int | None = None,
                 prices_path: str = "") -> None:
        self.root = projects_folder(os.path.expanduser(root))
        self.cache_path = cache_path
        self.prices_path = prices_path
        self._table: Any = None
        self.now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
        self.state = self._load()

    def _load(self) -> dict[str, Any]:
        # marshal: a day of responses loads in ~1 ms where JSON took ~10. The file is this
        # user's own (0600); anything unreadable, or written by another Python, starts over.
        try:
            with open(self.cache_path, "rb") as handle:
                state = marshal.loads(handle.read())
        except (OSError, ValueError, EOFError, TypeError):
            return _empty()
        return state if isinstance(state, dict) and state.get("v") == VERSION else _empty()

    def save(self) -> None:
        """Write the cache atomically (owner-only)."""
        folder = os.path.dirname(self.cache_path) or "."
        os.makedirs(folder, mode=0o700, exist_ok=True)
        tmp = os.path.join(folder, f".{os.path.basename(self.cache_path)}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(marshal.dumps(self.state))
        os.replace(tmp, self.cache_path)

    def refresh(self) -> None:
        """Read what was appended to recently modified transcripts; forget what is too old."""
        cutoff = self.now_ms - WINDOW_MS
        files: dict[str, int] = {}
        for path, project, session, stat in self._transcripts(cutoff):
            offset = int(self.state["files"].get(path, 0))
            if stat.st_size != offset:
                offset = self._read(path, 0 if stat.st_size < offset else offset, project,
                                    session)
            files[path] = offset
        self.state["files"] = files
        self._prune(cutoff)

    def _transcripts(self, cutoff: int) -> list[tuple[str, str, str, os.stat_result]]:
        """(path, project, session, stat) of transcripts modified since `cutoff`."""
        found = []
        try:
            projects = [e for e in os.scandir(self.root) if e.is_dir()]
        except OSError:
            return []
        for project in projects:
            for folder, _, names in os.walk(project.path):
                rel = os.path.relpath(folder, project.path)
                for name in names:
                    if not name.endswith(".jsonl"):
                        continue
                    path = os.path.join(folder, name)
                    try:
                        stat = os.stat(path)
                    except OSError:
                        continue
                    if stat.st_mtime * 1000 >= cutoff:
                        session = name[:-6] if rel == "." else rel.split(os.sep)[0]
                        found.append((path, project.name, session, stat))
        return found

    def _read(self, path: str, offset: int, project: str, session: str) -> int:
        try:
            with open(path, "rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except OSError:
            return offset
        end = data.rfind(b"\n") + 1  # a line being written is read next time
        for line in data[:end].splitlines():
            obj = json_object_line(line) if line.strip() else None
            if obj is not None:
                self._add(obj, project, session)
        return offset + end

    def _add(self, obj: dict[str, Any], project: str, session: str) -> None:
        response = assistant_response(obj)
        at = timestamp_ms(obj.get("timestamp"))
        if response is None or at is None:
            return
        key, model, message = response
        tokens = api_usage_fields(message.get("usage"))
        known = self.state["responses"].get(key)
        if known is not None and tokens["output_tokens"] <= known[OUTPUT]:
            return
        if known is not None:  # the complete line of a streamed response replaces the first
            at, session, project = known[AT], known[SESSION], known[PROJECT]
            self._session_add(session, -known[COST], at)
        cost = self.cost(model, tokens)
        self.state["responses"][key] = [
            at, session, project, model, tokens["input_tokens"], tokens["output_tokens"],
            tokens["cache_creation_input_tokens"], tokens["cache_read_input_tokens"], cost]
        self._session_add(session, cost, at)

    def cost(self, model: str, tokens: dict[str, int]) -> float:
        """What a response cost, at the model's rates (looked up once, then cached)."""
        rates = self.state["rates"].get(model, False)
        if rates is False:
            if self._table is None:
                from router_ext.sessions.pricing import PriceTable

                self._table = PriceTable.load(self.prices_path)
            found = self._table.rates(model)
            rates = self.state["rates"][model] = list(found) if found else None
        if not rates:
            return 0.0
        return tokens_cost(rates, tokens["input_tokens"], tokens["output_tokens"],
                           tokens["cache_read_input_tokens"],
                           tokens["cache_creation_input_tokens"], tokens["cache_creation_5m"],
                           tokens["cache_creation_1h"])

    def _session_add(self, session: str, cost: float, at: int) -> None:
        total, last = self.state["sessions"].get(session, [0.0, 0])
        self.state["sessions"][session] = [total + cost, max(last, at)]

    def _prune(self, cutoff: int) -> None:
        self.state["responses"] = {k: r for k, r in self.state["responses"].items()
                                   if r[AT] >= cutoff}
        self.state["sessions"] = {k: s for k, s in self.state["sessions"].items()
                                  if s[1] >= cutoff}

    # -- what the status line shows ---------------------------------------------------------

    def session_cost(self, session_id: str) -> float | None:
        """A recent session's cost, or None when no recent response of it was seen."""
        found = self.state["sessions"].get(session_id)
        return float(found[0]) if found else None

    def cost_since(self, since_ms: int) -> float:
        """Cost of the responses since `since_ms`."""
        total = 0.0
        for r in self.state["responses"].values():
            if r[AT] >= since_ms:
                total += r[COST]
        return total

    def points(self) -> list[tuple[int, float]]:
        """(time, cost) of the cached responses, for the current block."""
        return [(r[AT], r[COST]) for r in self.state["responses"].values()]
