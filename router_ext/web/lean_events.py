"""`POST /events` from programs, answered ahead of Starlette's middleware and routing.

Hooks post one event per tool call, so this is the busiest request there is. Through the full
stack it passed ten ASGI layers (error and exception handlers, the host, origin and access
guards, routing, the request and response objects) before and after the few lines that store
the event: about a quarter of the server's Python time per event. Here the same checks run in
one pass over the headers, and the request is taken only when all of them pass up front:

- the Host is on the allow list (:class:`HostAllowList`, as :class:`HostGuard` checks it);
- no `Origin` or `Sec-Fetch-Site` header: a browser's request keeps the full stack, with its
  CORS headers and cross-site refusal (:class:`OriginGuard`); hooks and curl send neither;
- `Content-Type: application/json`;
- the ingest role: no token needed, or a bearer token that identifies a credential holding it,
  from an address not waiting out a run of wrong tokens (:class:`AccessGuard`).

Anything else (a refusal included) goes through the full stack untouched, so every refusal is
answered and counted in one place. A taken request reads its body under the same limits
(`read_chunks`), stores it the same way (`events_body_answer`) and answers the same JSON,
errors included.
"""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive, Scope, Send

from router_ext.access import Access
from router_ext.access.policy import http_roles
from router_ext.errors import RouterExtError
from router_ext.runtime import RouterExt
from router_ext.web.answers import events_body_answer
from router_ext.web.body import error_response, read_chunks
from router_ext.web.security import CREDENTIAL_KEY
from router_ext.web.security.guard import bearer_token
from router_ext.web.security.hosts import HostAllowList, host_name
from router_ext.web.security.refuse import route_path

PATH = "/events"
_BROWSER = (b"origin", b"sec-fetch-site")
_JSON = "application/json"


class LeanEvents:
    """Decides per request whether it may skip the stack (:meth:`takes`), and serves it."""

    def __init__(self, core: RouterExt) -> None:
        self.core = core
        self.access = Access.of(core)
        settings = core.settings
        self.hosts = HostAllowList(settings.host, settings.allowed_hosts)
        self.need = http_roles("POST", PATH)
        self.limit = settings.max_event_bytes

    def takes(self, scope: Scope) -> bool:
        """True when this is a POST /events that passes every check of the full stack."""
        if scope["type"] != "http" or scope["method"] != "POST" or route_path(scope) != PATH:
            return False
        host = kind = authorization = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value if host is None else host
            elif name == b"content-type":
                kind = value if kind is None else kind
            elif name == b"authorization":
                authorization = value if authorization is None else authorization
            elif name in _BROWSER:
                return False
        if kind is None or kind.decode("latin-1").split(";", 1)[0].strip().lower() != _JSON:
            return False
        name = host_name(None if host is None else host.decode("latin-1"))
        if name is None or not self.hosts.allows(name):
            return False
        return self._authorized(scope, authorization)

    def _authorized(self, scope: Scope, authorization: bytes | None) -> bool:
        credentials = self.access.credentials
        if self.need is None or credentials.open_to_anyone(self.need):
            return True
        client = scope.get("client")
        if self.access.failures.retry_after(str(client[0]) if client else ""):
            return False
        token = bearer_token(authorization.decode("latin-1") if authorization else "")
        found = credentials.identify(token) if token else None
        if found is None or not found.roles & self.need:
            return False
        scope[CREDENTIAL_KEY] = found
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value.decode("latin-1")
                break
        try:
            try:
                raw = await read_chunks(declared, Request(scope, receive).stream(), self.limit)
            except RouterExtError as exc:
                self.core.reject("http", exc)
                raise
            text = await events_body_answer(self.core, raw)
        except RouterExtError as exc:
            await error_response(exc)(scope, receive, send)
            return
        except ClientDisconnect:
            return
        body = text.encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode()),
                                (b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})
