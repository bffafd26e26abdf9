"""Ingest-to-Subscribe delivery latency with many live subscribers.

A publisher sends events at a fixed rate over one PublishStream (or one unary Publish call per
event with --publish unary), stamping each event with its send time; subscriber processes hold
`--subscribers` gRPC Subscribe streams between them and record, for every event they receive,
now - send time. Prints delivered/expected, how many streams came complete and in id order
(no gap, no duplicate), p50/p99/max and the load average.

By default it runs one subscriber, then 100 subscribers asking for one `event` message each,
then 100 asking for batches (`max_batch`: what queued up for a subscriber comes in one message).

    .venv/bin/python bench/bench_subscribe_latency.py [--subscribers 100] [--rate 1000]
        [--publish stream|unary|both] [--batch single|batched|both] [--pin]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing as mp
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from common import (
    bench_server,
    cpu_seconds,
    header,
    load_average,
    percentile,
    pin_apart,
    rss_mb,
)

SUBSCRIBE = "/router_ext.v1.StreamService/Subscribe"
PUBLISH = "/router_ext.v1.IngestService/Publish"
PUBLISH_STREAM = "/router_ext.v1.IngestService/PublishStream"


MAX_BATCH = 1000


def _sent_at(payload_json: str) -> float:
    """The send time stamped first in the payload, without decoding the whole payload."""
    return float(payload_json[payload_json.index(":") + 1:payload_json.index(",")])


def _subscriber(target: str, count: int, max_batch: int, ready: Any, done: Any,
                results: Any) -> None:
    import grpc

    from router_ext.v1 import stream_pb2, types_pb2

    latencies: list[float] = []
    cut_off: list[str] = []
    streams: list[list[int]] = []
    request = stream_pb2.SubscribeRequest(filter=types_pb2.EventFilter(source_apps=["lat"]),
                                          max_batch=max_batch)

    async def one(channel: grpc.aio.Channel, started: asyncio.Event) -> None:
        call = channel.unary_stream(SUBSCRIBE,
                                    request_serializer=stream_pb2.SubscribeRequest.SerializeToString,
                                    response_deserializer=stream_pb2.StreamMessage.FromString)(
            request)
        await call.wait_for_connection()
        started.set()
        ids: list[int] = []
        streams.append(ids)
        try:
            async for message in call:
                kind = message.WhichOneof("kind")
                if kind == "event":
                    events = [message.event]
                elif kind == "batch":
                    events = list(message.batch.events)
                else:
                    continue
                now = time.time()
                for event in events:
                    latencies.append(now - _sent_at(event.payload_json))
                    ids.append(event.id)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                cut_off.append(exc.code().name)

    async def main() -> None:
        async with grpc.aio.insecure_channel(target) as channel:
            flags = [asyncio.Event() for _ in range(count)]
            tasks = [asyncio.create_task(one(channel, flag)) for flag in flags]
            for flag in flags:
                await flag.wait()
            await asyncio.sleep(0.5)  # let the server register every subscription
            ready.wait()
            await asyncio.get_running_loop().run_in_executor(None, done.wait)
            await asyncio.sleep(1.0)  # the last deliveries
            for task in tasks:
                task.cancel()

    asyncio.run(main())
    in_order = sum(1 for ids in streams if all(a < b for a, b in itertools.pairwise(ids)))
    results.put((latencies, cut_off, in_order, [len(ids) for ids in streams]))


def _publisher(target: str, rate: int, seconds: float, mode: str) -> int:
    """Publish `rate` events/s for `seconds`, stamped with their send time; returns acked."""
    import grpc

    from router_ext.v1 import ingest_pb2, types_pb2

    pad = "x" * 900
    total = int(rate * seconds)

    def request(i: int) -> ingest_pb2.PublishRequest:
        event = types_pb2.Event(
            event_uid=f"lat-{time.time_ns()}-{i}", source_app="lat", session_id="lat",
            hook_event_type="PreToolUse", payload_json=json.dumps({"t": time.time(), "pad": pad}))
        return ingest_pb2.PublishRequest(event=event)

    async def paced() -> AsyncIterator[int]:
        start = time.perf_counter()
        for i in range(total):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            yield i

    async def unary(channel: grpc.aio.Channel) -> int:
        publish = channel.unary_unary(
            PUBLISH, request_serializer=ingest_pb2.PublishRequest.SerializeToString,
            response_deserializer=ingest_pb2.Ack.FromString)
        # A grpc.aio call starts when it is made; it is awaitable, not a coroutine.
        calls = [publish(request(i), timeout=30) async for i in paced()]
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        return total - sum(1 for o in outcomes if isinstance(o, BaseException))

    async def stream(channel: grpc.aio.Channel) -> int:
        call = channel.stream_stream(
            PUBLISH_STREAM, request_serializer=ingest_pb2.PublishRequest.SerializeToString,
            response_deserializer=ingest_pb2.Ack.FromString)(
            request(i) async for i in paced())
        return sum([1 async for ack in call if ack.id and not ack.error])

    async def main() -> int:
        async with grpc.aio.insecure_channel(target) as channel:
            return await (stream(channel) if mode == "stream" else unary(channel))

    return asyncio.run(main())


def run(subscribers: int, rate: int, seconds: float, processes: int, mode: str,
        max_batch: int, pin: bool = False) -> None:
    """One measurement: `subscribers` streams over `processes` client processes."""
    ctx = mp.get_context("spawn")
    with bench_server() as server:
        pinned = pin_apart(server.proc.pid) if pin else "unpinned"
        ready, done = ctx.Barrier(processes + 1), ctx.Event()
        results = ctx.Queue()
        per = [subscribers // processes + (1 if i < subscribers % processes else 0)
               for i in range(processes)]
        procs = [ctx.Process(target=_subscriber, daemon=True,
                             args=(server.grpc_target, n, max_batch, ready, done, results))
                 for n in per]
        for p in procs:
            p.start()
        try:
            ready.wait(timeout=120)
            cpu, wall = cpu_seconds(server.proc.pid), time.perf_counter()
            clients, own = sum(cpu_seconds(p.pid) for p in procs if p.pid), time.process_time()
            print(f"publishing to {subscribers} subscribers of server pid {server.proc.pid}",
                  flush=True)
            sent = _publisher(server.grpc_target, rate, seconds, mode)
            cpu, wall = cpu_seconds(server.proc.pid) - cpu, time.perf_counter() - wall
            # Where the machine's CPUs went: the server's share only means something beside
            # what the subscribers and the publisher took on the same cores.
            clients = sum(cpu_seconds(p.pid) for p in procs if p.pid) - clients
            own = time.process_time() - own
            rss, peak = rss_mb(server.proc.pid)
            load = load_average()
        finally:
            done.set()
        outs = [results.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(30)
    latencies = [x for out in outs for x in out[0]]
    cut = sum(len(out[1]) for out in outs)
    in_order = sum(out[2] for out in outs)
    complete = sum(1 for out in outs for n in out[3] if n == sent)
    expected = sent * subscribers
    shape = f"batches of <= {max_batch}" if max_batch > 1 else "one event per message"
    print(f"Subscribe x{subscribers:<4} ({shape}) at {rate} events/s ({mode} publish) for "
          f"{seconds:.0f}s: delivered {len(latencies)}/{expected}, lost "
          f"{expected - len(latencies)} (cut off: {cut}; streams complete {complete}/"
          f"{subscribers}, in id order {in_order}/{subscribers})  "
          f"p50={percentile(latencies, 50) * 1000:.2f} ms  "
          f"p99={percentile(latencies, 99) * 1000:.2f} ms  "
          f"max={max(latencies, default=0) * 1000:.1f} ms  server CPU "
          f"{cpu / wall * 100:.0f}% of a core over the {wall:.1f} s publishing took "
          f"(subscriber processes {clients / wall * 100:.0f}%, publisher "
          f"{own / wall * 100:.0f}%, of {os.cpu_count()} cores), "
          f"RSS={rss:.0f} MB (peak {peak:.0f})  "
          f"{load}  ({pinned})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--publish", choices=("stream", "unary", "both"), default="stream",
                        help="one PublishStream, or a unary Publish call per event")
    parser.add_argument("--batch", choices=("single", "batched", "both"), default="both",
                        help="subscribers asking for one event per message, for batches, or "
                             "one run of each")
    parser.add_argument("--pin", action="store_true",
                        help="the server on the first CPU, subscribers and publisher on the others")
    args = parser.parse_args()
    header("ingest-to-Subscribe delivery latency")
    shapes = {"single": (1,), "batched": (MAX_BATCH,), "both": (1, MAX_BATCH)}[args.batch]
    for mode in ("stream", "unary") if args.publish == "both" else (args.publish,):
        run(1, args.rate, args.seconds, 1, mode, shapes[0], args.pin)
        for max_batch in shapes:
            run(args.subscribers, args.rate, args.seconds, args.processes, mode, max_batch,
                args.pin)


if __name__ == "__main__":
    main()
