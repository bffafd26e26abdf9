"""POST /events throughput and latency: ~1 KB bodies over 32 keep-alive connections.

The server runs as its own process; clients are separate processes speaking plain HTTP/1.1 on
raw keep-alive sockets (so the numbers measure the server, not an HTTP client library). Every
200 means the event is committed. Prints events/s and per-request p50 / p99.

    .venv/bin/python bench/bench_http_events.py [--events 40000] [--connections 32] [--procs 2]
        [--ws-clients 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import time
from typing import Any

import httpx
from common import (
    bench_server,
    bench_uid,
    cpu_seconds,
    header,
    load_average,
    payload_json,
    percentile,
    rss_mb,
    run_clients,
)


def post_request(host: str, port: int, path: str, body: bytes) -> bytes:
    """A keep-alive HTTP/1.1 POST, pre-encoded."""
    return (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one Content-Length response."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return status, await reader.readexactly(length)


def events_body(index: int, payload: dict[str, Any]) -> bytes:
    """One /events body of about 1 KB."""
    return json.dumps({"source_app": "bench", "session_id": f"s{index % 50}",
                       "hook_event_type": "PreToolUse", "event_uid": bench_uid(index),
                       "payload": payload}).encode()


async def _connection(host: str, port: int, bodies: list[bytes], latencies: list[float],
                      errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)  # TCP_NODELAY is asyncio's default
    for body in bodies:
        t0 = time.perf_counter()
        writer.write(post_request(host, port, "/events", body))
        status, _ = await read_response(reader)
        latencies.append(time.perf_counter() - t0)
        if status != 200:
            errors.append(status)
    writer.close()


def _client(host: str, port: int, index: int, per_conn: int, conns: int, start: Any,
            results: Any) -> None:
    payload = json.loads(payload_json(900))
    work = [[events_body(index * 1_000_000 + c * per_conn + i, payload) for i in range(per_conn)]
            for c in range(conns)]
    latencies: list[float] = []
    errors: list[int] = []

    async def main() -> tuple[float, float]:
        start.wait()
        t0 = time.perf_counter()
        await asyncio.gather(*(_connection(host, port, w, latencies, errors) for w in work))
        return t0, time.perf_counter()

    t0, t1 = asyncio.run(main())
    results.put((len(latencies) - len(errors), len(errors), t0, t1, latencies))


def drive(host: str, port: int, events: int, connections: int,
          procs: int) -> tuple[int, int, float, list[float]]:
    """POST ~1 KB /events bodies from `procs` client processes over `connections` keep-alive
    connections; returns (ok, failed, elapsed seconds, latencies)."""
    per_proc = connections // procs
    per_conn = max(1, events // connections)
    outs = run_clients(_client, [(host, port, i, per_conn, per_proc) for i in range(procs)])
    elapsed = max(o[3] for o in outs) - min(o[2] for o in outs)
    return (sum(o[0] for o in outs), sum(o[1] for o in outs), elapsed,
            [x for o in outs for x in o[4]])


def _watchers(url: str, clients: int, expected: int, ready: Any, done: Any,
              results: Any) -> None:
    """`clients` WebSocket /stream clients in one process; each counts the events it gets."""
    import websockets

    async def one() -> tuple[int, int]:
        got, closed = 0, 0
        async with websockets.connect(url, max_size=None) as ws:
            await ws.recv()  # the initial page
            ready.release()
            while got < expected:
                try:
                    raw = await asyncio.wait_for(ws.recv(), 30)
                except (websockets.ConnectionClosed, TimeoutError) as exc:
                    closed = getattr(getattr(exc, "rcvd", None), "code", -1)
                    break
                got += raw.count('"type":"event"') if isinstance(raw, str) else 0
        return got, closed

    async def main() -> list[tuple[int, int]]:
        return list(await asyncio.gather(*(one() for _ in range(clients))))

    results.put(asyncio.run(main()))
    done.set()


def run(events: int, connections: int, procs: int, ws_clients: int = 0) -> None:
    """Drive one server (with `ws_clients` WebSocket clients attached) and print the numbers."""
    with bench_server() as server:
        watchers = None
        if ws_clients:
            ctx = mp.get_context("spawn")
            ready, done, results = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
            expected = (events // connections) * connections
            watchers = ctx.Process(target=_watchers, args=(
                f"{server.ws_url}/stream?limit=1", ws_clients, expected, ready, done, results))
            watchers.start()
            for _ in range(ws_clients):
                ready.acquire(timeout=60)
        cpu0 = cpu_seconds(server.proc.pid)
        ok, failed, elapsed, lat = drive(server.host, server.http_port, events, connections,
                                         procs)
        cpu = cpu_seconds(server.proc.pid) - cpu0
        if watchers is not None:
            counts = results.get(timeout=120)
            watchers.join()
            complete = sum(1 for got, _ in counts if got >= ok)
            print(f"WebSocket clients: {ws_clients}, {complete} got all {ok} events; "
                  f"delivered {sum(g for g, _ in counts):,} of {ok * ws_clients:,}, "
                  f"lost {sum(max(0, ok - g) for g, _ in counts):,}; closed codes "
                  f"{sorted({c for _, c in counts if c})}", flush=True)
        rss, peak = rss_mb(server.proc.pid)
        stored = httpx.get(f"{server.url}/health", timeout=10).json()["last_event_id"]
    print(f"POST /events  {ok:>7} ok {failed} failed  {ok / elapsed:>8,.0f} events/s  "
          f"connections={connections} client procs={procs}  "
          f"p50={percentile(lat, 50) * 1000:.1f} ms p99={percentile(lat, 99) * 1000:.1f} ms  "
          f"stored={stored}  server CPU={cpu / max(ok, 1) * 1e6:.0f} us/event  "
          f"server RSS={rss:.0f} MB (peak {peak:.0f})  "
          f"{load_average()}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--ws-clients", type=int, default=0,
                        help="WebSocket /stream clients attached while posting (e.g. 10)")
    args = parser.parse_args()
    header("POST /events, ~1 KB bodies, keep-alive, SQLite, 200 = committed"
           + (f", {args.ws_clients} WebSocket clients attached" if args.ws_clients else ""))
    run(args.events, args.connections, args.procs, args.ws_clients)


if __name__ == "__main__":
    main()
