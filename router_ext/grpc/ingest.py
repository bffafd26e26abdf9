"""IngestService: Publish, PublishBatch, PublishStream and PublishMetric."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc

from router_ext.core import RouterExt
from router_ext.errors import InvalidInput, RouterExtError
from router_ext.normalize import from_proto
from router_ext.records import Row
from router_ext.v1 import ingest_pb2, ingest_pb2_grpc
from router_ext.writer import Ack

from .status import unary_errors

TRANSPORT = "grpc"
IN_FLIGHT = 4096


def _ack(ack: Ack) -> ingest_pb2.Ack:
    return ingest_pb2.Ack(id=ack.id, event_uid=ack.event_uid, duplicate=ack.duplicate)


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    """Every ack is sent only after the event is committed."""

    def __init__(self, core: RouterExt) -> None:
        self.core = core
        self.limit = core.settings.max_body_bytes

    def _row(self, request: ingest_pb2.PublishRequest, where: str = "event") -> Row:
        if not request.HasField("event"):
            raise InvalidInput(f"'{where}' is required", field=where)
        try:
            return from_proto(request.event, max_payload_bytes=self.limit)
        except RouterExtError as exc:
            self.core.reject(TRANSPORT, exc)
            if exc.field and where != "event":
                exc.message = f"{where}: {exc.message}"
            raise

    @unary_errors
    async def Publish(self, request: ingest_pb2.PublishRequest,
                      context: grpc.aio.ServicerContext) -> ingest_pb2.Ack:
        (ack,) = await self.core.ingest([self._row(request)], TRANSPORT)
        return _ack(ack)

    @unary_errors
    async def PublishBatch(self, request: ingest_pb2.PublishBatchRequest,
                           context: grpc.aio.ServicerContext) -> ingest_pb2.PublishBatchResponse:
        rows = [
            self._row(ingest_pb2.PublishRequest(event=event), f"events[{index}]")
            for index, event in enumerate(request.events)
        ]
        if not rows:
            return ingest_pb2.PublishBatchResponse()
        acks = await self.core.ingest(rows, TRANSPORT)
        return ingest_pb2.PublishBatchResponse(acks=[_ack(a) for a in acks])

    async def PublishStream(self, request_iterator: AsyncIterator[ingest_pb2.PublishRequest],
                            context: grpc.aio.ServicerContext
                            ) -> AsyncIterator[ingest_pb2.Ack]:
        # Requests are read and submitted while earlier ones commit, so one stream fills whole
        # group-commit batches; acks still leave in request order. The bounded queue is the
        # stream's flow control: at most IN_FLIGHT events wait for their commit.
        pending: asyncio.Queue[asyncio.Future[ingest_pb2.Ack] | None] = asyncio.Queue(IN_FLIGHT)
        reader = asyncio.create_task(self._submit_all(request_iterator, pending))
        try:
            while (future := await pending.get()) is not None:
                yield await future
            await reader  # surfaces a failure to read the request stream
        finally:
            reader.cancel()

    async def _submit_all(self, requests: AsyncIterator[ingest_pb2.PublishRequest],
                          pending: asyncio.Queue[asyncio.Future[ingest_pb2.Ack] | None]) -> None:
        try:
            async for request in requests:
                await pending.put(asyncio.ensure_future(self._stream_ack(request)))
        finally:
            await pending.put(None)

    async def _stream_ack(self, request: ingest_pb2.PublishRequest) -> ingest_pb2.Ack:
        try:
            (ack,) = await self.core.ingest([self._row(request)], TRANSPORT)
        except RouterExtError as exc:
            return ingest_pb2.Ack(event_uid=request.event.event_uid, error=exc.message,
                                  error_code=exc.grpc_code.name)
        return _ack(ack)

    @unary_errors
    async def PublishMetric(self, request: ingest_pb2.PublishMetricRequest,
                            context: grpc.aio.ServicerContext) -> ingest_pb2.Ack:
        from router_ext.metric_body import from_metric_proto

        row = from_metric_proto(request.metric)
        (ack,) = await self.core.ingest([row], TRANSPORT)
        return _ack(ack)
