"""``hub run``: the web server, the scheduler and (for a newcomer) the sandboxes in one process."""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from flask import current_app
from sqlalchemy import select
from werkzeug.security import check_password_hash
from werkzeug.serving import run_simple

from hub import tables as t
from hub.app import current_hub
from hub.connectors import registry
from hub.sandbox import Sandbox, load_sandbox
from hub.services.accounts import create_user, has_users
from hub.services.connections import create_connection, update_connection

log = logging.getLogger(__name__)
INITIAL_PASSWORD_FILE = "initial-admin-password"
SANDBOX_PORT_BASE = 5100
SANDBOX_BACKFILL = timedelta(days=60)
#: how often a running sandbox makes something happen (new and changed orders, webhooks)
SANDBOX_TICK_SECONDS = 20.0


def ensure_admin() -> str:
    """The login line to print. On first start an ``admin`` is created and its password
    kept in the instance folder (mode 600) only until someone changes it."""
    hub = current_hub()
    path: Path = hub.settings.instance_dir / INITIAL_PASSWORD_FILE
    with hub.db.session() as session:
        if not has_users(session):
            password = create_user(session, "admin")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(password + "\n")
            return f"login: admin / {password}"
        admin = session.scalar(select(t.User).where(t.User.username == "admin"))
        if admin and path.exists():
            password = path.read_text().strip()
            if check_password_hash(admin.password_hash, password):
                return f"login: admin / {password}"
            path.unlink()
    return "login: your user (`hub create-admin NAME` adds one, `--reset` sets a new password)"


def start_sandboxes() -> list[Sandbox]:
    """Start every installed connector's sandbox on a fixed port and point a connection at it."""
    hub = current_hub()
    started: list[Sandbox] = []
    for offset, (name, cls) in enumerate(registry().items()):
        if not cls.sandbox:
            continue
        sandbox = load_sandbox(cls.sandbox)
        sandbox.start(port=SANDBOX_PORT_BASE + offset)
        started.append(sandbox)
        values = sandbox.connection_values()
        display = f"{cls.display_name} sandbox"
        with hub.db.session() as session:
            conn = session.scalar(select(t.Connection).where(t.Connection.name == display))
            if conn is None:
                since = (datetime.now(UTC) - SANDBOX_BACKFILL).date().isoformat()
                fields = {f.name for f in cls.fields}
                extra = {"backfill_since": since} if "backfill_since" in fields else {}
                create_connection(session, hub.box, name, display, values | extra)
            else:
                stored = hub.box.decrypt(conn.credentials_encrypted) | dict(conn.settings or {})
                update_connection(session, hub.box, conn, display, stored | values)
        click.echo(f"sandbox {name}: {sandbox.url}")
    if started:
        threading.Thread(target=_tick_forever, args=(started,), name="sandbox-activity", daemon=True).start()
    return started


def _tick_forever(sandboxes: list[Sandbox]) -> None:
    """Simulated shop activity, so a newcomer sees orders change and webhooks arrive."""
    while True:
        time.sleep(SANDBOX_TICK_SECONDS)
        for sandbox in sandboxes:
            try:
                sandbox.tick()
            except Exception:  # a sandbox hiccup must not stop the hub
                log.exception("sandbox %s activity failed", sandbox.name)


def serve(host: str, port: int, sandbox: bool | None, scheduler: bool | None) -> None:
    hub = current_hub()
    if not os.environ.get("HUB_PUBLIC_URL"):  # webhooks from the sandboxes come to this server
        hub.settings = replace(hub.settings, public_url=f"http://{host}:{port}")
    if hub.db.pending_migrations():
        raise click.ClickException("the database schema is not up to date: run `hub db upgrade` first")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    sandboxes = start_sandboxes() if (hub.settings.sandbox if sandbox is None else sandbox) else []
    # the dev-server banner and per-request lines drown the two lines a newcomer needs
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    click.echo(f"Hub running at http://{host}:{port}/")
    click.echo(ensure_admin())
    stop_scheduler = None
    if hub.settings.scheduler if scheduler is None else scheduler:
        from hub.scheduling import start_in_background

        stop_scheduler = start_in_background(app)
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        if stop_scheduler is not None:
            stop_scheduler.set()
        for s in sandboxes:
            s.stop()
