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
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash
from werkzeug.serving import run_simple

from hub import tables as t
from hub.app import current_hub
from hub.calllog import flush_call_log
from hub.connectors import Capability, Connector, get_connector, registry
from hub.inventory.catalogue import ensure_location, ensure_sku
from hub.inventory.outbox import enqueue_push
from hub.inventory.sender import default_location, push_stock
from hub.inventory.skumap import record_listings
from hub.inventory.stock import RESERVING_STATUSES, reserve_orders, set_on_hand
from hub.sandbox import Sandbox, load_sandbox
from hub.services.accounts import create_user, has_users
from hub.services.connections import build_connector, create_connection, update_connection
from hub.shipping.schemas import location_address
from hub.shipping.shipments import set_location_address

log = logging.getLogger(__name__)
INITIAL_PASSWORD_FILE = "initial-admin-password"
SANDBOX_PORT_BASE = 5100
SANDBOX_BACKFILL = timedelta(days=60)
#: how often a running sandbox makes something happen (new and changed orders, webhooks)
SANDBOX_TICK_SECONDS = 20.0
#: the demo's one location and the ship-from every carrier sandbox rates and labels
DEMO_LOCATION = "main"
DEMO_LOCATION_NAME = "Main warehouse"
DEMO_SHIP_FROM = {
    "name": "Shipping desk",
    "company": "Hub Demo Goods",
    "line1": "1 Dock Rd",
    "city": "Atlanta",
    "region": "GA",
    "postal_code": "30301",
    "country_code": "US",
    "phone": "4045550100",
    "email": "warehouse@example.com",
}
DEMO_WHO = "hub run --sandbox"


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


def start_sandboxes(port_base: int | None = SANDBOX_PORT_BASE, *, activity: bool = True) -> list[Sandbox]:
    """Start every installed connector's sandbox (on ``port_base`` + its index, or any free port
    when None), point a connection at each, and seed the demo's location, address and stock
    (``seed_demo``). ``activity``: a background thread makes the shops change now and then."""
    hub = current_hub()
    started: list[Sandbox] = []
    channels: list[tuple[int, Sandbox]] = []
    for offset, (name, cls) in enumerate(registry().items()):
        if not cls.sandbox:
            continue
        sandbox = load_sandbox(cls.sandbox)
        sandbox.start(port=0 if port_base is None else port_base + offset)
        started.append(sandbox)
        values = sandbox.connection_values()
        display = f"{cls.display_name} sandbox"
        with hub.db.session() as session:
            conn = session.scalar(select(t.Connection).where(t.Connection.name == display))
            if conn is None:
                since = (datetime.now(UTC) - SANDBOX_BACKFILL).date().isoformat()
                fields = {f.name for f in cls.fields}
                extra = {"backfill_since": since} if "backfill_since" in fields else {}
                conn = create_connection(session, hub.box, name, display, values | extra)
            else:
                stored = hub.box.decrypt(conn.credentials_encrypted) | dict(conn.settings or {})
                update_connection(session, hub.box, conn, display, stored | values)
            if conn.kind == "channel":
                channels.append((conn.id, sandbox))
        click.echo(f"sandbox {name}: {sandbox.url}")
    seeded = seed_demo(channels)
    if seeded:
        click.echo(f"demo: location {DEMO_LOCATION} stocked with {seeded} SKUs of the channel sandboxes")
    if started and activity:
        threading.Thread(target=_tick_forever, args=(started,), name="sandbox-activity", daemon=True).start()
    return started


# --- the demo's location, ship-from address and stock ------------------------------------


def seed_demo(channels: list[tuple[int, Sandbox]]) -> int:
    """Make the demo shippable from the first order: the location ``main`` with a US ship-from
    address, and on-hand stock there for every SKU the channel sandboxes sell. Returns how many
    SKUs were stocked now.

    Idempotent: the location and its address are created only when missing (a merchant's edit is
    kept), and only SKUs with no stock row anywhere are stocked, so a restart stocks nothing
    again; the sandboxes, which start afresh in memory, are sent the hub's values instead.

    The quantities are what the channels show (``read_stock``, at the channel location the hub
    publishes to; the sandbox's own figure for a channel that cannot be read), the highest where
    several sell a SKU: the hub's first stock push then leaves each shop about where it was,
    less what the open orders reserve, instead of overwriting it with a made-up number or with
    nothing. Orders ingested afterwards reserve at ``main``.
    """
    hub = current_hub()
    hub.db.transaction(lambda session: _forget_publications(session, [cid for cid, _ in channels]))
    hub.db.transaction(_seed_location)
    listed = {cid: _channel_stock(cid, sandbox) for cid, sandbox in channels}
    wanted: dict[str, int] = {}
    for levels in listed.values():
        for sku, units in levels.items():
            wanted[sku] = max(units, wanted.get(sku, 0))
    seeded = hub.db.transaction(lambda session: _seed_stock(session, listed, wanted)) if wanted else 0
    with hub.db.session() as session:
        connectors = dict(
            session.execute(
                select(t.Connection.id, t.Connection.connector).where(
                    t.Connection.id.in_([cid for cid, _ in channels])
                )
            ).all()
        )
    for cid, name in sorted(connectors.items()):
        # sent now, before the scheduler starts: its first reconciliation then reads shops that
        # already show the hub's values instead of racing the first push (a reading taken while
        # a push is in flight is taken in as a stock change)
        if Capability.INVENTORY_READ in get_connector(name).capabilities:
            push_stock(hub.db, hub.box, hub.settings.public_url, cid)
    return seeded


def _forget_publications(session: Session, connection_ids: list[int]) -> None:
    """The sandboxes start afresh on every run, so what the hub published to the last run's
    shops says nothing about these: without a baseline, reconciliation pushes the hub's values
    instead of reading each reset shop as a stock change (``hub.inventory.reconcile``)."""
    if not connection_ids:
        return
    gone = session.execute(
        delete(t.StockPublication).where(t.StockPublication.connection_id.in_(connection_ids))
    ).rowcount
    if gone:
        for connection_id in connection_ids:
            enqueue_push(session, session.scalars(select(t.Sku.id)).all(), connection_id=connection_id)


def _seed_location(session: Session) -> None:
    location = session.scalar(select(t.Location).where(t.Location.code == DEMO_LOCATION))
    if location is None:
        location = ensure_location(session, DEMO_LOCATION, DEMO_LOCATION_NAME, priority=1, country_code="US")
    has_address = session.scalar(
        select(t.LocationAddress.id).where(t.LocationAddress.location_id == location.id)
    )
    if has_address is None:
        set_location_address(session, DEMO_LOCATION, location_address(DEMO_SHIP_FROM))


def _channel_stock(connection_id: int, sandbox: Sandbox) -> dict[str, int]:
    """SKU → units a channel shows where the hub will publish them; {} when it cannot say."""
    hub = current_hub()
    with hub.db.session() as session:
        conn = session.get_one(t.Connection, connection_id)
        session.expunge(conn)
    try:
        connector: Connector = build_connector(hub.db, hub.box, conn, hub.settings.public_url)
        if not connector.has(Capability.INVENTORY_READ):
            return _sandbox_stock(sandbox)
        where = default_location(type(connector), conn.settings or {})
        found: dict[str, int] = {}
        for level in connector.read_stock(None):
            if where is None or str(level.location_id) == where:
                found.setdefault(level.sku, max(0, level.available))
        return found
    except Exception:  # the demo must start even when one shop cannot be read
        log.exception("demo: could not read the stock of %s", conn.name)
        return {}
    finally:
        flush_call_log(hub.db)


def _sandbox_stock(sandbox: Sandbox) -> dict[str, int]:
    """A write-only channel (Amazon: listings are written, never read back): its sandbox's own
    figures (``catalog`` and ``quantity(sku)``), so the first push shows the same numbers."""
    catalog, quantity = getattr(sandbox, "catalog", None), getattr(sandbox, "quantity", None)
    if not isinstance(catalog, dict) or not callable(quantity):
        return {}
    return {str(sku): max(0, int(quantity(sku) or 0)) for sku in catalog}


def _seed_stock(session: Session, listed: dict[int, dict[str, int]], wanted: dict[str, int]) -> int:
    location = session.scalar(select(t.Location).where(t.Location.code == DEMO_LOCATION))
    if location is None:  # removed meanwhile: nothing to stock
        return 0
    stocked = set(
        session.scalars(
            select(t.Sku.sku).join(t.StockLevel, t.StockLevel.sku_id == t.Sku.id).where(t.Sku.sku.in_(wanted))
        )
    )
    fresh = {sku: units for sku, units in sorted(wanted.items()) if sku not in stocked}
    if not fresh:
        return 0
    ids = {sku: ensure_sku(session, sku).id for sku in fresh}
    for connection_id, levels in sorted(listed.items()):  # each shop's listings: pushes go only there
        record_listings(session, connection_id, [{"channel_sku": sku} for sku in sorted(levels)])
    for sku, units in fresh.items():
        set_on_hand(
            session,
            ids[sku],
            location.id,
            units,
            reason="sandbox demo: the channels' stock at first start",
            source="channel",
            who=DEMO_WHO,
        )
    open_orders = session.scalars(select(t.Order.id).where(t.Order.status.in_(RESERVING_STATUSES))).all()
    reserve_orders(session, open_orders)  # orders stored before the SKUs existed
    return len(fresh)


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
