"""Bytes that are not the request message answer INVALID_ARGUMENT, not UNKNOWN.

grpc.aio turns an exception raised while deserializing a request into UNKNOWN before any
handler runs. Registering services through :class:`TolerantRegistrar` swaps each request
deserializer for one that returns a :class:`Malformed` marker instead of raising; unary
requests are then refused with INVALID_ARGUMENT before the handler sees them, and a
malformed message inside a request stream reaches the handler, which refuses that one
message (PublishStream answers it with an error ack and goes on).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from router_ext.errors import InvalidInput


class Malformed:
    """A request message that could not be parsed; `error` says why."""

    __slots__ = ("error",)

    def __init__(self, error: InvalidInput) -> None:
        self.error = error


def _tolerant(parse: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def deserialize(data: bytes) -> Any:
        try:
            return parse(data)
        except Exception as exc:  # DecodeError, or invalid UTF-8 in a string field
            return Malformed(InvalidInput(
                f"the request is not a valid protobuf message: {exc.__class__.__name__}: "
                f"{str(exc)[:200]}", field="message"))

    return deserialize


async def _refuse(context: grpc.aio.ServicerContext, request: Malformed) -> None:
    exc = request.error
    await context.abort(exc.grpc_code, exc.message, exc.grpc_metadata())


def _guard_unary_unary(behavior: Any) -> Any:
    async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, Malformed):
            await _refuse(context, request)
        return await behavior(request, context)

    return handle


def _guard_unary_stream(behavior: Any) -> Any:
    async def handle(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        if isinstance(request, Malformed):
            await _refuse(context, request)
        async for item in behavior(request, context):
            yield item

    return handle


def tolerant_handler(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """The same method handler with a deserializer that never raises."""
    if handler.request_deserializer is None:
        return handler
    changes: dict[str, Any] = {
        "request_deserializer": _tolerant(handler.request_deserializer)}
    if handler.unary_unary is not None:
        changes["unary_unary"] = _guard_unary_unary(handler.unary_unary)
    elif handler.unary_stream is not None:
        changes["unary_stream"] = _guard_unary_stream(handler.unary_stream)
    # Client-streaming handlers check each message themselves (see PublishStream).
    return handler._replace(**changes)


class _TolerantGeneric(grpc.GenericRpcHandler):
    def __init__(self, inner: grpc.GenericRpcHandler) -> None:
        self._inner = inner
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}  # by method: wrapped once

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        found = self._inner.service(details)
        if found is None:
            return None
        wrapped = self._wrapped.get(details.method)
        if wrapped is None:
            wrapped = self._wrapped[details.method] = tolerant_handler(found)
        return wrapped


class TolerantRegistrar:
    """Stands in for the server in the generated `add_*_to_server` functions."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server = server

    def add_generic_rpc_handlers(self, handlers: tuple[grpc.GenericRpcHandler, ...]) -> None:
        """Register generic handlers whose method handlers never fail to deserialize."""
        self._server.add_generic_rpc_handlers(tuple(_TolerantGeneric(h) for h in handlers))

    def add_registered_method_handlers(self, service: str,
                                       handlers: dict[str, grpc.RpcMethodHandler]) -> None:
        """Register per-method handlers, made tolerant the same way."""
        self._server.add_registered_method_handlers(
            service, {name: tolerant_handler(h) for name, h in handlers.items()})

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)
