"""Headless Chromium for the dashboard tests, driven by Playwright, plus screenshot artifacts.

The browser is Debian's /usr/bin/chromium (it cannot be downloaded here), started with a fresh
empty profile per run; screenshots go to test-artifacts/browser/ (gitignored).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT, require

CHROMIUM = os.environ.get("ROUTER_EXT_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
VIEWPORT = {"width": 1440, "height": 900}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module, with a new empty user-data-dir."""
    require(Path(CHROMIUM).exists(), f"chromium not found at {CHROMIUM} (scripts/test-deps.sh)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the test extra installs it
        require(False, "playwright is not installed (pip install -e '.[test]')")
        raise
    profile = tempfile.mkdtemp(prefix="router-ext-chromium-")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=ARGS, headless=True, viewport=VIEWPORT)
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh tab; JavaScript errors fail the test, and a screenshot is kept either way."""
    tab = browser.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.set_default_timeout(10_000)
    yield tab
    shot(tab, request.node.name)
    tab.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def shot(tab: Any, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/browser/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    tab.screenshot(path=str(path), full_page=True)
    return path


def cli_tokens(result: dict[str, Any]) -> int:
    """All tokens of a `claude -p` result (input, output and both cache kinds)."""
    usage = result["usage"]
    return int(sum(usage[k] for k in ("input_tokens", "output_tokens",
                                      "cache_creation_input_tokens", "cache_read_input_tokens")))


def assert_session_row(page: Any, session_id: str, cost_usd: float, tokens: int) -> Any:
    """The sessions view's row of a session shows its cost and tokens as the page formats
    them; returns the row and the cost text."""
    row = page.locator(f'tr[data-session="{session_id}"]')
    row.wait_for()
    cost = page.evaluate("n => '$' + n.toFixed(4)", cost_usd)
    assert row.locator('[data-col="cost"]').inner_text() == cost
    token_text = page.evaluate(
        "n => n >= 1e4 ? (n / 1e3).toFixed(1) + 'k' : n.toLocaleString('en-US')", tokens)
    assert row.locator('[data-col="tokens"]').inner_text() == token_text
    assert "interactive" in row.inner_text()
    return row, cost


def open_detail(page: Any, row: Any, model: str, cost: str, tool_lines: int) -> Any:
    """Open a session from its row; its model line shows the cost, and its timeline at least
    `tool_lines` tool calls. Returns the timeline's tool lines."""
    row.locator("a").click()
    page.wait_for_selector(f'tr[data-model="{model}"]')
    assert cost in page.locator(f'tr[data-model="{model}"]').inner_text()
    tools = page.locator('ol.timeline li[data-type="tool"]')
    tools.nth(tool_lines - 1).wait_for()
    return tools
