"""router_ext_client.usage against the documented and captured fixtures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from router_ext_client.usage import (
    ModelUsage,
    TranscriptReader,
    from_wire,
    parse_result,
    parse_transcript,
    read_transcript,
    to_wire,
)
from tests.support import FIXTURES

DOC = FIXTURES / "documented"
CAPTURED = FIXTURES / "claude-code-2.1.328"
EXPECTED = json.loads((DOC / "transcript.expected.json").read_text())


def _as_expected(usage: ModelUsage) -> dict[str, int]:
    return {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
            "cache_creation_input_tokens": usage.cache_creation_input_tokens,
            "cache_read_input_tokens": usage.cache_read_input_tokens}


def test_transcript_dedup_matches_expected_totals() -> None:
    usage = read_transcript(DOC / "transcript.jsonl")
    got = {model: _as_expected(u) for model, u in usage.models.items()}
    assert got == EXPECTED["main_loop_tokens_correct"]
    assert got != EXPECTED["main_loop_tokens_if_every_line_summed_WRONG"]
    assert got != EXPECTED["main_loop_tokens_if_first_line_kept_WRONG"]
    assert usage.assistant_lines == EXPECTED["assistant_lines"]
    assert usage.unique_responses == EXPECTED["unique_api_responses"]
    assert dict(usage.tool_calls) == EXPECTED["tool_calls"]
    assert usage.session_id == EXPECTED["session_id"]
    assert usage.first_timestamp == EXPECTED["first_timestamp"]
    assert usage.last_timestamp == EXPECTED["last_timestamp"]
    assert usage.models["claude-opus-4-6"].cache_creation_1h == 18595


def test_line_order_does_not_matter_largest_line_wins() -> None:
    lines = (DOC / "transcript.jsonl").read_text().splitlines()
    usage = parse_transcript(reversed(lines))
    assert _as_expected(usage.models["claude-opus-4-6"]) == \
        EXPECTED["main_loop_tokens_correct"]["claude-opus-4-6"]


def test_malformed_lines_are_skipped_and_counted() -> None:
    lines = (DOC / "transcript.jsonl").read_text().splitlines()
    broken = ["{not json", *lines[:5], "[1, 2]", '{"type": "assistant", "message": 3}', *lines[5:]]
    usage = parse_transcript(broken)
    assert usage.malformed_lines == 2
    assert _as_expected(usage.models["claude-opus-4-6"]) == \
        EXPECTED["main_loop_tokens_correct"]["claude-opus-4-6"]


def test_subagent_transcript_counted_once(tmp_path: Path) -> None:
    main = tmp_path / "s1.jsonl"
    shutil.copy(DOC / "transcript.jsonl", main)
    sub = tmp_path / "s1" / "subagents"
    sub.mkdir(parents=True)
    line = {"type": "assistant", "requestId": "req_sub", "isSidechain": True,
            "message": {"id": "msg_sub", "model": "claude-haiku-4-5-20251001",
                        "usage": {"input_tokens": 36, "output_tokens": 648,
                                  "cache_read_input_tokens": 61234,
                                  "cache_creation_input_tokens": 9120}}}
    (sub / "agent-a.jsonl").write_text(json.dumps(line) + "\n")
    # The same subagent response also copied into the main file (older Claude Code did this).
    with main.open("a") as handle:
        handle.write(json.dumps(line) + "\n")
    usage = read_transcript(main)
    haiku = EXPECTED["subagent_totals_not_in_this_file"]["claude-haiku-4-5-20251001"]
    assert usage.models["claude-haiku-4-5-20251001"].output_tokens == haiku["outputTokens"]
    assert usage.models["claude-haiku-4-5-20251001"].cache_read_input_tokens == \
        haiku["cacheReadInputTokens"]


def test_result_object_verbose_and_stream_forms() -> None:
    plain = parse_result((DOC / "claude-p-result.json").read_text())
    verbose = parse_result((DOC / "claude-p" / "claude-p-result.verbose-array.json").read_text())
    stream = parse_result((CAPTURED / "claude-p-stream.jsonl").read_text())
    for result in (plain, verbose):
        assert result.total_cost_usd == pytest.approx(0.3354074)
        assert result.models["claude-opus-4-6"].cost_usd == pytest.approx(0.307768)
        assert result.models["claude-haiku-4-5-20251001"].output_tokens == 648
        assert result.model == "claude-opus-4-6"
        assert result.num_turns == 6
        assert not result.is_error and result.error is None
    assert plain.models["claude-opus-4-6"].cache_creation_1h == 18595
    assert stream.session_id == "c0901026-a708-4982-9864-432cb8d4dfab"
    assert stream.models["claude-opus-5-5"].input_tokens == 2400


def test_result_errors() -> None:
    turns = parse_result((DOC / "claude-p" / "claude-p-result.error_max_turns.json").read_bytes())
    assert turns.is_error and turns.error == "Reached maximum number of turns (30)"
    limit = parse_result((DOC / "claude-p" / "claude-p-result.usage-limit.json").read_text())
    assert limit.is_error and limit.models == {}
    assert (limit.error or "").startswith("Claude AI usage")
    with pytest.raises(ValueError):
        parse_result('{"type": "assistant"}')


def test_incremental_reader_returns_only_new_usage(tmp_path: Path) -> None:
    lines = (DOC / "transcript.jsonl").read_bytes().splitlines(keepends=True)
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"".join(lines[:5]) + lines[5][:20])  # the last line is half written
    reader = TranscriptReader(path)
    first = reader.read_new()
    state = json.loads(json.dumps(reader.state()))
    path.write_bytes(b"".join(lines))
    second = TranscriptReader(path, state).read_new()  # a new process continues
    summed = ModelUsage()
    for part in (first, second):
        summed.add(part.get("claude-opus-4-6", ModelUsage()))
    assert _as_expected(summed) == EXPECTED["main_loop_tokens_correct"]["claude-opus-4-6"]
    assert TranscriptReader(path, state).read_new() != {}
    again = TranscriptReader(path, TranscriptReader(path, state).state())
    again.read_new()
    assert again.read_new() == {}


def test_wire_round_trip() -> None:
    models = read_transcript(DOC / "transcript.jsonl").models
    wire = json.loads(json.dumps(to_wire(models)))
    assert wire["model"] == "claude-opus-4-6"
    assert from_wire(wire) == models
    assert from_wire({"models": {"x": 5}}) == {}
