"""Two replicas on one PostgreSQL: ingest into one and into both, and cross-replica latency.

Starts a throwaway PostgreSQL on loopback (tests/pg_server.py) and two `router-ext serve`
processes sharing it. Three phases, each bounded by its event count:

1. POST /events (~1 KB bodies, keep-alive connections) into replica A alone;
2. the same load split over A and B at once (each 200 still means committed);
3. a paced publisher posts to A while a WS /stream client of B records when each event arrives
   (LISTEN/NOTIFY carries it across), checking none is missing or out of order.

    .venv/bin/python bench/bench_pg_replicas.py [--events 8000] [--connections 16]
        [--latency-events 2000] [--rate 200]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import time

import psycopg
from bench_http_events import _client
from bench_ws_fanout import _publish, _subscriber
from common import ROOT, cpu_seconds, header, percentile, rss_mb, run_clients

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.pg_server import postgres_server
from tests.support import ServerProcess, start_server


def ingest(servers: list[ServerProcess], events: int, connections: int) -> None:
    """POST `events` over `connections` keep-alive connections split evenly over `servers`
    (one client process per server) and print events/s, latency and server CPU per event."""
    per_server = connections // len(servers)
    per_conn = max(1, events // connections)
    cpu0 = [cpu_seconds(s.proc.pid) for s in servers]
    args = [(s.host, s.http_port, i + 10 * len(servers), per_conn, per_server)
            for i, s in enumerate(servers)]
    outs = run_clients(_client, args)
    cpu = sum(cpu_seconds(s.proc.pid) - c for s, c in zip(servers, cpu0, strict=True))
    ok, failed = sum(o[0] for o in outs), sum(o[1] for o in outs)
    elapsed = max(o[3] for o in outs) - min(o[2] for o in outs)
    lat = [x for o in outs for x in o[4]]
    names = "A+B" if len(servers) > 1 else "A"
    print(f"ingest into {names:<3}  {ok:>6} ok {failed} failed  {ok / elapsed:>7,.0f} events/s  "
          f"p50={percentile(lat, 50) * 1000:.1f} ms p99={percentile(lat, 99) * 1000:.1f} ms  "
          f"server CPU {cpu / max(ok, 1) * 1e6:.0f} us/event (replicas together)  "
          f"connections={connections}", flush=True)


def cross_replica(a: ServerProcess, b: ServerProcess, events: int, rate: float) -> None:
    """Post to A at `rate`; one WS /stream client of B times each arrival."""
    ctx = mp.get_context("spawn")
    ready = ctx.Barrier(2)
    results = ctx.Queue()
    url = f"{b.ws_url}/stream?source_app=fanout&limit=0"
    sub = ctx.Process(target=_subscriber, args=(url, events, ready, results))
    sub.start()
    ready.wait()
    time.sleep(0.5)  # the subscription is registered on B
    posts = asyncio.run(_publish(a.host, a.http_port, events, rate))
    lat, ids, closed = results.get(timeout=120)
    sub.join()
    in_order = ids == sorted(ids) and len(ids) == events
    print(f"POST to A -> WS /stream on B  {len(ids)}/{events} events at {rate:.0f}/s  "
          f"p50={percentile(lat, 50) * 1000:.2f} ms p99={percentile(lat, 99) * 1000:.2f} ms "
          f"max={max(lat) * 1000:.1f} ms  (POST on A, answered at commit: "
          f"p50={percentile(posts, 50) * 1000:.2f} ms p99={percentile(posts, 99) * 1000:.2f} ms)"
          f"  complete and in order: {in_order}  closed early: {closed or 'none'}", flush=True)


def run(events: int, connections: int, latency_events: int, rate: float) -> None:
    """PostgreSQL, two replicas, the three phases; prints the numbers."""
    with postgres_server() as url:
        a = start_server(url)
        b = start_server(url)  # after A: A has created the schema
        try:
            ingest([a], events, connections)
            ingest([a, b], events, connections)
            cross_replica(a, b, latency_events, rate)
            with psycopg.connect(url, connect_timeout=10) as conn:
                found = conn.execute("SELECT count(*), max(id) FROM events").fetchone()
            rows, top = found or (0, 0)
            rss = [rss_mb(s.proc.pid)[1] for s in (a, b)]
            print(f"rows stored: {rows} (max id {top})  "
                  f"peak RSS A={rss[0]:.0f} MB B={rss[1]:.0f} MB", flush=True)
        finally:
            b.stop()
            a.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=8000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--latency-events", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200)
    args = parser.parse_args()
    header("two replicas on one PostgreSQL, ~1 KB POST /events, 200 = committed")
    run(args.events, args.connections, args.latency_events, args.rate)


if __name__ == "__main__":
    main()
