"""Shopify stock and fulfilments end to end on loopback: a connection stored in the hub, its
connector (real HTTP, call log, rate limiters) against the Shopify sandbox (real HTTP, its
REST bucket, GraphQL cost bucket and faults)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from connectors.shopify import ShopifyConnector, client
from connectors.shopify.sandbox import ShopifySandbox
from hub import tables as t
from hub.app import create_app
from hub.calllog import flush_call_log
from hub.connectors import PushResult, ShipmentLine, ShipmentPush, StockLevel, StockWrite
from hub.db import Database
from hub.http import HttpError
from hub.services.connections import build_connector, create_connection
from tests.conftest import make_settings

SKUS = 120  # x 3 locations = 360 quantities: two mutations
PLUS_RESTORE_RATE = 1000.0  # GraphQL points per second of a Plus shop (Standard: 100)
CREATE_PATH = r"^/admin/api/[^/]+/fulfillments\.json$"


@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Iterator[ShopifySandbox]:
    """A Standard shop; ``@pytest.mark.parametrize("sandbox", [rate], indirect=True)`` for another
    GraphQL restore rate."""
    rate = getattr(request, "param", 100.0)
    with ShopifySandbox(seed=11, orders=40, skus=SKUS, limits=True, graphql_restore_rate=rate) as running:
        yield running


@pytest.fixture
def connector(tmp_path: Path, sqlite_db: Database, sandbox: ShopifySandbox) -> Iterator[ShopifyConnector]:
    app = create_app(make_settings(tmp_path, sqlite_db.url))
    h = app.extensions["hub"]
    with h.db.session() as session:
        conn = create_connection(session, h.box, "shopify", "Sandbox shop", sandbox.connection_values())
        session.flush()
        session.expunge(conn)
    try:
        built = build_connector(h.db, h.box, conn, h.settings.public_url)
        assert isinstance(built, ShopifyConnector)
        # connection ids restart at 1 in every test's database, but each test's shop is new:
        # its cost bucket is full, whatever the previous test's shop left in the process-wide one
        built.client.graphql_bucket.update(available=built.client.graphql_bucket.capacity)
        yield built
    finally:
        h.dispatcher.shutdown(wait=True)
        h.db.dispose()


def everything(sandbox: ShopifySandbox) -> dict[tuple[str, str], int]:
    return {
        (p["sku"], str(loc["id"])): sandbox.stock(p["sku"], loc["id"])
        for p in sandbox.catalog
        for loc in sandbox.locations
    }


def as_dict(levels: list[StockLevel]) -> dict[tuple[str, str], int]:
    found = {(x.sku, x.location_id): x.available for x in levels}
    assert len(found) == len(levels), "one level per SKU and location"
    return found


@pytest.mark.parametrize("sandbox", [PLUS_RESTORE_RATE], indirect=True)
def test_write_every_sku_then_read_it_back(connector: ShopifyConnector, sandbox: ShopifySandbox) -> None:
    assert as_dict(connector.read_stock()) == everything(sandbox)
    writes = [
        StockWrite(p["sku"], str(loc["id"]), (i * 7 + j) % 500)
        for i, p in enumerate(sandbox.catalog)
        for j, loc in enumerate(sandbox.locations)
    ]
    results = connector.write_stock(writes)
    assert [r for r in results if not r.ok] == []
    wanted = {(w.sku, w.location_id): w.quantity for w in writes}
    assert everything(sandbox) == wanted
    assert as_dict(connector.read_stock()) == wanted
    assert sandbox.graphql_calls["inventorySetQuantities"] == 2, "360 quantities: 250 + 110"
    assert sandbox.stats.count(status=429) == 0
    flush_call_log(connector_db(connector))  # the call log is written in batches
    with connector_db(connector).session() as session:
        logged = session.scalar(select(func.count()).select_from(t.ApiCall))
    assert logged == sandbox.stats.count(), "every call is in the call log"


def connector_db(connector: ShopifyConnector) -> Database:
    return connector.ctx.http.sink.writer.db  # type: ignore[union-attr]


def test_a_merchant_edit_is_seen(connector: ShopifyConnector, sandbox: ShopifySandbox) -> None:
    sku, location = sandbox.catalog[3]["sku"], sandbox.locations[1]["id"]
    connector.write_stock([StockWrite(sku, str(location), 10)])
    sandbox.set_stock(sku, location, 777)  # sold or recounted in the Shopify admin
    assert StockLevel(sku, str(location), 777) in connector.read_stock([sku])
    assert StockLevel(sku, str(location), 777) in connector.read_stock()


def test_refused_quantities_fail_alone(connector: ShopifyConnector, sandbox: ShopifySandbox) -> None:
    a, b = sandbox.catalog[0]["sku"], sandbox.catalog[1]["sku"]
    main, store = (str(loc["id"]) for loc in sandbox.locations[:2])
    sandbox.unstock(b, store)
    writes = [StockWrite(a, main, 5), StockWrite(b, store, 6), StockWrite("NOT-IN-SHOPIFY", main, 7)]
    results = connector.write_stock([*writes, StockWrite(b, main, 8)])
    assert [r.ok for r in results] == [True, False, False, True]
    assert results[1].error.startswith("ITEM_NOT_STOCKED_AT_LOCATION")
    assert (sandbox.stock(a, main), sandbox.stock(b, store), sandbox.stock(b, main)) == (5, None, 8)


def test_throttled_reads_wait_for_points(connector: ShopifyConnector, sandbox: ShopifySandbox) -> None:
    skus = [p["sku"] for p in sandbox.catalog[: client.STOCK_PAGE]]  # one page: 852 points asked
    sandbox.set_graphql_points(800)  # other apps spent the rest
    started = time.monotonic()
    levels = as_dict(connector.read_stock(skus))
    waited = time.monotonic() - started
    assert levels == {key: n for key, n in everything(sandbox).items() if key[0] in skus}
    assert sandbox.stats.faults["throttled"] == 1 and sandbox.graphql_calls["productVariants"] == 2
    assert 0.4 < waited < 3, "(852 - 800) / 100 per second"


def open_order(sandbox: ShopifySandbox, *, lines: int = 1) -> dict[str, Any]:
    return next(
        o
        for o in sandbox.all_orders()
        if o["cancelled_at"] is None
        and o["fulfillment_status"] is None
        and len(o["line_items"]) >= lines
        and len({fo["assigned_location_id"] for fo in sandbox.fulfillment_orders(o["id"])}) == 1
    )


def whole(order: dict[str, Any], **kw: Any) -> ShipmentPush:
    values = {
        "key": f"shp-{order['id']}",
        "order_external_id": str(order["id"]),
        "lines": tuple(ShipmentLine(str(li["id"]), li["fulfillable_quantity"]) for li in order["line_items"]),
        "carrier": "fedex",
        "carrier_name": "FedEx Ground",
        "tracking_number": "794600000001",
        "notify_customer": True,
    }
    return ShipmentPush(**(values | kw))


def test_pushed_twice_one_fulfilment(connector: ShopifyConnector, sandbox: ShopifySandbox) -> None:
    order = open_order(sandbox, lines=2)
    push = whole(order)
    first = connector.push_fulfilment(push)
    assert first.outcome == "created"
    assert connector.push_fulfilment(push) == PushResult("unchanged", first.channel_ref)
    [fulfillment] = sandbox.fulfillments(order["id"])
    assert str(fulfillment["id"]) == first.channel_ref
    assert (fulfillment["tracking_number"], fulfillment["tracking_company"]) == ("794600000001", "FedEx")
    assert fulfillment["tracking_url"].startswith("https://www.fedex.com/")
    after = sandbox.order(order["id"])
    assert after["fulfillment_status"] == "fulfilled" and after["updated_at"] > order["updated_at"]
    assert sandbox.notified == [fulfillment["id"]], "the customer was told once"


def test_lost_answer_then_push_again_one_fulfilment(
    connector: ShopifyConnector, sandbox: ShopifySandbox
) -> None:
    order = open_order(sandbox)
    push = whole(order, carrier="dhl_express", carrier_name="DHL", tracking_number="JD0002")
    sandbox.fail_next("lost_response", path=CREATE_PATH)
    with pytest.raises(HttpError):
        connector.push_fulfilment(push)  # created in Shopify, but the answer never came
    assert sandbox.stats.count(method="POST", rule="/admin/api/<version>/fulfillments.json") == 1
    assert len(sandbox.fulfillments(order["id"])) == 1
    result = connector.push_fulfilment(push)
    [fulfillment] = sandbox.fulfillments(order["id"])
    assert result == PushResult("unchanged", str(fulfillment["id"]))
    assert (fulfillment["tracking_number"], fulfillment["tracking_company"]) == ("JD0002", "DHL Express")
    assert sandbox.stats.count(method="POST", rule="/admin/api/<version>/fulfillments.json") == 1


def test_a_new_tracking_number_updates_the_same_fulfilment(
    connector: ShopifyConnector, sandbox: ShopifySandbox
) -> None:
    order = open_order(sandbox)
    first = connector.push_fulfilment(
        whole(order, carrier="usps", carrier_name="USPS", tracking_number="9400A")
    )
    before = sandbox.order(order["id"])
    fixed = whole(order, carrier="usps", carrier_name="USPS", tracking_number="9400B", notify_customer=False)
    assert connector.push_fulfilment(fixed) == PushResult("updated", first.channel_ref)
    [fulfillment] = sandbox.fulfillments(order["id"])
    assert str(fulfillment["id"]) == first.channel_ref
    assert fulfillment["tracking_numbers"] == ["9400B"] and fulfillment["tracking_company"] == "USPS"
    assert sandbox.order(order["id"])["updated_at"] > before["updated_at"]
    assert connector.push_fulfilment(fixed).outcome == "unchanged"
    # the old number again is a tracking change too (back), not a second fulfilment
    again = dataclasses.replace(fixed, tracking_number="9400A")
    assert connector.push_fulfilment(again) == PushResult("updated", first.channel_ref)
    assert len(sandbox.fulfillments(order["id"])) == 1


def test_an_order_split_over_two_locations(connector: ShopifyConnector, sandbox: ShopifySandbox) -> None:
    order = next(
        o
        for o in sandbox.all_orders()
        if o["cancelled_at"] is None
        and all(li["fulfillable_quantity"] for li in o["line_items"])
        and len(sandbox.fulfillment_orders(o["id"])) == 2
    )
    result = connector.push_fulfilment(whole(order))
    assert result.outcome == "created" and len(result.channel_ref.split(",")) == 2
    assert connector.push_fulfilment(whole(order)) == PushResult("unchanged", result.channel_ref)
    fulfillments = sandbox.fulfillments(order["id"])
    assert {f["location_id"] for f in fulfillments} == {loc["id"] for loc in sandbox.locations[:2]}
    assert len(sandbox.notified) == 1
