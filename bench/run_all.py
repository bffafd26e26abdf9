"""Run every bench/bench_*.py in turn and print everything they print.

    .venv/bin/python bench/run_all.py [--only NAME ...]

Each benchmark runs in its own interpreter (a crash in one does not hide the others' numbers)
with a time limit; the summary at the end lists how each one ended.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIMIT_SECONDS = 600


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", default=[],
                        help="run only benchmarks whose file name contains one of these")
    args = parser.parse_args()
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if any(word in s.name for word in args.only)]
    summary: list[str] = []
    for script in scripts:
        print(f"\n### {script.name}", flush=True)
        started = time.monotonic()
        try:
            code = subprocess.run([sys.executable, str(script)], cwd=HERE.parent,
                                  timeout=LIMIT_SECONDS).returncode
            outcome = "ok" if code == 0 else f"exit {code}"
        except subprocess.TimeoutExpired:
            outcome = f"timed out after {LIMIT_SECONDS}s"
        summary.append(f"{script.name:<36} {outcome:<24} {time.monotonic() - started:6.1f}s")
    print("\n### summary", *summary, sep="\n", flush=True)
    return 0 if all(" ok " in line for line in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
