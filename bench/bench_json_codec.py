"""The ingest path's JSON decoding and encoding: msgspec (with the standard library behind it
for what msgspec refuses) against the standard library alone, in one run, on real hook bodies.

Every event is decoded once at ingest (`fields.parse_json`) and a program's `POST /events`
body is encoded once more as the stored payload text (`fields.dumps`). This times both ways
over the captured hook bodies in tests/fixtures (as captured, with a null value, with
"2>/dev/null" in a string) and the ~1 KB body the throughput benchmarks send, interleaved, and
prints microseconds per call and the ratio. In process: it measures the codec, not the server.

    .venv/bin/python bench/bench_json_codec.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

from common import ROOT, header, payload_json

from router_ext.ingest import fields

HOOKS = ROOT / "tests" / "fixtures" / "documented" / "hooks"
LIMIT = 1 << 20


def standard_parse(text: str) -> Any:
    """parse_json's rules with the standard library's decoder alone (the previous code)."""
    value = fields._decode_strictly(text, "body", fields.MAX_JSON_DEPTH)
    fields.check_depth(value, "body", hint=text)
    return fields.repair(value) if fields.has_lone_surrogate(text) else value


def fast_parse(text: str) -> Any:
    return fields.parse_json(text, limit=LIMIT)


def per_call(fn: Callable[[Any], Any], items: list[Any], repeat: int) -> float:
    """Microseconds per call over every item, the least of `repeat` passes."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for item in items:
            fn(item)
        best = min(best, time.perf_counter() - start)
    return best / len(items) * 1e6


def bodies() -> dict[str, list[str]]:
    hooks = [path.read_text() for path in sorted(HOOKS.glob("*.json"))]
    # fields.dumps writes a text holding a null value again with the standard library; the
    # captured bodies hold none, real ones may. "2>/dev/null" in a string does not count.
    with_null = [json.dumps({**json.loads(text), "stderr": None}) for text in hooks]
    dev_null = [json.dumps({**json.loads(text), "command": "ls 2>/dev/null"}) for text in hooks]
    return {f"captured hook bodies ({len(hooks)})": hooks,
            "the same, each with a null value": with_null,
            "the same, each with 2>/dev/null": dev_null,
            "~1 KB bench body": [payload_json()]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    header("JSON codec on the ingest path: msgspec first, against the standard library alone")
    for name, texts in bodies().items():
        values = [json.loads(text) for text in texts]
        size = sum(len(text) for text in texts) // len(texts)
        repeat = max(20, 20_000 // len(texts))
        decode = [(per_call(standard_parse, texts, repeat), per_call(fast_parse, texts, repeat))
                  for _ in range(args.rounds)]
        encode = [(per_call(fields._DUMPS, values, repeat), per_call(fields.dumps, values, repeat))
                  for _ in range(args.rounds)]
        for what, pairs in (("decode", decode), ("encode", encode)):
            old = min(p[0] for p in pairs)
            new = min(p[1] for p in pairs)
            print(f"{name:<32} {size:>6} B avg  {what}: standard library {old:6.2f} us  "
                  f"msgspec first {new:6.2f} us  ({old / new:.1f}x)", flush=True)


if __name__ == "__main__":
    main()
