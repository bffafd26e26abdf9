"""WS /stream fan-out: latency from POST /events to receipt at each of 10 WebSocket clients.

The server, the publisher and the subscribers run as separate processes. The publisher posts
~1 KB events at a steady rate on a keep-alive connection, stamping each with its send time;
every subscriber records when each event arrives and checks that none is missing or out of
order (a client that fell behind would be closed with the id to resume from, never skipped).

    .venv/bin/python bench/bench_ws_fanout.py [--clients 10] [--events 3000] [--rate 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import time
from typing import Any

from bench_http_events import post_request, read_response
from common import bench_server, header, payload_json, percentile, rss_mb


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


async def _publish(host: str, port: int, events: int, rate: float) -> list[float]:
    """POST `events` at `rate`; returns each POST's round trip (it answers once committed)."""
    reader, writer = await asyncio.open_connection(host, port)
    round_trips: list[float] = []
    filler = json.loads(payload_json(900))
    interval = 1.0 / rate
    next_at = time.perf_counter()
    for i in range(events):
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
          f"server RSS={rss:.0f} MB (peak {peak:.0f})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=500)
    args = parser.parse_args()
    header("WS /stream fan-out, ~1 KB events, end to end from POST to each client")
    run(args.clients, args.events, args.rate)


if __name__ == "__main__":
    main()
