"""What a writer transaction costs when the event loop's thread is busy at the same time.

The writer commits on a thread of its own. sqlite3 lets go of the interpreter lock around each
statement step and must take it back after; when another thread is running Python, each
retake waits for that thread to offer the lock (every switch interval). So a transaction that
overlaps busy Python on the loop takes several times longer than alone. This is why the writer
commits while the loop waits for it instead of beside it (`docs/scaling.md`).

This runs the real writer (every in-transaction step, or none) on a throwaway SQLite database
with the hook mix of `bench_writer_steps.py` over 50 sessions, alone and beside one thread
spinning in Python, at several switch intervals, and prints the median time per transaction
and the statements each ran. The time is the caller's, as the event loop sees it: the hand-offs
to the writer thread and back are in it, and beside the spinner the loop's own thread also
waits for the lock to take the result, which a server's loop, idle while it waits, does less.

    .venv/bin/python bench/bench_writer_convoy.py [--batch 16 1000] [--rows 16000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import threading
import time
from typing import Any

from bench_writer_steps import rows, use_steps
from common import header, load_average

from router_ext.serve import SWITCH_INTERVAL_SECONDS

# Python's default, the server's own, and two shorter ones.
SWITCH_INTERVALS = (0.005, SWITCH_INTERVAL_SECONDS, 0.0002, 0.00005)


class Spinner:
    """A thread running Python without pause, as the event loop does under load."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)

    def _spin(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1

    def __enter__(self) -> Spinner:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def _transactions(url: str, variant: str, batches: list[list[dict[str, Any]]],
                        busy: bool) -> tuple[float, float]:
    """(median ms per transaction, statements per transaction) over `batches`."""
    from router_ext.runtime import RouterExt
    from router_ext.settings import Settings

    core = RouterExt(Settings().with_(database_url=url))
    await core.start()
    use_steps(core, variant)
    writer = core.writer
    writer.checkpoint_seconds = 0.0  # the WAL copy is not part of a transaction
    writer.gather_seconds = 0.0  # nor the pause for more rows before a small batch
    await writer.insert(batches[0])  # the writer's connection exists from here
    statements: list[str] = []
    if not busy:  # sqlite3 calls the trace callback under the lock: counted alone only
        driver = writer._conn.connection.driver_connection  # type: ignore[union-attr]
        assert driver is not None  # the insert above opened it
        await asyncio.get_running_loop().run_in_executor(
            writer._thread, driver.set_trace_callback, statements.append)
    times = []
    with Spinner() if busy else contextlib.nullcontext():
        for batch in batches[1:]:
            started = time.perf_counter()
            await writer.insert(batch)
            times.append(time.perf_counter() - started)
    await core.stop()
    return statistics.median(times) * 1e3, len(statements) / len(times)


def measure(variant: str, batch: int, count: int, interval: float, busy: bool
            ) -> tuple[float, float]:
    """One configuration on a fresh database."""
    made = rows(max(count, 2 * batch))
    batches = [made[i:i + batch] for i in range(0, len(made), batch)]
    kept = sys.getswitchinterval()
    sys.setswitchinterval(interval)
    try:
        with tempfile.TemporaryDirectory(prefix="router-ext-convoy-") as tmp:
            return asyncio.run(_transactions(f"sqlite:///{tmp}/convoy.db", variant, batches,
                                             busy))
    finally:
        sys.setswitchinterval(kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, nargs="+", default=[16, 1000])
    parser.add_argument("--rows", type=int, default=16000, help="rows per configuration")
    args = parser.parse_args()
    header("writer transactions alone and beside a busy Python thread")
    print(f"{'steps':<9} {'rows':>5} {'switch':>8} {'alone':>9} {'beside':>9} {'ratio':>6} "
          f"{'statements':>10}")
    for batch in args.batch:
        for variant in ("full", "no steps"):
            for interval in SWITCH_INTERVALS:
                alone, statements = measure(variant, batch, args.rows, interval, busy=False)
                beside, _ = measure(variant, batch, args.rows, interval, busy=True)
                print(f"{variant:<9} {batch:>5} {interval * 1e3:>6.2f}ms {alone:>7.2f}ms "
                      f"{beside:>7.2f}ms {beside / alone:>5.1f}x {statements:>10.1f}",
                      flush=True)
    print(load_average(), flush=True)


if __name__ == "__main__":
    main()
