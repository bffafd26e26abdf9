"""Socket.IO at `/socket.io/` for claude-mpm: its dashboard and its Socket.IO emitters.

claude-mpm's hook handler emits each event as `mpm_event` (versions 5.x, through its
connection pool) or `claude_event` (older versions and its direct path); `hook_event` and
`hook:ingest` are taken too. Each becomes an event through the claude-mpm format
(router_ext.ingest.formats.from_mpm), stored with `source_app` `claude-mpm` unless the sender
names one; the emit's acknowledgement is `{"id": N}` or the error body.

Every committed event (whatever sent it) goes out as `claude_event` in claude-mpm's shape
(`type`, `subtype`, `timestamp` ISO, `session_id`, `source`, `data`, `cwd`, plus router-ext's
`id` and `source_app`) to clients that may read; on connect they get the newest events as
`event_history` `{"events": [...], "count": N}`, as claude-mpm's dashboard expects. HITL status
changes are not sent: claude-mpm's dashboard has no notion of them.

The security layer sees every Engine.IO request (Host, Origin, roles: a client needs the
ingest role to emit and the read role to receive; send `Authorization: Bearer` with both
transports). Engine.IO's polling posts are `text/plain`, so the JSON-only rule does not apply
below this path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

import socketio

from router_ext.access import Access
from router_ext.access.roles import ANONYMOUS, INGEST, READ, Credential
from router_ext.errors import RouterExtError
from router_ext.ingest.formats import MPM_SUBTYPES, from_mpm
from router_ext.records import Row, to_api
from router_ext.runtime import RouterExt
from router_ext.stream.bus import BusClosed, EventFilter, SubscriberBehind
from router_ext.web.answers import ingest_one
from router_ext.web.security import CREDENTIAL_KEY

log = logging.getLogger(__name__)

READERS = "readers"
INBOUND = ("mpm_event", "claude_event", "hook_event", "hook:ingest")
HISTORY = 50  # events sent on connect
SUBTYPE_OF = {hook: subtype for subtype, hook in MPM_SUBTYPES.items()}


def claude_event(row: Row) -> dict[str, Any]:
    """A stored event in the shape claude-mpm's dashboard reads from `claude_event`."""
    api = to_api(row)
    data = api.get("payload") or {}
    name = api["hook_event_type"]
    at = datetime.fromtimestamp(int(api["timestamp"]) / 1000, UTC)
    out: dict[str, Any] = {
        "type": api.get("mpm_type") or "hook",
        "subtype": api.get("mpm_subtype") or SUBTYPE_OF.get(name, name),
        "timestamp": at.isoformat().replace("+00:00", "Z"),
        "session_id": api["session_id"],
        "source": api.get("mpm_source") or api["source_app"],
        "data": data,
        "id": api["id"],
        "source_app": api["source_app"],
        "hook_event_type": name,
    }
    cwd = data.get("cwd") or data.get("working_directory")
    if isinstance(cwd, str) and cwd:
        out["cwd"] = cwd
    return out


class MpmSocketIO:
    """The Socket.IO server and its broadcaster; mount :attr:`app` at `/socket.io`."""

    def __init__(self, core: RouterExt) -> None:
        self.core = core
        self.credentials = Access.of(core).credentials
        settings = core.settings
        # Origins are checked by the security layer in front; Engine.IO's own check would
        # refuse the same-origin dashboard behind a proxy, so it only adds CORS headers.
        self.sio = socketio.AsyncServer(
            async_mode="asgi", cors_allowed_origins=list(settings.cors_origins),
            max_http_buffer_size=settings.max_event_bytes, logger=False, engineio_logger=False)
        self.app = socketio.ASGIApp(self.sio, socketio_path=None)
        self._roles: dict[str, frozenset[str]] = {}
        self._broadcaster: asyncio.Task[None] | None = None
        self.sio.on("connect", self._connect)
        self.sio.on("disconnect", self._disconnect)
        for name in INBOUND:
            self.sio.on(name, self._inbound)

    def _granted(self, credential: Credential) -> frozenset[str]:
        """The roles of a connection: those its credential has, and those no token guards."""
        return (credential.roles | self.credentials.open_roles) & frozenset({INGEST, READ})

    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        scope = environ.get("asgi.scope") or {}
        roles = self._granted(scope.get(CREDENTIAL_KEY, ANONYMOUS))
        self._roles[sid] = roles
        if READ not in roles:
            return
        await self.sio.enter_room(sid, READERS)
        self._ensure_broadcaster()
        rows = await self.core.reader.recent(EventFilter(), HISTORY)
        events = [claude_event(row) for row in rows]
        await self.sio.emit("event_history", {"events": events, "count": len(events)}, to=sid)

    async def _disconnect(self, sid: str, *args: Any) -> None:
        self._roles.pop(sid, None)

    async def _inbound(self, sid: str, data: Any = None) -> dict[str, Any]:
        if INGEST not in self._roles.get(sid, frozenset()):
            return {"error": "forbidden", "detail": "this connection may not send events; "
                    "it needs the ingest role"}
        try:
            row = from_mpm(data, max_payload_bytes=self.core.settings.max_event_bytes)
            stored = await ingest_one(self.core, row, "socketio")
        except RouterExtError as exc:
            self.core.reject("socketio", exc)
            return exc.to_dict()
        return {"id": stored["id"]}

    def _ensure_broadcaster(self) -> None:
        if self._broadcaster is None or self._broadcaster.done():
            self._broadcaster = asyncio.create_task(self._broadcast())

    async def _broadcast(self) -> None:
        """Every committed event to the readers' room, for as long as the bus runs."""
        bus = self.core.bus
        while not bus.closed:
            sub = bus.subscribe(EventFilter(), include_updates=False, transport="socketio")
            try:
                while True:
                    for event in await sub.get():
                        with contextlib.suppress(Exception):  # a bad row must not stop it
                            await self.sio.emit("claude_event", claude_event(event.row),
                                                room=READERS)
            except SubscriberBehind:
                log.warning("Socket.IO broadcast fell behind; events were skipped")
            except BusClosed:
                return
            finally:
                bus.unsubscribe(sub)
