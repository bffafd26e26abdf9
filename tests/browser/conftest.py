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
