"""GET /events/recent and /events/filter-options at a million stored events.

Seeds a SQLite database once (through the core's writer; reused while it exists), starts
`router-ext serve` on it and times each read on a keep-alive socket, printing p50 / p95 / p99.

    .venv/bin/python bench/bench_recent.py [--events 1000000] [--sessions 5000] [--runs 200]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import time
from pathlib import Path

from common import ROOT, header, load_average, percentile, rss_mb

from bench.dashboard_seed import seed
from tests.support import start_server

DEFAULT_DB = ROOT / "bench" / "results" / "events-1m.db"


class KeepAlive:
    """A blocking HTTP/1.1 client on one keep-alive socket with TCP_NODELAY."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.sock = socket.create_connection((host, port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def get(self, path: str) -> tuple[int, bytes]:
        """Status and body of a GET."""
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n"
                          .encode())
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.sock.recv(1 << 16)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        length = next(int(line[15:]) for line in head.split(b"\r\n")
                      if line[:15].lower() == b"content-length:")
        while len(self.buf) < length:
            self.buf += self.sock.recv(1 << 16)
        body, self.buf = self.buf[:length], self.buf[length:]
        return int(head.split(b" ", 2)[1]), body


def time_route(client: KeepAlive, path: str, runs: int) -> tuple[list[float], int]:
    """Latencies in seconds (after two warm-up calls) and the response size."""
    size = 0
    for _ in range(2):
        status, body = client.get(path)
        assert status == 200, (path, status, body[:200])
        size = len(body)
    took = []
    for _ in range(runs):
        t0 = time.perf_counter()
        client.get(path)
        took.append(time.perf_counter() - t0)
    return took, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--db", type=Path, default=DEFAULT_DB)
    args = parser.parse_args()
    url = f"sqlite:///{args.db}"
    if not args.db.exists():
        args.db.parent.mkdir(parents=True, exist_ok=True)
        print(f"seeding {args.events:,} events into {args.db} ...", flush=True)
        print(asyncio.run(seed(url, events=args.events, sessions=args.sessions)), flush=True)
    server = start_server(url)
    try:
        header(f"/events reads at {args.events:,} stored events (SQLite)")
        client = KeepAlive(server.host, server.http_port)
        _, body = client.get("/events/recent?limit=1")
        session = body.split(b'"session_id":"', 1)[1].split(b'"', 1)[0].decode()
        for name, path in [
            ("recent limit=300", "/events/recent?limit=300"),
            ("recent limit=300 offset=300", "/events/recent?limit=300&offset=300"),
            ("recent by session_id", f"/events/recent?limit=300&session_id={session}"),
            ("recent by hook_event_type", "/events/recent?limit=300&hook_event_type=Stop"),
            ("recent before_id (deep page)", "/events/recent?limit=300&before_id=500000"),
            ("filter-options", "/events/filter-options"),
            ("PAI /api/sessions", "/api/sessions?limit=100"),
        ]:
            took, size = time_route(client, path, args.runs)
            print(f"{name:<32} p50={percentile(took, 50) * 1000:6.2f} ms  "
                  f"p95={percentile(took, 95) * 1000:6.2f} ms  "
                  f"p99={percentile(took, 99) * 1000:6.2f} ms  {size / 1024:7.1f} KiB", flush=True)
        rss, peak = rss_mb(server.proc.pid)
        print(f"server RSS={rss:.0f} MB (peak {peak:.0f})  "
              f"{load_average()}", flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
