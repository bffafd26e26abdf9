"""Validating a response against its request, and the status objects stored for it."""

from __future__ import annotations

import json
from typing import Any

from router_ext.errors import Conflict, InvalidInput, NotFound, TooLarge
from router_ext.records import Row

MAX_RESPONSE = 65_536
MAX_BY = 256


def loads(text: str | None) -> dict[str, Any]:
    """A stored JSON object column, or an empty dict (also for text that is not JSON)."""
    try:
        value = json.loads(text) if text else None
    except (ValueError, TypeError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def dumps(value: Any) -> str:
    """Compact JSON text for a column."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def check_open(row: Row | None, event_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The request and status of an event still waiting for an answer (404/409 otherwise)."""
    if row is None:
        raise NotFound(f"no event with id {event_id}", field="id")
    request = loads(row.get("human_in_the_loop"))
    if not request:
        raise Conflict(f"event {event_id} has no human-in-the-loop request")
    status = loads(row.get("human_in_the_loop_status"))
    state = row.get("hitl_status") or status.get("status")
    if state == "responded":
        raise Conflict(f"event {event_id} was already answered by "
                       f"{status.get('respondedBy') or 'someone'}")
    if state == "timeout":
        raise Conflict(f"event {event_id} timed out before it was answered")
    if state != "pending":
        raise Conflict(f"event {event_id} is not waiting for an answer (status {state!r})")
    return request, status


def _text(body: dict[str, Any], name: str, limit: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"'{name}' is required and must be a non-empty string", field=name)
    if len(value) > limit:
        raise TooLarge(f"'{name}' is longer than {limit} characters", field=name)
    return value


def parse_answer(body: Any, request: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The answer ({response} | {permission} | {choice}) and who gave it, checked by type."""
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    by = body.get("respondedBy") or "anonymous"
    if not isinstance(by, str) or len(by) > MAX_BY:
        raise InvalidInput(f"'respondedBy' must be a string of at most {MAX_BY} characters",
                           field="respondedBy")
    kind = request.get("type", "question")
    if kind == "permission":
        permission = body.get("permission")
        if not isinstance(permission, bool):
            raise InvalidInput("'permission' is required and must be true or false",
                               field="permission")
        return {"permission": permission}, by
    if kind == "choice":
        choice = _text(body, "choice", MAX_RESPONSE)
        choices = request.get("choices") or []
        if choice not in choices:
            raise InvalidInput(f"'choice' must be one of {choices}", field="choice")
        return {"choice": choice}, by
    return {"response": _text(body, "response", MAX_RESPONSE)}, by


def responded_status(status: dict[str, Any], answer: dict[str, Any], by: str, at_ms: int,
                     delivery: str, via: dict[str, str] | None = None) -> dict[str, Any]:
    """The status once a person answered; `delivery` says how the agent gets it, `via` which
    credential answered from which address (`respondedBy` is only what the person typed)."""
    out = {**status, "status": "responded", "response": answer, "respondedBy": by,
           "respondedAt": at_ms, "delivery": delivery}
    if via is not None:
        out["respondedVia"] = via
    return out


def timeout_status(status: dict[str, Any], at_ms: int, default: str | None) -> dict[str, Any]:
    """The status when nobody answered in time (with the default decision for held hooks)."""
    out = {**status, "status": "timeout", "timedOutAt": at_ms}
    if default is not None:
        out.update(delivery="default", defaultDecision=default)
    return out
