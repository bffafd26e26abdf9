"""Rows to protobuf messages for sessions (events convert in router_ext.records)."""

from __future__ import annotations

from typing import Any

from router_ext.v1 import types_pb2


def session_proto(row: dict[str, Any]) -> types_pb2.Session:
    """A harness_sessions row as a Session message."""
    msg = types_pb2.Session(
        id=row["id"],
        source=row["source"],
        project=row.get("project") or "",
        label=row.get("label") or "",
        task_id=row.get("task_id") or "",
        task_title=row.get("task_title") or "",
        started_at_ms=row.get("started_at") or 0,
        completed_at_ms=row.get("completed_at") or 0,
        duration_ms=row.get("duration_ms") or 0,
        status=row.get("status") or "",
        error=row.get("error") or "",
        tool_calls_count=row.get("tool_calls_count") or 0,
        tool_failures_count=row.get("tool_failures_count") or 0,
        prompts_count=row.get("prompts_count") or 0,
        subagents_count=row.get("subagents_count") or 0,
        model=row.get("model") or "",
        tokens=types_pb2.TokenUsage(
            input=row.get("input_tokens") or 0,
            output=row.get("output_tokens") or 0,
            cache_read=row.get("cache_read_tokens") or 0,
            cache_creation=row.get("cache_creation_tokens") or 0,
        ),
        cost_usd=row.get("cost_usd") or 0.0,
        num_turns=row.get("num_turns") or 0,
        claude_session_id=row.get("claude_session_id") or "",
        source_app=row.get("source_app") or "",
        last_event_at_ms=row.get("last_event_at") or 0,
    )
    if row.get("success") is not None:
        msg.success = bool(row["success"])
    return msg
