"""POST /api/ui/ticket: a short-lived ticket that opens the dashboard's streams.

The caller shows its token in the Authorization header (read or admin); the answer is
`{"ticket": "...", "expires_in": 60}`, to be passed as `?ticket=` to `WS /stream` or an
EventSource, so no token is ever put in a URL.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from router_ext.access import Access
from router_ext.access.policy import TICKET_PATH
from router_ext.runtime import RouterExt


def routes(core: RouterExt) -> list[Route]:
    """The ticket route."""
    tickets = Access.of(core).tickets

    async def ticket(request: Request) -> JSONResponse:
        return JSONResponse({"ticket": tickets.issue(), "expires_in": tickets.seconds},
                            headers={"cache-control": "no-store"})

    return [Route(TICKET_PATH, ticket, methods=["POST"])]
