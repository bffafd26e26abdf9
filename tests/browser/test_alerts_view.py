"""The alerts view and banner in real headless Chromium against a real router-ext: a rule is
added from the form, fires on real usage, shows a banner on every view, is changed until it
resolves, and is removed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import ServerProcess, served

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from served(tmp_path_factory, "alerts-view",
                      {"ROUTER_EXT_ALERT_INTERVAL_SECONDS": "3600"})


def spend(server: ServerProcess, project: str) -> None:
    """A session in `project` that used $0.045 of claude-sonnet-4-5."""
    session = str(uuid.uuid4())
    usage = {"model": "claude-sonnet-4-5", "models": {"claude-sonnet-4-5": {
        "input_tokens": 10_000, "output_tokens": 1_000}}}
    for name, extra in (("SessionStart", {}), ("Stop", {"router_ext_usage": usage})):
        r = httpx.post(f"{server.url}/events", timeout=10, json={
            "source_app": "view", "session_id": session, "hook_event_type": name,
            "payload": {"session_id": session, "cwd": f"/w/{project}", **extra}})
        assert r.status_code == 200, r.text


def rule_row(page: Any, name: str) -> Any:
    return page.locator(f'tr[data-rule="{name}"]')


def test_a_rule_from_the_form_fires_shows_a_banner_and_resolves(page: Any,
                                                                server: ServerProcess) -> None:
    spend(server, "viewed")
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{server.url}/dashboard/#/alerts")
    page.wait_for_selector('main[data-view="alerts"] h2')
    unlabelled = page.evaluate("""() => [...document.querySelectorAll(
        'main input, main select, main button, main textarea')].filter(el =>
        !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
        && !el.textContent.trim()).map(el => el.outerHTML)""")
    assert unlabelled == []
    assert page.locator("#alert-banner").is_hidden()

    page.get_by_label("Name").fill("view-budget")
    page.get_by_label("Kind").select_option("cost")
    page.get_by_label("Threshold").fill("0.01")
    page.get_by_label("Period").select_option("day")
    page.get_by_label("Scope").select_option("project")
    page.get_by_role("button", name="Add rule").click()
    rule_row(page, "view-budget").wait_for()
    assert "Cost (USD) · ≥ 0.01 · per day · project *" in rule_row(page, "view-budget").inner_text()

    page.get_by_role("button", name="Check now").click()
    firing = page.locator('section[aria-labelledby="firing-title"] tbody tr[data-episode]')
    firing.first.wait_for()
    assert "project viewed used $0.04 of a $0.01 budget this day" in firing.first.inner_text()
    # The banner is on every view, and leads back here.
    page.goto(f"{server.url}/dashboard/#/sessions")
    banner = page.locator("#alert-banner")
    banner.wait_for(state="visible", timeout=10_000)
    assert "1 alert firing: project viewed used $0.04" in banner.inner_text()
    assert page.locator("#firing-count").inner_text() == "1"
    banner.get_by_role("link", name="See alerts").click()
    page.wait_for_selector('main[data-view="alerts"] h2')

    rule_row(page, "view-budget").get_by_role("button", name="Change rule view-budget").click()
    assert page.get_by_label("Threshold").input_value() == "0.01"
    page.get_by_label("Threshold").fill("5")
    page.get_by_role("button", name="Save rule").click()
    page.wait_for_function("""() => [...document.querySelectorAll('tr[data-rule]')]
        .some(r => r.textContent.includes('≥ 5'))""")
    page.get_by_role("button", name="Check now").click()
    page.locator('section[aria-labelledby="firing-title"]').get_by_text(
        "Nothing is firing.").wait_for()
    recent = page.locator('section[aria-labelledby="recent-title"] tbody tr[data-episode]')
    assert recent.count() == 1 and "firing" not in recent.first.inner_text()  # a resolve time
    banner.wait_for(state="hidden", timeout=10_000)

    rule_row(page, "view-budget").get_by_role("button", name="Remove rule view-budget").click()
    page.get_by_text("No rules yet: add one below.").wait_for()
    assert httpx.get(f"{server.url}/api/alerts/rules", timeout=5).json()["rules"] == []


def test_a_refused_rule_says_why(page: Any, server: ServerProcess) -> None:
    page.goto(f"{server.url}/dashboard/#/alerts")
    page.wait_for_selector('main[data-view="alerts"] h2')
    page.get_by_label("Name").fill("bad-rule")
    page.get_by_label("Kind").select_option("tool_failure_rate")
    page.get_by_label("Threshold").fill("3")  # a ratio is at most 1
    page.get_by_role("button", name="Add rule").click()
    toast = page.locator("#toast")
    toast.wait_for(state="visible")
    assert "Could not save the rule: 'threshold' must be between 0.0 and 1.0" in toast.inner_text()
