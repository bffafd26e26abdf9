"""Roles, the failed-token limit and the stream cap over gRPC, against a real server."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from router_ext.v1 import ingest_pb2, query_pb2, stream_pb2
from tests.grpc_helpers import event, stubs
from tests.support import ServerProcess, served, start_server

INGEST, READ, ADMIN, ALL = (f"{r}-{uuid.uuid4().hex}" for r in ("ingest", "read", "admin", "all"))
ENV = {"ROUTER_EXT_INGEST_TOKEN": INGEST, "ROUTER_EXT_READ_TOKEN": READ,
       "ROUTER_EXT_ADMIN_TOKEN": ADMIN, "ROUTER_EXT_TOKEN": ALL}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from served(tmp_path_factory, "grpc-roles", ENV)


def meta(token: str | None) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),) if token else ()


def code(call: Callable[[], Any]) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def calls(channel: grpc.Channel, token: str | None) -> dict[str, Callable[[], Any]]:
    ingest, stream, query = stubs(channel)
    md = meta(token)

    def subscribe() -> None:
        call = stream.Subscribe(stream_pb2.SubscribeRequest(after_id=0), metadata=md, timeout=5)
        next(iter(call))  # the replay's first message, or the refusal
        call.cancel()

    return {
        "Publish": lambda: ingest.Publish(ingest_pb2.PublishRequest(event=event()),
                                          metadata=md, timeout=5),
        "PublishStream": lambda: list(ingest.PublishStream(
            iter([ingest_pb2.PublishRequest(event=event())]), metadata=md, timeout=5)),
        "ListEvents": lambda: query.ListEvents(query_pb2.ListEventsRequest(limit=1),
                                               metadata=md, timeout=5),
        "Subscribe": subscribe,
    }


def test_each_role_over_grpc(server: ServerProcess) -> None:
    with server.channel() as channel:
        calls(channel, INGEST)["Publish"]()  # something to replay for Subscribe
        allowed = {INGEST: {"Publish", "PublishStream"}, READ: {"ListEvents", "Subscribe"},
                   ADMIN: {"ListEvents", "Subscribe"}, ALL: {"Publish", "PublishStream",
                                                            "ListEvents", "Subscribe"}}
        for token, names in allowed.items():
            for name, call in calls(channel, token).items():
                expected = grpc.StatusCode.OK if name in names else \
                    grpc.StatusCode.PERMISSION_DENIED
                assert code(call) == expected, (token[:5], name)
        for name, call in calls(channel, None).items():
            assert code(call) == grpc.StatusCode.UNAUTHENTICATED, name
        for name, call in calls(channel, "wrong").items():
            assert code(call) == grpc.StatusCode.UNAUTHENTICATED, name
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                           timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING  # open to probes


def test_wrong_tokens_block_the_address_even_for_the_right_one(tmp_path: Path) -> None:
    proc = start_server(f"sqlite:///{tmp_path / 'db.sqlite'}",
                        env={**ENV, "ROUTER_EXT_AUTH_FAILURES_PER_MINUTE": "2"})
    try:
        with proc.channel() as channel:
            publish = calls(channel, INGEST)["Publish"]
            assert code(publish) == grpc.StatusCode.OK
            for _ in range(2):
                assert code(calls(channel, "guess")["Publish"]) == \
                    grpc.StatusCode.UNAUTHENTICATED
            assert code(publish) == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert code(calls(channel, READ)["Subscribe"]) == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        proc.stop()


def test_subscribe_over_the_stream_cap_is_resource_exhausted(tmp_path: Path) -> None:
    proc = start_server(f"sqlite:///{tmp_path / 'db.sqlite'}",
                        env={"ROUTER_EXT_MAX_STREAMS": "1"})
    try:
        with proc.channel() as channel:
            ingest, stream, _ = stubs(channel)
            ingest.Publish(ingest_pb2.PublishRequest(event=event()), timeout=5)
            held = stream.Subscribe(stream_pb2.SubscribeRequest(after_id=0), timeout=30)
            try:
                assert next(iter(held)).HasField("event")  # the slot is taken
                refused = stream.Subscribe(stream_pb2.SubscribeRequest(), timeout=10)
                with pytest.raises(grpc.RpcError) as caught:
                    next(iter(refused))
                assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert "ROUTER_EXT_MAX_STREAMS" in str(caught.value.details())
            finally:
                held.cancel()
    finally:
        proc.stop()
