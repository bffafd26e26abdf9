"""Token usage from Claude Code's own output: `claude -p` results and transcript JSONL.

Standard library only, so hooks and scripts can import it without the server.

- :func:`parse_result` reads `claude -p --output-format json` (one object), the verbose
  array form, or stream-json lines, and returns per-model usage and the CLI's own cost.
- :func:`parse_transcript` / :func:`read_transcript` read transcript lines. Claude Code writes
  one line per content block of a streamed response, each repeating the response's usage, so
  lines are grouped by (message.id, requestId) and only the largest line of a group counts.
  Subagent transcripts are read with the same seen-set, so a response present in both the main
  file and a subagent file counts once. Malformed lines are skipped and counted.
- :class:`TranscriptReader` continues from a byte offset and returns only the usage that is new
  since its last read; its state is JSON so a hook process can persist it between runs.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from router_ext_client.lines import (
    SYNTHETIC_MODEL,
    TOKEN_FIELDS,
    api_usage_fields,
    assistant_response,
    count,
    json_object_line,
    response_key,
)

# modelUsage keys in the `claude -p` result, by our field name.
_RESULT_KEYS = {
    "input_tokens": "inputTokens",
    "output_tokens": "outputTokens",
    "cache_read_input_tokens": "cacheReadInputTokens",
    "cache_creation_input_tokens": "cacheCreationInputTokens",
    "cache_creation_5m": "cacheCreationEphemeral5mInputTokens",
    "cache_creation_1h": "cacheCreationEphemeral1hInputTokens",
}


MAX_COUNT = 2**53 - 1  # what every store and JavaScript holds exactly


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return 0  # value != value: NaN
    return int(min(max(0, value), MAX_COUNT))


@dataclass
class ModelUsage:
    """Token counts for one model. The 5m/1h split is part of cache_creation_input_tokens;
    when the source does not say, both are 0 and the whole amount is priced as 5-minute."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_creation_5m: int = 0
    cache_creation_1h: int = 0
    # The CLI's own cost for this model, when it reported one (`claude -p` results only).
    cost_usd: float | None = None

    def add(self, other: ModelUsage) -> None:
        """Add another usage into this one (costs add when both are known)."""
        for name in TOKEN_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.cost_usd is not None:
            self.cost_usd = (self.cost_usd or 0.0) + other.cost_usd

    def minus(self, other: ModelUsage) -> ModelUsage:
        """Field-wise growth from `other` to self, never negative (cost not carried)."""
        return ModelUsage(**{name: max(0, getattr(self, name) - getattr(other, name))
                             for name in TOKEN_FIELDS})

    @property
    def total_tokens(self) -> int:
        """Input, output and cache tokens together."""
        return (self.input_tokens + self.output_tokens + self.cache_read_input_tokens
                + self.cache_creation_input_tokens)

    def is_empty(self) -> bool:
        """True when no token was counted."""
        return not any(getattr(self, name) for name in TOKEN_FIELDS)

    def to_dict(self) -> dict[str, Any]:
        """The wire form (`router_ext_usage.models[MODEL]`)."""
        out: dict[str, Any] = {name: getattr(self, name) for name in TOKEN_FIELDS}
        if self.cost_usd is not None:
            out["cost_usd"] = self.cost_usd
        return out

    @classmethod
    def from_dict(cls, data: Any) -> ModelUsage:
        """The inverse of :meth:`to_dict`; unknown or bad values become 0."""
        if not isinstance(data, dict):
            return cls()
        usage = cls(**{name: count(data.get(name)) for name in TOKEN_FIELDS})
        cost = data.get("cost_usd")
        if isinstance(cost, int | float) and not isinstance(cost, bool):
            usage.cost_usd = float(cost)
        return usage

    @classmethod
    def from_api_usage(cls, usage: Any) -> ModelUsage:
        """An Anthropic API `usage` object (as in transcripts and stream events)."""
        return cls(**api_usage_fields(usage))


ModelMap = dict[str, ModelUsage]


def merge(into: ModelMap, more: ModelMap) -> ModelMap:
    """Add per-model usage `more` into `into` (returned for chaining)."""
    for model, usage in more.items():
        into.setdefault(model, ModelUsage()).add(usage)
    return into


def total(models: ModelMap) -> ModelUsage:
    """All models summed."""
    out = ModelUsage()
    for usage in models.values():
        out.add(usage)
    return out


def main_model(models: ModelMap) -> str | None:
    """The model that did most of the work (most output tokens, then most input)."""
    if not models:
        return None
    return max(models, key=lambda m: (models[m].output_tokens, models[m].total_tokens))


def to_wire(models: ModelMap) -> dict[str, Any]:
    """The `router_ext_usage` payload object hooks send: {"model", "models": {...}}."""
    return {"model": main_model(models),
            "models": {name: usage.to_dict() for name, usage in models.items()}}


def from_wire(data: Any) -> ModelMap:
    """Per-model usage from a `router_ext_usage` object (bad entries are skipped)."""
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        return {}
    return {str(name): ModelUsage.from_dict(value) for name, value in models.items()
            if isinstance(value, dict)}


# -- `claude -p` results ----------------------------------------------------------------------


@dataclass
class RunResult:
    """The parts of a `claude -p` result router-ext records."""

    session_id: str | None = None
    subtype: str | None = None
    is_error: bool = False
    num_turns: int | None = None
    duration_ms: int | None = None
    duration_api_ms: int | None = None
    total_cost_usd: float | None = None
    result: str | None = None
    errors: list[str] = field(default_factory=list)
    models: ModelMap = field(default_factory=dict)

    @property
    def model(self) -> str | None:
        """The main model of the run."""
        return main_model(self.models)

    @property
    def usage(self) -> ModelUsage:
        """All models summed, with the CLI's total cost."""
        out = total(self.models)
        out.cost_usd = self.total_cost_usd
        return out

    @property
    def error(self) -> str | None:
        """A one-line reason when the run failed."""
        if not self.is_error:
            return None
        if self.errors:
            return "; ".join(self.errors)
        return self.result or self.subtype or "error"


def _result_object(data: Any) -> dict[str, Any] | None:
    if isinstance(data, dict):
        return data if data.get("type", "result") == "result" else None
    if isinstance(data, list):  # verbose array form: the result is the last `result` element
        for item in reversed(data):
            if isinstance(item, dict) and item.get("type") == "result":
                return item
    return None


def _load_result(data: str | bytes | Any) -> Any:
    if not isinstance(data, str | bytes):
        return data
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    try:
        return json.loads(text)
    except ValueError:  # stream-json: one object per line
        items = []
        for line in text.splitlines():
            try:
                items.append(json.loads(line))
            except ValueError:
                continue
        return items


def _result_models(obj: dict[str, Any]) -> ModelMap:
    models: ModelMap = {}
    raw = obj.get("modelUsage")
    if isinstance(raw, dict):
        for name, entry in raw.items():
            if not isinstance(entry, dict):
                continue
            usage = ModelUsage(**{ours: count(entry.get(theirs))
                                  for ours, theirs in _RESULT_KEYS.items()})
            cost = entry.get("costUSD")
            if isinstance(cost, int | float) and not isinstance(cost, bool):
                usage.cost_usd = float(cost)
            models[str(name)] = usage
    _apply_top_level_split(models, obj.get("usage"))
    return models


def _apply_top_level_split(models: ModelMap, usage: Any) -> None:
    # Older results give the 5m/1h split only in the top-level `usage`; it belongs to the model
    # whose cache-creation count it matches.
    top = ModelUsage.from_api_usage(usage)
    if not (top.cache_creation_5m or top.cache_creation_1h):
        return
    for entry in models.values():
        if (entry.cache_creation_input_tokens == top.cache_creation_input_tokens
                and not (entry.cache_creation_5m or entry.cache_creation_1h)):
            entry.cache_creation_5m, entry.cache_creation_1h = (top.cache_creation_5m,
                                                                top.cache_creation_1h)
            return


def parse_result(data: str | bytes | Any) -> RunResult:
    """Parse `claude -p` output (object, verbose array, or stream-json text).

    Raises ValueError when no result object is found.
    """
    obj = _result_object(_load_result(data))
    if obj is None:
        raise ValueError("no `claude -p` result object found")
    cost = obj.get("total_cost_usd")
    errors = obj.get("errors")
    text = obj.get("result")
    return RunResult(
        session_id=obj.get("session_id") if isinstance(obj.get("session_id"), str) else None,
        subtype=obj.get("subtype") if isinstance(obj.get("subtype"), str) else None,
        is_error=bool(obj.get("is_error")),
        num_turns=count(obj["num_turns"]) if "num_turns" in obj else None,
        duration_ms=count(obj["duration_ms"]) if "duration_ms" in obj else None,
        duration_api_ms=count(obj["duration_api_ms"]) if "duration_api_ms" in obj else None,
        total_cost_usd=float(cost) if isinstance(cost, int | float) else None,
        result=text if isinstance(text, str) else None,
        errors=[str(e) for e in errors] if isinstance(errors, list) else [],
        models=_result_models(obj),
    )


# -- transcripts ------------------------------------------------------------------------------


@dataclass
class TranscriptUsage:
    """What a transcript says about usage, after deduplication."""

    models: ModelMap = field(default_factory=dict)
    session_id: str | None = None
    first_timestamp: str | None = None
    last_timestamp: str | None = None
    assistant_lines: int = 0
    unique_responses: int = 0
    malformed_lines: int = 0
    tool_calls: Counter[str] = field(default_factory=Counter)

    @property
    def model(self) -> str | None:
        """The main model."""
        return main_model(self.models)


class Deduper:
    """Counts each API response once, growing it when a later line of it is larger."""

    def __init__(self, seen: dict[str, dict[str, Any]] | None = None) -> None:
        # key -> {"model": ..., "usage": counted ModelUsage dict}
        self.seen: dict[str, dict[str, Any]] = seen if seen is not None else {}

    def add(self, key: str, model: str, usage: ModelUsage, out: ModelMap) -> bool:
        """Add what this line adds beyond the group's counted usage; True for a new group."""
        prior = self.seen.get(key)
        if prior is None:
            self.seen[key] = {"model": model, "usage": usage.to_dict()}
            out.setdefault(model, ModelUsage()).add(usage)
            return True
        counted = ModelUsage.from_dict(prior["usage"])
        if usage.output_tokens <= counted.output_tokens:
            return False  # the largest line of the group is the one that counts
        out.setdefault(prior["model"], ModelUsage()).add(usage.minus(counted))
        prior["usage"] = _maximum(counted, usage).to_dict()
        return False


def _maximum(a: ModelUsage, b: ModelUsage) -> ModelUsage:
    return ModelUsage(**{name: max(getattr(a, name), getattr(b, name)) for name in TOKEN_FIELDS})


def _note_line(obj: dict[str, Any], out: TranscriptUsage) -> None:
    stamp = obj.get("timestamp")
    if isinstance(stamp, str):
        out.first_timestamp = out.first_timestamp or stamp
        out.last_timestamp = stamp
    session = obj.get("sessionId") or obj.get("session_id")
    if isinstance(session, str) and out.session_id is None:
        out.session_id = session


def _tool_uses(message: dict[str, Any]) -> Iterator[tuple[str, str]]:
    content = message.get("content")
    if isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and block.get("type") == "tool_use":
                yield str(block.get("id") or ""), str(block.get("name") or "")


def add_line(line: str | bytes, out: TranscriptUsage, dedup: Deduper,
             tool_ids: set[str]) -> None:
    """Fold one transcript line into `out` (usage via `dedup`, tool calls via `tool_ids`)."""
    if not line.strip():
        return
    obj = json_object_line(line)
    if obj is None:
        out.malformed_lines += 1
        return
    add_object(obj, out, dedup, tool_ids)


def add_object(obj: dict[str, Any], out: TranscriptUsage, dedup: Deduper,
               tool_ids: set[str]) -> None:
    """:func:`add_line` for a line already decoded."""
    _note_line(obj, out)
    message = obj.get("message")
    if obj.get("type") != "assistant" or not isinstance(message, dict):
        return
    out.assistant_lines += 1
    for tool_id, name in _tool_uses(message):
        if tool_id not in tool_ids:
            tool_ids.add(tool_id)
            out.tool_calls[name] += 1
    response = assistant_response(obj)
    if response is None:
        return
    key, model, _ = response
    if dedup.add(key, model, ModelUsage.from_api_usage(message.get("usage")), out.models):
        out.unique_responses += 1


def parse_transcript(lines: Iterable[str | bytes], *, into: TranscriptUsage | None = None,
                     _dedup: Deduper | None = None) -> TranscriptUsage:
    """Deduplicated per-model usage from transcript lines (malformed lines counted)."""
    out = into if into is not None else TranscriptUsage()
    dedup = _dedup if _dedup is not None else Deduper()
    tool_ids: set[str] = set()
    for line in lines:
        add_line(line, out, dedup, tool_ids)
    return out


def subagent_transcripts(path: Path) -> list[Path]:
    """Subagent transcripts of a session: `<dir>/<session_id>/subagents/*.jsonl`."""
    folder = path.with_suffix("") / "subagents"
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


def read_transcript(path: str | Path, *, subagents: bool = True) -> TranscriptUsage:
    """Usage of one session from its transcript file, plus its subagents' files."""
    path = Path(path)
    out = TranscriptUsage()
    dedup = Deduper()
    for file in [path, *(subagent_transcripts(path) if subagents else [])]:
        with file.open("rb") as handle:
            parse_transcript(handle, into=out, _dedup=dedup)
    return out


class TranscriptReader:
    """Reads a growing transcript from a byte offset; each read returns only new usage.

    Only complete lines are consumed, so a line being written is read next time. Save
    :meth:`state` (JSON) between processes and pass it back to continue.
    """

    def __init__(self, path: str | Path, state: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        state = state if isinstance(state, dict) else {}
        self.offset = count(state.get("offset"))
        seen = state.get("seen")
        # A private copy: the caller's state must not change under it.
        self._dedup = Deduper(copy.deepcopy(seen) if isinstance(seen, dict) else None)
        self.malformed_lines = count(state.get("malformed_lines"))

    def state(self) -> dict[str, Any]:
        """JSON-serializable position and seen responses."""
        return {"path": str(self.path), "offset": self.offset, "seen": self._dedup.seen,
                "malformed_lines": self.malformed_lines}

    def read_new(self) -> ModelMap:
        """Per-model usage added to the transcript since the last read."""
        try:
            with self.path.open("rb") as handle:
                if handle.seek(0, 2) < self.offset:  # the file was replaced: start over
                    self.offset = 0
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return {}
        end = data.rfind(b"\n") + 1
        out = parse_transcript(data[:end].splitlines(), _dedup=self._dedup)
        self.offset += end
        self.malformed_lines += out.malformed_lines
        return out.models


def usage_fields(models: ModelMap) -> dict[str, int]:
    """Flat totals under the names the /metrics/harness body uses."""
    t = total(models)
    return {"input_tokens": t.input_tokens, "output_tokens": t.output_tokens,
            "cache_read_tokens": t.cache_read_input_tokens,
            "cache_creation_tokens": t.cache_creation_input_tokens}


__all__ = [
    "SYNTHETIC_MODEL",
    "TOKEN_FIELDS",
    "Deduper",
    "ModelMap",
    "ModelUsage",
    "RunResult",
    "TranscriptReader",
    "TranscriptUsage",
    "add_line",
    "from_wire",
    "json_object_line",
    "main_model",
    "merge",
    "parse_result",
    "parse_transcript",
    "read_transcript",
    "response_key",
    "subagent_transcripts",
    "to_wire",
    "total",
    "usage_fields",
]
