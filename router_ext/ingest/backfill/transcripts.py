"""Claude Code transcripts (`~/.claude/projects/<project>/<session>.jsonl`) as hook-style events.

A transcript becomes the events its hooks would have sent: SessionStart, UserPromptSubmit,
PreToolUse, PostToolUse/PostToolUseFailure, a Stop at the end of each turn carrying the usage of
that turn's API responses (deduplicated as in :mod:`router_ext_client.usage`), a SubagentStop per
subagent transcript with its usage, and SessionEnd once the transcript has been quiet longer than
the idle time. Every event_uid is derived from content, so importing again changes nothing, and a
transcript that grew adds only its new turns.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from router_ext_client.usage import (
    Deduper,
    ModelMap,
    TranscriptUsage,
    add_object,
    json_object_line,
    read_transcript,
    subagent_transcripts,
    to_wire,
)

USAGE_KEY = "router_ext_usage"


def uid(*parts: str) -> str:
    """A deterministic event uid for imported content."""
    return "imp-" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def iso_ms(value: Any) -> int | None:
    """Unix ms from an ISO-8601 timestamp, else None."""
    if not isinstance(value, str):
        return None
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


@dataclass
class ImportedEvent:
    """One event to store: the /events fields the row needs."""

    event_uid: str
    session_id: str
    hook_event_type: str
    timestamp: int
    payload: dict[str, Any]
    source_app: str | None = None  # what the file names, else the import's --source-app


@dataclass
class _Walk:
    session: str
    path: Path
    cwd: str | None = None
    last_ts: int = 0
    turn: ModelMap = field(default_factory=dict)
    turn_end: str | None = None
    dedup: Deduper = field(default_factory=Deduper)
    tools: dict[str, str] = field(default_factory=dict)
    malformed: int = 0
    started: bool = False


def _base(walk: _Walk, name: str) -> dict[str, Any]:
    return {"session_id": walk.session, "transcript_path": str(walk.path), "cwd": walk.cwd,
            "hook_event_name": name, "imported": True}


def _stop(walk: _Walk) -> Iterator[ImportedEvent]:
    if walk.turn_end is None:
        return
    payload = _base(walk, "Stop")
    if walk.turn:
        payload[USAGE_KEY] = to_wire(walk.turn)
    yield ImportedEvent(uid(walk.session, "stop", walk.turn_end), walk.session, "Stop",
                        walk.last_ts, payload)
    walk.turn, walk.turn_end = {}, None


def _user(walk: _Walk, obj: dict[str, Any], ts: int) -> Iterator[ImportedEvent]:
    content = (obj.get("message") or {}).get("content")
    line_id = str(obj.get("uuid") or ts)
    if isinstance(content, str) or (isinstance(content, list) and any(
            isinstance(b, dict) and b.get("type") == "text" for b in content)):
        yield from _stop(walk)  # a new prompt closes the previous turn
        text = content if isinstance(content, str) else " ".join(
            str(b.get("text", "")) for b in content if isinstance(b, dict))
        yield ImportedEvent(uid(walk.session, "prompt", line_id), walk.session,
                            "UserPromptSubmit", ts, {**_base(walk, "UserPromptSubmit"),
                                                     "prompt": text})
        return
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            name = "PostToolUseFailure" if block.get("is_error") else "PostToolUse"
            tool_id = str(block.get("tool_use_id") or line_id)
            yield ImportedEvent(uid(walk.session, "post", tool_id), walk.session, name, ts,
                                {**_base(walk, name), "tool_use_id": tool_id,
                                 "tool_name": walk.tools.get(tool_id, "unknown")})


def _assistant(walk: _Walk, obj: dict[str, Any], ts: int) -> Iterator[ImportedEvent]:
    message = obj.get("message") or {}
    # The same deduplication as live usage: a response split over lines counts once.
    add_object(obj, TranscriptUsage(models=walk.turn), walk.dedup, set())
    walk.turn_end = str(obj.get("uuid") or ts)
    for block in message.get("content") or []:
        if isinstance(block, dict) and block.get("type") == "tool_use":
            tool_id = str(block.get("id"))
            walk.tools[tool_id] = str(block.get("name") or "unknown")
            yield ImportedEvent(uid(walk.session, "pre", tool_id), walk.session, "PreToolUse", ts,
                                {**_base(walk, "PreToolUse"), "tool_use_id": tool_id,
                                 "tool_name": block.get("name"),
                                 "tool_input": block.get("input")})
    if message.get("stop_reason") == "end_turn":
        yield from _stop(walk)


def _line(walk: _Walk, raw: bytes) -> Iterator[ImportedEvent]:
    obj = json_object_line(raw)
    if obj is None:
        walk.malformed += 1
        return
    ts = iso_ms(obj.get("timestamp"))
    if ts is None or obj.get("isSidechain") or obj.get("isMeta"):
        return
    walk.last_ts = max(walk.last_ts, ts)
    walk.cwd = walk.cwd or obj.get("cwd")
    if not walk.started:
        walk.started = True
        yield ImportedEvent(uid(walk.session, "start"), walk.session, "SessionStart", ts,
                            {**_base(walk, "SessionStart"), "source": "import"})
    if obj.get("type") == "user":
        yield from _user(walk, obj, ts)
    elif obj.get("type") == "assistant":
        yield from _assistant(walk, obj, ts)


def transcript_events(path: Path, *, finished_before_ms: int,
                      stats: dict[str, int]) -> Iterator[ImportedEvent]:
    """Events for one transcript file (and its subagent files)."""
    walk = _Walk(session=path.stem, path=path)
    with path.open("rb") as handle:
        for raw in handle:
            if raw.strip():
                yield from _line(walk, raw)
    stats["malformed_lines"] = stats.get("malformed_lines", 0) + walk.malformed
    if not walk.started:
        return
    # A turn still open is left for a later import unless the session has gone quiet.
    finished = walk.last_ts < finished_before_ms
    if finished:
        yield from _stop(walk)
    for sub in subagent_transcripts(path):
        usage = read_transcript(sub, subagents=False)
        stats["malformed_lines"] += usage.malformed_lines
        payload = {**_base(walk, "SubagentStop"), "agent_id": sub.stem,
                   "agent_transcript_path": str(sub)}
        if usage.models:
            payload[USAGE_KEY] = to_wire(usage.models)
        first = iso_ms(usage.first_timestamp) or walk.last_ts
        yield ImportedEvent(uid(walk.session, "subagent-start", sub.name), walk.session,
                            "SubagentStart", first, {**_base(walk, "SubagentStart"),
                                                     "agent_id": sub.stem})
        yield ImportedEvent(uid(walk.session, "subagent", sub.name), walk.session,
                            "SubagentStop", iso_ms(usage.last_timestamp) or first, payload)
    if finished:
        yield ImportedEvent(uid(walk.session, "end"), walk.session, "SessionEnd", walk.last_ts,
                            {**_base(walk, "SessionEnd"), "reason": "imported"})
