"""Transcript lines, read without the rest of :mod:`router_ext_client.usage`.

Standard library only and no dataclasses, so the status line, which runs after every assistant
message, parses transcripts without paying for the usage module's imports.
"""

from __future__ import annotations

from router_ext_client.spool import loads

TYPE_CHECKING = False  # typing costs a status line ~5 ms
if TYPE_CHECKING:
    from typing import Any

# Assistant lines Claude Code writes itself (errors, interruptions) carry this model and no usage.
SYNTHETIC_MODEL = "<synthetic>"
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_input_tokens",
                "cache_creation_input_tokens", "cache_creation_5m", "cache_creation_1h")


def count(value: Any) -> int:
    """A token count: a non-negative int, 0 for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return max(0, int(value))


def json_object_line(line: str | bytes) -> dict[str, Any] | None:
    """One JSONL line decoded, or None when it is not a JSON object."""
    try:
        obj = loads(line)  # the C codec without the json package's imports (re, enum)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def response_key(obj: dict[str, Any], message: dict[str, Any]) -> str | None:
    """What identifies one API response across its streamed lines: message.id + requestId
    (the line's uuid when there is no message id)."""
    msg_id = message.get("id")
    if isinstance(msg_id, str) and msg_id:
        request = obj.get("requestId")
        return f"{msg_id}\x1f{request if isinstance(request, str) else ''}"
    uid = obj.get("uuid")
    return f"line\x1f{uid}" if isinstance(uid, str) else None


def api_usage_fields(usage: Any) -> dict[str, int]:
    """An Anthropic API `usage` object as TOKEN_FIELDS counts (the 5m/1h cache-write split is
    part of cache_creation_input_tokens; 0 and 0 when the source does not say)."""
    if not isinstance(usage, dict):
        return dict.fromkeys(TOKEN_FIELDS, 0)
    split = usage.get("cache_creation")
    split = split if isinstance(split, dict) else {}
    return {"input_tokens": count(usage.get("input_tokens")),
            "output_tokens": count(usage.get("output_tokens")),
            "cache_read_input_tokens": count(usage.get("cache_read_input_tokens")),
            "cache_creation_input_tokens": count(usage.get("cache_creation_input_tokens")),
            "cache_creation_5m": count(split.get("ephemeral_5m_input_tokens")),
            "cache_creation_1h": count(split.get("ephemeral_1h_input_tokens"))}


def assistant_response(obj: dict[str, Any]) -> tuple[str, str, dict[str, Any]] | None:
    """(response key, model, message) of an assistant line that carries usage, else None."""
    message = obj.get("message")
    if obj.get("type") != "assistant" or not isinstance(message, dict):
        return None
    model = message.get("model")
    key = response_key(obj, message)
    if not isinstance(model, str) or model == SYNTHETIC_MODEL or key is None:
        return None
    return key, model, message
