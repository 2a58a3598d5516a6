"""Inventory sync end to end on loopback: one stock truth in the hub, four channel sandboxes
(Shopify, WooCommerce, Magento MSI, Amazon), connections made with ``create_connection``,
SKU mappings imported from CSV, and the jobs the scheduler runs (``push_inventory``,
``reconcile_inventory``) or the function they call (``reconcile_stock``).

Each sandbox's own state is the witness: what a channel shows is read from the sandbox, and
a merchant's edit or a drift is made in it, never through the hub.

Amazon is written to, never read: the Selling Partner API has no cheap stock read (the
connector declares ``inventory_write`` only), so an edit made in Amazon cannot come in and
Amazon cannot be reconciled; it is a destination in every test and a source in none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from connectors.amazon.sandbox import AmazonSandbox
from connectors.magento.sandbox import MagentoSandbox
from connectors.shopify.inventory import forget_maps
from connectors.shopify.sandbox import ShopifySandbox
from connectors.woocommerce.sandbox import WooCommerceSandbox
from hub import jobs
from hub import tables as t
from hub.app import Hub, create_app
from hub.db import Database
from hub.inventory.catalogue import ensure_location, ensure_sku, set_channel_rules
from hub.inventory.csvio import import_mappings
from hub.inventory.publish import ChannelRules
from hub.inventory.reconcile import reconcile_stock
from hub.inventory.stock import adjust, set_on_hand
from hub.services.connections import create_connection
from tests.conftest import make_settings

READABLE = ("shopify", "woocommerce", "magento")
CHANNELS = (*READABLE, "amazon")


@dataclass
class Channel:
    """One channel: its sandbox, its connection in the hub, and how to see and edit its stock."""

    name: str
    sandbox: Any
    connection_id: int
    skus: list[str]  #: the channel's SKU of each hub SKU, by index
    read: Callable[[str], int | None]
    edit: Callable[[str, int], None] | None  #: a merchant's edit in the channel's admin


@dataclass
class World:
    app: Flask
    db: Database
    location_id: int
    hub_skus: list[str]
    sku_ids: list[int]
    channels: dict[str, Channel]

    def shown(self, name: str) -> list[int | None]:
        """What a channel shows for every hub SKU, read from the sandbox's own state."""
        channel = self.channels[name]
        return [channel.read(sku) for sku in channel.skus]

    def on_hand(self) -> list[int]:
        with self.db.session() as session:
            levels = dict(
                session.execute(
                    select(t.StockLevel.sku_id, t.StockLevel.on_hand).where(
                        t.StockLevel.location_id == self.location_id
                    )
                ).all()
            )
        return [levels[sku_id] for sku_id in self.sku_ids]

    def push_all(self) -> dict[str, Any]:
        """The ``push_inventory`` job of every channel connection."""
        summaries = {
            name: jobs.push_inventory(self.app, c.connection_id) for name, c in self.channels.items()
        }
        for name, summary in summaries.items():
            assert summary.failed == 0, (name, summary.errors)
        return summaries

    def change(self, work: Callable[[Any], Any]) -> Any:
        return self.db.transaction(work)


def _shopify(
    sandbox: ShopifySandbox,
) -> tuple[list[str], Callable[[str], int | None], Callable[[str, int], None]]:
    home = sandbox.locations[0]["id"]  # the first location a read finds: where the hub publishes
    return (
        [p["sku"] for p in sandbox.catalog],
        lambda sku: sandbox.stock(sku, home),
        lambda sku, n: sandbox.set_stock(sku, home, n),
    )


def _woocommerce(sandbox: WooCommerceSandbox) -> tuple[list[str], Callable[..., Any], Callable[..., Any]]:
    return [p["sku"] for p in sandbox.sellable], lambda sku: sandbox.stock(sku)[1], sandbox.set_stock


def _magento(sandbox: MagentoSandbox) -> tuple[list[str], Callable[..., Any], Callable[..., Any]]:
    def read(sku: str) -> int | None:
        quantity = sandbox.quantity(sku, "default")
        return None if quantity is None else int(quantity)

    return [p["sku"] for p in sandbox.catalog], read, sandbox.set_quantity


def _amazon(sandbox: AmazonSandbox) -> tuple[list[str], Callable[..., Any], None]:
    return sorted(sandbox.catalog), sandbox.quantity, None


def _open_sandboxes(stack: ExitStack, n: int, names: tuple[str, ...]) -> dict[str, Any]:
    made: dict[str, Any] = {}
    if "shopify" in names:
        # 1,000 SKUs: limits off, and a restore rate the client adopts that makes its own pacing
        # moot (the GraphQL cost pacing has its own tests and bench/inventory_push.py)
        small = n <= 100
        rate = 100.0 if small else 1_000_000.0
        made["shopify"] = ShopifySandbox(seed=31, orders=0, skus=n, limits=small, graphql_restore_rate=rate)
    if "woocommerce" in names:
        made["woocommerce"] = WooCommerceSandbox(seed=32, orders=0, simple_products=n, variable_products=0)
    if "magento" in names:
        made["magento"] = MagentoSandbox(seed=33, orders=0, skus=n)
    if "amazon" in names:
        made["amazon"] = AmazonSandbox(seed=34, orders=0, skus=n, speed=50)  # limits' clock sped up
    return {name: stack.enter_context(sandbox.start()) for name, sandbox in made.items()}


VIEWS = {"shopify": _shopify, "woocommerce": _woocommerce, "magento": _magento, "amazon": _amazon}


def build_world(stack: ExitStack, tmp_path: Path, db: Database, n: int, names: tuple[str, ...]) -> World:
    """``n`` hub SKUs (``ITEM-00001``…) with stock at one location, every channel connected and
    its listings mapped to them by a CSV import, then one push of everything to every channel."""
    forget_maps()  # connection ids restart in each test's database: no stale Shopify item map
    app = create_app(make_settings(tmp_path, db.url))
    hub: Hub = app.extensions["hub"]
    stack.callback(hub.db.dispose)
    stack.callback(hub.dispatcher.shutdown, wait=True)
    sandboxes = _open_sandboxes(stack, n, names)
    hub_skus = [f"ITEM-{i + 1:05d}" for i in range(n)]
    with hub.db.session() as session:
        location_id = ensure_location(session, "WH", "Warehouse").id
        sku_ids = [ensure_sku(session, code).id for code in hub_skus]
        for i, sku_id in enumerate(sku_ids):
            set_on_hand(session, sku_id, location_id, 10 + i % 40)
    since = (datetime.now(UTC) - timedelta(days=30)).date()
    channels: dict[str, Channel] = {}
    csv = ["connection,channel_sku,sku"]
    for name, sandbox in sandboxes.items():
        with hub.db.session() as session:
            values = sandbox.connection_values() | {"backfill_since": since}
            cid = create_connection(session, hub.box, name, f"{name} sandbox", values).id
        skus, read, edit = VIEWS[name](sandbox)
        assert len(skus) == n
        channels[name] = Channel(name, sandbox, cid, skus, read, edit)
        csv += [
            f"{name} sandbox,{channel_sku},{hub_sku}"
            for channel_sku, hub_sku in zip(skus, hub_skus, strict=True)
        ]
    with hub.db.session() as session:
        result = import_mappings(session, "\n".join(csv) + "\n")
    assert result.created == n * len(sandboxes)
    world = World(app, hub.db, location_id, hub_skus, sku_ids, channels)
    world.push_all()
    for name in channels:
        assert world.shown(name) == world.on_hand(), f"{name} shows the hub's stock after the first push"
    return world


@pytest.fixture
def world(tmp_path: Path, sqlite_db: Database) -> Iterator[World]:
    with ExitStack() as stack:
        yield build_world(stack, tmp_path, sqlite_db, 12, CHANNELS)


# --- a. a change in the hub reaches every channel --------------------------------------------


def test_a_hub_stock_change_reaches_every_channel(world: World) -> None:
    a, b, c = world.sku_ids[:3]
    loc = world.location_id
    for _ in range(3):  # three changes of one SKU: one push of the latest value per channel
        world.change(lambda s: adjust(s, a, loc, 5, reason="received"))
    world.change(lambda s: set_on_hand(s, b, loc, 0, reason="count"))
    world.change(lambda s: set_on_hand(s, c, loc, 250, reason="count"))
    before = {name: world.shown(name) for name in CHANNELS}
    amazon = world.channels["amazon"].sandbox
    patched = len(amazon.patches)
    summaries = world.push_all()
    expected = world.on_hand()
    assert expected[:3] == [10 + 15, 0, 250]
    for name in CHANNELS:
        assert world.shown(name) == expected, name
        assert summaries[name].sent == 3, f"{name}: one push per changed SKU"
        assert world.shown(name)[3:] == before[name][3:], "the others were left alone"
    assert sorted(amazon.patches[patched:]) == sorted(
        (world.channels["amazon"].skus[i], expected[i]) for i in range(3)
    ), "Amazon got one patch per changed SKU, with the latest value"


def test_each_channel_is_shown_the_hub_stock_after_its_own_rules(world: World) -> None:
    woo = world.channels["woocommerce"].connection_id
    queued = world.change(lambda s: set_channel_rules(s, woo, ChannelRules(buffer_units=3, max_listed=30)))
    assert queued == len(world.sku_ids), "new rules: every SKU is pushed to that channel again"
    world.push_all()
    hub = world.on_hand()
    assert world.shown("woocommerce") == [min(30, max(0, n - 3)) for n in hub]
    for name in ("shopify", "magento", "amazon"):
        assert world.shown(name) == hub


# --- b. a merchant's edit in one channel reaches the hub, then the others ---------------------


@pytest.mark.parametrize("source", READABLE)
def test_a_merchant_edit_in_a_channel_reaches_the_hub_then_the_others(world: World, source: str) -> None:
    i = 4
    sku_id, loc = world.sku_ids[i], world.location_id
    channel = world.channels[source]
    published = world.shown(source)[i]
    assert published is not None
    # the hub moves on meanwhile (received 6, not pushed yet), and the merchant counts 7 more
    world.change(lambda s: adjust(s, sku_id, loc, 6, reason="received"))
    assert channel.edit is not None
    channel.edit(channel.skus[i], published + 7)
    report = jobs.reconcile_inventory(world.app, channel.connection_id)  # the periodic read
    assert [(c.channel_sku, c.action) for c in report.corrections] == [(channel.skus[i], "inflow")]
    hub = world.on_hand()
    assert hub[i] == published + 6 + 7, "relative to the last published value, not a blind overwrite"
    world.push_all()
    for name in CHANNELS:
        assert world.shown(name) == hub, name
    with world.db.session() as session:
        sources = session.scalars(
            select(t.StockAdjustment.source)
            .where(t.StockAdjustment.sku_id == sku_id)
            .order_by(t.StockAdjustment.id)
        ).all()
    assert sources[-2:] == ["manual", "channel"]
    again = jobs.reconcile_inventory(world.app, channel.connection_id)
    assert again.corrections == [] and world.on_hand() == hub, "a second reading changes nothing"


def test_a_sale_in_a_channel_is_taken_in_once(world: World) -> None:
    """A decrease read in Magento (a sale whose order the hub has not seen) comes in as a
    decrease, and is not counted twice when the reading is repeated."""
    i = 7
    magento = world.channels["magento"]
    published = world.shown("magento")[i]
    assert published is not None and published >= 2
    magento.edit(magento.skus[i], published - 2)  # type: ignore[misc]
    jobs.reconcile_inventory(world.app, magento.connection_id)
    jobs.reconcile_inventory(world.app, magento.connection_id)
    assert world.on_hand()[i] == published - 2
    world.push_all()
    for name in CHANNELS:
        assert world.shown(name)[i] == published - 2, name


# --- c. drift on 1,000 SKUs, reconciled -------------------------------------------------------

DRIFTED = 1000


def test_drift_on_1000_skus_is_reconciled_with_1000_corrections(tmp_path: Path, sqlite_db: Database) -> None:
    """Each of 1,000 SKUs drifts in exactly one readable channel (SKU i in channel i mod 3; the
    drift made in the sandbox's own state, as an edit the hub never heard of). Reconciliation
    with the hub as the truth (``push`` mode) puts every channel back to the hub's value and
    reports one correction per drifted SKU: 1,000 in all, none for a SKU that did not drift."""
    with ExitStack() as stack:
        world = build_world(stack, tmp_path, sqlite_db, DRIFTED, READABLE)
        truth = world.on_hand()
        drifted: dict[str, set[str]] = {name: set() for name in READABLE}
        for i in range(DRIFTED):
            channel = world.channels[READABLE[i % 3]]
            assert channel.edit is not None
            channel.edit(channel.skus[i], truth[i] + 1 + i % 5 if i % 2 else max(0, truth[i] - 1 - i % 5))
            drifted[channel.name].add(channel.skus[i])
        for name in READABLE:
            assert sum(a != b for a, b in zip(world.shown(name), truth, strict=True)) == len(drifted[name])
        hub: Hub = world.app.extensions["hub"]
        reports = {
            name: reconcile_stock(hub.db, hub.box, hub.settings.public_url, c.connection_id, mode="push")
            for name, c in world.channels.items()
        }
        assert sum(r.changed for r in reports.values()) == DRIFTED
        for name, report in reports.items():
            assert report.checked == DRIFTED
            assert {c.channel_sku for c in report.corrections} == drifted[name], name
            assert {c.action for c in report.corrections} == {"push"}
            assert (report.sent.sent, report.sent.failed) == (len(drifted[name]), 0)
            assert world.shown(name) == truth, f"{name} is back to the hub's value"
        assert world.on_hand() == truth, "the hub's truth did not move"
        again = [
            reconcile_stock(hub.db, hub.box, hub.settings.public_url, c.connection_id, mode="push")
            for c in world.channels.values()
        ]
        assert [r.changed for r in again] == [0, 0, 0], "nothing left to correct"
