"""OTLP/HTTP request bodies into Export*ServiceRequest messages: protobuf or JSON, maybe gzip.

OTLP's JSON is protobuf's JSON mapping with two differences this module undoes before handing
the document to :mod:`google.protobuf.json_format`: trace and span ids are hex (not base64),
and enum values may be given as integers (json_format accepts those as they are). Field names
may be lowerCamelCase or the proto names; unknown fields are ignored, as the spec asks.
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

from router_ext.errors import InvalidInput, TooLarge

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
CONTENT_TYPES = (PROTOBUF, JSON)
HEX_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id",
                      "parent_span_id"})
M = TypeVar("M", bound=Message)


def media_type(header: str | None) -> str:
    """The content type without parameters, or InvalidInput naming the two accepted ones."""
    kind = (header or "").split(";", 1)[0].strip().lower()
    if kind not in CONTENT_TYPES:
        raise InvalidInput(f"content-type must be {PROTOBUF} or {JSON}, got {kind or 'none'!r}",
                           field="content-type")
    return kind


def inflate(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body after Content-Encoding (gzip, deflate or none), at most `limit` bytes."""
    name = (encoding or "identity").strip().lower()
    if name in ("", "identity"):
        return body
    if name not in ("gzip", "deflate"):
        raise InvalidInput(f"content-encoding {name!r} is not supported (gzip, deflate)",
                           field="content-encoding")
    # wbits 47 detects a gzip or a zlib header, so either encoding name reads both.
    inflater = zlib.decompressobj(47)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidInput(f"the body is not valid {name} data: {exc}") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise TooLarge(f"the decompressed body is larger than the limit of {limit} bytes")
    if not inflater.eof:
        raise InvalidInput(f"the {name} body is truncated")
    return out


def parse(message: M, body: bytes, kind: str) -> M:
    """Fill `message` from a protobuf or JSON body; InvalidInput when it does not parse."""
    if kind == PROTOBUF:
        try:
            message.ParseFromString(body)
        except DecodeError as exc:
            raise InvalidInput(f"the body is not a valid {message.DESCRIPTOR.name}: {exc}"
                               ) from exc
        return message
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise InvalidInput("the body must be a JSON object")
    try:
        json_format.ParseDict(_ids_to_base64(document), message, ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, ValueError) as exc:
        raise InvalidInput(f"the body is not a valid OTLP {message.DESCRIPTOR.name}: {exc}"
                           ) from exc
    return message


def _ids_to_base64(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _ids_to_base64(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_ids_to_base64(v) for v in value]
    if key in HEX_KEYS and isinstance(value, str) and value:
        try:
            return base64.b64encode(bytes.fromhex(value)).decode("ascii")
        except ValueError as exc:
            raise InvalidInput(f"'{key}' must be hex, got {value[:40]!r}", field=key) from exc
    return value


def to_json(message: Message) -> bytes:
    """A response message in OTLP JSON (lowerCamelCase, nothing for default values)."""
    return json.dumps(json_format.MessageToDict(message)).encode()


__all__ = ["CONTENT_TYPES", "JSON", "PROTOBUF", "inflate", "media_type", "parse", "to_json"]
