"""OTLP translation in process: bodies to messages, messages to rows, and what is refused."""

from __future__ import annotations

import gzip
import json
import math
from typing import Any

import pytest

from router_ext.errors import InvalidInput, TooLarge
from router_ext.otlp import decode, logs, metrics
from router_ext.sessions.telemetry import observe
from tests.otlp_helpers import captured, message

LIMIT = 1 << 20


def log_request(attrs: dict[str, Any], body: str = "claude_code.api_request",
                service: str = "claude-code") -> Any:
    scope = "com.anthropic.claude_code.events" if service == "claude-code" else "shop.events"
    def value(v: Any) -> dict[str, Any]:
        if isinstance(v, bool):
            return {"boolValue": v}
        if isinstance(v, int):
            return {"intValue": str(v)}
        if isinstance(v, float):
            return {"doubleValue": v}
        return {"stringValue": v}

    return message("logs", {"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeLogs": [{"scope": {"name": scope}, "logRecords": [{
            "timeUnixNano": "1700000000000000000", "body": {"stringValue": body},
            "attributes": [{"key": k, "value": value(v)} for k, v in attrs.items()]}]}]}]})


def test_claude_code_names_sessions_and_columns() -> None:
    rows = [r for kind, req in captured() if kind == "logs"
            for r in logs.translate(req, limit=LIMIT).rows]
    request = next(r for r in rows if r["hook_event_type"] == "claude_code.api_request")
    assert request["session_id"] == "3ed38665-b29b-4bbd-b2ba-c76cf7198b24"
    assert request["source_app"] == "claude-code" and request["model_name"] == "claude-opus-5-5"
    assert request["timestamp"] == 1795278295727
    payload = json.loads(request["payload"])
    assert payload["input_tokens"] == 1200 and payload["otlp"]["signal"] == "log"
    assert len({r["event_uid"] for r in rows}) == len(rows)  # every record is its own event


def test_the_same_record_has_the_same_uid_and_a_different_one_another() -> None:
    base = {"session.id": "s", "model": "m", "event.name": "api_request", "event.sequence": 1}
    first = logs.translate(log_request(base), limit=LIMIT).rows[0]
    again = logs.translate(log_request(base), limit=LIMIT).rows[0]
    other = logs.translate(log_request({**base, "event.sequence": 2}), limit=LIMIT).rows[0]
    assert first["event_uid"] == again["event_uid"] != other["event_uid"]


def test_claude_code_records_must_carry_their_meaning() -> None:
    missing = logs.translate(log_request({"model": "m", "event.name": "api_request"}),
                             limit=LIMIT)
    assert (missing.rows, missing.rejected) == ([], 1) and "session.id" in missing.message
    bad = logs.translate(log_request({"session.id": "s", "model": "m", "event.name":
                                      "api_request", "cost_usd": "lots"}), limit=LIMIT)
    assert bad.rejected == 1 and "cost_usd" in bad.message
    # Another service's record with the same shape is nobody's business but its own.
    other = logs.translate(log_request({"event.name": "api_request"}, service="shop"),
                           limit=LIMIT)
    assert other.rejected == 0 and other.rows[0]["source_app"] == "shop"


def test_records_too_large_or_with_overlong_names_are_refused_alone() -> None:
    big = logs.translate(log_request({"session.id": "s", "note": "x" * 5000}, body="hi"),
                         limit=4096)
    assert big.rejected == 1 and "larger than 4096" in big.message
    long_name = logs.translate(log_request({"event.name": "e" * 300}, body="x"), limit=LIMIT)
    assert long_name.rejected == 1 and "event.name" in long_name.message


def test_metric_points_are_grouped_by_session_and_keep_temporality() -> None:
    (request,) = [r for k, r in captured() if k == "metrics"]
    (row,) = metrics.translate(request, limit=LIMIT).rows
    assert row["hook_event_type"] == "claude_code.metrics"
    points = json.loads(row["payload"])["points"]
    assert {p["metric"] for p in points} >= {"claude_code.cost.usage", "claude_code.token.usage"}
    assert {p["temporality"] for p in points} == {"delta"}


def test_series_accounting_adds_deltas_and_replaces_cumulative_values() -> None:
    series: dict[str, dict[str, Any]] = {}
    attrs = {"type": "input", "model": "m"}
    for start, end, value in ((1, 2, 5.0), (1, 3, 9.0), (1, 2, 7.0), (5, 6, 2.0)):
        observe(series, {"metric": "c", "temporality": "cumulative", "start_ms": start,
                         "time_ms": end, "value": value, "attributes": attrs})
    for value in (1.0, 2.0):
        observe(series, {"metric": "d", "temporality": "delta", "start_ms": 0, "time_ms": 0,
                         "value": value, "attributes": attrs})
    totals = {e["metric"]: e["bank"] + e["last"] for e in series.values()}
    assert totals == {"c": 11.0, "d": 3.0}  # 9 before the restart, then 2 more


def test_bodies_decode_from_json_with_hex_ids_and_gzip() -> None:
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
        "name": "s", "kind": 2}]}]}]}
    raw = gzip.compress(json.dumps(doc).encode())
    body = decode.inflate(raw, "gzip", LIMIT)
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    span = decode.parse(ExportTraceServiceRequest(), body, decode.JSON).resource_spans[0]
    assert span.scope_spans[0].spans[0].trace_id.hex() == "5b8efff798038103d269b633813fc60c"
    assert decode.media_type("application/json; charset=utf-8") == decode.JSON
    with pytest.raises(InvalidInput):
        decode.media_type("text/plain")


def test_a_compressed_body_is_limited_after_inflating() -> None:
    bomb = gzip.compress(b"\x00" * (10 * LIMIT))
    assert len(bomb) < LIMIT
    with pytest.raises(TooLarge):
        decode.inflate(bomb, "gzip", LIMIT)
    with pytest.raises(InvalidInput):
        decode.inflate(bomb[: len(bomb) // 2], "gzip", 100 * LIMIT)


def test_non_finite_metric_values_are_refused_per_metric() -> None:
    request = message("metrics", {"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "bad", "gauge": {"dataPoints": [{"asDouble": "NaN"}]}},
        {"name": "good", "gauge": {"dataPoints": [{"asDouble": 1.5}]}}]}]}]})
    out = metrics.translate(request, limit=LIMIT)
    assert out.rejected == 1 and len(out.rows) == 1
    assert not math.isnan(json.loads(out.rows[0]["payload"])["points"][0]["value"])
