"""The dashboard with data from Claude Code's own telemetry only (http/json, no hooks): the
sessions view shows the run's tokens and cost, its detail shows the tool calls from the
export, and the analytics view groups usage by user and by project."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import assert_session_row, cli_tokens, open_detail, shot
from tests.e2e.claude import ClaudeRunner
from tests.e2e.test_otlp_e2e import SCENARIO, install, matches_cli, run
from tests.otlp_helpers import documented, export_http, shifted_to_now, wait_session
from tests.support import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
MODEL = "claude-sonnet-4-5"


def test_sessions_and_analytics_show_claude_codes_own_telemetry(
        page: Any, server: ServerProcess, claude: ClaudeRunner, tmp_path: Path) -> None:
    claude.scenario("otlp", SCENARIO)
    project = claude.project(tmp_path / "otlp-dash")
    install(claude, project, "--no-hooks", "--otel-protocol", "http/json",
            "--server", server.url)
    cli = run(claude, project)
    sid = cli["session_id"]
    row = wait_session(server, sid, matches_cli(cli))
    tokens = cli_tokens(cli)
    assert row["input_tokens"] + row["output_tokens"] + row["cache_read_tokens"] + \
        row["cache_creation_tokens"] == tokens
    for kind, request in documented():  # another user's session, signed in with an email
        answer = export_http(server.url, kind, shifted_to_now(kind, request), encoding="json")
        assert answer.status_code == 200

    page.goto(f"{server.url}/dashboard/#/sessions")
    line, cost = assert_session_row(page, sid, cli["total_cost_usd"], tokens)
    assert "otlp-dash" in line.inner_text()
    other = page.locator('tr[data-session="7c1e4b2a-93d5-4f8e-b6a0-2d9f5c3e81a7"]')
    assert other.locator('[data-col="user"]').inner_text() == "joshua@example.com"
    shot(page, "sessions-otlp")

    tools = open_detail(page, line, MODEL, cost, 2)
    assert tools.count() == 2 and "failed" in page.locator("ol.timeline").inner_text()
    shot(page, "session-detail-otlp")

    page.goto(f"{server.url}/dashboard/#/analytics")
    tools = page.locator('[aria-label="Tool calls per tool"]')
    tools.wait_for()
    assert "Bash" in (tools.text_content() or "")  # from the export's tool results alone
    joshua = page.locator('table[data-group="user"] tr[data-key="joshua@example.com"]')
    joshua.wait_for()
    assert joshua.locator('[data-col="cost"]').inner_text() == page.evaluate(
        "n => '$' + n.toFixed(4)", 0.307768 + 0.0276394)
    page.get_by_role("button", name="Project").click()
    mine = page.locator('table[data-group="project"] tr[data-key="otlp-dash"]')
    mine.wait_for()
    assert mine.locator('[data-col="cost"]').inner_text() == cost
    shot(page, "analytics-by-project")
