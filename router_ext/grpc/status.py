"""Map router-ext errors onto gRPC status codes (the table lives in router_ext.errors)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar

import grpc

from router_ext.errors import RouterExtError

T = TypeVar("T")


async def abort_with(context: grpc.aio.ServicerContext, exc: RouterExtError) -> None:
    """End the RPC with the error's code, message and kind metadata (raises)."""
    await context.abort(exc.grpc_code, exc.message, exc.grpc_metadata())


def unary_errors(
    fn: Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[T]],
) -> Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[T]]:
    """Turn RouterExtError raised by a unary handler into its status code."""

    @wraps(fn)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> T:
        try:
            return await fn(self, request, context)
        except RouterExtError as exc:
            await abort_with(context, exc)
            raise AssertionError("unreachable") from exc

    return wrapper
