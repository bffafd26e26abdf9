"""The in-memory newest pages of /events/recent answer exactly what SQL answers.

Random inserts (duplicates and HITL requests among them), HITL answers, retention deletions,
refills racing commits and restarts, each followed by the same pages read both ways.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from router_ext.ingest.normalize import build_row
from router_ext.read.recent import RecentEvents
from router_ext.records import Row, to_api_json
from router_ext.runtime import RouterExt
from router_ext.settings import Settings
from router_ext.store import retention
from router_ext.stream.bus import EventFilter

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]
APPS, SESSIONS, TYPES = ("a", "b", "c"), ("s1", "s2", "s3", "s4"), ("Pre", "Post", "Stop")
SMALL = 37  # a second, small ring, so trimming happens many times


class Harness:
    """A running core on a file, plus a small ring on the same writer."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.core = RouterExt(settings)
        self.small = RecentEvents.wired(self.core.reader, self.core.writer, SMALL, enabled=True)

    async def restart(self) -> None:
        await self.core.stop()
        self.__init__(self.settings)  # type: ignore[misc]
        await self.core.start()


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    h = Harness(Settings(database_url=f"sqlite:///{tmp_path / 'recent.db'}",
                         redact=False))
    await h.core.start()
    yield h
    await h.core.stop()


def random_row(rng: random.Random, n: int) -> Row:
    hitl = {"question": f"q{n}?", "type": "question"} if rng.random() < 0.15 else None
    return build_row(source_app=rng.choice(APPS), session_id=rng.choice(SESSIONS),
                     hook_event_type=rng.choice(TYPES),
                     payload={"n": n, "text": "é✓" * rng.randint(0, 3), "model": "m"},
                     event_uid=f"uid-{rng.randint(0, n)}" if rng.random() < 0.2 else None,
                     summary=rng.choice([None, "sum"]), human_in_the_loop=hitl,
                     extra={"k": n} if rng.random() < 0.3 else None)


def random_filter(rng: random.Random) -> EventFilter:
    pick = lambda values: rng.sample(values, rng.randint(0, 2))  # noqa: E731
    return EventFilter.of(pick(APPS), pick(SESSIONS), pick(TYPES))


async def from_memory(ring: RecentEvents, flt: EventFilter, limit: int) -> bytes | None:
    if not ring.warm:
        await ring.refill()
    return ring.page(flt, limit)


async def check_pages(h: Harness, rng: random.Random) -> int:
    """Compare random pages; returns how many were answered from memory."""
    answered = 0
    for ring in (h.core.recent, h.small):
        for _ in range(6):
            flt = EventFilter() if rng.random() < 0.4 else random_filter(rng)
            limit = rng.choice([1, 5, 20, SMALL, 300, 1000])
            page = await from_memory(ring, flt, limit)
            rows = await h.core.reader.recent(flt, limit)
            expected = ("[" + ",".join(to_api_json(r) for r in rows) + "]").encode()
            if page is not None:
                answered += 1
                assert page == expected, (flt, limit)
    return answered


async def answer_one(h: Harness, rng: random.Random) -> None:
    rows = await h.core.reader.recent(EventFilter(), 1000)
    pending = [r["id"] for r in rows if r["hitl_status"] == "pending"]
    if pending:
        await h.core.hitl.respond(rng.choice(pending), {"response": "yes", "respondedBy": "t"})


async def test_memory_pages_equal_sql_pages_after_random_changes(harness: Harness) -> None:
    rng = random.Random(16)
    n, answered = 0, 0
    for _ in range(160):
        action = rng.random()
        if action < 0.55:
            rows = [random_row(rng, n + i) for i in range(rng.randint(1, 40))]
            n += len(rows)
            await harness.core.ingest(rows, "unit")
        elif action < 0.7:
            await answer_one(harness, rng)
        elif action < 0.78:
            await harness.core.writer.run(retention.oldest(rng.randint(1, 60)))
        elif action < 0.9:  # a refill racing commits: what lands meanwhile is kept
            harness.core.recent.invalidate()
            harness.small.invalidate()
            more = [random_row(rng, n + i) for i in range(rng.randint(1, 20))]
            n += len(more)
            await asyncio.gather(harness.core.recent.refill(), harness.small.refill(),
                                 harness.core.ingest(more, "unit"))
        elif action < 0.93:
            await harness.restart()
        answered += await check_pages(harness, rng)
    assert n > 1500  # the big ring was trimmed too
    assert answered > 500  # most pages came from memory, so the comparison means something


async def test_a_disabled_ring_answers_nothing(harness: Harness) -> None:
    ring = RecentEvents(harness.core.reader, 10, enabled=False)
    await harness.core.ingest([build_row(source_app="a", session_id="s", hook_event_type="t",
                                         payload={})], "unit")
    await ring.refill()
    assert not ring.warm
    assert ring.page(EventFilter(), 5) is None


async def test_after_a_commit_the_page_holds_the_new_event_without_sql(
        harness: Harness) -> None:
    ring = harness.core.recent
    await ring.refill()
    assert ring.warm
    row = build_row(source_app="a", session_id="s", hook_event_type="t", payload={"x": 1})
    await harness.core.ingest([row], "unit")
    assert ring.warm  # an insert does not make it read SQL again
    page = ring.page(EventFilter(), 1)
    assert page == f"[{to_api_json(row)}]".encode()
