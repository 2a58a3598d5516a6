"""A merchant's stock edit in Shopify reaches the hub by webhook, end to end on loopback: the
hub served over real HTTP, the Shopify and WooCommerce sandboxes, the hub's webhook
subscriptions registered in Shopify the way the connection page does it.

The sandbox sends ``inventory_levels/update`` (signed, as Shopify does) when the merchant edits
stock; the hub takes it in by the inflow rule: ``on_hand`` moves by (the new value - what the
hub last published there), and the next ``push_inventory`` carries it to WooCommerce. Shopify
stamps the reading in whole seconds (``updated_at``); the sandbox's clock is set ahead of the
hub's so that a reading made after a publish is never stamped before it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from connectors.shopify.sandbox import ShopifySandbox
from hub import jobs
from hub import tables as t
from hub.db import Database
from hub.inventory.stock import adjust
from hub.services.connections import build_connector
from tests.conftest import LiveHub, serve
from tests.e2e.test_inventory_e2e import Channel, World, build_world

TOPIC = "inventory_levels/update"


@dataclass
class Shop:
    world: World
    live: LiveHub
    channel: Channel
    sandbox: ShopifySandbox
    home: int  #: the Shopify location the hub publishes at
    webhook_url: str

    def settled(self, events: int) -> list[t.InboxEvent]:
        """Wait until the hub has stored ``events`` deliveries and processed every one."""
        wait_for(lambda: _states(self.world.db, events))
        with self.world.db.session() as session:
            return list(session.scalars(select(t.InboxEvent).order_by(t.InboxEvent.id)))

    def push(self, name: str) -> None:
        summary = jobs.push_inventory(self.world.app, self.world.channels[name].connection_id)
        assert summary.failed == 0, summary.errors


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def _states(db: Database, events: int) -> bool:
    with db.session() as session:
        states = list(session.scalars(select(t.InboxEvent.state)))
    return len(states) == events and all(s in ("done", "ignored", "dead") for s in states)


def queued_pushes(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(t.StockPush))


def adjustment_sources(db: Database, sku_id: int) -> list[str]:
    with db.session() as session:
        return list(
            session.scalars(
                select(t.StockAdjustment.source)
                .where(t.StockAdjustment.sku_id == sku_id)
                .order_by(t.StockAdjustment.id)
            )
        )


@pytest.fixture
def shop(tmp_path: Path, sqlite_db: Database) -> Iterator[Shop]:
    with ExitStack() as stack:
        world = build_world(stack, tmp_path, sqlite_db, 4, ("shopify", "woocommerce"))
        live = stack.enter_context(serve(world.app))
        hub = world.app.extensions["hub"]
        channel = world.channels["shopify"]
        with world.db.session() as session:
            conn = session.get(t.Connection, channel.connection_id)
            session.expunge(conn)
        assert TOPIC in build_connector(world.db, hub.box, conn, hub.settings.public_url).register_webhooks()
        sandbox: ShopifySandbox = channel.sandbox
        # Shopify's clock a second ahead: its whole-second updated_at of an edit made after a
        # publish is then never earlier than that publish (both clocks are real time otherwise)
        sandbox.clock.advance(1)
        url = live.url(f"/webhooks/shopify/{conn.webhook_key}")
        yield Shop(world, live, channel, sandbox, sandbox.locations[0]["id"], url)


def test_a_merchant_edit_comes_in_by_webhook_and_reaches_the_other_channel(shop: Shop) -> None:
    world, sandbox, i = shop.world, shop.sandbox, 2
    sku, sku_id, loc = shop.channel.skus[i], world.sku_ids[i], world.location_id
    published = world.shown("shopify")[i]
    assert published is not None and published == world.on_hand()[i]
    # the hub moves on meanwhile (6 received, not pushed yet); the merchant counts 7 more in Shopify
    world.change(lambda s: adjust(s, sku_id, loc, 6, reason="received"))
    sandbox.set_faults(duplicate_webhooks=1.0)  # Shopify delivers the event twice
    assert sandbox.set_stock(sku, shop.home, published + 7) == [200, 200]
    [event] = shop.settled(1)
    assert (event.topic, event.state, event.duplicate_count) == (TOPIC, "done", 1)
    body = json.loads(event.body)
    assert set(body) == {
        "inventory_item_id",
        "location_id",
        "available",
        "updated_at",
        "admin_graphql_api_id",
    }
    assert world.on_hand()[i] == published + 6 + 7, "relative to the last publish, not an overwrite"
    assert adjustment_sources(world.db, sku_id)[-2:] == ["manual", "channel"]
    others = [n for j, n in enumerate(world.on_hand()) if j != i]

    # the same reading delivered again as another event changes nothing
    sandbox.reset_faults()
    assert sandbox.send_webhook(shop.webhook_url, TOPIC, body) == [200]
    shop.settled(2)
    assert world.on_hand()[i] == published + 13

    shop.push("woocommerce")
    shop.push("shopify")
    assert world.shown("woocommerce")[i] == published + 13, "the other channel gets the new value"
    assert world.shown("shopify")[i] == published + 13
    assert [n for j, n in enumerate(world.on_hand()) if j != i] == others, "no other SKU moved"
    assert queued_pushes(world.db) == 0


def test_a_stale_or_late_reading_changes_nothing(shop: Shop) -> None:
    world, sandbox, i = shop.world, shop.sandbox, 1
    sku, sku_id = shop.channel.skus[i], world.sku_ids[i]
    published = world.shown("shopify")[i]
    assert published is not None
    before = world.on_hand()
    shopify_tz = datetime.fromisoformat(sandbox.inventory_level(sku, shop.home)["updated_at"]).tzinfo

    def reading(available: int, at: datetime) -> dict[str, Any]:
        stamp = at.astimezone(shopify_tz).replace(microsecond=0).isoformat()
        return sandbox.inventory_level(sku, shop.home) | {"available": available, "updated_at": stamp}

    # a reading from before the last publish, delivered late (Shopify retries for hours)
    with world.db.session() as session:
        last_publish = session.scalar(
            select(t.StockPublication.published_at).where(t.StockPublication.sku_id == sku_id)
        )
    assert sandbox.send_webhook(shop.webhook_url, TOPIC, reading(0, last_publish - timedelta(hours=1))) == [
        200
    ]
    shop.settled(1)
    assert world.on_hand() == before and queued_pushes(world.db) == 0

    # an edit a minute on, then a reading between the publish and that edit arriving after it
    sandbox.clock.advance(60)
    assert sandbox.set_stock(sku, shop.home, published + 2) == [200]
    shop.settled(2)
    assert world.on_hand()[i] == before[i] + 2
    earlier = datetime.fromisoformat(sandbox.inventory_level(sku, shop.home)["updated_at"]) - timedelta(
        seconds=30
    )
    assert earlier > last_publish
    assert sandbox.send_webhook(shop.webhook_url, TOPIC, reading(published + 40, earlier)) == [200]
    shop.settled(3)
    assert world.on_hand()[i] == before[i] + 2, "webhooks are not ordered: an older reading is stale"


def test_a_level_at_a_location_the_hub_does_not_publish_to_is_ignored(shop: Shop) -> None:
    world, sandbox, i = shop.world, shop.sandbox, 0
    other = sandbox.locations[1]["id"]
    before = world.on_hand()
    assert sandbox.set_stock(shop.channel.skus[i], other, 500) == [200]
    shop.settled(1)
    assert world.on_hand() == before
    assert queued_pushes(world.db) == 0
    assert world.shown("woocommerce") == before
