"""Wall time of the command hook per event, process start to exit, as Claude Code pays it.

    .venv/bin/python bench/bench_hook_latency.py [--runs 200]

Cases: server up (PreToolUse); the same with a secret in the command (redacted by the hook);
Stop with a 5 MB transcript (first read, then the usual incremental read after one more
response); server down (closed port), also with a secret; server that accepts and never answers.
Prints p50/p95/p99 in ms per case, and checks that down/silent events were spooled. Nothing
here asserts.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, bench_server, interpreter_floor, percentile  # type: ignore[import-not-found]

HOOK = ROOT / "hooks" / "router_ext_hook.py"
TRANSCRIPT = ROOT / "tests" / "fixtures" / "claude-code-2.1.328" / "transcript.jsonl"


SECRET_COMMAND = "GITHUB_TOKEN=ghp_" + "x1Y2" * 9 + " gh pr list"


def event(name: str, session: str, command: str = "ls -la", **extra: object) -> bytes:
    body = {"session_id": session, "hook_event_name": name, "cwd": "/home/dev/project",
            "transcript_path": "/nonexistent.jsonl", "tool_name": "Bash",
            "tool_input": {"command": command, "description": "list"},
            "tool_use_id": "toolu_bench", **extra}
    return json.dumps(body).encode()


CPU: dict[str, list[float]] = {}


def run_once(stdin: bytes, server: str, spool: str, case: str = "") -> float:
    """Wall ms of one hook process; its CPU ms (user+sys) are kept under `case`."""
    env = {**os.environ, "ROUTER_EXT_SPOOL_DIR": spool}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-S", str(HOOK), "--source-app", "bench", "--server",
                    server], input=stdin, env=env, capture_output=True, check=False)
    wall = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    CPU.setdefault(case, []).append(cpu)
    return wall


def report(name: str, times: list[float], case: str = "") -> None:
    cpu = CPU.get(case, [])
    print(f"{name:<44} n={len(times):<4} p50={percentile(times, 50):7.1f} ms  "
          f"p95={percentile(times, 95):7.1f} ms  p99={percentile(times, 99):7.1f} ms"
          + (f"  cpu p50={percentile(cpu, 50):5.1f} ms" if case else ""), flush=True)


def big_transcript(path: Path, size: int) -> None:
    """About `size` bytes of real transcript lines, each response with its own id."""
    lines = TRANSCRIPT.read_text().splitlines()
    with path.open("w") as out:
        n = 0
        while out.tell() < size:
            for line in lines:
                out.write(line.replace('"msg_', f'"msg_{n}_') + "\n")
            n += 1


def assistant_line(n: int) -> str:
    for line in TRANSCRIPT.read_text().splitlines():
        if '"type":"assistant"' in line:
            return line.replace('"msg_', f'"msg_new{n}_')
    raise SystemExit("no assistant line in the fixture")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    for folder in ("harness", "hooks"):
        compileall.compile_dir(str(ROOT / folder), quiet=1)  # as `hooks install` does
    baseline = interpreter_floor(min(args.runs, 50))
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    report("python -S -c pass (interpreter floor)", baseline)
    with tempfile.TemporaryDirectory() as tmp, bench_server() as server:
        spool = os.path.join(tmp, "spool")
        up = [run_once(event("PreToolUse", "bench-up"), server.url, spool, "up")
              for _ in range(args.runs)]
        report("server up, PreToolUse", up, "up")
        secret = [run_once(event("PreToolUse", "bench-up", SECRET_COMMAND), server.url, spool,
                           "up-secret") for _ in range(args.runs)]
        report("server up, PreToolUse with a token in it", secret, "up-secret")

        transcript = Path(tmp) / "big.jsonl"
        big_transcript(transcript, 5 * 1024 * 1024)
        stop = event("Stop", "bench-stop", transcript_path=str(transcript))
        os.environ["ROUTER_EXT_HOOK_DETACH"] = "0"  # the first read, timed in the foreground
        first = run_once(stop, server.url, spool)
        os.environ.pop("ROUTER_EXT_HOOK_DETACH")
        steady = []
        for n in range(min(args.runs, 100)):
            with transcript.open("a") as f:
                f.write(assistant_line(n) + "\n")
            steady.append(run_once(stop, server.url, spool, "stop"))
        print(f"Stop, 5 MB transcript, first read: {first:.1f} ms "
              f"({transcript.stat().st_size / 1e6:.1f} MB)")
        report("Stop, 5 MB transcript (hook exit; read detached)", steady, "stop")

        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        down_url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        closed.close()
        down_spool = os.path.join(tmp, "down")
        down = [run_once(event("PreToolUse", "bench-down"), down_url, down_spool, "down")
                for _ in range(args.runs)]
        report("server down (refused), spooled", down, "down")
        down_secret = [run_once(event("PreToolUse", "bench-down", SECRET_COMMAND), down_url,
                                down_spool, "down-secret") for _ in range(args.runs)]
        report("server down, with a token in it, spooled", down_secret, "down-secret")

        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(4096)
        silent_spool = os.path.join(tmp, "silent")
        quiet = [run_once(event("PreToolUse", "bench-silent"),
                          f"http://127.0.0.1:{silent.getsockname()[1]}", silent_spool, "silent")
                 for _ in range(args.runs)]
        silent.close()
        report("server accepts, never answers, spooled", quiet, "silent")
        from router_ext_client.spool import Spool

        for name, folder in (("down", down_spool), ("silent", silent_spool)):
            print(f"spooled ({name}): {Spool(folder).status()['pending']}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
