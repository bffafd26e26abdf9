"""Roles, the failed-token limiter and the stream cap for gRPC, as one server interceptor.

The token travels as `authorization: Bearer <token>` metadata. The peer's address is known
only inside the call, so the handler is wrapped: the check runs first in every call, then the
servicer. Streaming calls (Subscribe, PublishStream) hold a slot of the stream cap while open.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from router_ext.access import Access
from router_ext.access.policy import grpc_roles
from router_ext.access.roles import describe

Check = Callable[[grpc.aio.ServicerContext], Awaitable[None]]
TRANSPORT = "grpc"


def peer_address(context: grpc.aio.ServicerContext) -> str:
    """`ipv4:127.0.0.1:5000` -> `127.0.0.1`, `ipv6:[::1]:5000` -> `::1`."""
    peer = context.peer() or ""
    _, _, rest = peer.partition(":")
    if rest.startswith("["):
        return rest[1:rest.find("]")]
    return rest.rsplit(":", 1)[0]


def _bearer(details: grpc.HandlerCallDetails) -> str:
    for key, value in details.invocation_metadata or ():
        if key == "authorization":
            text = value.decode() if isinstance(value, bytes) else str(value)
            scheme, _, token = text.partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return ""


class AccessInterceptor(grpc.aio.ServerInterceptor):
    """Refuses calls without a credential for the method's role; caps open streams."""

    def __init__(self, access: Access) -> None:
        self.access = access

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        need = grpc_roles(details.method)
        if handler is None or need is None:
            return handler
        streaming = handler.request_streaming or handler.response_streaming
        if self.access.credentials.open_to_anyone(need) and not streaming:
            return handler
        token = _bearer(details)

        async def check(context: grpc.aio.ServicerContext) -> None:
            await self._check(context, need, token)

        return _wrapped(handler, check, self.access if streaming else None)

    async def _check(self, context: grpc.aio.ServicerContext, need: frozenset[str],
                     token: str) -> None:
        credentials = self.access.credentials
        if credentials.open_to_anyone(need):
            return
        address = peer_address(context)
        wait = self.access.failures.retry_after(address)
        if wait:
            await self._abort(context, "rate_limited", grpc.StatusCode.RESOURCE_EXHAUSTED,
                              f"too many wrong tokens from {address}; retry in {wait} s")
        found = credentials.identify(token) if token else None
        if found is None:
            if token:
                self.access.failures.failed(address)
            await self._abort(context, "unauthenticated", grpc.StatusCode.UNAUTHENTICATED,
                              "missing or wrong bearer token")
        elif not found.roles & need:
            await self._abort(context, "forbidden", grpc.StatusCode.PERMISSION_DENIED,
                              f"{found.name} may not call this; it needs the {describe(need)} "
                              "role")

    async def _abort(self, context: grpc.aio.ServicerContext, reason: str,
                     code: grpc.StatusCode, message: str) -> None:
        self.access.refused(TRANSPORT, reason)
        await context.abort(code, message)


async def _open_stream(access: Access | None, context: grpc.aio.ServicerContext) -> bool:
    if access is None:
        return False
    if not access.streams.acquire(TRANSPORT):
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, access.streams.refusal())
    return True


def _wrapped(handler: grpc.RpcMethodHandler, check: Check,
             access: Access | None) -> grpc.RpcMethodHandler:
    """The same handler with `check` (and a stream slot when `access` is given) first."""
    kwargs = {"request_deserializer": handler.request_deserializer,
              "response_serializer": handler.response_serializer}
    if handler.unary_unary is not None:
        unary = handler.unary_unary

        async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await check(context)
            return await unary(request, context)

        return grpc.unary_unary_rpc_method_handler(unary_unary, **kwargs)
    if handler.stream_unary is not None:
        collect = handler.stream_unary

        async def stream_unary(requests: Any, context: grpc.aio.ServicerContext) -> Any:
            await check(context)
            held = await _open_stream(access, context)
            try:
                return await collect(requests, context)
            finally:
                if held and access is not None:
                    access.streams.release()

        return grpc.stream_unary_rpc_method_handler(stream_unary, **kwargs)
    streamed = handler.unary_stream or handler.stream_stream
    assert streamed is not None

    async def streaming(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        await check(context)
        held = await _open_stream(access, context)
        try:
            async for item in streamed(request, context):
                yield item
        finally:
            if held and access is not None:
                access.streams.release()

    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(streaming, **kwargs)
    return grpc.stream_stream_rpc_method_handler(streaming, **kwargs)
