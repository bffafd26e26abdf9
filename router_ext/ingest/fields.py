"""The field rules: every value that comes from outside is checked and normalised here, once.

Adapters (HTTP bodies, query and path parameters, WebSocket parameters, gRPC messages, the
hook and spool bodies they carry, `router-ext import`) only parse their wire format and call
these functions. Each returns the value to store or raises :class:`InvalidInput` (400) or
:class:`TooLarge` (413) naming the field, so one problem gets one answer on every route.
docs/field-rules.md is the table of these rules.

Real data is kept rather than refused: a lone UTF-16 surrogate (a tool output cut in the
middle of an emoji) becomes U+FFFD and is counted in :data:`REPAIRS`. What cannot be stored
exactly is refused: NaN and Infinity (JSON has neither), integers outside what SQLite,
PostgreSQL BIGINT and JavaScript all hold exactly, and nesting deeper than the limit.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import msgspec

from router_ext.errors import InvalidInput, TooLarge

# Ids, timestamps and counts: exact in SQLite INTEGER, PostgreSQL BIGINT and a JavaScript number.
MAX_SAFE_INT = 2**53 - 1
MIN_SAFE_INT = -MAX_SAFE_INT
MAX_NAME = 256  # source_app, session_id, agent_id, tool names, hosts, models
MAX_EVENT_TYPE = 128  # hook_event_type: the column is VARCHAR(128)
MAX_UID = 128
MAX_TEXT = 65_536  # summary, a HITL question, an answer, a task title or error
MAX_URL = 2048
MAX_JSON_DEPTH = 64
MAX_TIMEOUT_SECONDS = 7 * 86_400.0  # a HITL request or held hook waits at most a week
# Numbers below this are epoch seconds, above it epoch milliseconds (seconds reach 1e11 in 5138).
SECONDS_BELOW = 1e11
MAX_PARAM_DIGITS = 16  # a query or path integer: 2**53 - 1 has 16 digits
REPLACEMENT = "\ufffd"

# What was repaired rather than refused, by kind; exported as harness_input_repaired_total.
REPAIRS: Counter[str] = Counter()
_SURROGATE = re.compile("[\ud800-\udfff]")
# A \uD800-\uDBFF escape not followed by a \uDC00-\uDFFF one, or the reverse: a lone surrogate.
_LONE_ESCAPE = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"
                          r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}")
_NOT_ALLOWED = object()


class _NonFinite(ValueError):
    """Raised from inside the JSON decoder for NaN, Infinity or a number that overflows."""


def _reject_constant(name: str) -> Any:
    raise _NonFinite(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NonFinite(text)
    return value


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
# msgspec decodes a 1 KB hook body in ~0.8 us, the standard library in ~4 us. It refuses every
# document the standard library refuses (tests/unit/test_json_codec.py holds it to that) and a
# few the standard library takes: lone surrogates (escaped or not), a number too large for a
# float, nesting past its own limit. On any refusal the standard library decodes the text again, so
# the error named or the repair made is the same as before.
_FAST_DECODE = msgspec.json.Decoder().decode
_FAST_REFUSALS = (msgspec.DecodeError, RecursionError, UnicodeEncodeError)
_MARKING_DECODER = json.JSONDecoder(parse_constant=lambda _: _NOT_ALLOWED,
                                    parse_float=lambda t: _NOT_ALLOWED if not math.isfinite(
                                        float(t)) else float(t))


# -- strings ---------------------------------------------------------------------------------

def repair_text(value: str) -> str:
    """The string with each lone surrogate replaced by U+FFFD (counted); as is when clean."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        fixed, count = _SURROGATE.subn(REPLACEMENT, value)
        REPAIRS["lone_surrogate"] += count
        return fixed
    return value


def _checked(value: Any, name: str, required: bool, limit: int) -> str | None:
    if value is None or value == "":
        if required:
            raise InvalidInput(f"'{name}' is required", field=name)
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"'{name}' must be a string, got {type(value).__name__}", field=name)
    if len(value) > limit:
        raise TooLarge(f"'{name}' is longer than {limit} characters", field=name)
    return repair_text(value)


def text(value: Any, name: str, *, required: bool = False, limit: int = MAX_TEXT
         ) -> str | None:
    """Free text of at most `limit` characters; surrogates and NUL become U+FFFD (counted)."""
    out = _checked(value, name, required, limit)
    if out is not None and "\x00" in out:
        REPAIRS["nul"] += out.count("\x00")
        out = out.replace("\x00", REPLACEMENT)
    return out


def identifier(value: Any, name: str, *, required: bool = False, limit: int = MAX_NAME
               ) -> str | None:
    """A name or id of at most `limit` characters, surrogates repaired; NUL is refused."""
    out = _checked(value, name, required, limit)
    if out is not None and "\x00" in out:
        raise InvalidInput(f"'{name}' must not contain NUL characters", field=name)
    return out


def required_identifier(value: Any, name: str, limit: int = MAX_NAME) -> str:
    """An identifier that must be present."""
    out = identifier(value, name, required=True, limit=limit)
    assert out is not None
    return out


# -- numbers ---------------------------------------------------------------------------------

def _number(value: Any, name: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"'{name}' must be a number, got {type(value).__name__}", field=name)
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"'{name}' must be a finite number", field=name)
    return value


def integer(value: Any, name: str, *, minimum: int = 0, maximum: int = MAX_SAFE_INT
            ) -> int | None:
    """A whole number within [minimum, maximum]; a float is truncated toward zero."""
    if value is None:
        return None
    number = _number(value, name)
    if not minimum <= number <= maximum:
        raise InvalidInput(f"'{name}' must be between {minimum} and {maximum}", field=name)
    return int(number)


def number(value: Any, name: str, *, minimum: float = 0.0, maximum: float = float(MAX_SAFE_INT)
           ) -> float | None:
    """A finite number within [minimum, maximum], as a float."""
    if value is None:
        return None
    out = _number(value, name)
    if not minimum <= out <= maximum:
        raise InvalidInput(f"'{name}' must be between {minimum:g} and {maximum:g}", field=name)
    return float(out)


def timeout_seconds(value: Any, name: str, *, maximum: float = MAX_TIMEOUT_SECONDS
                    ) -> float | None:
    """A duration to wait, in seconds: finite, above zero, at most `maximum`."""
    if value is None:
        return None
    seconds = _number(value, name)
    if not 0 < seconds <= maximum:
        raise InvalidInput(f"'{name}' must be a number of seconds above 0 and at most "
                           f"{maximum:g}", field=name)
    return float(seconds)


def timestamp_ms(value: Any, name: str = "timestamp") -> int | None:
    """Unix milliseconds from epoch ms, epoch s (below 1e11), digits, or ISO 8601; None if absent.

    ISO 8601 times without an offset are UTC. The result is within 0..2**53-1.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return _timestamp_text(value, name)
    number_ = _number(value, name)
    if number_ < 0:
        raise InvalidInput(f"'{name}' must not be negative", field=name)
    millis = number_ * 1000 if number_ < SECONDS_BELOW else number_
    if millis > MAX_SAFE_INT:
        raise InvalidInput(f"'{name}' is after the latest time stored "
                           f"({MAX_SAFE_INT} ms)", field=name)
    return int(millis)


def _timestamp_text(value: str, name: str) -> int | None:
    if len(value) > 64:
        raise InvalidInput(f"'{name}' is not a time: too long", field=name)
    stripped = value.strip()
    if stripped.isascii() and stripped.isdigit():
        return timestamp_ms(int(stripped), name)
    try:
        parsed = datetime.fromisoformat(stripped.replace("Z", "+00:00").replace("z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        millis = math.floor(parsed.timestamp() * 1000)
    except (ValueError, OverflowError) as exc:
        raise InvalidInput(f"'{name}' is not epoch ms, epoch s or an ISO 8601 time: "
                           f"{value[:40]!r}", field=name) from exc
    if millis < 0:
        raise InvalidInput(f"'{name}' must not be before 1970", field=name)
    return millis


def param_int(raw: str | None, name: str, default: int | None, *, minimum: int = 0,
              maximum: int = MAX_SAFE_INT) -> int | None:
    """A query or path integer: ASCII digits (and a leading '-' when negatives are allowed)."""
    if raw is None or raw == "":
        return default
    digits = raw[1:] if raw.startswith("-") and minimum < 0 else raw
    if not (digits.isascii() and digits.isdigit()) or len(digits) > MAX_PARAM_DIGITS:
        raise InvalidInput(f"'{name}' must be an integer from {minimum} to {maximum}, "
                           f"got {raw[:40]!r}", field=name)
    value = int(raw)
    if not minimum <= value <= maximum:
        raise InvalidInput(f"'{name}' must be an integer from {minimum} to {maximum}, "
                           f"got {value}", field=name)
    return value


# -- JSON ------------------------------------------------------------------------------------

def has_lone_surrogate(text: str) -> bool:
    """True when JSON text holds a `\\ud800`-style escape of a lone surrogate."""
    # A one-character test first: it is a memchr (~30 ns for 1 KB), where the two-character
    # one walks the text (~1 us), and most payloads hold no backslash at all. It runs twice
    # per event on the ingest path (decoding, then deciding whether to re-encode).
    return "\\" in text and "\\u" in text and _LONE_ESCAPE.search(text) is not None


def parse_json(data: str | bytes, name: str = "body", *, limit: int,
               max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Decode a JSON document under the rules: UTF-8, size, depth, no NaN or Infinity.

    Lone surrogates written as `\\ud800` escapes are repaired to U+FFFD (see :func:`repair`).
    """
    if len(data) > limit:
        raise TooLarge(f"'{name}' is larger than the limit of {limit} bytes", field=name)
    if isinstance(data, bytes | bytearray):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"'{name}' is not valid UTF-8 (byte {exc.start})",
                               field=name) from exc
    try:
        value = _FAST_DECODE(data)
    except _FAST_REFUSALS:
        value = _decode_strictly(data, name, max_depth)
    check_depth(value, name, max_depth, hint=data)
    return repair(value) if has_lone_surrogate(data) else value


def _decode_strictly(data: str, name: str, max_depth: int) -> Any:
    """The standard library's decoding: the value, or the error that names what is wrong."""
    try:
        return _DECODER.decode(data)
    except _NonFinite:
        raise _non_finite_error(data, name) from None
    except RecursionError:
        raise TooLarge(f"'{name}' nests deeper than {max_depth} levels", field=name) from None
    except ValueError as exc:
        raise InvalidInput(f"'{name}' is not valid JSON: {exc}", field=name) from exc


def _non_finite_error(data: str, name: str) -> InvalidInput:
    try:
        where = _find(_MARKING_DECODER.decode(data), lambda v: v is _NOT_ALLOWED, name)
    except (ValueError, RecursionError):
        where = None
    return InvalidInput(f"'{where or name}' is NaN or Infinity, which JSON does not allow",
                        field=where or name)


def _find(value: Any, bad: Any, path: str) -> str | None:
    """The path of the first value for which `bad` is true (iterative: depth is unbounded).

    Paths start at the field's name, or at the top-level key for a whole body: `payload.a[2]`.
    """
    stack: list[tuple[Any, str]] = [(value, "" if path == "body" else path)]
    while stack:
        item, where = stack.pop()
        if bad(item):
            return repair_text(where or path)  # a key may hold a lone surrogate
        if isinstance(item, dict):
            stack.extend((v, f"{where}.{k}" if where else str(k))
                         for k, v in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((v, f"{where}[{i}]") for i, v in reversed(list(enumerate(item))))
    return None


def check_depth(value: Any, name: str, max_depth: int = MAX_JSON_DEPTH, *, hint: str = ""
                ) -> None:
    """TooLarge when containers nest deeper than `max_depth` (a scalar is depth 0)."""
    if hint and hint.count("[") + hint.count("{") <= max_depth:
        return  # too few brackets to nest that deep: the usual case, no walk needed
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth + 1 > max_depth:
            raise TooLarge(f"'{name}' nests deeper than {max_depth} levels", field=name)
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, dict | list))


def repair(value: Any) -> Any:
    """A JSON value with every lone surrogate in its strings and keys replaced (counted)."""
    if isinstance(value, str):
        return repair_text(value)
    if isinstance(value, list):
        return [repair(v) for v in value]
    if isinstance(value, dict):
        return {repair_text(k): repair(v) for k, v in value.items()}
    return value


def check_value(value: Any, name: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """A decoded JSON value from elsewhere (a protobuf, a file): depth, finiteness, repaired."""
    check_depth(value, name, max_depth)
    where = _find(value, _non_finite, name)
    if where is not None:
        raise InvalidInput(f"'{where}' is NaN or Infinity, which JSON does not allow",
                           field=where)
    return repair(value)


# One encoder for every call: json.dumps with options builds a new one each time (a third of
# the cost of storing a 1 KB payload's text).
_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
# msgspec writes a 1 KB payload in ~0.6 us, the standard library in ~5 us. What it will not
# write (a lone surrogate, a key that is not a string or an integer, a cycle) the standard
# library writes, or refuses, as before. (UnicodeEncodeError is a ValueError.)
_FAST_ENCODE = msgspec.json.Encoder().encode
_FAST_ENCODE_REFUSALS = (TypeError, ValueError, RecursionError, msgspec.EncodeError)
_STORED_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_STORED_DECODER = json.JSONDecoder(parse_constant=lambda _: None).decode


def dumps(value: Any) -> str:
    """Compact JSON text as stored (UTF-8, NaN refused) of a JSON-shaped value: dicts with
    string keys, lists, strings, numbers, booleans and None, as decoding JSON gives them."""
    try:
        encoded = _FAST_ENCODE(value)
    except _FAST_ENCODE_REFUSALS:
        return _DUMPS(value)
    # msgspec writes NaN and Infinity as null, where the standard library refuses them, as we
    # do. A text without a null value held neither; one with it is written again by the
    # standard library, which refuses a non-finite number. (The first search alone answers
    # for most texts, which hold no "null" at all.)
    if b"null" in encoded and _holds_null_value(encoded):
        return _DUMPS(value)
    return encoded.decode()


def _holds_null_value(compact: bytes) -> bool:
    """Whether compact JSON text holds a null value, not only the letters in a string (as in
    "2>/dev/null", common in commands). A value follows `:`, `,` or `[`, or is the text."""
    return (compact == b"null" or b":null" in compact or b",null" in compact
            or b"[null" in compact)


def dumps_stored(value: Any) -> str:
    """Compact JSON text of a value read back from the store. Rows stored before the field
    rules may hold NaN or Infinity: they are written as null, so the answer is valid JSON."""
    try:
        return _FAST_ENCODE(value).decode()
    except _FAST_ENCODE_REFUSALS:
        return _STORED_DUMPS(value)


def loads_stored(text: str) -> Any:
    """A stored JSON text decoded; NaN and Infinity (rows stored before the field rules) read
    as null, lone surrogate escapes as U+FFFD. ValueError or RecursionError when not JSON."""
    try:
        value = _FAST_DECODE(text)
    except _FAST_REFUSALS:
        value = _STORED_DECODER(text)
    return repair(value) if has_lone_surrogate(text) else value


def _non_finite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)
