"""gRPC ingest throughput: ~1 KB events, durable at ack, into SQLite.

Runs the server as its own process and drives it from client processes that pre-encode their
requests (so the numbers measure the server, not protobuf encoding in the client). Two modes:
PublishBatch (several batches in flight per client) and PublishStream (one ack per event).

    .venv/bin/python bench/bench_grpc_ingest.py [--events 200000] [--mode batch|stream|both]
        [--random-uids]
    .venv/bin/python bench/bench_grpc_ingest.py --mode ratio   # beside raw sqlite3 and the
        # writer alone, in one run
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import httpx
from bench_floors import load_average, sqlite_floor, writer_rate
from bench_http_wrk import writer_totals
from common import (
    batch_bytes,
    bench_server,
    call_in_threads,
    cpu_seconds,
    event,
    header,
    payload_json,
    percentile,
    rss_mb,
    run_clients,
)

BATCH_METHOD = "/router_ext.v1.IngestService/PublishBatch"
STREAM_METHOD = "/router_ext.v1.IngestService/PublishStream"


def _batch_client(target: str, index: int, batches: int, batch_size: int, inflight: int,
                  start: Any, results: Any) -> None:
    import grpc

    from router_ext.v1 import ingest_pb2

    payload = payload_json()
    requests = [batch_bytes((index * batches + b) * batch_size, batch_size, payload)
                for b in range(batches)]
    with grpc.insecure_channel(target, options=[("grpc.max_send_message_length", 64 << 20)]) as ch:
        call = ch.unary_unary(BATCH_METHOD, request_serializer=None,
                              response_deserializer=ingest_pb2.PublishBatchResponse.FromString)
        grpc.channel_ready_future(ch).result(timeout=10)
        results.put(call_in_threads(call, requests, inflight, start,
                                    lambda response: len(response.acks), timeout=60))


def _stream_client(target: str, index: int, count: int, start: Any, results: Any) -> None:
    import grpc

    from router_ext.v1 import ingest_pb2

    payload = payload_json()
    requests = [ingest_pb2.PublishRequest(event=event(index * count + i, payload=payload))
                .SerializeToString() for i in range(count)]
    with grpc.insecure_channel(target) as ch:
        call = ch.stream_stream(STREAM_METHOD, request_serializer=None,
                                response_deserializer=ingest_pb2.Ack.FromString)
        grpc.channel_ready_future(ch).result(timeout=10)
        start.wait()
        t0 = time.perf_counter()
        acked = sum(1 for ack in call(iter(requests), timeout=120) if ack.id and not ack.error)
        results.put((acked, t0, time.perf_counter(), []))


def _run(target: str, clients: int, fn: Any, args: tuple[Any, ...]) -> tuple[int, float, list]:
    outs = run_clients(fn, [(target, i, *args) for i in range(clients)], timeout=300)
    acked = sum(o[0] for o in outs)
    elapsed = max(o[2] for o in outs) - min(o[1] for o in outs)
    return acked, elapsed, [lat for o in outs for lat in o[3]]


def bench_batch(events: int, clients: int, batch_size: int, inflight: int) -> float:
    """PublishBatch from `clients` processes, `inflight` calls each; returns events/s."""
    batches = max(1, events // (clients * batch_size))
    with bench_server() as server:
        cpu0 = cpu_seconds(server.proc.pid)
        acked, elapsed, lat = _run(server.grpc_target, clients, _batch_client,
                                   (batches, batch_size, inflight))
        cpu = cpu_seconds(server.proc.pid) - cpu0
        rss, peak = rss_mb(server.proc.pid)
        stored = httpx.get(f"{server.url}/health", timeout=10).json()["last_event_id"]
        written = writer_totals([server.url])
    size = f"{written[1] / max(written[0], 1):,.0f} rows a transaction  " if written else ""
    print(f"PublishBatch  {acked:>8} events  {acked / elapsed:>9,.0f} events/s  "
          f"batch={batch_size} clients={clients} inflight={inflight}  {size}"
          f"call p50={percentile(lat, 50) * 1000:.1f} ms p99={percentile(lat, 99) * 1000:.1f} ms  "
          f"stored={stored}  server CPU={cpu / acked * 1e6:.0f} us/event  "
          f"server RSS={rss:.0f} MB (peak {peak:.0f})  {load_average()}", flush=True)
    return acked / elapsed


def bench_ratio(events: int, clients: int, batch_size: int, inflight: int) -> None:
    """PublishBatch beside raw sqlite3 inserts into the same schema, in this run, as a ratio."""
    raw = sqlite_floor(indexes=True, per_transaction=batch_size)
    print(f"raw sqlite3   {raw:>9,.0f} rows/s  executemany, {batch_size}/transaction, the "
          f"events table with its indexes, WAL + synchronous=NORMAL  {load_average()}", flush=True)
    alone, size = writer_rate(per_transaction=batch_size, in_flight=clients * inflight)
    print(f"writer alone  {alone:>9,.0f} rows/s  the same rows through router-ext's writer in "
          f"this process, {clients * inflight} batches in flight as PublishBatch has, "
          f"{size:,.0f} rows a transaction (dedup, ids, sessions fold, counts; no gRPC, no "
          f"validation)  {load_average()}", flush=True)
    ours = bench_batch(events, clients, batch_size, inflight)
    print(f"PublishBatch / raw sqlite3 = {ours / raw:.0%}  ({ours:,.0f} / {raw:,.0f}); "
          f"writer alone / raw sqlite3 = {alone / raw:.0%}; PublishBatch / writer alone = "
          f"{ours / alone:.0%}  {load_average()}", flush=True)


def bench_stream(events: int, clients: int) -> None:
    """PublishStream from `clients` processes, one ack per event."""
    with bench_server() as server:
        cpu0 = cpu_seconds(server.proc.pid)
        acked, elapsed, _ = _run(server.grpc_target, clients, _stream_client,
                                 (events // clients,))
        cpu = cpu_seconds(server.proc.pid) - cpu0
        rss, peak = rss_mb(server.proc.pid)
    print(f"PublishStream {acked:>8} events  {acked / elapsed:>9,.0f} events/s  "
          f"clients={clients}  server CPU={cpu / acked * 1e6:.0f} us/event  "
          f"server RSS={rss:.0f} MB (peak {peak:.0f})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--mode", choices=("batch", "stream", "both", "ratio"), default="both",
                        help="ratio: PublishBatch beside raw sqlite3 inserts, in one run")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--inflight", type=int, default=4)
    parser.add_argument("--random-uids", action="store_true",
                        help="uuid4 event uids (the worst case) instead of time-ordered ones")
    args = parser.parse_args()
    if args.random_uids:
        os.environ["BENCH_UIDS"] = "random"  # read by the client processes
    header("gRPC ingest, 1 KB events, SQLite, ack = committed")
    if args.mode == "ratio":
        bench_ratio(args.events, args.clients, args.batch_size, args.inflight)
    if args.mode in ("batch", "both"):
        bench_batch(args.events, args.clients, args.batch_size, args.inflight)
    if args.mode in ("stream", "both"):
        bench_stream(min(args.events, 100_000), args.clients)


if __name__ == "__main__":
    main()
