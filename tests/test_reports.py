"""`router-ext report`: exact on the documented transcript, equal to ccusage where ccusage is
right (responses written as single lines), and the same from the server as from transcripts."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.reports_support import (
    Response,
    ccusage_report,
    router_ext_report,
    write_transcripts,
)
from tests.support import FIXTURES, ROOT, ServerProcess

DOCUMENTED = FIXTURES / "documented"
EXPECTED = json.loads((DOCUMENTED / "transcript.expected.json").read_text())
KINDS = ("daily", "weekly", "monthly", "session", "blocks")

# Single-line responses over two months: several projects, sessions and models, a day and a
# week boundary, a month boundary, blocks that end by time and by a silence (a gap block).
SINGLE_LINE = [
    Response("alpha", "s-a1", "2026-03-01T09:15:00.000Z", "claude-sonnet-4-5", 1200, 300, 5000,
             20000),
    Response("alpha", "s-a1", "2026-03-01T09:40:10.500Z", "claude-haiku-4-5-20251001", 800, 120,
             0, 9000),
    Response("alpha", "s-a1", "2026-03-01T13:59:00.000Z", "claude-sonnet-4-5", 1500, 420, 0,
             25000),
    Response("beta", "s-b1", "2026-03-01T14:20:00.000Z", "claude-opus-4-6", 600, 900, 3000,
             10000),
    Response("beta", "s-b1", "2026-03-02T02:10:00.000Z", "claude-opus-4-6", 700, 100, 0, 13000),
    Response("alpha", "s-a2", "2026-03-07T23:59:30.000Z", "claude-sonnet-4-5", 300, 50, 1000,
             4000),
    Response("alpha", "s-a2", "2026-03-08T00:00:30.000Z", "claude-sonnet-4-5", 310, 60, 0, 5000),
    Response("gamma", "s-g1", "2026-03-31T22:00:00.000Z", "claude-opus-4-1", 900, 200, 2000,
             7000),
    Response("gamma", "s-g1", "2026-04-01T01:00:00.000Z", "claude-haiku-4-5-20251001", 400, 80,
             0, 3000),
    Response("beta", "s-b2", "2026-04-01T01:30:00.000Z", "claude-sonnet-4-5", 1000, 250, 0,
             8000),
]


def assert_same(ours: Any, theirs: Any, where: str = "") -> None:
    """Equal field for field; money to a relative 1e-9 (sums in another float order)."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), where
        assert set(ours) == set(theirs), f"{where}: {set(ours) ^ set(theirs)}"
        for key in theirs:
            assert_same(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), where
        for n, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_same(a, b, f"{where}[{n}]")
    elif isinstance(theirs, float) and not float(theirs).is_integer():
        assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12), where
    else:
        assert ours == theirs, where


@pytest.fixture(scope="module")
def single_line(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Claude config folder holding the single-line transcripts."""
    root = tmp_path_factory.mktemp("claude")
    write_transcripts(root, SINGLE_LINE)
    return root


@pytest.fixture(scope="module")
def documented(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Claude config folder holding the documented transcript as Claude Code lays it out."""
    root = tmp_path_factory.mktemp("documented")
    folder = root / "projects" / "-workspace-polyjuiced"
    folder.mkdir(parents=True)
    shutil.copy(DOCUMENTED / "transcript.jsonl", folder / f"{EXPECTED['session_id']}.jsonl")
    return root


def test_every_number_of_the_documented_transcript_is_right(documented: Path) -> None:
    truth = EXPECTED["main_loop_tokens_correct"]["claude-opus-4-6"]
    for kind in ("daily", "weekly", "monthly", "session"):
        report = router_ext_report(kind, documented)
        (row,) = report[{"session": "sessions"}.get(kind, kind)]
        for ours, theirs in (("inputTokens", "input_tokens"), ("outputTokens", "output_tokens"),
                             ("cacheCreationTokens", "cache_creation_input_tokens"),
                             ("cacheReadTokens", "cache_read_input_tokens")):
            assert row[ours] == truth[theirs] == report["totals"][ours], (kind, ours)
            assert row["modelBreakdowns"][0][ours] == truth[theirs]
        assert row["totalCost"] == pytest.approx(EXPECTED["main_loop_cost_usd_1h_cache_writes"],
                                                 abs=1e-9)
        assert row["totalTokens"] == sum(truth.values())
        assert row["modelsUsed"] == ["claude-opus-4-6"]
    session = router_ext_report("session", documented)["sessions"][0]
    assert session["sessionId"] == EXPECTED["session_id"]
    assert session["projectPath"] == "-workspace-polyjuiced"
    assert router_ext_report("daily", documented)["daily"][0]["date"] == \
        EXPECTED["first_timestamp"][:10]
    (block,) = router_ext_report("blocks", documented)["blocks"]
    assert block["entries"] == EXPECTED["unique_api_responses"]
    assert block["startTime"] == "2026-08-20T14:00:00.000Z"
    assert block["actualEndTime"] == EXPECTED["last_timestamp"]


def test_ccusage_gets_the_documented_transcript_wrong_in_two_ways(documented: Path) -> None:
    """The disagreement docs/reports.md explains: ccusage keeps the first streamed line of each
    response and prices 1-hour cache writes as 5-minute ones."""
    theirs = ccusage_report("daily", documented)["daily"][0]
    first_lines = EXPECTED["main_loop_tokens_if_first_line_kept_WRONG"]["claude-opus-4-6"]
    assert theirs["outputTokens"] == first_lines["output_tokens"] == 231
    price = EXPECTED["prices_usd_per_mtok"]["claude-opus-4-6"]
    as_5m = (first_lines["input_tokens"] * price["input"]
             + first_lines["output_tokens"] * price["output"]
             + first_lines["cache_creation_input_tokens"] * price["cache_write_5m"]
             + first_lines["cache_read_input_tokens"] * price["cache_read"]) / 1e6
    assert theirs["totalCost"] == pytest.approx(as_5m, rel=1e-9)
    assert round(theirs["totalCost"], 4) == 0.2004
    ours = router_ext_report("daily", documented)["daily"][0]
    assert (ours["outputTokens"], round(ours["totalCost"], 4)) == (1738, 0.3078)


@pytest.mark.parametrize("kind", ["daily", "weekly", "monthly", "blocks"])
def test_json_equals_ccusage_field_for_field_on_single_line_responses(
        single_line: Path, kind: str) -> None:
    assert_same(router_ext_report(kind, single_line), ccusage_report(kind, single_line), kind)


def test_filters_and_order_equal_ccusage(single_line: Path) -> None:
    for args in (("--since", "20260302", "--until", "20260331"), ("--order", "desc"),
                 ("--since", "20260308")):
        for kind in ("daily", "monthly", "weekly", "blocks"):
            assert_same(router_ext_report(kind, single_line, *args),
                        ccusage_report(kind, single_line, *args), f"{kind} {args}")
    # ccusage takes only YYYYMMDD; router-ext also YYYY-MM-DD.
    assert router_ext_report("daily", single_line, "--since", "2026-03-08") == \
        router_ext_report("daily", single_line, "--since", "20260308")
    assert_same(router_ext_report("weekly", single_line, "--start-of-week", "monday"),
                ccusage_report("weekly", single_line, "--start-of-week", "monday"), "monday")
    # With --project ccusage names the project on each day.
    assert_same(router_ext_report("daily", single_line, "--project", "alpha"),
                ccusage_report("daily", single_line, "--project", "alpha"), "project")


def test_session_report_is_per_session_where_ccusage_is_per_project_folder(
        single_line: Path) -> None:
    """ccusage 18.0.11 takes the folder above a transcript as its session id, which for Claude
    Code's projects/<project>/<session>.jsonl is the project: its rows are projects. Summed by
    project, the numbers are the same."""
    ours = router_ext_report("session", single_line)
    theirs = ccusage_report("session", single_line)
    assert sorted(r["sessionId"] for r in ours["sessions"]) == sorted(
        {r.session for r in SINGLE_LINE})
    assert {r["projectPath"] for r in theirs["sessions"]} == {"Unknown Project"}
    by_project: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(float))
    for row in ours["sessions"]:
        for key in ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens",
                    "totalTokens", "totalCost"):
            by_project[row["projectPath"]][key] += row[key]
    for row in theirs["sessions"]:
        for key, value in by_project[row["sessionId"]].items():
            assert row[key] == pytest.approx(value, rel=1e-9), (row["sessionId"], key)
    assert_same(ours["totals"], theirs["totals"], "totals")


def test_the_server_reports_what_the_transcripts_say(server: ServerProcess,
                                                     single_line: Path) -> None:
    """Imported into a real server, the usage ledger gives the same reports (models may be
    listed in time order rather than file order)."""
    imported = subprocess.run([sys.executable, "-m", "router_ext.cli", "import",
                               str(single_line / "projects"), "--url", server.url],
                              capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert imported.returncode == 0, imported.stderr
    for kind in KINDS:
        proc = subprocess.run([sys.executable, "-m", "router_ext.cli", "report", kind, "--json",
                               "--server", server.url, "--timezone", "UTC"],
                              capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr
        assert_same(_unordered(json.loads(proc.stdout)),
                    _unordered(router_ext_report(kind, single_line)), kind)


def _unordered(report: Any) -> Any:
    if isinstance(report, dict):
        return {k: sorted(v, key=lambda b: b["modelName"]) if k == "modelBreakdowns"
                else sorted(v) if k in ("modelsUsed", "models") else _unordered(v)
                for k, v in report.items()}
    if isinstance(report, list):
        return [_unordered(x) for x in report]
    return report


def test_bad_options_and_a_missing_server_are_one_line_errors(tmp_path: Path) -> None:
    bad = subprocess.run([sys.executable, "-m", "router_ext.cli", "report", "daily", "--since",
                          "March", "--transcripts", str(tmp_path)], capture_output=True,
                         text=True, timeout=60, cwd=ROOT)
    assert bad.returncode == 2 and "--since must be a date" in bad.stderr
    down = subprocess.run([sys.executable, "-m", "router_ext.cli", "report", "daily", "--server",
                           "http://127.0.0.1:9"], capture_output=True, text=True, timeout=60,
                          cwd=ROOT)
    assert down.returncode == 1 and "--transcripts" in down.stderr
    assert "Traceback" not in down.stderr


def test_report_routes_refuse_bad_queries(server: ServerProcess) -> None:
    for path, field in (("/api/reports/yearly", "kind"), ("/api/reports/daily?order=up", "order"),
                        ("/api/reports/daily?since=yesterday", None),
                        ("/api/reports/daily?timezone=Mars/Base", None),
                        ("/api/statusline?tz_offset_min=99999", "tz_offset_min")):
        r = httpx.get(server.url + path, timeout=10)
        assert r.status_code == 400, path
        assert r.json()["error"] == "invalid"
        if field:
            assert r.json()["field"] == field
    assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200


def test_a_ralph_task_and_the_session_it_ran_count_once(fresh_server: ServerProcess) -> None:
    """Hooks report the session's usage first; the task then reports the run's totals and
    adopts the session: the ledger moves the usage, so every report counts it once."""
    child, loop = "c0ffee00-0000-4000-8000-000000000001", "loop-ledger"
    usage = {"model": "claude-sonnet-4-5", "models": {"claude-sonnet-4-5": {
        "input_tokens": 1000, "output_tokens": 100}}}
    with httpx.Client(base_url=fresh_server.url, timeout=10) as http:
        for name, extra in (("SessionStart", {}), ("Stop", {"router_ext_usage": usage})):
            assert http.post("/events", json={
                "source_app": "ledger", "session_id": child, "hook_event_type": name,
                "payload": {"session_id": child, "cwd": "/w/ledger", **extra}}).status_code == 200
        before = http.get("/api/reports/session").json()
        assert [r["sessionId"] for r in before["sessions"]] == [child]
        assert http.post("/metrics/harness", json={
            "source": "ralph", "event": "task_completed", "session_id": loop, "label": "l",
            "task_id": "t1", "claude_session_id": child, "model": "claude-sonnet-4-5",
            "success": True, "tokens": {"input": 1200, "output": 150}}).status_code in (200, 201)
        after = http.get("/api/reports/session").json()
        daily = http.get("/api/reports/daily").json()
    assert [r["sessionId"] for r in after["sessions"]] == [f"ralph:{loop}:t1"]
    assert after["totals"]["inputTokens"] == daily["totals"]["inputTokens"] == 1200
    assert after["totals"]["outputTokens"] == 150
    assert after["totals"]["totalCost"] == pytest.approx((1200 * 3 + 150 * 15) / 1e6)
