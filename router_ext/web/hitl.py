"""POST /events/{id}/respond: a person answers an agent's question or permission request.

Body: `{"response": "..."}` (question), `{"permission": true|false}` (permission) or
`{"choice": "one of the choices"}` (choice), plus `respondedBy`. Answers 200 with the updated
event (its `humanInTheLoopStatus` says who answered, when, with which credential from which
address (`respondedVia`), and whether delivery to the agent succeeded); 400 naming the field
for a bad answer, 404 for an unknown id, 409 when the request was already answered or timed
out. The stock UI echoes the whole event as `hookEvent`, so an answer may be as large as an
event (ROUTER_EXT_MAX_EVENT_BYTES); only the answer fields are read.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from router_ext.access.roles import ANONYMOUS
from router_ext.records import to_api
from router_ext.runtime import RouterExt
from router_ext.web.body import path_int, read_json
from router_ext.web.security import CREDENTIAL_KEY


def routes(core: RouterExt) -> list[Route]:
    """The respond route."""
    service = core.hitl
    limit = core.settings.max_event_bytes

    async def respond(request: Request) -> Response:
        event_id = path_int(request, "event_id")
        body = await read_json(request, limit)
        credential = request.scope.get(CREDENTIAL_KEY, ANONYMOUS)
        via = {"credential": credential.name,
               "address": request.client.host if request.client else ""}
        row = await service.respond(event_id, body, via=via)
        return JSONResponse(to_api(row))

    return [Route("/events/{event_id}/respond", respond, methods=["POST"])]
