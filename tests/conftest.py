"""Shared fixtures: databases (SQLite and the machine's PostgreSQL), the app, a logged-in client.

PostgreSQL comes from ``HUB_TEST_POSTGRES_URL`` (default: the local ``test`` database).
Each test session makes its own database there and drops it at the end. Without a
reachable server the PostgreSQL tests skip locally and FAIL under ``CI=true``.
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from hub import tables as t
from hub.app import create_app
from hub.config import Settings
from hub.db import Database, normalise_url
from hub.services.accounts import create_user

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
IN_CI = os.environ.get("CI", "").lower() == "true"


def _pg_admin_url() -> str:
    return normalise_url(os.environ.get("HUB_TEST_POSTGRES_URL") or DEFAULT_PG)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (and this xdist worker)."""
    admin_url = _pg_admin_url()
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:
        message = (
            f"PostgreSQL at {make_url(admin_url).render_as_string(hide_password=True)} unreachable: {exc}"
        )
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    name = f"hub_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    db.upgrade()
    db.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(db: Database) -> None:
    names = ", ".join(f'"{table.name}"' for table in reversed(t.Base.metadata.sorted_tables))
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    db.upgrade()
    yield db
    db.dispose()


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[Database]:
    db = Database(pg_url)
    _truncate_all(db)
    yield db
    db.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> Database:
    """The same test on both databases."""
    return request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "pg_db")


def make_settings(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    values = {
        "instance_dir": tmp_path / "instance",
        "database_url": database_url,
        "secret_key": "test-secret-key-not-for-production",
        "public_url": "http://hub.test",
        "log_level": "WARNING",
        "scheduler": False,
        "sandbox": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def app(tmp_path: Path, sqlite_db: Database) -> Flask:
    application = create_app(make_settings(tmp_path, sqlite_db.url))
    application.config["TESTING"] = True
    return application


@pytest.fixture
def hub_db(app: Flask) -> Database:
    return app.extensions["hub"].db


ADMIN_PASSWORD = "correct horse battery"


@pytest.fixture
def admin(hub_db: Database) -> str:
    with hub_db.session() as session:
        create_user(session, "admin", ADMIN_PASSWORD)
    return "admin"


@dataclass(frozen=True)
class LiveHub:
    """The running hub: its base URL, the Flask app and its database."""

    base_url: str
    app: Flask
    db: Database

    def url(self, path: str) -> str:
        return self.base_url + path


@contextmanager
def serve(app: Flask) -> Iterator[LiveHub]:
    """Serve ``app`` over real HTTP on a free loopback port in a background thread;
    its public URL (webhook addresses) becomes that server's."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    hub = app.extensions["hub"]
    hub.settings = replace(hub.settings, public_url=base)
    thread = threading.Thread(target=server.serve_forever, name="live-hub", daemon=True)
    thread.start()
    try:
        yield LiveHub(base, app, hub.db)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        hub.dispatcher.shutdown(wait=True)
        hub.db.dispose()


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "page has no CSRF token"
    return match.group(1)


@pytest.fixture
def client(app: Flask, admin: str) -> FlaskClient:
    """A client logged in as the admin (through the real login form, CSRF and all)."""
    c = app.test_client()
    page = c.get("/login").get_data(as_text=True)
    response = c.post(
        "/login", data={"username": admin, "password": ADMIN_PASSWORD, "csrf_token": csrf_from(page)}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return c
