"""Browser tests: the real app behind a real HTTP server, driven by Debian's chromium.

Each test gets its own server (a free port on 127.0.0.1, a fresh migrated SQLite
database with an admin user) and its own browser context; the chromium process is
shared by the tests of a module. Works per xdist worker (``-n 2``): nothing here is
shared between processes. Without chromium the tests skip locally and FAIL under
``CI=true``. Never ``playwright install``: the browser is the system's.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from hub.app import create_app
from hub.db import Database
from hub.services.accounts import create_user
from tests.conftest import ADMIN_PASSWORD, IN_CI, LiveHub, make_settings, serve

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
DEBIAN_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: how long an ``expect`` assertion or a page action may wait (a loaded CI machine is slow)
TIMEOUT_MS = 10_000

expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    found = DEBIAN_CHROMIUM if Path(DEBIAN_CHROMIUM).is_file() else shutil.which("chromium")
    if found is None:
        if IN_CI:
            pytest.fail(
                "chromium is required under CI=true for the browser tests: "
                "apt-get install chromium (Debian's package; never `playwright install`)"
            )
        pytest.skip(
            "no chromium found: install Debian's chromium (apt-get install chromium) to run the browser tests"
        )
    return found


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Browser]:
    """One headless chromium per test module (and per xdist worker)."""
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh context (no cookies) and page for each test."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def live_hub(tmp_path: Path, sqlite_db: Database) -> Iterator[LiveHub]:
    """The real app served over HTTP, with an admin who can log in."""
    app = create_app(make_settings(tmp_path, sqlite_db.url))
    with app.extensions["hub"].db.session() as session:
        create_user(session, "admin", ADMIN_PASSWORD)
    with serve(app) as hub:
        yield hub
