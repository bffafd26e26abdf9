"""Server memory with a million stored events.

Seeds `--events` ~1 KB events into a fresh SQLite file through the core's writer (in this
process, so seeding is quick), then starts the server on it as its own process and works it:
a Subscribe replaying the newest `--replay` stored events, ListEvents pages, filter options and
another round of gRPC ingest. Prints the server's RSS after start, during the work and its peak.

    .venv/bin/python bench/bench_rss.py [--events 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from pathlib import Path

from common import bench_server, header, payload_json, rss_mb

SEED_BATCH = 5000


async def _seed(url: str, events: int) -> float:
    from router_ext.ingest.normalize import build_row
    from router_ext.runtime import RouterExt
    from router_ext.settings import Settings

    core = RouterExt(Settings(database_url=url, write_batch_max=SEED_BATCH))
    core.writer.in_transaction = None  # raw event volume; sessions are not what is measured
    await core.start()
    payload = payload_json()
    started = time.perf_counter()
    try:
        for start in range(0, events, SEED_BATCH):
            rows = [build_row(source_app=f"app-{i % 5}", session_id=f"s-{i // 500}",
                              hook_event_type=("PreToolUse", "PostToolUse", "Stop")[i % 3],
                              payload={}, payload_text=payload, event_uid=f"seed-{i}")
                    for i in range(start, min(events, start + SEED_BATCH))]
            await core.ingest(rows, "grpc")
    finally:
        await core.stop()
    return time.perf_counter() - started


def _work(target: str, replay: int, last_id: int) -> dict[str, float]:
    import grpc

    from router_ext.v1 import ingest_pb2, query_pb2, stream_pb2, types_pb2
    from tests.grpc_helpers import stubs

    out: dict[str, float] = {}
    with grpc.insecure_channel(target) as ch:
        ingest, stream, query = stubs(ch)
        t0 = time.perf_counter()
        seen = 0
        call = stream.Subscribe(stream_pb2.SubscribeRequest(after_id=max(0, last_id - replay)))
        for message in call:
            if message.WhichOneof("kind") == "event":
                seen += 1
                if seen >= replay:
                    break
        call.cancel()
        out["replay_per_s"] = seen / (time.perf_counter() - t0)
        request = query_pb2.ListEventsRequest(limit=1000,
                                              filter=types_pb2.EventFilter(source_apps=["app-1"]))
        for _ in range(50):
            page = query.ListEvents(request, timeout=30)
            request.before_id = page.next_before_id
        query.GetFilterOptions(query_pb2.GetFilterOptionsRequest(), timeout=30)
        payload = payload_json()
        for _ in range(50):
            batch = [types_pb2.Event(event_uid=f"more-{time.time_ns()}-{i}", source_app="more",
                                     session_id="more", hook_event_type="PreToolUse",
                                     payload_json=payload) for i in range(1000)]
            ingest.PublishBatch(ingest_pb2.PublishBatchRequest(events=batch), timeout=60)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--replay", type=int, default=100_000)
    args = parser.parse_args()
    header(f"server RSS with {args.events:,} stored events")
    with tempfile.TemporaryDirectory(prefix="router-ext-rss-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'rss.db'}"
        seconds = asyncio.run(_seed(url, args.events))
        size = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 1e6
        print(f"seeded {args.events:,} events in {seconds:.1f}s through the writer "
              f"({args.events / seconds:,.0f} events/s in process), database {size:,.0f} MB",
              flush=True)
        with bench_server(url) as server:
            idle, _ = rss_mb(server.proc.pid)
            samples: list[float] = []
            stop = threading.Event()

            def sample() -> None:
                while not stop.is_set():
                    samples.append(rss_mb(server.proc.pid)[0])
                    time.sleep(0.2)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            result = _work(server.grpc_target, args.replay, args.events)
            stop.set()
            sampler.join()
            now, peak = rss_mb(server.proc.pid)
    print(f"RSS with {args.events:,} events: after start {idle:.0f} MB, during work max "
          f"{max(samples, default=0):.0f} MB, end {now:.0f} MB, peak (VmHWM) {peak:.0f} MB; "
          f"replayed {args.replay:,} events at {result['replay_per_s']:,.0f}/s", flush=True)


if __name__ == "__main__":
    main()
