"""Headless Chromium for the browser tests, driven by playwright's Python package.

Uses the system's Chromium (Debian's ``chromium`` package), never a browser playwright
would download. Without Chromium or playwright the test skips and says why.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DOCS = Path(__file__).resolve().parents[1] / "docs"


def chromium_path() -> str | None:
    return next((p for name in CHROMIUM_NAMES if (p := shutil.which(name))), None)


@pytest.fixture()
def browser_page(tmp_path: Path) -> Iterator[Any]:
    """A fresh page in headless Chromium (its own profile directory)."""
    chromium = chromium_path()
    if chromium is None:
        pytest.skip("no Chromium on PATH (CI installs it: apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright's Python package is not installed (pip install playwright)")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=chromium, headless=True,
            args=FLAGS, viewport={"width": 1400, "height": 900})
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()
