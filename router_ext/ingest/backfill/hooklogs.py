"""JSONL hook logs (`logs/sessions/<uuid>/pre_tool_use.jsonl`, `post_tool_use.jsonl`, ...).

Hook scripts in the wild append each hook's stdin JSON to a file named after the event. Every
line becomes one event; its uid is a hash of the line, so importing again changes nothing.
Files holding one JSON array instead of lines are read too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from router_ext.ingest.backfill.transcripts import ImportedEvent, iso_ms, uid

HOOK_FILES = ("pre_tool_use", "post_tool_use", "post_tool_use_failure", "user_prompt_submit",
              "notification", "stop", "subagent_start", "subagent_stop", "session_start",
              "session_end", "pre_compact", "permission_request")


def event_name(stem: str) -> str:
    """`pre_tool_use` -> `PreToolUse`."""
    return "".join(part.capitalize() for part in stem.split("_"))


def is_hook_log(path: Path) -> bool:
    """A file named after a hook event, as hook logs are."""
    return path.suffix in (".jsonl", ".json") and path.stem in HOOK_FILES


def records(path: Path, stats: dict[str, int]) -> Iterator[tuple[int, bytes, Any]]:
    """(line number, raw line, decoded value) for each readable line; bad ones are counted."""
    data = path.read_bytes()
    if path.suffix == ".json" and data.lstrip().startswith(b"["):
        try:
            items = json.loads(data)
        except ValueError:
            stats["malformed_lines"] = stats.get("malformed_lines", 0) + 1
            return
        for n, item in enumerate(items):
            yield n, json.dumps(item, sort_keys=True).encode(), item
        return
    for n, raw in enumerate(data.splitlines()):
        if not raw.strip():
            continue
        try:
            yield n, raw, json.loads(raw)
        except ValueError:
            stats["malformed_lines"] = stats.get("malformed_lines", 0) + 1


def timestamp_of(item: dict[str, Any], fallback: int) -> int:
    """The item's `timestamp` (s, ms or ISO) as Unix ms, else `fallback`."""
    value = item.get("timestamp")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value * 1000) if value < 10_000_000_000 else int(value)
    return iso_ms(value) or fallback


def hook_log_events(path: Path, stats: dict[str, int]) -> Iterator[ImportedEvent]:
    """Events for one hook log file; the session is the payload's, else the folder name."""
    folder_session = path.parent.name
    fallback = int(os.path.getmtime(path) * 1000)
    for n, raw, item in records(path, stats):
        if not isinstance(item, dict):
            stats["malformed_lines"] = stats.get("malformed_lines", 0) + 1
            continue
        name = item.get("hook_event_name")
        name = name if isinstance(name, str) and name else event_name(path.stem)
        session = item.get("session_id")
        session = session if isinstance(session, str) and session else folder_session
        # Lines without their own time keep file order by a millisecond each.
        ts = timestamp_of(item, fallback + n)
        yield ImportedEvent(uid("hooklog", raw.decode("utf-8", "replace")), session, name, ts,
                            item)
