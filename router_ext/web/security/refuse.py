"""Answering a refused HTTP request or WebSocket handshake before any route runs."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from router_ext.errors import RateLimited, RouterExtError

CLOSE_POLICY = 1008
CLOSE_TRY_AGAIN_LATER = 1013


def route_path(scope: Scope) -> str:
    """The path below the app's mount point (`root_path`), as the routes see it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root):len(root) + 1] in ("", "/"):
        return path[len(root):]
    return path


def client_address(scope: Scope) -> str:
    """The peer's address, "" when the server does not say."""
    client = scope.get("client")
    return str(client[0]) if client else ""


async def refuse(scope: Scope, receive: Receive, send: Send, exc: RouterExtError) -> None:
    """The JSON error with its status; for a WebSocket, as the handshake's HTTP answer.

    Servers without the WebSocket denial-response extension get a policy close instead.
    """
    headers = {"retry-after": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    response = JSONResponse(exc.to_dict(), status_code=exc.http_status, headers=headers)
    if scope["type"] == "websocket" and \
            "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": CLOSE_POLICY,
                    "reason": exc.message[:120]})
        return
    await response(scope, receive, send)


async def close_busy(scope: Scope, receive: Receive, send: Send, reason: str) -> None:
    """Accept a WebSocket and close it at once with 1013 (try again later)."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER, "reason": reason[:120]})
