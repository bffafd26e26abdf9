"""The HITL lifecycle on top of the writer: respond, deliver, time out, hold hooks open.

Every status change is a writer operation, so it is committed before anyone hears of it and is
broadcast to every stream as an update carrying the event's own id. Claiming an answer and
checking that the request is still open happen in one transaction, so two people answering at
once get one 200 and one 409.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select, update

from router_ext.hitl import answer, relay
from router_ext.ingest.fields import MAX_TIMEOUT_SECONDS
from router_ext.ingest.normalize import now_ms
from router_ext.read.hitl import pending_requests
from router_ext.records import Row, to_api
from router_ext.store.writer import EVENTS, Committed

if TYPE_CHECKING:
    from router_ext.runtime import RouterExt

log = logging.getLogger(__name__)


def _load(conn: Connection, event_id: int) -> Row | None:
    found = conn.execute(select(EVENTS).where(EVENTS.c.id == event_id)).first()
    return None if found is None else dict(found._mapping)


def _store(conn: Connection, row: Row, status: dict[str, Any]) -> Row:
    text = answer.dumps(status)
    conn.execute(update(EVENTS).where(EVENTS.c.id == row["id"]).values(
        human_in_the_loop_status=text, hitl_status=status["status"]))
    return {**row, "human_in_the_loop_status": text, "hitl_status": status["status"]}


def _finite(value: Any) -> float | None:
    """A positive finite number, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None


class HitlService:
    """One per server, wired by router_ext.runtime; answer with :meth:`respond`."""

    def __init__(self, core: RouterExt) -> None:
        self.core = core
        self.settings = core.settings
        # Held PermissionRequest hooks: event id -> future resolved with the answer or None.
        self.waiters: dict[int, asyncio.Future[dict[str, Any] | None]] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()


    # -- answering ------------------------------------------------------------------------

    async def respond(self, event_id: int, body: Any, *,
                      via: dict[str, str] | None = None) -> Row:
        """Record a person's answer, deliver it to the agent, and return the final row.

        `via` (the credential shown and the address it came from) is stored with the answer.
        """
        claimed, request, plan = await self.core.writer.run(
            lambda conn: self._claim(conn, event_id, body, via))
        self._disarm(event_id)
        given = answer.loads(claimed["human_in_the_loop_status"])
        if plan == "held":
            outcome = self._release(event_id, given["response"])
        elif plan == "relay":
            message = {**given["response"], "hookEvent": to_api(claimed),
                       "respondedAt": given["respondedAt"], "respondedBy": given["respondedBy"]}
            outcome = await relay.send(
                str(request["responseWebSocketUrl"]), message,
                allow_hosts=self.settings.hitl_relay_allow_hosts,
                connect_timeout=self.settings.hitl_relay_connect_timeout_seconds)
        else:
            return claimed
        final: Row = await self.core.writer.run(
            lambda conn: self._record(conn, event_id, outcome))
        return final

    def _claim(self, conn: Connection, event_id: int, body: Any, via: dict[str, str] | None
               ) -> tuple[tuple[Row, dict[str, Any], str], list[Row]]:
        row = _load(conn, event_id)
        request, status = answer.check_open(row, event_id)
        assert row is not None
        given, by = answer.parse_answer(body, request)
        if status.get("delivery") == "held":
            plan = "held"
        elif request.get("responseWebSocketUrl"):
            plan = "relay"
        else:
            plan = "none"
        delivery = "sending" if plan != "none" else "none"
        stored = _store(conn, row, answer.responded_status(status, given, by, now_ms(), delivery,
                                                           via))
        return (stored, request, plan), [stored]

    def _record(self, conn: Connection, event_id: int, outcome: relay.Delivery
                ) -> tuple[Row, list[Row]]:
        row = _load(conn, event_id)
        assert row is not None
        status = answer.loads(row["human_in_the_loop_status"])
        status["delivery"] = outcome.outcome
        if outcome.error:
            status["deliveryError"] = outcome.error
        stored = _store(conn, row, status)
        return stored, [stored]

    def _release(self, event_id: int, given: dict[str, Any]) -> relay.Delivery:
        waiter = self.waiters.get(event_id)
        if waiter is None or waiter.done():
            return relay.Delivery("failed", "the held hook request is no longer open")
        waiter.set_result(given)
        return relay.Delivery("delivered")

    # -- held PermissionRequest hooks -----------------------------------------------------

    async def hold(self, event_id: int, seconds: float) -> dict[str, Any] | None:
        """Wait for a person's answer to a held request; None when it timed out."""
        waiter = self.waiters.setdefault(event_id, asyncio.get_running_loop().create_future())
        try:
            # The timeout timer normally settles it; the extra second covers a lost timer.
            return await asyncio.wait_for(asyncio.shield(waiter), seconds + 1.0)
        except TimeoutError:
            await self._expire(event_id)
            return waiter.result() if waiter.done() else None
        finally:
            self.waiters.pop(event_id, None)

    # -- timeouts -------------------------------------------------------------------------

    def _deadline_ms(self, row: Row) -> int:
        # Stored rows may predate the field rules: any timeout or start that is not a usable
        # number falls back to the default, and no wait is longer than the rules allow.
        request = answer.loads(row.get("human_in_the_loop"))
        status = answer.loads(row.get("human_in_the_loop_status"))
        seconds = _finite(request.get("timeout")) or self.settings.hitl_default_timeout_seconds
        seconds = min(seconds, MAX_TIMEOUT_SECONDS)
        started = _finite(status.get("requestedAt")) or _finite(row.get("received_at"))
        return int((started or now_ms()) + seconds * 1000)

    def _arm(self, row: Row) -> None:
        event_id = int(row["id"])
        if event_id in self._timers:
            return
        delay = max(0.0, (self._deadline_ms(row) - now_ms()) / 1000)
        loop = asyncio.get_running_loop()
        self._timers[event_id] = loop.call_later(delay, self._spawn_expire, event_id)

    def _spawn_expire(self, event_id: int) -> None:
        self._timers.pop(event_id, None)
        task = asyncio.get_running_loop().create_task(self._expire(event_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _disarm(self, event_id: int) -> None:
        timer = self._timers.pop(event_id, None)
        if timer is not None:
            timer.cancel()

    async def _expire(self, event_id: int) -> None:
        try:
            timed_out = await self.core.writer.run(lambda conn: self._time_out(conn, event_id))
        except Exception:
            log.exception("timing out HITL request %s failed", event_id)
            timed_out = True  # a held hook must still get its default answer
        waiter = self.waiters.get(event_id)
        if timed_out and waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _time_out(self, conn: Connection, event_id: int) -> tuple[bool, list[Row]]:
        row = _load(conn, event_id)
        if row is None or row.get("hitl_status") != "pending":
            return False, []  # answered meanwhile
        status = answer.loads(row.get("human_in_the_loop_status"))
        default = self.settings.permission_default if status.get("delivery") == "held" else None
        return True, [_store(conn, row, answer.timeout_status(status, now_ms(), default))]

    def on_commit(self, batch: Committed) -> None:
        """Arm the timeout of every new pending request (a commit listener)."""
        for event in batch.events:
            if event.kind == "event" and event.row.get("hitl_status") == "pending":
                self._arm_or_skip(event.row)

    async def arm_stored(self) -> None:
        """At start: arm the timeouts of the requests still pending in the database."""
        for row in await self.core.reader.call(pending_requests, self.core.reader.engine):
            self._arm_or_skip(row)

    def _arm_or_skip(self, row: Row) -> None:
        # A stored request the server cannot use is logged and left alone: it must never
        # stop the server from starting, nor the other requests from timing out.
        try:
            self._arm(row)
        except Exception:
            log.exception("cannot arm the timeout of HITL request %s; skipped", row.get("id"))

    async def stop(self) -> None:
        """Cancel timers and release held hooks (they answer with the default)."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for waiter in self.waiters.values():
            if not waiter.done():
                waiter.set_result(None)

