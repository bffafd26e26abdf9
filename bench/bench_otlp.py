"""OTLP ingest throughput: Claude Code log records over gRPC into SQLite, beside PublishBatch.

One server process, two phases in the same run with the same clients, batch size and calls in
flight: OTLP LogsService/Export with `claude_code.api_request` records as Claude Code 2.1.328
sends them (its captured record, each one given its own sequence number and time, spread over
100 sessions so the sessions fold does its real work), then router-ext's own PublishBatch with
~1 KB events. Clients pre-encode their requests, so the numbers measure the server.

    .venv/bin/python bench/bench_otlp.py [--records 100000] [--batch-size 512] [--clients 2]
        [--inflight 4]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import httpx
from common import (
    ROOT,
    batch_bytes,
    bench_server,
    call_in_threads,
    cpu_seconds,
    header,
    payload_json,
    percentile,
    rss_mb,
    run_clients,
)

EXPORT_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
BATCH_METHOD = "/router_ext.v1.IngestService/PublishBatch"
SESSIONS = 100


def _template() -> Any:
    """The captured export, reduced to one api_request record."""
    from google.protobuf import json_format
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    export = ROOT / "tests" / "fixtures" / "claude-code-2.1.328" / "otlp-export.jsonl"
    for line in export.read_text().splitlines():
        item = json.loads(line)
        if item["kind"] == "logs":
            request = json_format.ParseDict(item["body"], ExportLogsServiceRequest())
            records = request.resource_logs[0].scope_logs[0].log_records
            keep = next(r for r in records if r.body.string_value == "claude_code.api_request")
            record = type(keep)()
            record.CopyFrom(keep)
            del records[:]
            records.append(record)
            return request
    raise SystemExit("tests/fixtures/otlp-export.jsonl has no logs")


def otlp_bodies(client: int, batches: int, batch_size: int) -> list[bytes]:
    """Serialized Export requests of `batch_size` distinct api_request records each."""
    template = _template()
    (record,) = template.resource_logs[0].scope_logs[0].log_records
    base = time.time_ns()
    bodies = []
    for b in range(batches):
        request = type(template)()
        request.CopyFrom(template)
        records = request.resource_logs[0].scope_logs[0].log_records
        del records[:]
        for i in range(batch_size):
            n = (client * batches + b) * batch_size + i
            copy = records.add()
            copy.CopyFrom(record)
            copy.time_unix_nano = copy.observed_time_unix_nano = base + n * 1000
            for kv in copy.attributes:
                if kv.key == "session.id":
                    kv.value.string_value = f"bench-session-{n % SESSIONS}"
                elif kv.key == "event.sequence":
                    kv.value.int_value = n
        bodies.append(request.SerializeToString())
    return bodies


def _client(target: str, index: int, mode: str, batches: int, batch_size: int, inflight: int,
            start: Any, results: Any) -> None:
    import grpc

    if mode == "otlp":
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
            ExportLogsServiceResponse,
        )

        bodies = otlp_bodies(index, batches, batch_size)
        method, parse = EXPORT_METHOD, ExportLogsServiceResponse.FromString

        def stored(response: Any) -> int:
            return batch_size - response.partial_success.rejected_log_records
    else:
        from router_ext.v1 import ingest_pb2

        payload = payload_json()
        bodies = [batch_bytes((index * batches + b) * batch_size, batch_size, payload)
                  for b in range(batches)]
        method, parse = BATCH_METHOD, ingest_pb2.PublishBatchResponse.FromString

        def stored(response: Any) -> int:
            return len(response.acks)

    with grpc.insecure_channel(target, options=[("grpc.max_send_message_length", 64 << 20)]) as ch:
        call = ch.unary_unary(method, request_serializer=None, response_deserializer=parse)
        grpc.channel_ready_future(ch).result(timeout=10)
        results.put(call_in_threads(call, bodies, inflight, start, stored, timeout=120))


def phase(server: Any, mode: str, records: int, clients: int, batch_size: int,
          inflight: int) -> None:
    batches = max(1, records // (clients * batch_size))
    first = httpx.get(f"{server.url}/health", timeout=10).json()["last_event_id"]
    cpu0 = cpu_seconds(server.proc.pid)
    outs = run_clients(_client, [(server.grpc_target, i, mode, batches, batch_size, inflight)
                                 for i in range(clients)], timeout=600)
    cpu = cpu_seconds(server.proc.pid) - cpu0
    acked = sum(o[0] for o in outs)
    elapsed = max(o[2] for o in outs) - min(o[1] for o in outs)
    lat = [x for o in outs for x in o[3]]
    rss, peak = rss_mb(server.proc.pid)
    stored = httpx.get(f"{server.url}/health", timeout=10).json()["last_event_id"] - first
    name = "OTLP Export " if mode == "otlp" else "PublishBatch"
    print(f"{name} {acked:>8} records  {acked / elapsed:>9,.0f} records/s  batch={batch_size} "
          f"clients={clients} inflight={inflight}  call p50={percentile(lat, 50) * 1000:.1f} ms "
          f"p99={percentile(lat, 99) * 1000:.1f} ms  stored={stored}  "
          f"server CPU={cpu / max(acked, 1) * 1e6:.0f} us/record  "
          f"server RSS={rss:.0f} MB (peak {peak:.0f})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=512,
                        help="records per call (Claude Code's log exporter sends up to 512)")
    parser.add_argument("--inflight", type=int, default=4)
    args = parser.parse_args()
    header("OTLP logs vs PublishBatch over gRPC, SQLite, ack = committed")
    size = len(otlp_bodies(0, 1, 1)[0])
    print(f"one api_request record: {size} bytes of protobuf; PublishBatch events: ~1 KB JSON "
          "payload", flush=True)
    with bench_server() as server:
        phase(server, "otlp", args.records, args.clients, args.batch_size, args.inflight)
        phase(server, "batch", args.records, args.clients, args.batch_size, args.inflight)


if __name__ == "__main__":
    main()
