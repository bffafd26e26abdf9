"""Small builders for gRPC test traffic."""

from __future__ import annotations

import json
import uuid
from typing import Any

from router_ext.v1 import ingest_pb2, ingest_pb2_grpc, query_pb2_grpc, stream_pb2_grpc, types_pb2


def event(source_app: str = "app", session_id: str = "s1", hook_event_type: str = "PreToolUse",
          payload: dict[str, Any] | None = None, **fields: Any) -> types_pb2.Event:
    """A protobuf Event with a fresh uid unless one is given."""
    fields.setdefault("event_uid", uuid.uuid4().hex)
    return types_pb2.Event(source_app=source_app, session_id=session_id,
                           hook_event_type=hook_event_type,
                           payload_json=json.dumps(payload or {"tool_name": "Bash"}), **fields)


def stubs(channel: Any) -> tuple[Any, Any, Any]:
    """Ingest, stream and query stubs on one channel."""
    return (ingest_pb2_grpc.IngestServiceStub(channel),
            stream_pb2_grpc.StreamServiceStub(channel),
            query_pb2_grpc.QueryServiceStub(channel))


def publish(channel: Any, ev: types_pb2.Event) -> ingest_pb2.Ack:
    """Publish one event with a deadline."""
    ingest, _, _ = stubs(channel)
    return ingest.Publish(ingest_pb2.PublishRequest(event=ev), timeout=5)
