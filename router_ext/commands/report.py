"""`router-ext report daily|weekly|monthly|session|blocks`: usage in ccusage's report shapes.

From the server (ROUTER_EXT_URL) by default, or with `--transcripts DIR` straight from Claude
Code transcripts with no server. `--json` prints ccusage's field names, so scripts written for
ccusage read it unchanged.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any
from urllib.parse import urlencode

from router_ext.reports.entries import KINDS, WEEK_DAYS, Options, compact_date, resolve_tz

SERVER_TIMEOUT = 30.0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the subcommand."""
    p = sub.add_parser("report", help="usage reports (daily, weekly, monthly, session, blocks)",
                       description=(__doc__ or "").split("\n\n")[1].replace("\n", " "))
    p.add_argument("kind", choices=KINDS)
    p.add_argument("--since", help="first day, YYYYMMDD or YYYY-MM-DD")
    p.add_argument("--until", help="last day, YYYYMMDD or YYYY-MM-DD")
    p.add_argument("--project", help="only this project (its folder name)")
    p.add_argument("--json", action="store_true", help="print JSON with ccusage's field names")
    p.add_argument("--breakdown", action="store_true", help="a row per model under each row")
    p.add_argument("--transcripts", metavar="DIR",
                   help="read a Claude Code projects folder (e.g. ~/.claude/projects) instead "
                        "of asking the server")
    p.add_argument("--timezone", help="IANA zone or +HH:MM for days (default: local time)")
    p.add_argument("--order", choices=("asc", "desc"), default="asc")
    p.add_argument("--start-of-week", choices=WEEK_DAYS, default="sunday")
    p.add_argument("--session-length", type=float, default=5.0,
                   help="hours per billing block (default 5)")
    p.add_argument("--server", help="server URL (ROUTER_EXT_URL, default http://127.0.0.1:4000)")
    p.add_argument("--prices", help="price table overriding the packaged one (ROUTER_EXT_PRICES)")
    p.set_defaults(run=run)


def options(args: argparse.Namespace) -> Options:
    """The report options the arguments name; ValueError naming a bad one."""
    if args.session_length <= 0:
        raise ValueError("--session-length must be a positive number of hours")
    return Options(since=compact_date(args.since, "--since"),
                   until=compact_date(args.until, "--until"), project=args.project,
                   tz=resolve_tz(args.timezone), order=args.order,
                   start_of_week=args.start_of_week, session_hours=args.session_length)


def from_transcripts(args: argparse.Namespace, opts: Options) -> dict[str, Any]:
    """Build the report from transcript files (no server)."""
    from router_ext.reports.build import build_report
    from router_ext.reports.transcripts import read_entries
    from router_ext.sessions.pricing import PriceTable

    prices = PriceTable.load(args.prices or os.environ.get("ROUTER_EXT_PRICES", ""))
    entries, unpriced = read_entries(args.transcripts, prices, project=args.project)
    if unpriced:
        print(f"router-ext report: no price for {', '.join(sorted(unpriced))} (counted at $0; "
              "add them with ROUTER_EXT_PRICES)", file=sys.stderr)
    return build_report(args.kind, entries, opts)


def from_server(args: argparse.Namespace) -> dict[str, Any]:
    """Ask the server to build the report (it holds every host's usage)."""
    from router_ext.reports.entries import local_zone_name
    from router_ext_client.client import Client
    from router_ext_client.config import ClientConfig

    query = {"since": args.since, "until": args.until, "project": args.project,
             "timezone": args.timezone or local_zone_name(), "order": args.order,
             "start_of_week": args.start_of_week, "session_length": args.session_length}
    path = f"/api/reports/{args.kind}?" + urlencode({k: v for k, v in query.items() if v})
    client = Client(ClientConfig.from_env(url=args.server))
    return dict(client.get_json(path, timeout=SERVER_TIMEOUT))


def run(args: argparse.Namespace) -> int:
    """Print the report; exit 2 on bad options, 1 when the server cannot be asked."""
    try:
        opts = options(args)
    except ValueError as exc:
        print(f"router-ext report: {exc}", file=sys.stderr)
        return 2
    if args.transcripts:
        report = from_transcripts(args, opts)
    else:
        try:
            report = from_server(args)
        except Exception as exc:  # RetryableError, PermanentError: one line, no traceback
            print(f"router-ext report: the server did not answer ({exc}); use --transcripts "
                  "DIR to read transcripts without it", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        from router_ext.reports.render import render

        print(render(args.kind, report, breakdown=args.breakdown))
    return 0
