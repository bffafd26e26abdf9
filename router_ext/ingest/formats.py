"""Other senders' wire formats, normalized onto the same event rows as `POST /events`.

- Claude Code's own HTTP hooks: the raw hook JSON (`hook_event_name`, `session_id`, ...).
- The claude-mpm monitor's `POST /api/events` body: `{"event", "type", "subtype", "timestamp",
  "data"}`, sometimes nested once more as `{"namespace", "event", "data": {...}}`.
- The PAI observability format: `{"type", "session_id", "timestamp", "data"}`.

Each function validates as it goes and raises :class:`InvalidInput` naming the field.
"""

from __future__ import annotations

from typing import Any

from router_ext.errors import InvalidInput
from router_ext.ingest import fields
from router_ext.ingest.fields import MAX_EVENT_TYPE, MAX_NAME, MAX_UID
from router_ext.ingest.normalize import (
    build_row,
    from_events_body,
    now_ms,
    parse_timestamp,
    payload_text_of,
)
from router_ext.records import Row

# claude-mpm subtypes -> Claude Code hook names; anything else is kept as sent.
MPM_SUBTYPES = {
    "user_prompt": "UserPromptSubmit",
    "pre_tool": "PreToolUse",
    "post_tool": "PostToolUse",
    "stop": "Stop",
    "subagent_start": "SubagentStart",
    "subagent_stop": "SubagentStop",
    "session_start": "SessionStart",
    "session_end": "SessionEnd",
    "notification": "Notification",
    "pre_compact": "PreCompact",
    "assistant_response": "AssistantResponse",
    # claude-mpm's report on its own hook run (which hook, how long): a type of its own,
    # which the sessions fold skips (router_ext.sessions.apply.BOOKKEEPING_EVENTS).
    "hook_execution": "hook_execution",
    "execution": "hook_execution",
}
MPM_SOURCE_APP = "claude-mpm"
QUESTION_PREVIEW = 500


_dumps = fields.dumps


def _name(value: Any, field: str, *, required: bool = True, limit: int = MAX_NAME) -> str:
    return fields.identifier(value, field, required=required, limit=limit) or ""


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"'{field}' must be a JSON object", field=field)
    return value


def _uid(event: dict[str, Any]) -> str | None:
    # A sender's own event id makes its retries idempotent; whole numbers are accepted as text.
    value = event.get("event_uid") or event.get("id")
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    return fields.identifier(value, "event_uid", limit=MAX_UID)


# -- Claude Code HTTP hooks ------------------------------------------------------------------

def from_claude_hook(body: Any, *, source_app: str, max_payload_bytes: int) -> Row:
    """A raw Claude Code hook body (as a `type: "http"` hook posts it)."""
    hook = _object(body, "body")
    payload_text = payload_text_of(hook, max_payload_bytes)
    return build_row(
        source_app=_name(source_app, "source_app"),
        session_id=_name(hook.get("session_id"), "session_id"),
        hook_event_type=_name(hook.get("hook_event_name"), "hook_event_name",
                              limit=MAX_EVENT_TYPE),
        payload=hook,
        payload_text=payload_text,
        agent_id=_name(hook.get("agent_id"), "agent_id", required=False) or None,
        tool_name=_name(hook.get("tool_name"), "tool_name", required=False) or None,
        tool_use_id=_name(hook.get("tool_use_id"), "tool_use_id", required=False) or None,
    )


def permission_question(hook: dict[str, Any]) -> str:
    """A readable question for a PermissionRequest: the tool and what it wants to do."""
    tool = str(hook.get("tool_name") or "a tool")
    tool_input = hook.get("tool_input")
    detail = ""
    if isinstance(tool_input, dict):
        for key in ("command", "file_path", "url", "pattern", "prompt"):
            if isinstance(tool_input.get(key), str):
                detail = tool_input[key]
                break
        else:
            detail = _dumps(tool_input)
    if len(detail) > QUESTION_PREVIEW:
        detail = detail[:QUESTION_PREVIEW] + "..."
    return f"Allow {tool} to run: {detail}?" if detail else f"Allow {tool} to run?"


def held_permission_row(body: Any, *, source_app: str, max_payload_bytes: int,
                        hold_seconds: float) -> Row:
    """A PermissionRequest hook held open for a person: a pending permission HITL event."""
    row = from_claude_hook(body, source_app=source_app, max_payload_bytes=max_payload_bytes)
    hitl = {"question": permission_question(body), "type": "permission",
            "timeout": hold_seconds, "requiresResponse": True}
    row["human_in_the_loop"] = _dumps(hitl)
    status = {"status": "pending", "requestedAt": row["received_at"], "delivery": "held"}
    row["human_in_the_loop_status"] = _dumps(status)
    row["hitl_status"] = "pending"
    return row


# -- POST /api/events: claude-mpm, PAI, or the /events body itself ----------------------------

def _unwrap_mpm(body: dict[str, Any]) -> dict[str, Any]:
    # The hook handler posts {"namespace": ..., "event": "claude_event", "data": {event}}.
    inner = body.get("data")
    if "namespace" in body and isinstance(inner, dict) and (
            "subtype" in inner or "type" in inner):
        return inner
    return body


def is_mpm(body: dict[str, Any]) -> bool:
    """True for a claude-mpm monitor body (flat or nested)."""
    return "namespace" in body or "subtype" in body or body.get("event") in (
        "claude_event", "mpm_event", "hook_event")


def from_mpm(body: Any, *, max_payload_bytes: int) -> Row:
    """A claude-mpm monitor event: subtype names the hook, data is the payload."""
    event = _unwrap_mpm(_object(body, "body"))
    data = event.get("data")
    payload = _object({} if data is None else data, "data")
    subtype = _name(event.get("subtype"), "subtype", required=False)
    kind = _name(event.get("type"), "type", required=False)
    hook_name = payload.get("hook_event_name")
    hook_event_type = (hook_name if isinstance(hook_name, str) and hook_name
                       else MPM_SUBTYPES.get(subtype, subtype or kind))
    session = (event.get("session_id") or event.get("sessionId") or payload.get("session_id")
               or payload.get("sessionId"))
    # claude-mpm's `source` says which part of it sent the event (`hook`, `mpm_hook`), not
    # which application: the row is claude-mpm's unless the sender names a source_app.
    source = _name(event.get("source"), "source", required=False)
    extra = {k: v for k, v in (("mpm_type", kind), ("mpm_subtype", subtype),
                                ("mpm_source", source)) if v}
    return build_row(
        source_app=_name(event.get("source_app") or MPM_SOURCE_APP, "source_app"),
        session_id=_name(session, "session_id"),
        hook_event_type=_name(hook_event_type, "subtype", limit=MAX_EVENT_TYPE),
        payload=payload,
        payload_text=payload_text_of(payload, max_payload_bytes, "data"),
        event_uid=_uid(event),
        timestamp=parse_timestamp(event.get("timestamp")),
        extra=extra or None,
    )


def from_pai(body: Any, *, max_payload_bytes: int) -> Row:
    """A PAI observability event: {type, session_id, timestamp, data, source_app?}."""
    event = _object(body, "body")
    data = event.get("data")
    payload = _object({} if data is None else data, "data")
    source = event.get("source_app") or event.get("agent_name") or event.get("source") or "pai"
    return build_row(
        source_app=_name(source, "source_app"),
        session_id=_name(event.get("session_id") or event.get("sessionId"), "session_id"),
        hook_event_type=_name(event.get("type"), "type", limit=MAX_EVENT_TYPE),
        payload=payload,
        payload_text=payload_text_of(payload, max_payload_bytes, "data"),
        event_uid=_uid(event),
        timestamp=parse_timestamp(event.get("timestamp")) or now_ms(),
        model_name=_name(event.get("model"), "model", required=False) or None,
    )


def from_api_events(body: Any, *, max_payload_bytes: int) -> Row:
    """`POST /api/events`: whichever of the three known bodies this is."""
    event = _object(body, "body")
    if "hook_event_type" in event:
        return from_events_body(event, max_payload_bytes=max_payload_bytes)
    if is_mpm(event):
        return from_mpm(event, max_payload_bytes=max_payload_bytes)
    return from_pai(event, max_payload_bytes=max_payload_bytes)
