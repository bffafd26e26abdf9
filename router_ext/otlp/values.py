"""OTLP attribute values as plain JSON values, and the ids and times records carry."""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

NANOS_PER_MS = 1_000_000
MAX_DEPTH = 8  # nested arrays and maps deeper than this are kept as their text form


def any_value(value: AnyValue, depth: int = 0) -> Any:
    """An AnyValue as a JSON value: strings, numbers, booleans, lists, objects (bytes: base64)."""
    kind = value.WhichOneof("value")
    # Most attributes are strings and integers: test those first (this is the ingest hot path).
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind is None:
        return None
    if kind == "double_value":
        number = value.double_value
        # JSON has no NaN or infinity; the text keeps what was sent.
        return number if math.isfinite(number) else str(number)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if kind in ("array_value", "kvlist_value") and depth >= MAX_DEPTH:
        return str(value)
    if kind == "array_value":
        return [any_value(item, depth + 1) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values, depth + 1)
    return getattr(value, kind)


def attributes(pairs: Iterable[KeyValue], depth: int = 0) -> dict[str, Any]:
    """Key-value pairs as a dict (a repeated key keeps its last value, as collectors do)."""
    return {pair.key: any_value(pair.value, depth) for pair in pairs}


def hex_id(raw: bytes) -> str | None:
    """A trace or span id as lowercase hex, None when unset (all zero or empty)."""
    return raw.hex() if raw and any(raw) else None


def to_ms(nanos: int) -> int:
    """Unix nanoseconds to milliseconds."""
    return nanos // NANOS_PER_MS


def text(value: Any) -> str | None:
    """A non-empty string attribute, else None."""
    return value if isinstance(value, str) and value else None


def number(value: Any) -> float | None:
    """A numeric attribute, also when it came as text ("1200", as Claude Code sends some)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            parsed = float(value)
        except ValueError:
            return None
        return parsed if math.isfinite(parsed) else None
    return None


def flag(value: Any) -> bool | None:
    """A boolean attribute, also when it came as text ("true")."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def mapping(value: Any) -> dict[str, Any]:
    """A JSON object as a dict; anything else as an empty one."""
    return value if isinstance(value, dict) else {}
