"""The field rules in router_ext.ingest.fields, one rule at a time (pure functions)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from router_ext.errors import InvalidInput, TooLarge
from router_ext.ingest import fields

LIMIT = 1_000_000


@pytest.mark.parametrize(("raw", "field"), [
    (b'{"payload":{"a":NaN}}', "payload.a"),
    (b'{"payload":{"a":[1,Infinity]}}', "payload.a[1]"),
    (b'{"x":-Infinity}', "x"),
    (b'{"payload":{"big":1e400}}', "payload.big"),
    (b'{"note":{"\\ud800":Infinity}}', "note.\ufffd"),  # the answer must encode as UTF-8
])
def test_nan_and_infinity_are_refused_naming_where(raw: bytes, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        fields.parse_json(raw, limit=LIMIT)
    assert type(info.value) is InvalidInput
    assert info.value.field == field


@pytest.mark.parametrize("depth", [65, 1_000, 10_000, 100_000])
def test_nesting_past_the_depth_limit_is_too_large(depth: int) -> None:
    for raw in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
        with pytest.raises(TooLarge):
            fields.parse_json(raw, limit=10 * LIMIT)


def test_nesting_at_the_limit_is_kept() -> None:
    raw = "[" * fields.MAX_JSON_DEPTH + "]" * fields.MAX_JSON_DEPTH
    assert fields.parse_json(raw, limit=LIMIT) == json.loads(raw)


def test_lone_surrogates_become_replacement_characters_and_are_counted() -> None:
    before = fields.REPAIRS["lone_surrogate"]
    raw = b'{"out":"cut \\ud83d","key\\udc00":["\\udfff"],"pair":"\\ud83d\\ude00"}'
    value = fields.parse_json(raw, limit=LIMIT)
    assert value == {"out": "cut \ufffd", "key\ufffd": ["\ufffd"], "pair": "\U0001F600"}
    assert fields.REPAIRS["lone_surrogate"] == before + 3
    json.dumps(value, ensure_ascii=False).encode("utf-8")  # storable as UTF-8


def test_invalid_utf8_is_refused() -> None:
    with pytest.raises(InvalidInput, match="UTF-8"):
        fields.parse_json(b'{"a":"\xff"}', limit=LIMIT)


@pytest.mark.parametrize(("value", "expected"), [
    (1_767_323_045, 1_767_323_045_000),  # epoch seconds
    (1_767_323_045.5, 1_767_323_045_500),
    (1_767_323_045_678, 1_767_323_045_678),  # epoch ms
    ("1767323045678", 1_767_323_045_678),
    ("2026-01-02T03:04:05.678Z", 1_767_323_045_678),
    ("2026-01-02T03:04:05.678", 1_767_323_045_678),  # no offset: UTC
    ("2026-01-02T05:04:05.678+02:00", 1_767_323_045_678),
    (fields.MAX_SAFE_INT, fields.MAX_SAFE_INT),
    (None, None),
])
def test_timestamps_are_normalised_to_epoch_ms(value: Any, expected: int | None) -> None:
    assert fields.timestamp_ms(value) == expected


@pytest.mark.parametrize("value", [2**53, 2**63, 10**30, float("nan"), float("inf"), -1,
                                   True, "yesterday", "0001-01-01", [1], "9" * 70])
def test_timestamps_out_of_range_or_unreadable_are_refused(value: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        fields.timestamp_ms(value)
    assert info.value.field == "timestamp"


@pytest.mark.parametrize("raw", ["²", "\uff11\uff12", "٣", "99999999999999999999", "1_0",
                                 " 1", "-1", "1.0", "0x10", "9007199254740992"])
def test_parameter_integers_are_ascii_digits_within_range(raw: str) -> None:
    with pytest.raises(InvalidInput) as info:
        fields.param_int(raw, "after_id", None)
    assert info.value.field == "after_id"


def test_parameter_integers() -> None:
    assert fields.param_int("9007199254740991", "x", None) == fields.MAX_SAFE_INT
    assert fields.param_int("", "x", 7) == 7
    assert fields.param_int("-60", "tz", 0, minimum=-840, maximum=840) == -60


@pytest.mark.parametrize("value", [1e308, float("nan"), float("inf"), 0, -5, True, "10",
                                   fields.MAX_TIMEOUT_SECONDS + 1])
def test_timeouts_are_finite_positive_and_bounded(value: Any) -> None:
    with pytest.raises(InvalidInput):
        fields.timeout_seconds(value, "humanInTheLoop.timeout")


def test_identifiers_and_text() -> None:
    assert fields.identifier("a\ud800", "session_id") == "a\ufffd"
    with pytest.raises(InvalidInput, match="NUL"):
        fields.identifier("a\x00b", "session_id")
    assert fields.text("a\x00b", "summary") == "a\ufffdb"  # free text keeps its data
    with pytest.raises(TooLarge):
        fields.identifier("x" * 257, "source_app")
    with pytest.raises(InvalidInput, match="required"):
        fields.required_identifier("", "source_app")
    with pytest.raises(InvalidInput, match="string"):
        fields.identifier(5, "source_app")


def test_integers_are_bounded_to_what_every_store_holds() -> None:
    assert fields.integer(12.9, "n") == 12
    for bad in (2**53, -1, float("inf"), "1", False):
        with pytest.raises(InvalidInput):
            fields.integer(bad, "n")


def test_values_from_inside_the_process_are_checked_too() -> None:
    with pytest.raises(InvalidInput) as info:
        fields.check_value({"usage": {"cost": float("nan")}}, "payload")
    assert info.value.field == "payload.usage.cost"
    assert fields.check_value({"a": "\udc00"}, "payload") == {"a": "\ufffd"}
