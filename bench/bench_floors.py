"""What the chosen stack does on this machine with none of router-ext's code, beside router-ext.

Each line pairs a floor with router-ext's number from the same run, as a ratio:

- SQLite: raw sqlite3 `executemany` of ~1 KB rows, 1,000 per transaction, into the `events`
  table with all its indexes (and with none), WAL + synchronous=NORMAL as the server runs it;
  beside it router-ext's writer committing the same rows (dedup, ids, the sessions fold).
- gRPC: a grpc.aio server whose handlers do nothing: server CPU per unary call and per streamed
  1 KB message; beside it router-ext's Publish. A Subscribe delivery is one streamed message.
- HTTP: uvicorn + Starlette answering a POST by parsing ~1 KB of JSON, 32 keep-alive
  connections; beside it router-ext's POST /events with the same client.

    .venv/bin/python bench/bench_floors.py
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from bench_http_events import drive
from common import (
    ROOT,
    bench_server,
    bench_uid,
    cpu_seconds,
    header,
    load_average,
    payload_json,
)

ROWS = 100_000
SMALL_TRANSACTION = 16
UNARY_CALLS = 5_000
STREAM_MESSAGES = 50_000


def sqlite_floor(indexes: bool, per_transaction: int = 1000) -> float:
    """Rows/s of raw sqlite3 into the events table (ROWS rows, `per_transaction` a commit)."""
    from sqlalchemy import create_engine
    from sqlalchemy.schema import CreateIndex, CreateTable

    from router_ext.records import COLUMNS
    from router_ext.store.models import Event

    engine = create_engine("sqlite://")
    table = Event.__table__  # type: ignore[attr-defined]
    ddl = [str(CreateTable(table).compile(engine))]
    if indexes:
        ddl += [str(CreateIndex(i).compile(engine)) for i in table.indexes]
    else:
        ddl[0] = ddl[0].replace(", \n\tUNIQUE (event_uid)", "")
    cols = ("id", *COLUMNS)
    sql = f"INSERT INTO events ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    payload = payload_json()
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(f"{tmp}/floor.db", isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-16384",
                       "wal_autocheckpoint=16384"):
            conn.execute(f"PRAGMA {pragma}")
        for statement in ddl:
            conn.execute(statement)
        batches = [[(n, bench_uid(n), "bench", f"s{n % 50}", "PreToolUse", payload, n, n,
                     None, None, None, None, None, None, None, None, "Bash", None, None)
                    for n in range(b, b + per_transaction)]
                   for b in range(1, ROWS + 1, per_transaction)]
        started = time.perf_counter()
        for batch in batches:
            conn.execute("BEGIN")
            conn.executemany(sql, batch)
            conn.execute("COMMIT")
        return ROWS / (time.perf_counter() - started)


def writer_rate(per_transaction: int = 1000, in_flight: int = 1) -> tuple[float, float]:
    """Rows/s of router-ext's writer alone (dedup, ids, sessions fold, counts), in this process,
    with the rows sqlite_floor inserts, `per_transaction` a batch and `in_flight` batches
    waiting at once (the writer merges waiting batches, as it does for clients' concurrent
    calls); nothing else is timed. Returns (rows/s, rows per committed transaction)."""
    from router_ext.ingest.normalize import build_row
    from router_ext.runtime import RouterExt
    from router_ext.settings import Settings

    payload = json.loads(payload_json())

    async def run(url: str) -> tuple[float, float]:
        core = RouterExt(Settings().with_(database_url=url))
        await core.start()
        batches = [[build_row(source_app="bench", session_id=f"s{n % 50}",
                              hook_event_type="PreToolUse", payload=payload,
                              payload_text=json.dumps(payload), tool_name="Bash")
                    for n in range(b, b + per_transaction)]
                   for b in range(0, ROWS, per_transaction)]
        sizes: list[int] = []
        core.writer.on_transaction = lambda rows, _seconds: sizes.append(rows)
        slots = asyncio.Semaphore(in_flight)

        async def one(batch: list[dict[str, object]]) -> None:
            async with slots:
                await core.writer.insert(batch)

        started = time.perf_counter()
        await asyncio.gather(*(one(batch) for batch in batches))
        rate = ROWS / (time.perf_counter() - started)
        await core.stop()
        return rate, sum(sizes) / max(len(sizes), 1)

    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(run(f"sqlite:///{tmp}/writer.db"))


def serve_grpc_floor() -> None:
    """A grpc.aio server with do-nothing handlers; prints its port."""
    import grpc

    message = b"x" * 1024

    async def unary(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return b""

    async def stream(request: bytes,
                     context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        for _ in range(int(request or b"0")):
            yield message

    async def main() -> None:
        server = grpc.aio.server()
        handlers = {"Unary": grpc.unary_unary_rpc_method_handler(unary),
                    "Stream": grpc.unary_stream_rpc_method_handler(stream)}
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("floor.Echo",
                                                                              handlers)])
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        print(port, flush=True)
        await server.wait_for_termination()

    asyncio.run(main())


def serve_http_floor() -> None:
    """uvicorn + Starlette with one POST route that parses the JSON body; prints its port."""
    import socket

    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    counter = iter(range(1, 1 << 62))

    async def events(request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        return JSONResponse({"id": next(counter), "source_app": body["source_app"]})

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    app = Starlette(routes=[Route("/events", events, methods=["POST"])])
    # The same loop and HTTP parser as `router-ext serve`, so the two compare like for like.
    config = uvicorn.Config(app, loop="asyncio", http="httptools", log_level="warning",
                            access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def _spawn(role: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, __file__, role], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).parent)
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def _unary_cpu(target: str, method: str, request: bytes, pid: int) -> float:
    """Server CPU microseconds per unary call, 16 calls in flight."""
    from concurrent.futures import ThreadPoolExecutor

    import grpc

    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(method)
        grpc.channel_ready_future(channel).result(timeout=10)
        call(request, timeout=10)
        before = cpu_seconds(pid)
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda _: call(request, timeout=30), range(UNARY_CALLS)))
        return (cpu_seconds(pid) - before) / UNARY_CALLS * 1e6


def _stream_cpu(target: str, pid: int) -> float:
    """Server CPU microseconds per streamed 1 KB message."""
    import grpc

    with grpc.insecure_channel(target) as channel:
        call = channel.unary_stream("/floor.Echo/Stream")
        before = cpu_seconds(pid)
        received = sum(1 for _ in call(str(STREAM_MESSAGES).encode(), timeout=120))
        return (cpu_seconds(pid) - before) / received * 1e6


def _publish_request() -> bytes:
    from router_ext.v1 import ingest_pb2, types_pb2

    event = types_pb2.Event(event_uid="", source_app="bench", session_id="bench",
                            hook_event_type="PreToolUse", payload_json=payload_json())
    return ingest_pb2.PublishRequest(event=event).SerializeToString()


def main() -> None:
    header("floors: the stack alone on this machine, beside router-ext")
    raw, bare = sqlite_floor(indexes=True), sqlite_floor(indexes=False)
    ours, _ = writer_rate()
    print(f"SQLite 1 KB rows, 1,000/transaction: raw with our indexes {raw:,.0f} rows/s, "
          f"raw without indexes {bare:,.0f} rows/s; router-ext writer {ours:,.0f} rows/s "
          f"({ours / raw:.0%} of raw)  {load_average()}", flush=True)

    floor, port = _spawn("--serve-grpc")
    try:
        target = f"127.0.0.1:{port}"
        empty_call = _unary_cpu(target, "/floor.Echo/Unary", b"x" * 1100, floor.pid)
        per_message = _stream_cpu(target, floor.pid)
    finally:
        floor.terminate()
        floor.wait()
    with bench_server() as server:
        publish = _unary_cpu(server.grpc_target, "/router_ext.v1.IngestService/Publish",
                             _publish_request(), server.proc.pid)
    print(f"gRPC server CPU: empty unary call {empty_call:.0f} us, router-ext Publish "
          f"{publish:.0f} us ({publish / empty_call:.1f}x); one streamed 1 KB message "
          f"{per_message:.0f} us, so 100 subscribers at 1,000 events/s need "
          f"{per_message * 100_000 / 1e6:.1f} CPU cores for the writes alone  {load_average()}",
          flush=True)

    floor, port = _spawn("--serve-http")
    try:
        ok, _, elapsed, _ = drive("127.0.0.1", port, 40_000, 32, 2)
        bare_http = ok / elapsed
    finally:
        floor.terminate()
        floor.wait()
    with bench_server() as server:
        ok, _, elapsed, _ = drive(server.host, server.http_port, 40_000, 32, 2)
        ours_http = ok / elapsed
    # 32 connections waiting on their commits make transactions of ~16 rows.
    small = sqlite_floor(indexes=True, per_transaction=SMALL_TRANSACTION)
    ceiling = 1 / (1 / bare_http + 1 / small)
    print(f"HTTP POST ~1 KB JSON, 32 connections: uvicorn + Starlette parsing it "
          f"{bare_http:,.0f} req/s; raw sqlite3 at {SMALL_TRANSACTION} rows/transaction "
          f"{small:,.0f} rows/s; the two added up in one process: {ceiling:,.0f}/s before any "
          f"validation, dedup or fold; router-ext POST /events {ours_http:,.0f} events/s "
          f"({ours_http / bare_http:.0%} of the bare server, {ours_http / ceiling:.0%} of both)"
          f"  {load_average()}", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    if sys.argv[1:] == ["--serve-grpc"]:
        serve_grpc_floor()
    elif sys.argv[1:] == ["--serve-http"]:
        serve_http_floor()
    else:
        main()
