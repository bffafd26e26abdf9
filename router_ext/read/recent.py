"""The newest stored events' JSON, kept in memory so `GET /events/recent` joins text.

The dashboard's first request, and every reload, asks for the newest page of events. Read from
SQL, each row is fetched, turned into a dict and encoded again (~7 ms for 300 rows at 100,000
events). Here the newest `capacity` committed rows are kept in id order, each as its answer
JSON once the first page has encoded it (the committed row until then, shared with the live
streams, which encode it once for all). A page is their JSON joined.

It holds exactly what the SQL path would answer because it sees every change to `events`:

- the writer's commit listener hands it each committed batch, new events and updates (HITL
  answers carry the whole row) in commit order;
- any other write (`Writer.run`: retention, an import, HITL ops before their update) makes it
  cold; the next request reads the newest rows from SQL and warms it again, keeping what was
  committed meanwhile;
- a restart starts cold.

Only the SQLite backend uses it: on PostgreSQL other replicas write the same table (their
updates and deletions never pass this process's writer), so every page is read from SQL there.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

from router_ext.read.reader import Reader
from router_ext.records import StoredEvent
from router_ext.store.writer import Committed, Writer
from router_ext.stream.bus import EventFilter

_ALL = EventFilter()


@dataclass(slots=True)
class _Entry:
    id: int
    source_app: str
    session_id: str
    hook_event_type: str
    body: StoredEvent | bytes  # bytes once a page has encoded it

    def matches(self, flt: EventFilter) -> bool:
        return flt.admits(self.source_app, self.session_id, self.hook_event_type)

    def json(self) -> bytes:
        body = self.body
        if isinstance(body, StoredEvent):
            body = self.body = body.json().encode()
        return body


def _entry(event: StoredEvent) -> _Entry:
    row = event.row
    return _Entry(int(row["id"]), row["source_app"], row["session_id"], row["hook_event_type"],
                  event)


class RecentEvents:
    """The newest `capacity` stored events; :meth:`page` answers from memory when it can."""

    def __init__(self, reader: Reader, capacity: int, *, enabled: bool = True) -> None:
        self.reader = reader
        self.capacity = capacity
        self.enabled = enabled
        self._entries: list[_Entry] = []
        self._ids: list[int] = []  # the entries' ids, for bisect
        self._warm = False
        # The table holds nothing older than the entries (it had fewer rows than capacity).
        self._complete = False
        self._generation = 0  # counts invalidations, so a refill that raced one is dropped
        self._buffer: list[Committed] | None = None  # commits seen while a refill reads SQL

    @classmethod
    def wired(cls, reader: Reader, writer: Writer, capacity: int, *,
              enabled: bool) -> RecentEvents:
        """One registered with the writer (commits and other writes), or a disabled one."""
        ring = cls(reader, capacity, enabled=enabled)
        if enabled:
            writer.listeners.append(ring.on_commit)
            writer.op_listeners.append(ring.invalidate)
        return ring

    @property
    def warm(self) -> bool:
        """True when pages can be answered from memory."""
        return self._warm

    # -- keeping it equal to the table ------------------------------------------------------

    def invalidate(self) -> None:
        """Something changed the table in a way not announced row by row: start over."""
        self._generation += 1
        self._warm = False
        self._entries, self._ids = [], []

    def on_commit(self, batch: Committed) -> None:
        """Apply a committed batch: new events appended, updated ones replaced."""
        if self._buffer is not None:
            self._buffer.append(batch)
        if self._warm:
            self._apply(batch)

    def _apply(self, batch: Committed) -> None:
        newest = self._ids[-1] if self._ids else 0
        for event in batch.events:
            event_id = event.id
            if event_id > newest:
                self._entries.append(_entry(event))
                self._ids.append(event_id)
                newest = event_id
                continue
            at = bisect_left(self._ids, event_id)
            if at < len(self._ids) and self._ids[at] == event_id:
                self._entries[at] = _entry(event)
            elif at == 0 and not self._complete:
                continue  # older than what is kept: not on any page answered from here
            else:  # an id inside the kept range that was never seen: trust SQL again
                self.invalidate()
                return
        extra = len(self._entries) - self.capacity
        if extra > 0:
            del self._entries[:extra]
            del self._ids[:extra]
            self._complete = False

    async def refill(self) -> None:
        """Read the newest rows from SQL and start answering from memory again."""
        if self._buffer is not None or not self.enabled:
            return  # another request is refilling
        generation = self._generation
        self._buffer = []
        try:
            rows = await self.reader.recent(_ALL, self.capacity)
        finally:
            buffered, self._buffer = self._buffer, None
        if generation != self._generation:
            return  # the table changed under the read in a way that cannot be replayed
        self._entries = [_entry(StoredEvent(row)) for row in rows]
        self._ids = [entry.id for entry in self._entries]
        self._complete = len(rows) < self.capacity
        self._warm = True
        for batch in buffered:  # committed while SQL was read: the read may or may not hold it
            self._apply(batch)

    # -- answering --------------------------------------------------------------------------

    def page(self, flt: EventFilter, limit: int) -> bytes | None:
        """The JSON array of the newest `limit` events matching `flt`, oldest first, or None
        when memory does not hold the whole answer (then SQL must)."""
        if not self._warm or limit > self.capacity:
            return None
        entries = self._entries
        if flt == _ALL:
            chosen = entries[-limit:] if limit else []
            if len(chosen) < limit and not self._complete:
                return None
        else:
            chosen = []
            for entry in reversed(entries):
                if len(chosen) >= limit:
                    break
                if entry.matches(flt):
                    chosen.append(entry)
            if len(chosen) < limit and not self._complete:
                return None
            chosen.reverse()
        return b"[" + b",".join([entry.json() for entry in chosen]) + b"]"
