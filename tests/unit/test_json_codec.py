"""The fast JSON codec (msgspec) gives the standard library's answers on every document.

`fields.parse_json` decodes with msgspec and falls back to the standard library on any refusal;
`fields.dumps` encodes with msgspec and falls back likewise. That is only sound if msgspec never
takes a document the standard library refuses, decodes what both take to the same value (an
integer stays an integer, -0.0 keeps its sign), and writes text that reads back as the value.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router_ext.errors import RouterExtError
from router_ext.ingest import fields
from router_ext.records import to_api_json

LIMIT = 1 << 20
# The characters JSON's grammar turns on, to mutate valid documents into near misses.
GRAMMAR = [
    *'[]{}",:\\/u0123456789abcdefABCDEF+-.eEtrufalsnNIiy \t\r\n',
    "\\ud800", "\\udc00", "\\ud83d\\ude00", "\ud800", "\x00", "\x1f", "\ufeff", "é", "1e400",
    "NaN", "Infinity", "-Infinity", "00", "9" * 30,
]

scalars = (st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text())
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)


@st.composite
def documents(draw: st.DrawFn) -> str:
    """A JSON text as some client might write it, sometimes with one near-miss edit."""
    text = json.dumps(draw(values), ensure_ascii=draw(st.booleans()),
                      indent=draw(st.sampled_from([None, 0, 2])))
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        at = draw(st.integers(min_value=0, max_value=len(text)))
        edit = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(st.sampled_from(GRAMMAR))
        if edit == "insert":
            text = text[:at] + piece + text[at:]
        elif edit == "delete":
            text = text[:at] + text[at + 1:]
        else:
            text = text[:at] + piece + text[at + 1:]
    return text


def canonical(value: Any) -> str:
    """Text that tells 1 from 1.0 and 0.0 from -0.0, and keeps lone surrogates visible."""
    return json.dumps(value, ensure_ascii=True, allow_nan=True)


def outcome(decode: Any, text: str) -> tuple[str, str]:
    try:
        return "value", canonical(decode(text))
    except RouterExtError as exc:
        return type(exc).__name__, exc.message


def reference(text: str) -> Any:
    """parse_json's rules with the standard library's decoder alone."""
    value = fields._decode_strictly(text, "body", fields.MAX_JSON_DEPTH)
    fields.check_depth(value, "body", hint=text)
    return fields.repair(value) if fields.has_lone_surrogate(text) else value


@settings(max_examples=1500, deadline=None)
@given(documents())
def test_parse_json_answers_as_the_standard_library_does(text: str) -> None:
    assert outcome(lambda t: fields.parse_json(t, limit=LIMIT), text) == outcome(reference, text)


@settings(max_examples=1500, deadline=None)
@given(documents())
def test_msgspec_takes_no_document_the_standard_library_refuses(text: str) -> None:
    try:
        fast = fields._FAST_DECODE(text)
    except fields._FAST_REFUSALS:
        return
    assert canonical(fast) == canonical(json.loads(text))


@pytest.mark.parametrize("text", [
    '"\\ud800"', '"\\udc00x"', '"\\ud800\\u0041"', '[1e400]', "NaN", '{"a": -Infinity}',
    "[" * 3000 + "]" * 3000, "1" * 5000, "\ufeff{}",
])
def test_documents_msgspec_refuses_get_the_standard_librarys_answer(text: str) -> None:
    assert outcome(lambda t: fields.parse_json(t, limit=LIMIT), text) == outcome(reference, text)


@settings(max_examples=1000, deadline=None)
@given(values)
def test_dumps_reads_back_as_the_value(value: Any) -> None:
    expected = fields._DUMPS(value) if _has_lone_surrogate(value) else None
    text = fields.dumps(value)
    if expected is not None:  # the standard library's text, surrogate and all
        assert text == expected
    else:
        assert canonical(json.loads(text)) == canonical(value)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_dumps_refuses_nan_and_infinity_anywhere(bad: float) -> None:
    for value in (bad, [1, bad], [bad, 1], {"a": {"b": [None, bad]}}, {"a": (1, bad)},
                  {"cmd": "ls 2>/dev/null", "x": bad}, {"x": bad, "cmd": "/dev/null"}):
        with pytest.raises(ValueError):
            fields.dumps(value)


@pytest.mark.parametrize("value", [
    {"command": "ls 2>/dev/null", "exit": None, "n": [0.1, -0.0]},
    {"command": "ls 2>/dev/null"}, {"text": "a:null,null[null"}, [None], None, {"a": [1, None]},
])
def test_dumps_writes_texts_holding_null_as_the_standard_library_does(value: Any) -> None:
    assert fields.dumps(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def test_dumps_takes_the_keys_the_standard_library_takes() -> None:
    value = {1: "a", False: "b", None: "c", 1.5: "d"}
    assert fields.dumps(value) == json.dumps(value, separators=(",", ":"))


def test_rows_stored_before_the_rules_read_as_valid_json() -> None:
    row = {"id": 1, "event_uid": "u", "source_app": "a", "session_id": "s",
           "hook_event_type": "Stop", "timestamp": 1, "extra": '{"x": NaN, "y": "\\ud800"}',
           "payload": '{"z": Infinity}'}
    decoded = json.loads(to_api_json(row))
    assert decoded["x"] is None and decoded["y"] == "\ufffd" and decoded["payload"] == {"z": None}


def _has_lone_surrogate(value: Any) -> bool:
    """Whether a string anywhere in the value, keys included, cannot be written as UTF-8."""
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    return False
