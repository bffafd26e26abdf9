"""POST /events driven by wrk, alone or in turn with a peer server, in one run.

wrk is a C load generator: at these rates it takes about a tenth of a core, so the two cores
are left to the server, unlike the Python clients of bench_http_events.py. Each round runs
`wrk -c CONNECTIONS` for SECONDS against router-ext, then against the peer when one is given,
and prints events/s, p50/p99, the server's CPU per event and how busy the whole machine was;
for router-ext also the CPU per event of its event loop's thread, of its busiest other thread
(the writer's, under this load) and of the rest, and its writer's rows and time per
transaction over the round (from /metrics).

`--independent N` adds a round against N router-ext servers at once, each with its own
database and its own wrk taking CONNECTIONS/N: nothing is shared, so their sum is the most
that splitting the work over N processes could take on this machine, before any cost of
sharing the one database, the live bus or the relay between them. Its p50 and p99 are the
worse of the N wrk runs'.

    .venv/bin/python bench/bench_http_wrk.py [--rounds 3] [--seconds 15] [--connections 32]
        [--ws-clients 10] [--independent 2] [--peer-url http://127.0.0.1:4000 --peer-pid PID]

Needs `wrk` on PATH (Debian: apt-get install wrk). The peer is any server you started that
takes the same POST /events body and, for --ws-clients, streams events on a WebSocket
/stream as JSON frames holding "type":"event" (the multi-agent observability dashboard's
server does). Every 2xx from router-ext means the event was committed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import re
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import bench_server, cpu_seconds, header, load_average, rss_mb, thread_cpu_seconds

SCRIPT = Path(__file__).with_name("post_events.lua")
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass
class Target:
    """Servers loaded together (one, or N independent ones): where they listen, their
    processes, whether they are router-ext's, and what their rounds measured."""

    name: str
    urls: list[str]
    pids: list[int | None]
    ours: bool = True
    rounds: list[dict[str, float]] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The first server's address (the one the WebSocket clients watch)."""
        return self.urls[0]

    @property
    def known_pids(self) -> list[int]:
        """The processes whose CPU can be read (a peer's pid is optional)."""
        return [pid for pid in self.pids if pid]


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot, from /proc/stat."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values[:8]) - idle, sum(values[:8])


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * UNITS[unit]


def parse_wrk(out: str) -> dict[str, float]:
    """Requests, errors, seconds and latency percentiles from `wrk --latency` output."""
    total = re.search(r"(\d+) requests in ([\d.]+)(s|m)", out)
    if total is None:
        raise RuntimeError(f"wrk printed no totals:\n{out}")
    seconds = float(total.group(2)) * (60 if total.group(3) == "m" else 1)
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    row = {"requests": int(total.group(1)), "seconds": seconds,
           "failed": int(failed.group(1)) if failed else 0,
           "socket_errors": sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
           if socket_errors else 0}
    for pct in ("50", "99"):
        found = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.MULTILINE)
        row[f"p{pct}"] = _ms(found.group(1)) if found else float("nan")
    return row


def writer_totals(urls: list[str]) -> tuple[float, float, float] | None:
    """(transactions, rows, seconds) the writer committed so far, from router-ext's /metrics;
    None when they are not there (a /metrics behind a token, a build without them)."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    names = ("harness_write_batch_rows_count", "harness_write_batch_rows_sum",
             "harness_write_duration_seconds_sum")
    totals = [0.0, 0.0, 0.0]
    for url in urls:
        text = httpx.get(f"{url}/metrics", timeout=10).text
        values = {sample.name: sample.value for family in text_string_to_metric_families(text)
                  for sample in family.samples}
        if not all(name in values for name in names):
            return None
        totals = [t + values[name] for t, name in zip(totals, names, strict=True)]
    count, rows, seconds = totals
    return count, rows, seconds


def cpu_of(target: Target) -> tuple[float, dict[tuple[int, int], float]]:
    """CPU seconds of a target's processes so far: all threads, and for router-ext each
    thread by (process, thread) id (none for a peer, whose threads mean nothing here)."""
    pids = target.known_pids
    threads = ({(pid, tid): cpu for pid in pids for tid, cpu in thread_cpu_seconds(pid).items()}
               if target.ours else {})
    return sum(cpu_seconds(pid) for pid in pids), threads


def thread_split(target: Target, before: dict[tuple[int, int], float],
                 after: dict[tuple[int, int], float]) -> tuple[float, float]:
    """(event loop, busiest other thread) CPU seconds over a round, added over the target's
    processes: the loop runs on each process's main thread, and under POST load the one other
    thread that works is the writer's."""
    loop = busiest = 0.0
    for pid in target.known_pids:
        spent = {tid: cpu - before.get((p, tid), 0.0)
                 for (p, tid), cpu in after.items() if p == pid}
        loop += spent.pop(pid, 0.0)
        busiest += max(spent.values(), default=0.0)
    return loop, busiest


def wrk(url: str, connections: int, seconds: int) -> subprocess.Popen[str]:
    """Start one wrk posting the benchmark body to url/events."""
    return subprocess.Popen(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency",
         "-s", str(SCRIPT), f"{url}/events"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_wrk(urls: list[str], connections: int, seconds: int) -> list[str]:
    """One wrk per url at once, `connections` each; their outputs. A wrk that fails or hangs
    fails the round, and none is left running."""
    runs = [wrk(url, connections, seconds) for url in urls]
    try:
        outs = [run.communicate(timeout=seconds + 60) for run in runs]
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.wait()
    failed = [err for run, (_, err) in zip(runs, outs, strict=True) if run.returncode]
    if failed:
        raise RuntimeError(f"wrk failed: {failed}")
    return [out for out, _ in outs]


def combined(rows: list[dict[str, float]]) -> dict[str, float]:
    """Rounds of several wrk run side by side as one: counts and rates added, latencies the
    worst of them."""
    out = {key: sum(r[key] for r in rows) for key in ("requests", "failed", "socket_errors")}
    out["seconds"] = max(r["seconds"] for r in rows)
    out["rate"] = sum((r["requests"] - r["failed"]) / r["seconds"] for r in rows)
    out["p50"], out["p99"] = max(r["p50"] for r in rows), max(r["p99"] for r in rows)
    return out


def load_round(target: Target, seconds: int, connections: int) -> dict[str, float]:
    """One wrk run against each of a target's servers at once (the connections divided
    between them), with the servers' and the machine's CPU around it, and for router-ext its
    writers' transactions (rows in each, time to commit each)."""
    writer0 = writer_totals(target.urls) if target.ours else None
    cpu0, threads0 = cpu_of(target)
    busy0, total0 = machine_busy()
    outs = run_wrk(target.urls, connections // len(target.urls), seconds)
    busy1, total1 = machine_busy()
    row = combined([parse_wrk(out) for out in outs])
    ok = row["requests"] - row["failed"]
    cpu1, threads1 = cpu_of(target)
    row["cpu_us"] = (cpu1 - cpu0) / max(ok, 1) * 1e6 if target.known_pids else float("nan")
    if target.ours:
        loop, busiest = thread_split(target, threads0, threads1)
        row["loop_us"], row["busiest_us"] = (loop / max(ok, 1) * 1e6,
                                             busiest / max(ok, 1) * 1e6)
    row["machine"] = 100 * os.cpu_count() * (busy1 - busy0) / max(total1 - total0, 1)  # type: ignore[operator]
    writer1 = writer_totals(target.urls) if writer0 is not None else None
    if writer0 is not None and writer1 is not None:
        count, rows, spent = (b - a for a, b in zip(writer0, writer1, strict=True))
        row["tx_rows"], row["tx_ms"] = rows / max(count, 1), spent / max(count, 1) * 1e3
    target.rounds.append(row)
    return row


def _watch(url: str, clients: int, stop: Any, results: Any) -> None:
    """`clients` WebSocket /stream clients in one process, counting event frames until stopped."""
    import websockets

    async def one(ready: asyncio.Event) -> int:
        got = 0
        async with websockets.connect(url, max_size=None) as ws:
            await ws.recv()  # the initial page
            ready.set()
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                got += raw.count('"type":"event"') if isinstance(raw, str) else 0
        return got

    async def main() -> list[int]:
        flags = [asyncio.Event() for _ in range(clients)]
        tasks = [asyncio.create_task(one(flag)) for flag in flags]
        await asyncio.wait_for(asyncio.gather(*(f.wait() for f in flags)), 60)
        results.put("ready")
        return list(await asyncio.gather(*tasks))

    results.put(asyncio.run(main()))


def attach(target: Target, clients: int) -> tuple[Any, Any, Any]:
    """Start the WebSocket clients for a target; returns (process, stop, results)."""
    ctx = mp.get_context("spawn")
    stop, results = ctx.Event(), ctx.Queue()
    ws_url = target.url.replace("http://", "ws://") + "/stream"
    proc = ctx.Process(target=_watch, args=(ws_url, clients, stop, results))
    proc.start()
    if results.get(timeout=90) != "ready":
        raise RuntimeError(f"{target.name}: WebSocket clients did not connect")
    return proc, stop, results


def _threads(row: dict[str, float]) -> str:
    """router-ext's CPU per event split by thread, or nothing for a peer."""
    if "loop_us" not in row:
        return ""
    rest = max(0.0, row["cpu_us"] - row["loop_us"] - row["busiest_us"])  # no "-0" from rounding
    return (f" (event loop {row['loop_us']:.0f}, busiest other thread "
            f"{row['busiest_us']:.0f}, rest {rest:.0f})")


def report(target: Target) -> str:
    """The median round of a target as one line."""
    rates = [r["rate"] for r in target.rounds]
    pick = sorted(target.rounds, key=lambda r: r["rate"])[len(rates) // 2]
    failed = sum(int(r["failed"] + r["socket_errors"]) for r in target.rounds)
    return (f"{target.name:<11} {statistics.median(rates):>8,.0f} events/s (rounds "
            f"{', '.join(f'{r:,.0f}' for r in rates)})  p50={pick['p50']:.1f} ms "
            f"p99={pick['p99']:.1f} ms  server CPU={pick['cpu_us']:.0f} us/event"
            f"{_threads(pick)}  "
            f"machine busy={pick['machine']:.0f}% of {os.cpu_count() * 100}%  "  # type: ignore[operator]
            f"failed={failed}")


def independent(stack: contextlib.ExitStack, count: int) -> Target:
    """`count` router-ext servers, each with its own database, loaded together."""
    servers = [stack.enter_context(bench_server()) for _ in range(count)]
    return Target(f"router-ext x{count}", [s.url for s in servers],
                  [s.proc.pid for s in servers])


def run(args: argparse.Namespace) -> None:
    """Rounds in turn against router-ext and the peer, then the medians and their ratio."""
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(bench_server())
        targets = [Target("router-ext", [server.url], [server.proc.pid])]
        if args.independent > 1:
            targets.append(independent(stack, args.independent))
        if args.peer_url:
            targets.append(Target("peer", [args.peer_url.rstrip("/")], [args.peer_pid],
                                  ours=False))
        watchers = [attach(t, args.ws_clients) for t in targets] if args.ws_clients else []
        for n in range(args.rounds):
            for target in targets:
                row = load_round(target, args.seconds, args.connections)
                print(f"round {n + 1} {target.name:<11} {row['rate']:>8,.0f} events/s  "
                      f"p50={row['p50']:.1f} ms p99={row['p99']:.1f} ms  "
                      f"CPU={row['cpu_us']:.0f} us/event{_threads(row)}  "
                      f"machine={row['machine']:.0f}%"
                      + (f"  writer: {row['tx_rows']:.1f} rows/transaction, "
                         f"{row['tx_ms']:.2f} ms each" if "tx_rows" in row else ""),
                      flush=True)
                time.sleep(2)  # let the last round's checkpoint and fan-out settle
        for target, (proc, stop, results) in zip(targets, watchers, strict=False):
            stop.set()
            counts = results.get(timeout=120)
            proc.join(30)
            sent = sum(int(r["requests"] - r["failed"]) for r in target.rounds)
            print(f"{target.name}: {len(counts)} WebSocket clients got {min(counts):,}-"
                  f"{max(counts):,} events of {sent:,} acknowledged", flush=True)
        rss, peak = rss_mb(server.proc.pid)
    for target in targets:
        print(report(target), flush=True)
    print(f"router-ext RSS {rss:.0f} MB (peak {peak:.0f})", flush=True)
    if args.peer_url:
        peer = statistics.median(r["rate"] for r in targets[-1].rounds)
        for target in targets[:-1]:
            ours = statistics.median(r["rate"] for r in target.rounds)
            print(f"{target.name} / peer = {ours / peer:.2f}x", flush=True)
    print(load_average(), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--ws-clients", type=int, default=0,
                        help="WebSocket /stream clients attached to each server (e.g. 10)")
    parser.add_argument("--independent", type=int, default=0, metavar="N",
                        help="also load N router-ext servers with nothing shared at once "
                        "(each its own database and wrk): the ceiling of a split over N "
                        "processes")
    parser.add_argument("--peer-url", help="a peer server already running, e.g. "
                        "http://127.0.0.1:4000")
    parser.add_argument("--peer-pid", type=int, help="the peer's process id, for its CPU")
    args = parser.parse_args()
    if args.independent:
        if args.independent < 2 or args.connections % args.independent:
            parser.error("--independent N takes N >= 2 dividing --connections (each server "
                         "gets an equal share)")
        if args.ws_clients:
            # The viewers would see one of the N servers while wrk's counts are all of them.
            parser.error("--independent measures POST alone; run it without --ws-clients")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not on PATH (Debian: apt-get install wrk)")
    header(f"POST /events under wrk, ~1 KB bodies, {args.connections} keep-alive connections"
           + (f", {args.ws_clients} WebSocket clients attached" if args.ws_clients else ""))
    run(args)


if __name__ == "__main__":
    main()
