"""Browser tests: the real app behind a real HTTP server, driven by Debian's chromium.

Each test gets its own server (a free port on 127.0.0.1, a fresh migrated SQLite
database with an admin user) and its own browser context; the chromium process is
shared by the tests of a module. Works per xdist worker (``-n 2``): nothing here is
shared between processes. Without chromium the tests skip locally and FAIL under
``CI=true``. Never ``playwright install``: the browser is the system's.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect, sync_playwright
from werkzeug.serving import make_server

from hub.app import create_app
from hub.db import Database
from hub.services.accounts import create_user
from tests.conftest import ADMIN_PASSWORD, IN_CI, make_settings

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


@dataclass(frozen=True)
class LiveHub:
    """The running hub: its base URL, the Flask app and its database."""

    base_url: str
    app: Flask
    db: Database

    def url(self, path: str) -> str:
        return self.base_url + path


@pytest.fixture
def live_hub(tmp_path: Path, sqlite_db: Database) -> Iterator[LiveHub]:
    """The real app served over HTTP by werkzeug in a background thread."""
    app = create_app(make_settings(tmp_path, sqlite_db.url))
    hub_db: Database = app.extensions["hub"].db
    with hub_db.session() as session:
        create_user(session, "admin", ADMIN_PASSWORD)
    server = make_server("127.0.0.1", 0, app, threaded=True)  # port 0: the OS picks a free one
    thread = threading.Thread(target=server.serve_forever, name="live-hub", daemon=True)
    thread.start()
    try:
        yield LiveHub(f"http://127.0.0.1:{server.server_port}", app, hub_db)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        hub_db.dispose()
