"""Dashboard API latency with a million (or ten million) stored events.

Seeds a SQLite database through the core's writer (once; reused while it exists, under
bench/results/dashboard-<N>.db), starts `router-ext serve` on it, and times every route the
page calls: `first` is the first call after the server started (cold caches), then p50 / p95
of `--runs` more, and the response size. Then headless Chromium opens each view from a cold
browser (a new context: no cache) and prints the time until the view's content is on screen.
Nothing asserts; the numbers go in the docs with the load average printed here.

    .venv/bin/python bench/bench_dashboard.py [--events 1000000] [--sessions 10000] [--runs 15]
    .venv/bin/python bench/bench_dashboard.py --events 10000000

Ten million: the million-event database (seeded through the writer first if missing) copied
ten times in SQL and counted by the migration's backfill (bench/dashboard_seed.py `replicate`);
about ten minutes once, then reused.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import load_average
from bench.dashboard_seed import replicate, seed
from tests.support import ROOT, start_server

RESULTS = ROOT / "bench" / "results"
MILLION = 1_000_000


def default_db(events: int) -> Path:
    """Where the seeded database of this size is kept (git-ignored)."""
    label = f"{events // 1_000_000}m" if events % 1_000_000 == 0 else str(events)
    return RESULTS / f"dashboard-{label}.db"


def routes(client: httpx.Client) -> list[tuple[str, str]]:
    """(name, path) pairs, including a deep sessions cursor and a real session id."""
    first = client.get("/api/ui/sessions?limit=50").json()
    sid = first["sessions"][0]["id"]
    cursor = first["next"]
    for _ in range(20):  # walk 20 pages deep
        cursor = client.get(f"/api/ui/sessions?limit=50&before={cursor}").json()["next"]
    return [
        ("overview (today, burn, 14 days)", "/api/ui/overview?days=14"),
        ("sessions page 1", "/api/ui/sessions?limit=50"),
        ("sessions page 21 (cursor)", f"/api/ui/sessions?limit=50&before={cursor}"),
        ("sessions by project + text", "/api/ui/sessions?project=/srv/router&q=label-3"),
        ("session filters (facets)", "/api/ui/session-facets"),
        ("session detail", f"/api/ui/sessions/{sid}"),
        ("session timeline (500)", f"/api/ui/sessions/{sid}/timeline?limit=500"),
        ("events newest 100", "/api/ui/events?limit=100"),
        ("search common word", "/api/ui/events?q=pytest&limit=100"),
        ("search rare word (one window)", "/api/ui/events?q=no-such-needle&limit=100"),
        ("events by session", f"/api/ui/events?session_id={sid}&limit=100"),
        ("events/min 10 min + lanes", "/api/ui/rate?minutes=10"),
        ("pending approvals", "/api/ui/approvals?state=pending"),
        ("analytics 7 days", "/api/ui/analytics?days=7"),
        ("analytics 30 days", "/api/ui/analytics?days=30"),
        ("filter options", "/api/ui/filter-options"),
        ("resume cursor", "/api/ui/cursor?session_id=" + sid),
        ("ralph loops", "/api/ui/ralph"),
        ("alerts (banner)", "/api/alerts"),
    ]


def measure(client: httpx.Client, path: str, runs: int) -> tuple[float, list[float], int]:
    """The first call's time (cold caches), then `runs` repeated calls."""
    started = time.perf_counter()
    client.get(path)
    first = (time.perf_counter() - started) * 1000
    times, size = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        r = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        r.raise_for_status()
        size = len(r.content)
    return first, times, size


PAGES = (("sessions", "tr[data-session]"), ("live", '.banner[data-state="live"]'),
         ("analytics", "section[aria-labelledby=tools-title] svg"),
         ("approvals", "#done-title"), ("ralph", "tr[data-loop]"))


def page_times(url: str) -> None:
    """Time from navigation to each view's content in headless Chromium, when it is present."""
    try:
        from playwright.sync_api import sync_playwright

        from tests.browser.conftest import ARGS, CHROMIUM
    except ImportError:
        print("(playwright not installed: page times skipped)")
        return
    if not Path(CHROMIUM).exists():
        print(f"(no browser at {CHROMIUM}: page times skipped)")
        return
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        print(f"{'view (headless Chromium)':34} {'cold ms':>8} {'warm ms':>8} {'KB sent':>8}")
        for name, selector in PAGES:
            context = browser.new_context(viewport={"width": 1440, "height": 900})
            page = context.new_page()
            sent = [0]
            page.on("response", lambda r, sent=sent: sent.__setitem__(
                0, sent[0] + int(r.headers.get("content-length") or 0)))
            times = []
            for _ in range(2):  # a cold browser (new context), then the same one again
                page.goto("about:blank")
                started = time.perf_counter()
                page.goto(f"{url}/dashboard/#/{name}")
                page.wait_for_selector(selector, timeout=60_000)
                times.append((time.perf_counter() - started) * 1000)
                if len(times) == 1:
                    cold_bytes = sent[0]
            print(f"{name:34} {times[0]:8.0f} {times[1]:8.0f} {cold_bytes / 1024:8.0f}")
            context.close()
        browser.close()


def make_db(args: argparse.Namespace) -> None:
    """Seed through the writer; above a million, copy a million-event database N times."""
    args.db.parent.mkdir(parents=True, exist_ok=True)
    if args.events > MILLION and args.events % MILLION == 0:
        source = default_db(MILLION)
        if not source.exists():
            make_db(argparse.Namespace(**{**vars(args), "events": MILLION, "db": source}))
        server = start_server(f"sqlite:///{source}")  # brings it to the current schema
        server.stop()
        result = replicate(source, args.db, args.events // MILLION)
        print(f"copied {source.name} {args.events // MILLION} times and counted "
              f"{result['counted']:,} events in {result['seconds']:.1f} s")
        return
    result = asyncio.run(seed(f"sqlite:///{args.db}", events=args.events,
                              sessions=args.sessions, days=30, progress=250))
    print(f"seeded {result['events']:,} events and {result['sessions']:,} sessions "
          f"in {result['seconds']:.1f} s")


def main() -> None:
    """Seed if needed, serve, time each route, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--db", type=Path, default=None)
    args = parser.parse_args()
    args.db = args.db or default_db(args.events)
    print(f"{load_average()} on {os.cpu_count()} CPUs")
    if not args.db.exists():
        make_db(args)
    server = start_server(f"sqlite:///{args.db}")
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            total = client.get("/health").json()["last_event_id"]
            print(f"database: {args.db} ({total:,} events, {args.db.stat().st_size / 1e6:.0f} MB)")
            print(f"{'route':34} {'first':>8} {'p50 ms':>8} {'p95 ms':>8} {'bytes':>9}")
            for name, path in routes(client):
                first, times, size = measure(client, path, args.runs)
                p95 = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]
                print(f"{name:34} {first:8.1f} {statistics.median(times):8.1f} {p95:8.1f} "
                      f"{size:9,}")
        page_times(server.url)
        print(f"load average {os.getloadavg()[0]:.2f} (1 min) at the end")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
