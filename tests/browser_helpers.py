"""Debian's headless Chromium through Playwright (no browser download).

Skips when chromium or playwright is missing, except under
``CHATSIM_REQUIRE_BROWSER=1`` (``.ci/run`` sets it), where that fails."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager

import pytest

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        exe = None
    if exe is None:
        if os.environ.get("CHATSIM_REQUIRE_BROWSER"):
            pytest.fail("chromium and playwright are required here (CHATSIM_REQUIRE_BROWSER)")
        pytest.skip("no chromium/playwright on this machine")
    return exe


@contextmanager
def page(width: int = 1300, height: int = 900):
    """A fresh page; yields ``(page, errors)`` where ``errors`` collects console
    errors and warnings and uncaught exceptions."""
    exe = chromium_path()
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=FLAGS)
        try:
            pg = browser.new_page(viewport={"width": width, "height": height})
            pg.on("console", lambda m: m.type in ("error", "warning") and errors.append(m.text))
            pg.on("pageerror", lambda e: errors.append(str(e)))
            yield pg, errors
        finally:
            browser.close()
