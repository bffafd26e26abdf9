"""ExportMetricsServiceRequest -> event rows: one row per sender, scope and session.

Each row's payload lists that session's data points (`points`), each with its metric name,
unit, type, temporality, start and end time, attributes and value (sums and gauges) or
count and sum (histograms, summaries). One row per session keeps the events table readable
(Claude Code sends a handful of points per session per export) while the sessions fold still
sees every point. The event_uid hashes the points, so a retried export is stored once.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, Metric

from router_ext.errors import InvalidInput
from router_ext.otlp import claude
from router_ext.otlp.rows import META, Scope, Translation, make_row, refuse, scopes, uid
from router_ext.otlp.values import attributes, to_ms

GENERIC = "otlp.metrics"
POINTS_PER_ROW = 200
TEMPORALITY = {AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA: "delta",
               AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE: "cumulative"}
Point = dict[str, Any]


def _number(point: Any) -> float | int:
    value = point.as_int if point.WhichOneof("value") == "as_int" else point.as_double
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"a data point's value is not finite: {value}", field="value")
    return value


def points(metric: Metric) -> list[Point]:
    """A metric's data points as plain dicts; InvalidInput for a point that is not a number."""
    kind = metric.WhichOneof("data")
    if kind is None:
        return []
    data = getattr(metric, kind)
    base: Point = {"metric": metric.name, "unit": metric.unit, "type": kind}
    if kind in ("sum", "histogram", "exponential_histogram"):
        base["temporality"] = TEMPORALITY.get(data.aggregation_temporality)
    if kind == "sum":
        base["monotonic"] = data.is_monotonic
    out = []
    for dp in data.data_points:
        point = {**base, "start_ms": to_ms(dp.start_time_unix_nano),
                 "time_ms": to_ms(dp.time_unix_nano), "attributes": attributes(dp.attributes)}
        if kind in ("sum", "gauge"):
            point["value"] = _number(dp)
        else:
            point["count"] = int(dp.count)
            point["sum"] = dp.sum if math.isfinite(dp.sum) else None
        out.append(point)
    return out


def translate(request: ExportMetricsServiceRequest, *, source_app: str = "",
              limit: int) -> Translation:
    """Rows of data points grouped by session; refused points are counted as rejected."""
    out = Translation()
    for scope in scopes(request.resource_metrics, "scope_metrics", source_app):
        by_session: defaultdict[str, list[Point]] = defaultdict(list)
        for metric in scope.batch.metrics:
            try:
                found = points(metric)
            except InvalidInput as exc:
                refuse(out, exc, f"metric {metric.name}", _count(metric))
                continue
            for point in found:
                session = scope.sender.lookup(point["attributes"], (claude.SESSION_KEY,)) or ""
                by_session[session].append(point)
        for session, group in by_session.items():
            _rows(out, scope, session, group, limit)
    return out


def _count(metric: Metric) -> int:
    kind = metric.WhichOneof("data")
    return len(getattr(metric, kind).data_points) if kind else 0


def _rows(out: Translation, scope: Scope, session: str, group: list[Point], limit: int) -> None:
    sender = scope.sender
    name = claude.METRICS if sender.is_claude_code(scope.name) else GENERIC
    for start in range(0, len(group), POINTS_PER_ROW):
        chunk = group[start:start + POINTS_PER_ROW]
        meta = {"signal": "metrics", "scope": scope.name, "resource": sender.attrs,
                "session": bool(session)}
        content = json.dumps(chunk, sort_keys=True, separators=(",", ":")).encode()
        try:
            out.rows.append(make_row(
                sender, session_id=session, name=name, payload={"points": chunk, META: meta},
                timestamp_ms=max(p["time_ms"] for p in chunk),
                event_uid=uid(scope.resource_bytes, scope.name.encode(), session.encode(),
                              content),
                limit=limit, summary=f"{len(chunk)} data points"))
        except InvalidInput as exc:
            refuse(out, exc, "data points", len(chunk))
