"""QueryService: events with cursor paging, filter options, sessions."""

from __future__ import annotations

import grpc

from router_ext.errors import InvalidInput, NotFound
from router_ext.grpc.convert import session_proto
from router_ext.grpc.status import unary_errors
from router_ext.grpc.stream import event_filter
from router_ext.ingest import fields
from router_ext.records import to_proto
from router_ext.runtime import RouterExt
from router_ext.v1 import query_pb2, query_pb2_grpc, types_pb2

MAX_LIMIT = 1000


def _limit(value: int, default: int) -> int:
    """0 means the default; above the page cap is clamped, as on HTTP."""
    if value < 0:
        raise InvalidInput(f"'limit' must be between 1 and {MAX_LIMIT}", field="limit")
    return min(value, MAX_LIMIT) or default


class QueryServicer(query_pb2_grpc.QueryServiceServicer):
    """Reads never touch the writer."""

    def __init__(self, core: RouterExt) -> None:
        self.core = core

    @unary_errors
    async def ListEvents(self, request: query_pb2.ListEventsRequest,
                         context: grpc.aio.ServicerContext) -> query_pb2.ListEventsResponse:
        limit = _limit(request.limit, 300)
        rows = await self.core.reader.recent(
            event_filter(request.filter), limit,
            before_id=fields.integer(request.before_id, "before_id")
            if request.HasField("before_id") else None,
            after_id=fields.integer(request.after_id, "after_id")
            if request.HasField("after_id") else None,
        )
        next_before = rows[0]["id"] if len(rows) == limit else 0
        return query_pb2.ListEventsResponse(events=[to_proto(r) for r in rows],
                                            next_before_id=next_before)

    @unary_errors
    async def GetFilterOptions(self, request: query_pb2.GetFilterOptionsRequest,
                               context: grpc.aio.ServicerContext) -> query_pb2.FilterOptions:
        options = await self.core.reader.filter_options()
        return query_pb2.FilterOptions(**options)

    @unary_errors
    async def ListSessions(self, request: query_pb2.ListSessionsRequest,
                           context: grpc.aio.ServicerContext
                           ) -> query_pb2.ListSessionsResponse:
        rows = await self.core.reader.sessions(
            source=fields.identifier(request.source, "source") or "",
            project=fields.identifier(request.project, "project", limit=512) or "",
            label=fields.identifier(request.label, "label") or "",
            status=fields.identifier(request.status, "status") or "",
            limit=_limit(request.limit, 100),
            started_before_ms=fields.integer(request.started_before_ms, "started_before_ms"),
        )
        return query_pb2.ListSessionsResponse(sessions=[session_proto(r) for r in rows])

    @unary_errors
    async def GetSession(self, request: query_pb2.GetSessionRequest,
                         context: grpc.aio.ServicerContext) -> types_pb2.Session:
        session_id = fields.required_identifier(request.id, "id", 300)
        row = await self.core.reader.session(session_id)
        if row is None:
            raise NotFound(f"no session with id {request.id!r}")
        return session_proto(row)
