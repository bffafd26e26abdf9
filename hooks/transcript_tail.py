"""Incremental transcript reading for the hook: only the part written since the last read.

The read position and the responses already counted (router_ext_client.usage.TranscriptReader state)
are kept per transcript in a small JSON file under the state folder, so each Stop, SubagentStop or
SessionEnd reads only new lines, never the whole file. A lock per transcript keeps two hook
processes (Stop and SubagentStop firing together) from counting the same lines twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from typing import Any

# Keep this many counted responses in the state; older groups never reappear in a transcript
# that is only appended to, so forgetting them cannot double count.
SEEN_KEEP = 512


def _state_name(transcript: str) -> str:
    # A readable, collision-free file name: the path with separators replaced, trimmed from the
    # left (the session id at the end is what makes it unique).
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in transcript)
    return safe[-180:] + ".json"


def _trim(state: dict[str, Any]) -> dict[str, Any]:
    seen = state.get("seen")
    if isinstance(seen, dict) and len(seen) > SEEN_KEEP:
        state["seen"] = dict(list(seen.items())[-SEEN_KEEP:])
    return state


def read_new_usage(transcript: str, state_dir: str) -> dict[str, Any] | None:
    """The `router_ext_usage` object for usage added since the last call, or None if none.

    Never raises for a missing or unreadable transcript: reporting must not depend on it.
    """
    if not transcript or not os.path.isfile(transcript):
        return None
    from router_ext_client.usage import TranscriptReader, to_wire  # only on the events that need it

    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    path = os.path.join(state_dir, _state_name(transcript))
    fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        state: dict[str, Any] | None = None
        with contextlib.suppress(OSError, ValueError), open(path, encoding="utf-8") as f:
            state = json.load(f)
        reader = TranscriptReader(transcript, state if isinstance(state, dict) else None)
        models = reader.read_new()
        tmp = path + ".tmp"
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w",
                  encoding="utf-8") as f:
            json.dump(_trim(reader.state()), f, separators=(",", ":"))
        os.replace(tmp, path)
    finally:
        os.close(fd)
    models = {name: usage for name, usage in models.items() if not usage.is_empty()}
    return to_wire(models) if models else None
