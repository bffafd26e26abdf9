"""OTLP receivers on a real server: Claude Code's captured export over gRPC and HTTP fills the
session its hooks report, each request counted once whichever sources report it; metric
temporalities; attribution; other senders; and bad requests refused with nothing half-written."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from tests.otlp_helpers import (
    CAPTURED_SESSION,
    DOCUMENTED_SESSION,
    FIXTURES,
    RESPONSES,
    captured,
    documented,
    export_grpc,
    export_http,
    message,
    metric,
    renamed,
    session,
)
from tests.support import ServerProcess, served
from tests.test_client import stored

MODEL = "claude-opus-5-5"
TOKENS = {"input_tokens": 2400, "output_tokens": 84, "cache_read_tokens": 1800,
          "cache_creation_tokens": 600}
COST = 0.01464  # Claude Code's own cost_usd for the captured session's two requests


def send_captured(server: ServerProcess, session_id: str, how: str = "grpc", **kw: Any) -> None:
    for kind, request in captured():
        request = renamed(kind, request, session_id)
        if how == "grpc":
            assert export_grpc(server, kind, request) == RESPONSES[kind]()
        else:
            answer = export_http(server.url, kind, request, encoding=how, **kw)
            assert answer.status_code == 200, answer.text
            assert answer.headers["content-type"].startswith(
                "application/x-protobuf" if how == "protobuf" else "application/json")


def assert_captured_totals(row: dict[str, Any]) -> None:
    assert {k: row[k] for k in TOKENS} == TOKENS
    assert row["cost_usd"] == pytest.approx(COST, rel=1e-9)
    assert (row["api_requests_count"], row["tool_calls_count"], row["prompts_count"]) == (2, 1, 1)
    assert row["model"] == MODEL and row["source"] == "interactive"


def test_claude_codes_export_over_grpc_fills_its_session(server: ServerProcess) -> None:
    send_captured(server, "otlp-grpc")
    row = session(server, "otlp-grpc")
    assert row is not None
    assert_captured_totals(row)
    assert row["source_app"] == "claude-code" and row["terminal"] == "xterm"
    assert row["active_seconds"] == pytest.approx(0.233)
    assert row["status"] == "running"
    events = stored(server, session="otlp-grpc")
    kinds = [e["hook_event_type"] for e in events]
    assert kinds.count("claude_code.api_request") == 2
    assert kinds.count("claude_code.tool_result") == 1 and "claude_code.metrics" in kinds
    request = next(e for e in events if e["hook_event_type"] == "claude_code.api_request")
    assert request["model_name"] == MODEL
    assert request["payload"]["cost_usd"] == pytest.approx(0.00732)
    assert request["payload"]["otlp"]["resource"]["service.version"] == "2.1.328"


@pytest.mark.parametrize("how,gzipped", [("protobuf", False), ("json", False),
                                         ("protobuf", True), ("json", True)])
def test_http_protobuf_and_json_store_the_same(server: ServerProcess, how: str,
                                               gzipped: bool) -> None:
    sid = f"otlp-http-{how}-{gzipped}"
    send_captured(server, sid, how, gzipped=gzipped)
    row = session(server, sid)
    assert row is not None
    assert_captured_totals(row)


def test_a_retried_export_is_stored_once(server: ServerProcess) -> None:
    send_captured(server, "otlp-retry")
    before = stored(server, session="otlp-retry")
    send_captured(server, "otlp-retry", "protobuf")  # the same records again, other transport
    assert len(stored(server, session="otlp-retry")) == len(before)
    row = session(server, "otlp-retry")
    assert row is not None
    assert_captured_totals(row)


def hook_bodies(session_id: str) -> list[dict[str, Any]]:
    """The hook events Claude Code sent in the captured run, for another session id."""
    lines = (FIXTURES / "claude-code-2.1.328" / "hooks-session.jsonl").read_text().splitlines()
    bodies = [json.loads(line) for line in lines]
    return [{**b, "session_id": session_id} for b in bodies
            if b["session_id"] == CAPTURED_SESSION]


def test_hooks_transcript_usage_and_otlp_count_each_request_once(server: ServerProcess) -> None:
    sid = "otlp-and-hooks"
    text = httpx.get(f"{server.url}/metrics", timeout=5).text
    calls = metric(text, "harness_tool_calls_total", tool="Bash", outcome="success")
    tokens = metric(text, "harness_tokens_total", model="other", type="input", cache="none")
    usage = {"model": MODEL, "models": {MODEL: {
        "input_tokens": 2400, "output_tokens": 84, "cache_read_input_tokens": 1800,
        "cache_creation_input_tokens": 600}}}
    for body in hook_bodies(sid):
        if body["hook_event_name"] == "Stop":  # what the command hook adds from the transcript
            body["router_ext_usage"] = usage
        answer = httpx.post(f"{server.url}/hooks/claude-code?source_app=shop", json=body,
                            timeout=5)
        assert answer.status_code == 200, answer.text
    send_captured(server, sid)
    row = session(server, sid)
    assert row is not None
    assert_captured_totals(row)  # not 2x or 3x: the largest source, never a sum
    assert row["status"] == "completed" and row["project"] == "project"
    sources = json.loads(row["source_totals"])
    assert set(sources["usage"]) == {"hooks", "otlp_events", "otlp_metrics"}
    text = httpx.get(f"{server.url}/metrics", timeout=5).text
    assert metric(text, "harness_tool_calls_total", tool="Bash", outcome="success") == calls + 1
    assert metric(text, "harness_tokens_total", model="other", type="input",
                  cache="none") == tokens + 2400


def points_request(session_id: str, temporality: int, points: list[tuple[int, int, float]],
                   metric_name: str = "claude_code.token.usage") -> Any:
    attrs = [{"key": "session.id", "value": {"stringValue": session_id}},
             {"key": "model", "value": {"stringValue": "claude-sonnet-4-5"}},
             {"key": "type", "value": {"stringValue": "input"}}]
    data = [{"startTimeUnixNano": str(start * 10**9), "timeUnixNano": str(end * 10**9),
             "asDouble": value, "attributes": attrs} for start, end, value in points]
    return message("metrics", {"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name",
                                     "value": {"stringValue": "claude-code"}}]},
        "scopeMetrics": [{"scope": {"name": "com.anthropic.claude_code"}, "metrics": [{
            "name": metric_name, "unit": "tokens",
            "sum": {"aggregationTemporality": temporality, "isMonotonic": True,
                    "dataPoints": data}}]}]}]})


def test_cumulative_and_delta_points_count_once(server: ServerProcess) -> None:
    def input_tokens(sid: str) -> int:
        row = session(server, sid)
        assert row is not None
        return int(row["input_tokens"])

    text = httpx.get(f"{server.url}/metrics", timeout=5).text
    before = metric(text, "harness_tokens_total", model="claude-sonnet-4-5", type="input",
                    cache="none")
    cumulative = 2  # the last value of a series is its total; a restart keeps the old total
    for points in ([(100, 110, 100.0)], [(100, 120, 250.0)], [(100, 120, 250.0)],
                   [(100, 115, 180.0)], [(200, 210, 30.0)]):
        assert export_grpc(server, "metrics", points_request("cumul", cumulative, points))
    assert input_tokens("cumul") == 280
    delta = 1  # every point adds; the same export again adds nothing
    for points in ([(100, 110, 100.0)], [(110, 120, 150.0)], [(110, 120, 150.0)]):
        export_grpc(server, "metrics", points_request("delta", delta, points))
    assert input_tokens("delta") == 250
    text = httpx.get(f"{server.url}/metrics", timeout=5).text
    assert metric(text, "harness_tokens_total", model="claude-sonnet-4-5", type="input",
                  cache="none") == before + 280 + 250


def test_documented_export_keeps_who_and_groups_by_user(server: ServerProcess) -> None:
    for kind, request in documented():
        export_grpc(server, kind, request)
    row = session(server, DOCUMENTED_SESSION)
    assert row is not None
    assert (row["user_email"], row["organization_id"], row["user_account_uuid"]) == (
        "joshua@example.com", "4b1e7c2a-9d3f-4e8a-b5c6-0f2d8a4e6c13",
        "8a3d5f7b-1c9e-4a2d-b6f0-3e5c7a9b1d24")
    assert (row["lines_added"], row["lines_removed"], row["commits_count"]) == (23, 1, 1)
    assert (row["api_requests_count"], row["api_errors_count"]) == (2, 1)
    assert row["active_seconds"] == pytest.approx(52.3)
    # The metric counters saw more than the two logged requests: the larger report wins.
    usage = row["model_usage"]
    assert usage["claude-opus-4-6"]["input_tokens"] == 28
    assert usage["claude-opus-4-6"]["cost_usd"] == pytest.approx(0.307768)
    assert usage["claude-haiku-4-5-20251001"]["output_tokens"] == 648
    assert row["cost_usd"] == pytest.approx(0.307768 + 0.0276394)
    stats = httpx.get(f"{server.url}/metrics/harness/stats", params={"since": 0},
                      timeout=5).json()
    (joshua,) = [g for g in stats["by_user"] if g["user"] == "joshua@example.com"]
    assert joshua["cost_usd"] == pytest.approx(row["cost_usd"], abs=1e-6)
    assert joshua["sessions"] == 1 and joshua["tokens"] > 0
    # Prometheus counts usage under the user known when it was counted: this fixture's log
    # records carry no email (its metric points do), so the two logged requests went first.
    logged = 0.109975 + 0.019766
    text = httpx.get(f"{server.url}/metrics", timeout=5).text
    assert metric(text, "harness_attributed_cost_usd_total", user="joshua@example.com",
                  project="unknown") == pytest.approx(row["cost_usd"] - logged)
    assert metric(text, "harness_attributed_cost_usd_total", user="unknown",
                  project="unknown") >= logged
    assert metric(text, "harness_lines_of_code_total", type="added") >= 23


def test_other_senders_are_stored_under_their_service_name(server: ServerProcess) -> None:
    span = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name",
                                     "value": {"stringValue": "checkout-api"}}]},
        "scopeSpans": [{"scope": {"name": "opentelemetry.instrumentation.openai"}, "spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
            "name": "chat gpt-4o", "kind": 3, "startTimeUnixNano": "1700000000000000000",
            "endTimeUnixNano": "1700000001500000000",
            "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                           {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                           {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}}],
        }]}]}]}
    answer = httpx.post(f"{server.url}/v1/traces", json=span, timeout=5)
    assert answer.status_code == 200, answer.text
    (event,) = stored(server, source="checkout-api")
    assert event["hook_event_type"] == "gen_ai.chat" and event["model_name"] == "gpt-4o"
    assert event["session_id"] == "5b8efff798038103d269b633813fc60c"
    assert event["payload"]["duration_ms"] == 1500
    assert event["payload"]["otlp"]["span_id"] == "eee19b7ec3c1b174"
    assert session(server, event["session_id"]) is None  # no session of ours


def last_id(server: ServerProcess) -> int:
    return int(httpx.get(f"{server.url}/api/ui/cursor", timeout=5).json()["last_id"])


def test_bad_requests_are_refused_and_nothing_is_written(server: ServerProcess) -> None:
    before = last_id(server)
    logs = next(request for kind, request in captured() if kind == "logs")
    url = f"{server.url}/v1/logs"
    cases = [
        ({"content-type": "application/x-protobuf"}, b"\xff\xfe\x00garbage", 400),
        ({"content-type": "text/plain"}, logs.SerializeToString(), 415),  # as OTLP/HTTP says
        ({"content-type": "application/json"}, b"{not json", 400),
        ({"content-type": "application/json"},
         json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [
             {"traceId": "zz-not-hex"}]}]}]}).encode(), 400),
        ({"content-type": "application/x-protobuf", "content-encoding": "gzip"}, b"nope", 400),
        ({"content-type": "application/x-protobuf"}, b"\x00" * (5 * 1024 * 1024), 413),
    ]
    for headers, body, status in cases:
        answer = httpx.post(url, content=body, headers=headers, timeout=10)
        assert answer.status_code == status, (headers, answer.text)
        assert answer.json()["error"] and answer.json()["detail"]
    with server.channel() as channel, pytest.raises(grpc.RpcError) as err:
        channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export")(
            b"\xff\xfe\x00garbage", timeout=5)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert last_id(server) == before
    assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200


def test_claude_code_records_without_meaning_are_partly_rejected(server: ServerProcess) -> None:
    request = renamed("logs", next(r for k, r in captured() if k == "logs"), "otlp-partial")
    records = request.resource_logs[0].scope_logs[0].log_records
    broken = [r for r in records if r.body.string_value == "claude_code.api_request"]
    kept = [kv for kv in broken[0].attributes if kv.key != "session.id"]
    del broken[0].attributes[:]
    broken[0].attributes.extend(kept)
    for kv in broken[1].attributes:
        if kv.key == "input_tokens":
            kv.value.string_value = "many"
    answer = export_http(server.url, "logs", request)
    assert answer.status_code == 200
    parsed = ExportLogsServiceResponse.FromString(answer.content)
    assert parsed.partial_success.rejected_log_records == 2
    assert "session.id" in parsed.partial_success.error_message
    assert "input_tokens" in parsed.partial_success.error_message
    row = session(server, "otlp-partial")
    assert row is not None and row["api_requests_count"] == 0 and row["input_tokens"] == 0
    assert row["tool_calls_count"] == 1  # the usable records were stored
    kinds = [e["hook_event_type"] for e in stored(server, session="otlp-partial")]
    assert "claude_code.api_request" not in kinds and len(kinds) == len(records) - 2


# -- a server with a token, a tiny write queue and the OTLP/HTTP port ------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, int]]:
    port = free_port()
    env = {"ROUTER_EXT_TOKEN": "s3cret", "ROUTER_EXT_WRITE_QUEUE_SIZE": "8",
           "ROUTER_EXT_OTLP_HTTP_PORT": str(port)}
    for proc in served(tmp_path_factory, "strict", env):
        yield proc, port


AUTH = {"authorization": "Bearer s3cret"}


def small_logs(session_id: str) -> Any:
    request = ExportLogsServiceRequest()
    request.CopyFrom(next(r for k, r in captured() if k == "logs"))
    records = request.resource_logs[0].scope_logs[0].log_records
    del records[4:]
    return renamed("logs", request, session_id)


def test_the_otlp_port_serves_otlp_only_and_wants_the_token(
        strict: tuple[ServerProcess, int]) -> None:
    server, port = strict
    otlp_url = f"http://127.0.0.1:{port}"
    assert export_http(otlp_url, "logs", small_logs("port")).status_code == 401
    answer = export_http(otlp_url, "logs", small_logs("port"), headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert httpx.get(f"{otlp_url}/api/ui/sessions", headers=AUTH, timeout=5).status_code == 404
    assert httpx.get(f"{server.url}/api/ui/sessions/port", headers=AUTH,
                     timeout=5).status_code == 200
    with pytest.raises(grpc.RpcError) as err:
        export_grpc(server, "logs", small_logs("port-grpc"))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    export_grpc(server, "logs", small_logs("port-grpc"), metadata=(("authorization",
                                                                    "Bearer s3cret"),))


def test_a_full_write_queue_asks_exporters_to_retry(strict: tuple[ServerProcess, int]) -> None:
    server, _ = strict
    request = renamed("logs", next(r for k, r in captured() if k == "logs"), "overload")
    answer = export_http(server.url, "logs", request, headers=AUTH)  # 33 rows > a queue of 8
    assert answer.status_code == 429 and answer.headers["retry-after"] == "5"
    assert answer.json()["error"] == "overloaded"
    with pytest.raises(grpc.RpcError) as err:
        export_grpc(server, "logs", request, metadata=(("authorization", "Bearer s3cret"),))
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(err.value)
    assert status is not None
    retry = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(retry) and retry.retry_delay.seconds == 5
    answer = httpx.get(f"{server.url}/api/ui/sessions/overload", headers=AUTH, timeout=5)
    assert answer.status_code == 404  # nothing of the refused export was written

