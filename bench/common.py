"""Shared pieces of the benchmarks: a server in its own process, event builders, statistics.

Every benchmark runs `router-ext serve` as a separate process (the same way it runs in
production) and drives it from client processes, then prints its numbers. Nothing here asserts.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from router_ext.v1 import ingest_pb2, types_pb2  # noqa: E402
from router_ext_client.uid import new_uid  # noqa: E402
from tests.support import ServerProcess, start_server  # noqa: E402

PAYLOAD_BYTES = 1024


def payload_json(size: int = PAYLOAD_BYTES) -> str:
    """A realistic-looking hook payload of about `size` bytes of JSON."""
    base = {"tool_name": "Bash", "tool_input": {"command": "ls -la", "description": ""},
            "cwd": "/home/dev/project", "session_id": "bench"}
    text = json.dumps(base)
    base["tool_input"]["description"] = "x" * max(0, size - len(text))  # type: ignore[index]
    return json.dumps(base)


def bench_uid(index: int) -> str:
    """An event uid as router-ext's clients make them (time-ordered), or random (uuid4) when
    BENCH_UIDS=random, the worst case for the server's unique index."""
    if os.environ.get("BENCH_UIDS") == "random":
        return f"{uuid.uuid4().hex}-{index}"
    return new_uid()


def event(index: int, *, source_app: str = "bench", session_id: str = "bench-session",
          hook_event_type: str = "PreToolUse", payload: str | None = None) -> types_pb2.Event:
    """One ~1 KB event with a unique uid."""
    return types_pb2.Event(
        event_uid=bench_uid(index), source_app=source_app, session_id=session_id,
        hook_event_type=hook_event_type, payload_json=payload or payload_json(),
        tool_name="Bash",
    )


def batch_bytes(start: int, count: int, payload: str) -> bytes:
    """A serialized PublishBatchRequest (clients pre-encode so they spend little CPU)."""
    events = [event(start + i, payload=payload) for i in range(count)]
    return ingest_pb2.PublishBatchRequest(events=events).SerializeToString()


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MB, from /proc."""
    fields: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process (all its threads) has used, from /proc."""
    return _stat_cpu(f"/proc/{pid}/stat")


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU time each live thread of a process has used, by thread id (the main thread's id is
    the process id)."""
    out: dict[int, float] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with suppress(OSError):  # a thread that ended meanwhile
            out[int(tid)] = _stat_cpu(f"/proc/{pid}/task/{tid}/stat")
    return out


def _stat_cpu(path: str) -> float:
    with open(path) as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def bench_server(database_url: str | None = None,
                 env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    """A server process on free ports with a throwaway SQLite database unless one is given."""
    with tempfile.TemporaryDirectory(prefix="router-ext-bench-") as tmp:
        url = database_url or f"sqlite:///{tmp}/bench.db"
        server = start_server(url, env=env)
        try:
            yield server
        finally:
            server.stop()


def run_clients(fn: Any, args_per_client: Sequence[tuple[Any, ...]],
                timeout: float = 600) -> list[Any]:
    """Run fn(*args, start, results) in one spawned process per args tuple, release them at once
    (they wait on the `start` barrier when ready) and return what each put on `results`."""
    ctx = mp.get_context("spawn")
    start = ctx.Barrier(len(args_per_client) + 1)
    results = ctx.Queue()
    procs = [ctx.Process(target=fn, args=(*args, start, results)) for args in args_per_client]
    for p in procs:
        p.start()
    start.wait()
    outs = [results.get(timeout=timeout) for _ in procs]
    for p in procs:
        p.join()
    return outs


def call_in_threads(call: Any, bodies: Sequence[Any], inflight: int, start: Any,
                    stored: Any, timeout: float) -> tuple[int, float, float, list[float]]:
    """Send `bodies` through the unary `call` from `inflight` threads, released by `start`.

    Returns (events stored, start time, end time, per-call latencies); `stored(response)`
    counts what one response stored.
    """
    latencies: list[float] = []
    acked = 0
    lock = threading.Lock()

    def worker(mine: Sequence[Any]) -> None:
        nonlocal acked
        for body in mine:
            t0 = time.perf_counter()
            response = call(body, timeout=timeout)
            took = time.perf_counter() - t0
            with lock:
                latencies.append(took)
                acked += stored(response)

    threads = [threading.Thread(target=worker, args=(bodies[i::inflight],))
               for i in range(inflight)]
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return acked, began, time.perf_counter(), latencies


def load_average() -> str:
    """The load average, printed with every number (the machine may be shared)."""
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


_STARTING_CPUS = frozenset(os.sched_getaffinity(0))


def pin_apart(server_pid: int) -> str:
    """Run the server (every thread) on the first CPU and this thread, with the clients and
    the publisher it starts from now on, on the others: subscribers and viewers are programs on
    other machines, not processes sharing the server's cores. Returns how it was pinned.
    Each call pins a new server against the CPUs this process started with."""
    cpus = sorted(_STARTING_CPUS)
    if len(cpus) < 2:
        raise SystemExit("--pin needs at least two CPUs")
    for tid in os.listdir(f"/proc/{server_pid}/task"):
        os.sched_setaffinity(int(tid), {cpus[0]})
    os.sched_setaffinity(0, set(cpus[1:]))
    return f"server on CPU {cpus[0]}, clients and publisher on {cpus[1:]}"


def header(title: str) -> None:
    """A section title in the printed output."""
    print(f"\n== {title} (pid {os.getpid()}, {os.cpu_count()} CPUs) ==", flush=True)


def interpreter_floor(runs: int) -> list[float]:
    """Wall ms of `python -S -c pass`: what any hook or status line process costs at least."""
    import subprocess
    import time

    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-S", "-c", "pass"], check=False)
        times.append((time.perf_counter() - started) * 1000)
    return times
