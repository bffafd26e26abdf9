"""Cost of the harness views: /metrics scrape, /metrics/harness/stats and /api/metrics.

Seeds a server with hook sessions (every event folded into harness_sessions, usage on Stop)
and Ralph tasks, printing the ingest rate with the fold, then times each read endpoint.

    .venv/bin/python bench/bench_metrics_scrape.py [--sessions 500] [--tasks 2000] [--reads 50]
"""

from __future__ import annotations

import argparse
import time
import uuid

import httpx
from common import bench_server, header, percentile

HOOKS = ("SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "PreToolUse",
         "PostToolUse", "Stop", "SessionEnd")
USAGE = {"model": "claude-sonnet-4-5", "models": {"claude-sonnet-4-5": {
    "input_tokens": 1200, "output_tokens": 80, "cache_read_input_tokens": 9000,
    "cache_creation_input_tokens": 300}}}


def seed_sessions(http: httpx.Client, sessions: int) -> tuple[int, float]:
    """Hook sessions over POST /events; returns (events, seconds)."""
    started = time.perf_counter()
    count = 0
    for _ in range(sessions):
        session = uuid.uuid4().hex
        for name in HOOKS:
            payload = {"session_id": session, "hook_event_name": name, "cwd": "/w/shop",
                       "tool_name": "Bash", "duration_ms": 120}
            if name == "Stop":
                payload["router_ext_usage"] = USAGE
            http.post("/events", json={"source_app": "bench", "session_id": session,
                                       "hook_event_type": name, "payload": payload})
            count += 1
    return count, time.perf_counter() - started


def seed_tasks(http: httpx.Client, tasks: int) -> tuple[int, float]:
    """Ralph task pairs over POST /metrics/harness in batches of 500."""
    started = time.perf_counter()
    bodies = []
    for n in range(tasks):
        common = {"source": "ralph", "label": f"loop-{n % 5}", "task_id": f"t{n}",
                  "project": f"p{n % 7}"}
        bodies.append({**common, "event": "task_started"})
        bodies.append({**common, "event": "task_completed" if n % 4 else "task_failed",
                       "duration_ms": 60_000, "success": bool(n % 4), "error": None if n % 4
                       else f"error kind {n % 3}", "model": "claude-sonnet-4-5",
                       "input_tokens": 5000, "output_tokens": 900, "cost_usd": 0.03})
    for start in range(0, len(bodies), 500):
        http.post("/metrics/harness", json=bodies[start:start + 500]).raise_for_status()
    return len(bodies), time.perf_counter() - started


def time_reads(http: httpx.Client, path: str, reads: int) -> list[float]:
    """Latencies in ms of `reads` sequential GETs."""
    out = []
    for _ in range(reads):
        started = time.perf_counter()
        http.get(path).raise_for_status()
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    """Seed, read, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--reads", type=int, default=50)
    args = parser.parse_args()
    header("harness metrics views")
    with bench_server() as server, httpx.Client(base_url=server.url, timeout=60) as http:
        events, seconds = seed_sessions(http, args.sessions)
        print(f"hook events with fold, 1 connection: {events / seconds:,.0f} events/s "
              f"({events} events, {args.sessions} sessions)")
        metrics, seconds = seed_tasks(http, args.tasks)
        print(f"/metrics/harness batches of 500: {metrics / seconds:,.0f} metrics/s "
              f"({args.tasks} tasks)")
        for path in ("/metrics", "/metrics/harness/stats", "/api/metrics"):
            times = time_reads(http, path, args.reads)
            print(f"GET {path:<24} p50 {percentile(times, 50):6.1f} ms  "
                  f"p99 {percentile(times, 99):6.1f} ms")


if __name__ == "__main__":
    main()
