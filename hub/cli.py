"""The ``hub`` command (Flask's CLI group, so ``--help`` works everywhere)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click
from flask import Flask
from flask.cli import FlaskGroup, ScriptInfo, with_appcontext
from marshmallow import ValidationError
from sqlalchemy import select

from hub import tables as t
from hub.app import create_app, current_hub
from hub.connectors import FieldError, UnknownConnector, get_connector
from hub.mapping import mapping_of
from hub.schemas import dump_order
from hub.services.accounts import AccountError, create_token, create_user
from hub.services.connections import create_connection, webhook_url
from hub.shipping.document import dump_document
from hub.shipping.model import ShippingDocument


def _create_app(info: ScriptInfo | None = None) -> Flask:
    return create_app()


def fail(message: str, prefix: str = "hub") -> NoReturn:
    """One clear line on stderr, exit status 2, nothing written."""
    click.echo(f"{prefix}: {message}", err=True)
    sys.exit(2)


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False, add_version_option=False)
def main() -> None:
    """The integration hub between sales channels and shipping carriers."""


@main.command("run")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
@click.option("--sandbox/--no-sandbox", default=None, help="Start the sandbox channels and carriers too.")
@click.option("--scheduler/--no-scheduler", default=None, help="Run the scheduler in this process.")
@with_appcontext
def run_command(host: str, port: int, sandbox: bool | None, scheduler: bool | None) -> None:
    """Serve the web UI and API with the scheduler in one process (the default mode)."""
    from hub.runner import serve

    serve(host=host, port=port, sandbox=sandbox, scheduler=scheduler)


@main.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Migrate the database to the newest schema."""
    hub = current_hub()
    hub.db.upgrade(revision)
    click.echo(f"database at {revision}: {hub.db.engine.url.render_as_string(hide_password=True)}")


@main.command("create-admin")
@click.argument("username", default="admin")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--reset", is_flag=True, help="Set a new password for an existing user.")
@with_appcontext
def create_admin(username: str, password_stdin: bool, reset: bool) -> None:
    """Create a user who can log in to the web UI (the password is generated unless given)."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    try:
        with current_hub().db.session() as session:
            generated = create_user(session, username, password, reset=reset)
    except AccountError as exc:
        fail(str(exc))
    click.echo(f"user: {username}")
    if not password_stdin:
        click.echo(f"password: {generated}")


@main.group("connections")
def connections_group() -> None:
    """Channel and carrier connections."""


def _parse_sets(pairs: tuple[str, ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            fail(f"--set {pair!r}: expected FIELD=VALUE")
        values[name.strip()] = value
    return values


@connections_group.command("add")
@click.argument("connector")
@click.option("--name", required=True, help="Display name of the connection.")
@click.option("--set", "sets", multiple=True, metavar="FIELD=VALUE", help="A field of the connector's form.")
@with_appcontext
def connections_add(connector: str, name: str, sets: tuple[str, ...]) -> None:
    """Add a connection with the same validation as the web form."""
    hub = current_hub()
    try:
        with hub.db.session() as session:
            conn = create_connection(session, hub.box, connector, name, _parse_sets(sets))
            url = webhook_url(hub.settings.public_url, conn)
            conn_id = conn.id
    except UnknownConnector as exc:
        fail(str(exc))
    except FieldError as exc:
        fail("; ".join(f"{field} {message}" for field, message in exc.errors.items()))
    click.echo(f"connection {conn_id}: {name}")
    click.echo(f"webhook URL: {url}")


@connections_group.command("list")
@with_appcontext
def connections_list() -> None:
    """List connections with their ids and webhook URLs."""
    hub = current_hub()
    with hub.db.session() as session:
        for conn in session.scalars(select(t.Connection).order_by(t.Connection.id)):
            state = "enabled" if conn.enabled else f"disabled ({conn.disabled_reason or 'by hand'})"
            url = webhook_url(hub.settings.public_url, conn)
            click.echo(f"{conn.id}\t{conn.kind}\t{conn.connector}\t{conn.name}\t{state}\t{url}")


@main.group("sync")
def sync_group() -> None:
    """Run a sync job now, in the foreground."""


@sync_group.command("orders")
@click.argument("connection_id", type=int)
@with_appcontext
def sync_orders(connection_id: int) -> None:
    """Poll a connection's orders to the last page (what the scheduler runs)."""
    from hub.sync import poll_orders

    hub = current_hub()
    try:
        summary = poll_orders(hub.db, hub.box, hub.settings.public_url, connection_id)
    except LookupError as exc:
        fail(str(exc))
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.counts.items())) or "no orders"
    click.echo(f"run {summary.run_id}: {summary.status}: {summary.seen} seen ({counts})")
    if summary.dead:
        click.echo(f"{summary.dead} orders parked as dead letters")
    if summary.error:
        fail(summary.error)


@main.group("token")
def token_group() -> None:
    """API tokens for the REST API."""


@token_group.command("create")
@click.argument("name")
@with_appcontext
def token_create(name: str) -> None:
    """Create an API token. It is shown once; only its hash is stored."""
    try:
        with current_hub().db.session() as session:
            token = create_token(session, name)
    except AccountError as exc:
        fail(str(exc))
    click.echo(token)


@main.command("scheduler")
@with_appcontext
def scheduler_command() -> None:
    """Run the scheduler alone (of several on one PostgreSQL database, only one acts)."""
    from flask import current_app

    from hub.scheduling import main as run_scheduler

    if current_hub().db.pending_migrations():
        fail("the database schema is not up to date: run `hub db upgrade` first")
    run_scheduler(current_app._get_current_object())  # type: ignore[attr-defined]


@main.command("map", with_appcontext=False)
@click.argument("source")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def map_command(source: str, file: Path) -> None:
    """Print the canonical JSON of a channel order (or carrier response) read from FILE."""
    try:
        cls = get_connector(source)
    except UnknownConnector as exc:
        fail(f"{exc}", "hub map")
    if not cls.mapping_module:
        fail(f"{source} has no mapping", "hub map")
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        fail(f"{file}: no such file", "hub map")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{file}: cannot read: {exc}", "hub map")
    except json.JSONDecodeError as exc:
        fail(f"{file}: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", "hub map")
    module = mapping_of(cls)
    what = "order" if cls.kind == "channel" else "response"
    try:
        result: Any = (
            dump_order(module.map_order(document))
            if hasattr(module, "map_order")
            else (module.map_document(document))
        )
    except (ValueError, ValidationError) as exc:
        fail(f"{source} {what}: {exc}", "hub map")
    if isinstance(result, ShippingDocument):
        for warning in result.warnings:
            click.echo(warning, err=True)
        result = dump_document(result)
    click.echo(json.dumps(result, indent=2, ensure_ascii=False))
