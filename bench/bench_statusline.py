"""Wall time of `router-ext statusline` per line, process start to exit, as Claude Code pays it.

    .venv/bin/python bench/bench_statusline.py [--runs 200]

Runs the installed form (`python -S hooks/router_ext_statusline.py`, bytecode compiled as
`hooks install --statusline` leaves it) on the captured Claude Code input. Cases: the server up
with a day of usage in its ledger; the server down, numbers from a projects folder of 200
transcripts (40 of them written today) with one response appended before each line, as a live
session does; the first line on a cold cache; a server that accepts and never answers. Prints
p50/p95/p99 in ms. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import ROOT, bench_server, interpreter_floor, percentile  # type: ignore[import-not-found]

SCRIPT = ROOT / "hooks" / "router_ext_statusline.py"
CAPTURED = ROOT / "tests" / "fixtures" / "claude-code-2.1.328" / "statusline.json"
SESSION = "be0c0000-0000-4000-8000-000000000001"
DAY_MS = 86_400_000


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def response_lines(n: int, at: int, session: str) -> list[str]:
    """One streamed response as Claude Code writes it: a first line, then the complete one."""
    out = []
    for output in (1, 350):
        out.append(json.dumps({
            "type": "assistant", "sessionId": session, "timestamp": iso(at),
            "requestId": f"req_{session[-4:]}_{n}", "uuid": f"{session}-{n}-{output}",
            "message": {"id": f"msg_{session[-4:]}_{n}", "model": "claude-sonnet-4-5",
                        "content": [{"type": "text", "text": "ok"}],
                        "usage": {"input_tokens": 4, "output_tokens": output,
                                  "cache_creation_input_tokens": 800,
                                  "cache_read_input_tokens": 24000}}}))
    return out


def projects_folder(root: Path, now: int) -> Path:
    """200 transcripts of 100 responses; 40 written today, the rest last week."""
    for s in range(200):
        session = SESSION if s == 0 else f"be0c0000-0000-4000-8000-{s:012d}"
        path = root / "projects" / f"project-{s % 12}" / f"{session}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        start = now - (3_600_000 if s < 40 else 7 * DAY_MS)
        path.write_text("".join(line + "\n" for n in range(100)
                                for line in response_lines(n, start + n * 20_000, session)))
        if s >= 40:
            os.utime(path, (start / 1000, start / 1000))
    return root / "projects" / "project-0" / f"{SESSION}.jsonl"


def run_once(stdin: bytes, server: str, cache: str) -> float:
    env = {**os.environ, "ROUTER_EXT_STATUSLINE_CACHE": cache}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-S", str(SCRIPT), "--server", server], input=stdin,
                   env=env, capture_output=True, check=False)
    return (time.perf_counter() - started) * 1000


def report(name: str, times: list[float]) -> None:
    print(f"{name:<52} n={len(times):<4} p50={percentile(times, 50):6.1f} ms  "
          f"p95={percentile(times, 95):6.1f} ms  p99={percentile(times, 99):6.1f} ms",
          flush=True)


def seed_server(url: str, now: int) -> None:
    """A day of usage: 40 sessions, a Stop with usage every 5 minutes for 8 hours."""
    usage = {"model": "claude-sonnet-4-5", "models": {"claude-sonnet-4-5": {
        "input_tokens": 40, "output_tokens": 3500, "cache_read_input_tokens": 240000}}}
    with httpx.Client(base_url=url, timeout=30) as http:
        for s in range(40):
            session = f"be0c0000-0000-4000-8000-{s:012d}" if s else SESSION
            for n in range(96):
                http.post("/events", json={
                    "source_app": "bench", "session_id": session, "hook_event_type": "Stop",
                    "timestamp": now - 8 * 3_600_000 + n * 300_000,
                    "payload": {"session_id": session, "router_ext_usage": usage}}
                ).raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    for folder in ("router_ext_client", "hooks", "router_ext"):
        compileall.compile_dir(str(ROOT / folder), quiet=1)  # as `hooks install` does
    baseline = interpreter_floor(min(args.runs, 50))
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    report("python -S -c pass (interpreter floor)", baseline)
    now = int(time.time() * 1000)
    with tempfile.TemporaryDirectory() as tmp, bench_server() as server:
        transcript = projects_folder(Path(tmp), now)
        stdin = json.dumps({**json.loads(CAPTURED.read_text()), "session_id": SESSION,
                            "transcript_path": str(transcript)}).encode()
        seed_server(server.url, now)
        up = [run_once(stdin, server.url, os.path.join(tmp, "up.json")) for _ in range(args.runs)]
        report("server up (a day of usage in the ledger)", up)

        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        down_url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        closed.close()
        cold = run_once(stdin, down_url, os.path.join(tmp, "down.json"))
        print(f"server down, first line (cold cache, 40 transcripts of today read): {cold:.1f} ms")
        down = []
        for n in range(args.runs):
            with transcript.open("a") as out:
                out.writelines(line + "\n" for line in response_lines(1000 + n, now, SESSION))
            down.append(run_once(stdin, down_url, os.path.join(tmp, "down.json")))
        report("server down, local transcripts, one new response", down)

        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(4096)
        silent_url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        warm = os.path.join(tmp, "silent.json")
        shutil.copy(os.path.join(tmp, "down.json"), warm)  # the same cache, no marker yet
        first = run_once(stdin, silent_url, warm)
        quiet = [run_once(stdin, silent_url, warm) for _ in range(args.runs)]
        silent.close()
        print(f"server silent, first line (waits ROUTER_EXT_STATUSLINE_TIMEOUT): {first:.1f} ms")
        report("server silent, then skipped for 30 s", quiet)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
