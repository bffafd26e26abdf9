"""What each in-transaction step of the writer costs per event, measured side by side.

The writer commits every batch with three steps inside the transaction: the dashboard's hourly
counts, the usage ledger, the sessions fold. This runs the same rows (a hook mix: tool calls,
failures, prompts, subagents) through the real writer on a throwaway SQLite database with the
full chain, without the counts, and with no step at all, interleaved over rounds, and prints
process CPU per event (the least over the rounds: other work on the machine only ever adds)
and rows/s (median) for each; the differences are the steps' costs.

    .venv/bin/python bench/bench_writer_steps.py [--rows 20000] [--batch 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from typing import Any

from bench_floors import load_average
from common import header, payload_json

# (hook type, share of events): roughly what a Claude Code session sends.
MIX = (("PreToolUse", 40), ("PostToolUse", 36), ("PostToolUseFailure", 4),
       ("UserPromptSubmit", 10), ("SubagentStart", 5), ("Stop", 5))


def rows(count: int, sessions: int = 50) -> list[dict[str, Any]]:
    """`count` rows of the hook mix over `sessions` sessions and a few hours."""
    from router_ext.ingest.normalize import build_row

    payload = json.loads(payload_json())
    kinds = [kind for kind, share in MIX for _ in range(share)]
    start = int(time.time() * 1000) - 6 * 3_600_000
    out = []
    for n in range(count):
        kind = kinds[n % len(kinds)]
        body = dict(payload, error="exit 1\nmore", agent_type="explorer")
        out.append(build_row(source_app="bench", session_id=f"s{n % sessions}",
                             hook_event_type=kind, payload=body, payload_text=json.dumps(body),
                             tool_name=("Bash", "Read", "Edit")[n % 3],
                             timestamp=start + n * 500))
    return out


def use_steps(core: Any, variant: str) -> None:
    """Leave the writer's in-transaction chain whole ("full"), without the hourly counts ("no
    counts"), or with no step at all ("no steps")."""
    step = core.writer.in_transaction
    if variant == "no counts":
        core.writer.in_transaction = step.inner
    elif variant == "no steps":
        core.writer.in_transaction = None


async def _measure(url: str, variant: str, batches: list[list[dict[str, Any]]]
                   ) -> tuple[float, float]:
    from router_ext.runtime import RouterExt
    from router_ext.settings import Settings

    core = RouterExt(Settings().with_(database_url=url))
    await core.start()
    use_steps(core, variant)
    count = sum(len(b) for b in batches)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for batch in batches:
        await core.writer.insert(batch)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    await core.stop()
    return cpu / count * 1e6, count / wall


def run(variant: str, count: int, batch: int) -> tuple[float, float]:
    """(process CPU us/event, rows/s) of the writer with the steps `variant` names."""
    made = rows(count)
    batches = [made[i:i + batch] for i in range(0, count, batch)]
    with tempfile.TemporaryDirectory(prefix="router-ext-steps-") as tmp:
        return asyncio.run(_measure(f"sqlite:///{tmp}/steps.db", variant, batches))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    header(f"writer in-transaction steps, {args.rows} hook-mix rows, {args.batch}/transaction")
    variants = ("full", "no counts", "no steps")
    seen: dict[str, list[tuple[float, float]]] = {v: [] for v in variants}
    for _ in range(args.rounds):
        for variant in variants:
            seen[variant].append(run(variant, args.rows, args.batch))
    for variant in variants:
        cpu = min(c for c, _ in seen[variant])
        rate = statistics.median(r for _, r in seen[variant])
        print(f"{variant:<10} {cpu:6.1f} us CPU/event  {rate:>9,.0f} rows/s  "
              f"({args.rounds} rounds)", flush=True)
    full, bare = (min(c for c, _ in seen[v]) for v in ("full", "no counts"))
    print(f"counts cost {full - bare:.1f} us/event ({(full - bare) / bare:+.0%} of the rest)  "
          f"{load_average()}", flush=True)


if __name__ == "__main__":
    main()
