"""QueryService, health and reflection against a real server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from router_ext.v1 import ingest_pb2, query_pb2, types_pb2
from tests.grpc_helpers import event, stubs
from tests.support import ServerProcess


@pytest.fixture(scope="module")
def channel(server: ServerProcess) -> Iterator[grpc.Channel]:
    with server.channel() as ch:
        yield ch


def publish(channel: grpc.Channel, events: list[types_pb2.Event]) -> list[int]:
    ingest, _, _ = stubs(channel)
    return [a.id for a in ingest.PublishBatch(
        ingest_pb2.PublishBatchRequest(events=events), timeout=10).acks]


def test_list_events_pages_backwards_with_filters(channel: grpc.Channel) -> None:
    _, _, query = stubs(channel)
    app = f"q-{uuid.uuid4().hex[:8]}"
    ids = publish(channel, [event(source_app=app, hook_event_type="Stop" if i % 2 else "Pre")
                            for i in range(25)])
    publish(channel, [event(source_app="noise") for _ in range(5)])
    flt = types_pb2.EventFilter(source_apps=[app])
    pages: list[list[int]] = []
    request = query_pb2.ListEventsRequest(filter=flt, limit=10)
    while True:
        page = query.ListEvents(request, timeout=5)
        pages.append([e.id for e in page.events])
        if not page.next_before_id:
            break
        request.before_id = page.next_before_id
    assert pages[0] == ids[15:] and pages[1] == ids[5:15] and pages[2] == ids[:5]
    stops = query.ListEvents(query_pb2.ListEventsRequest(
        filter=types_pb2.EventFilter(source_apps=[app], hook_event_types=["Stop"]),
        after_id=ids[10]), timeout=5)
    assert [e.id for e in stops.events] == ids[11::2]


def test_list_events_clamps_a_limit_above_the_page_cap(channel: grpc.Channel) -> None:
    _, _, query = stubs(channel)
    app = f"cap-{uuid.uuid4().hex[:8]}"
    publish(channel, [event(source_app=app) for _ in range(3)])
    page = query.ListEvents(query_pb2.ListEventsRequest(
        filter=types_pb2.EventFilter(source_apps=[app]), limit=5000), timeout=5)
    assert len(page.events) == 3


def test_filter_options_list_what_was_stored(channel: grpc.Channel) -> None:
    _, _, query = stubs(channel)
    app = f"opt-{uuid.uuid4().hex[:8]}"
    publish(channel, [event(source_app=app, session_id="opt-session",
                            hook_event_type="SubagentStop")])
    options = query.GetFilterOptions(query_pb2.GetFilterOptionsRequest(), timeout=5)
    assert app in options.source_apps
    assert "SubagentStop" in options.hook_event_types
    assert "opt-session" in options.session_ids


def test_sessions_list_and_unknown_session(channel: grpc.Channel) -> None:
    _, _, query = stubs(channel)
    listed = query.ListSessions(query_pb2.ListSessionsRequest(limit=5), timeout=5)
    assert len(listed.sessions) <= 5
    for session in listed.sessions:
        again = query.GetSession(query_pb2.GetSessionRequest(id=session.id), timeout=5)
        assert again.id == session.id
    with pytest.raises(grpc.RpcError) as info:
        query.GetSession(query_pb2.GetSessionRequest(id="no-such-session"), timeout=5)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as info:
        query.GetSession(query_pb2.GetSessionRequest(), timeout=5)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_health_service_reports_serving(channel: grpc.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", "router_ext.v1.IngestService", "router_ext.v1.StreamService",
                    "router_ext.v1.QueryService"):
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_every_service(channel: grpc.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    (reply,) = list(stub.ServerReflectionInfo(iter([request]), timeout=5))
    names = {s.name for s in reply.list_services_response.service}
    assert {"router_ext.v1.IngestService", "router_ext.v1.StreamService",
            "router_ext.v1.QueryService", "grpc.health.v1.Health"} <= names


def test_http_health_reports_uptime_and_backend(server: ServerProcess,
                                                channel: grpc.Channel) -> None:
    (last,) = publish(channel, [event()])
    body = httpx.get(f"{server.url}/health", timeout=5).json()
    assert body["status"] == "ok" and body["storage_backend"] == "sqlite"
    assert body["uptime_seconds"] > 0 and body["last_event_id"] >= last
