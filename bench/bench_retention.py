"""Ingest latency while retention prunes, against the same load without a prune, in one run.

1. Seed a SQLite database with --old events ten days old (PublishBatch, no retention).
2. Baseline: serve that database without retention; --clients processes each send one ~1 KB
   event per unary Publish in a closed loop for --seconds; p50/p99 of the acks.
3. Prune: serve it again with ROUTER_EXT_RETENTION_DAYS=1 and ROUTER_EXT_RETENTION_BATCH=
   --batch. The first retention run starts 5 s after the server (the load is on by then) and
   deletes every old event in batches through the writer; the acks that came back while it
   ran (from /health: when it ended and how long it took) are the "during" sample.

Prints both, the ratio, and how long the prune took.

    .venv/bin/python bench/bench_retention.py [--old 100000] [--seconds 10] [--batch 200]
        [--clients 2]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time
from typing import Any

import httpx
from common import bench_server, event, header, payload_json, percentile

from router_ext.v1 import ingest_pb2
from router_ext_client.uid import new_uid

DAY_MS = 86_400_000
PUBLISH = "/router_ext.v1.IngestService/Publish"
PRUNE_AFTER_SECONDS = 5
BATCH = "/router_ext.v1.IngestService/PublishBatch"


def _load(target: str, index: int, ready: Any, stop: Any, results: Any) -> None:
    """Publish one event at a time until told to stop; put (ack time, latency) on `results`."""
    import grpc

    payload = payload_json()
    latencies: list[float] = []
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(PUBLISH, request_serializer=None,
                                   response_deserializer=ingest_pb2.Ack.FromString)
        ready.wait(timeout=120)
        n = 0
        while not stop.is_set():
            body = ingest_pb2.PublishRequest(event=event(n, session_id=f"load-{index}",
                                                          payload=payload)).SerializeToString()
            started = time.perf_counter()
            call(body, timeout=10)
            latencies.append((time.time(), time.perf_counter() - started))
            n += 1
    results.put(latencies)


def _seed(target: str, count: int) -> None:
    import grpc

    payload, old = payload_json(), int(time.time() * 1000) - 10 * DAY_MS
    with grpc.insecure_channel(target, options=[("grpc.max_send_message_length", 64 << 20)]) \
            as channel:
        call = channel.unary_unary(BATCH, request_serializer=None,
                                   response_deserializer=ingest_pb2.PublishBatchResponse.FromString)
        for start in range(0, count, 1000):
            events = [event(i, payload=payload) for i in range(start, min(count, start + 1000))]
            for n, ev in enumerate(events):
                ev.timestamp_ms = old + start + n
                ev.event_uid = new_uid()
            call(ingest_pb2.PublishBatchRequest(events=events).SerializeToString(), timeout=120)


def _measure(url: str, env: dict[str, str], clients: int,
             until: Any) -> tuple[list[tuple[float, float]], dict[str, Any]]:
    """Run the load against a server on `url` until `until(server)` returns a dict."""
    ctx = mp.get_context("spawn")
    ready, stop, results = ctx.Barrier(clients + 1), ctx.Event(), ctx.Queue()
    with bench_server(url, env=env) as server:
        procs = [ctx.Process(target=_load, args=(server.grpc_target, i, ready, stop, results))
                 for i in range(clients)]
        for p in procs:
            p.start()
        ready.wait(timeout=120)
        started = time.monotonic()
        while not (info := until(server, time.monotonic() - started)):
            time.sleep(0.1)
        stop.set()
        latencies = [x for _ in procs for x in results.get(timeout=120)]
        for p in procs:
            p.join()
    return latencies, info


def _retention(server: Any) -> dict[str, Any]:
    return dict(httpx.get(f"{server.url}/health", timeout=10).json()["retention"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--old", type=int, default=100_000, help="events to prune")
    parser.add_argument("--seconds", type=float, default=10.0, help="baseline duration")
    parser.add_argument("--batch", type=int, default=200, help="ROUTER_EXT_RETENTION_BATCH")
    parser.add_argument("--clients", type=int, default=2, help="load processes")
    args = parser.parse_args()
    header(f"retention: ingest during a prune of {args.old} events vs none "
           f"(batch {args.batch}, {args.clients} closed-loop unary clients)")
    with tempfile.TemporaryDirectory(prefix="router-ext-bench-") as tmp:
        url = f"sqlite:///{tmp}/retention.db"
        with bench_server(url) as server:
            started = time.monotonic()
            _seed(server.grpc_target, args.old)
            print(f"seeded {args.old} old events in {time.monotonic() - started:.1f} s")
        base, _ = _measure(url, {}, args.clients,
                           lambda s, elapsed: elapsed >= args.seconds and {"done": True})
        # The first run starts one interval after the server, with the load already on.
        env = {"ROUTER_EXT_RETENTION_DAYS": "1", "ROUTER_EXT_RETENTION_BATCH": str(args.batch),
               "ROUTER_EXT_RETENTION_INTERVAL_SECONDS": str(PRUNE_AFTER_SECONDS)}
        load, state = _measure(url, env, args.clients,
                               lambda s, _: (r := _retention(s))["last_run_at"] and r)
    # Only the acks that came back while the prune ran.
    end = state["last_run_at"]
    begin = end - state["last_duration_seconds"]
    during = [latency for at, latency in load if begin <= at <= end]
    rows = [("without prune", [latency for _, latency in base]), ("during prune", during)]
    for name, values in rows:
        print(f"{name:<14} {len(values):>7} acks  p50 {percentile(values, 50) * 1000:6.2f} ms"
              f"  p99 {percentile(values, 99) * 1000:6.2f} ms")
    ratio50 = percentile(during, 50) / max(percentile(rows[0][1], 50), 1e-9)
    ratio99 = percentile(during, 99) / max(percentile(rows[0][1], 99), 1e-9)
    print(f"ratio during/without: p50 x{ratio50:.2f}  p99 x{ratio99:.2f}")
    print(f"prune: {state['last_deleted']['age']} events in {state['last_duration_seconds']} s, "
          f"{state['reclaimed_bytes_total'] / 2**20:.0f} MiB given back")


if __name__ == "__main__":
    main()
