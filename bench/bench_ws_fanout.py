"""WS /stream fan-out: latency from POST /events to receipt at each WebSocket client.

The server, the publisher and the subscribers run as separate processes. The publisher posts
~1 KB events at a steady rate on a keep-alive connection, stamping each with its send time;
every subscriber records when each event arrives and checks that none is missing or out of
order (a client that fell behind would be closed with the id to resume from, never skipped).

Two rounds by default: 10 stock clients (one process each, one event per frame, as the
well-known dashboard reads) at 500 events/s from one keep-alive connection, then a wall of 1,000
clients asking for batched frames (`batch=1`) at 100 events/s, spread over a few processes that
read frames cheaply (wall_client.py: searches in the bytes for each event's id and send time)
so the clients are not what is measured. The wall's publisher keeps its schedule over several
connections whether or not earlier POSTs were answered. The clients offer permessage-deflate as
browsers do; on loopback the server does not compress (ROUTER_EXT_WS_COMPRESSION=auto), set
ROUTER_EXT_WS_COMPRESSION=on to measure compressed frames.

    .venv/bin/python bench/bench_ws_fanout.py [--clients 10] [--events 3000] [--rate 500]
        [--wall-clients 1000] [--wall-rate 100] [--wall-events 1500] [--wall-processes 4]
        [--round stock|wall|both] [--pin]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import time
from array import array
from collections import Counter
from typing import Any

from bench_http_events import post_request, read_response
from common import (
    bench_server,
    cpu_seconds,
    header,
    load_average,
    payload_json,
    percentile,
    pin_apart,
    rss_mb,
)
from wall_client import WallClient


def _subscriber(url: str, events: int, ready: Any, results: Any) -> None:
    import websockets

    async def main() -> tuple[list[float], list[int], int]:
        latencies: list[float] = []
        ids: list[int] = []
        closed = 0
        async with websockets.connect(url, max_size=None) as ws:
            await ws.recv()  # the initial page
            ready.wait()
            while len(ids) < events:
                try:
                    raw = await asyncio.wait_for(ws.recv(), 30)
                except websockets.ConnectionClosed as exc:
                    closed = exc.rcvd.code if exc.rcvd else -1
                    break
                now = time.time()
                msg = json.loads(raw)
                if msg["type"] != "event":
                    continue
                ids.append(msg["data"]["id"])
                latencies.append(now - msg["data"]["payload"]["sent_at"])
        return latencies, ids, closed

    results.put(asyncio.run(main()))


QUIET_SECONDS = 10.0
# The wall's publisher keeps its schedule over this many connections, as many sessions would.
PUBLISHERS = 8
# The wall publishes for at most this long, so a saturated server still ends the run in time.
PUBLISH_DEADLINE = 60.0
def _wall(url: str, clients: int, events: int, ready: Any, results: Any) -> None:
    """`clients` batched WebSocket subscribers in one process; each reads until it has
    `events` events or the stream is quiet for QUIET_SECONDS (the publisher stopped early).
    Puts (latencies, [(events received in id order or -1 if out of order, closed code)])."""
    host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)

    async def main() -> tuple[bytes, list[tuple[int, int | str]]]:
        loop = asyncio.get_running_loop()
        lat = array("d")
        subscribers: list[WallClient] = []
        for _ in range(clients):  # connect a few at a time, as a wall of browsers would
            client = WallClient(url, events, lat, asyncio.Event())
            try:
                await loop.create_connection(lambda c=client: c, host, int(port))  # type: ignore[misc]
            except OSError as exc:
                client.finish(f"{type(exc).__name__} connecting")
            subscribers.append(client)
            await asyncio.sleep(0.002)
        for client in subscribers:
            await asyncio.wait_for(client.connected.wait(), 60)
        await loop.run_in_executor(None, ready.wait)
        go = time.monotonic()
        while not all(c.done.done() for c in subscribers):
            await asyncio.sleep(0.5)
            for c in subscribers:  # the publisher stopped early: quiet streams end here
                if time.monotonic() - max(c.last_data, go) > QUIET_SECONDS:
                    c.finish(0)
        return lat.tobytes(), [c.done.result() for c in subscribers]

    results.put(asyncio.run(main()))


async def _publish(host: str, port: int, events: int, rate: float,
                   deadline: float | None = None) -> list[float]:
    """POST `events` at `rate` (stopping after `deadline` seconds if given); returns each
    POST's round trip (it answers once committed)."""
    reader, writer = await asyncio.open_connection(host, port)
    round_trips: list[float] = []
    filler = json.loads(payload_json(900))
    interval = 1.0 / rate
    next_at = started = time.perf_counter()
    for i in range(events):
        if deadline is not None and time.perf_counter() - started > deadline:
            break
        body = json.dumps({"source_app": "fanout", "session_id": "bench",
                           "hook_event_type": "PreToolUse",
                           "payload": {**filler, "sent_at": time.time(), "n": i}}).encode()
        sent = time.perf_counter()
        writer.write(post_request(host, port, "/events", body))
        await read_response(reader)
        round_trips.append(time.perf_counter() - sent)
        next_at += interval
        delay = next_at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    writer.close()
    return round_trips


async def _publish_paced(host: str, port: int, events: int, rate: float, connections: int,
                         deadline: float) -> list[float]:
    """POST `events` on a fixed schedule of `rate` per second over `connections` keep-alive
    connections, whether or not earlier POSTs have been answered: what many sessions sending at
    once look like. Each event is stamped with its scheduled time, so time spent waiting for a
    free connection counts in its latency. Returns each POST's time from schedule to answer."""
    filler = json.loads(payload_json(900))
    due: asyncio.Queue[tuple[int, float, float] | None] = asyncio.Queue()
    round_trips: list[float] = []

    async def sender() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        while (item := await due.get()) is not None:
            i, stamp, scheduled = item
            body = json.dumps({"source_app": "fanout", "session_id": f"bench-{i % 8}",
                               "hook_event_type": "PreToolUse",
                               "payload": {**filler, "sent_at": stamp, "n": i}}).encode()
            writer.write(post_request(host, port, "/events", body))
            await read_response(reader)
            round_trips.append(time.perf_counter() - scheduled)
        writer.close()

    senders = [asyncio.create_task(sender()) for _ in range(connections)]
    started = time.perf_counter()
    for i in range(events):
        scheduled = started + i / rate
        if scheduled - started > deadline:
            break
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        due.put_nowait((i, time.time() - (time.perf_counter() - scheduled), scheduled))
    for _ in senders:
        due.put_nowait(None)
    await asyncio.gather(*senders)
    return round_trips


def run(clients: int, events: int, rate: float) -> None:
    """One server, `clients` subscribers, one paced publisher; prints the numbers."""
    with bench_server() as server:
        ctx = mp.get_context("spawn")
        ready = ctx.Barrier(clients + 1)
        results = ctx.Queue()
        url = f"{server.ws_url}/stream?source_app=fanout&limit=0"
        subs = [ctx.Process(target=_subscriber, args=(url, events, ready, results))
                for _ in range(clients)]
        for s in subs:
            s.start()
        ready.wait()
        time.sleep(0.2)
        t0 = time.perf_counter()
        posts = asyncio.run(_publish(server.host, server.http_port, events, rate))
        outs = [results.get(timeout=120) for _ in subs]
        elapsed = time.perf_counter() - t0
        for s in subs:
            s.join()
        rss, peak = rss_mb(server.proc.pid)
    lat = [x for o in outs for x in o[0]]
    complete = sum(1 for o in outs if o[1] == sorted(o[1]) and len(o[1]) == events)
    closed = [o[2] for o in outs if o[2]]
    print(f"WS fan-out  {clients} clients x {events} events at {rate:.0f}/s "
          f"({elapsed:.1f} s)  POST->receive p50={percentile(lat, 50) * 1000:.2f} ms "
          f"p99={percentile(lat, 99) * 1000:.2f} ms max={max(lat) * 1000:.1f} ms "
          f"(the POST itself, answered at commit: p50={percentile(posts, 50) * 1000:.2f} ms "
          f"p99={percentile(posts, 99) * 1000:.2f} ms)  "
          f"complete and in order: {complete}/{clients}  closed early: {closed or 'none'}  "
          f"server RSS={rss:.0f} MB (peak {peak:.0f})  {load_average()}", flush=True)


def run_wall(clients: int, events: int, rate: float, processes: int, pin: bool) -> None:
    """One server, `clients` batched subscribers over `processes` processes, one publisher."""
    limits = {"ROUTER_EXT_MAX_STREAMS": str(clients + 16),
              "ROUTER_EXT_MAX_CONNECTIONS": str(clients + 64)}
    with bench_server(env=limits) as server:
        pinned = pin_apart(server.proc.pid) if pin else "unpinned"
        ctx = mp.get_context("spawn")
        ready = ctx.Barrier(processes + 1)
        results = ctx.Queue()
        url = f"{server.ws_url}/stream?source_app=fanout&limit=0&batch=1"
        per = [clients // processes + (1 if i < clients % processes else 0)
               for i in range(processes)]
        subs = [ctx.Process(target=_wall, args=(url, n, events, ready, results)) for n in per]
        for s in subs:
            s.start()
        ready.wait(timeout=300)
        time.sleep(0.5)
        cpu, t0 = cpu_seconds(server.proc.pid), time.perf_counter()
        client_cpu, own = sum(cpu_seconds(s.pid) for s in subs if s.pid), time.process_time()
        posts = asyncio.run(_publish_paced(server.host, server.http_port, events, rate,
                                           PUBLISHERS, PUBLISH_DEADLINE))
        cpu, publishing = cpu_seconds(server.proc.pid) - cpu, time.perf_counter() - t0
        # The clients share the two cores with the server: what they took says how much of
        # the machine the server could have had.
        client_cpu = sum(cpu_seconds(s.pid) for s in subs if s.pid) - client_cpu
        own = time.process_time() - own
        outs = [results.get(timeout=300) for _ in subs]
        elapsed = time.perf_counter() - t0
        for s in subs:
            s.join()
        rss, peak = rss_mb(server.proc.pid)
    lat = [x for o in outs for x in array("d", o[0])]
    complete = sum(1 for o in outs for n, _ in o[1] if n == len(posts))
    closed = Counter(c for o in outs for _, c in o[1] if c)
    print(f"WS wall   {clients} clients (batch=1 frames) x {len(posts)} of {events} events "
          f"at {rate:.0f}/s "
          f"({elapsed:.1f} s): delivered {len(lat)}/{clients * len(posts)}  "
          f"complete and in order: {complete}/{clients}  closed early (code: clients): "
          f"{dict(closed) or 'none'}  POST->receive p50={percentile(lat, 50) * 1000:.2f} ms "
          f"p99={percentile(lat, 99) * 1000:.2f} ms max={max(lat, default=0) * 1000:.1f} ms "
          f"(the POST itself: p99={percentile(posts, 99) * 1000:.2f} ms; published "
          f"{len(posts) / publishing:.0f} events/s)  server CPU "
          f"{cpu / publishing * 100:.0f}% of a core (client processes "
          f"{client_cpu / publishing * 100:.0f}%, publisher {own / publishing * 100:.0f}%, of "
          f"{os.cpu_count()} cores), RSS={rss:.0f} MB (peak {peak:.0f})  "
          f"{load_average()}  ({pinned})", flush=True)


def _more_files() -> None:
    """A thousand sockets need more descriptors than the usual soft limit of 1,024 (the
    server process inherits the raised limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--wall-clients", type=int, default=1000)
    parser.add_argument("--wall-events", type=int, default=1500)
    parser.add_argument("--wall-rate", type=float, default=100)
    parser.add_argument("--wall-processes", type=int, default=4)
    parser.add_argument("--round", choices=("stock", "wall", "both"), default="both")
    parser.add_argument("--pin", action="store_true",
                        help="wall: the server on CPU 0, clients and publisher on the others")
    args = parser.parse_args()
    header("WS /stream fan-out, ~1 KB events, end to end from POST to each client")
    if args.round in ("stock", "both"):
        run(args.clients, args.events, args.rate)
    if args.round in ("wall", "both"):
        _more_files()
        run_wall(args.wall_clients, args.wall_events, args.wall_rate, args.wall_processes,
                 args.pin)


if __name__ == "__main__":
    main()
