"""What a newcomer does after ``make run``, with Flask's test client against the real sandboxes
``hub run --sandbox`` starts (``start_sandboxes``, on free ports): the demo location ``main`` is
seeded with its ship-from address and the channels' stock, ingested orders reserve there, and
an order goes through "Create shipment", "Get rates" (the five carrier sandboxes), "Buy label",
the label on the shipment page, and the scheduler's ``push_tracking`` job carrying the tracking
number back to the order's channel sandbox. A second start seeds nothing again."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from connectors.shopify.sandbox import ShopifySandbox
from hub import tables as t
from hub.app import create_app
from hub.db import Database
from hub.jobs import poll_connection_orders, push_tracking
from hub.runner import DEMO_LOCATION, ensure_admin, seed_demo, start_sandboxes
from hub.sandbox import Sandbox
from hub.scheduling import run_scheduled
from tests.conftest import csrf_from, make_settings

CARRIERS = {"ups", "fedex", "usps", "dhl_express", "easypost"}


@pytest.fixture
def app(tmp_path: Path, db: Database) -> Iterator[Flask]:
    (tmp_path / "instance").mkdir()  # `hub db upgrade` made it, with the secret key
    application = create_app(make_settings(tmp_path, db.url, sandbox=True))
    application.config["TESTING"] = True
    yield application
    application.extensions["hub"].dispatcher.shutdown(wait=True)


@pytest.fixture
def sandboxes(app: Flask) -> Iterator[list[Sandbox]]:
    with app.app_context():
        started = start_sandboxes(port_base=None, activity=False)
    yield started
    for sandbox in started:
        sandbox.stop()


def _connection(app: Flask, connector: str) -> int:
    with app.extensions["hub"].db.session() as session:
        cid = session.scalar(select(t.Connection.id).where(t.Connection.connector == connector))
    assert cid is not None
    return cid


def _login(app: Flask) -> FlaskClient:
    with app.app_context():
        line = ensure_admin()  # what `hub run` prints
    match = re.fullmatch(r"login: admin / (\S+)", line)
    assert match, line
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    response = client.post(
        "/login", data={"username": "admin", "password": match.group(1), "csrf_token": csrf_from(page)}
    )
    assert response.status_code == 302
    return client


def _us_order_reserved_at_main(app: Flask, connection_id: int) -> t.Order:
    """An open order to a US address whose every line is reserved at ``main``."""
    with app.extensions["hub"].db.session() as session:
        main = session.scalar(select(t.Location.id).where(t.Location.code == DEMO_LOCATION))
        for order in session.scalars(
            select(t.Order).where(t.Order.connection_id == connection_id).order_by(t.Order.id)
        ):
            ship_to = order.canonical.get("shipping_address") or {}
            states = set(
                session.execute(
                    select(t.Reservation.state, t.Reservation.location_id).where(
                        t.Reservation.order_id == order.id
                    )
                ).all()
            )
            if (
                order.status == "open"
                and ship_to.get("country_code") == "US"
                and states == {("reserved", main)}
            ):
                session.expunge(order)
                return order
    raise AssertionError("no open US order reserved at main")


def test_a_newcomer_ships_an_order_and_the_channel_gets_the_tracking(
    app: Flask, sandboxes: list[Sandbox]
) -> None:
    hub = app.extensions["hub"]
    shopify = next(s for s in sandboxes if isinstance(s, ShopifySandbox))
    cid = _connection(app, "shopify")

    # the demo location, its address and the channels' stock, before any order arrives
    with hub.db.session() as session:
        main = session.scalar(select(t.Location).where(t.Location.code == DEMO_LOCATION))
        assert main is not None and main.name == "Main warehouse"
        address = session.scalar(select(t.LocationAddress).where(t.LocationAddress.location_id == main.id))
        assert address is not None and (address.country_code, address.region) == ("US", "GA")
        levels = dict(
            session.execute(
                select(t.Sku.sku, t.StockLevel.on_hand).join(t.StockLevel, t.StockLevel.sku_id == t.Sku.id)
            ).all()
        )
    catalogue = {p["sku"] for p in shopify.catalog}
    assert catalogue <= set(levels)  # every SKU the Shopify sandbox sells is stocked at main
    for sku in catalogue:  # at what Shopify shows where the hub publishes (its first location)
        assert levels[sku] == shopify.stock(sku, shopify.locations[0]["id"])

    # the scheduler's order poll: the orders reserve at main
    with app.app_context():
        run_scheduled(app, f"poll_orders:{cid}", poll_connection_orders, cid)
    order = _us_order_reserved_at_main(app, cid)

    web = _login(app)
    assert web.get("/stock/locations").status_code == 200
    page = web.get(f"/orders/{order.id}").get_data(as_text=True)
    assert 'id="new-shipment"' in page

    # Create shipment: every line, from main, one parcel
    form = web.get(f"/orders/{order.id}/shipments/new").get_data(as_text=True)
    created = web.post(
        f"/orders/{order.id}/shipments/new",
        data={
            "csrf_token": csrf_from(form),
            "weight_g": "1200",
            "length_mm": "300",
            "width_mm": "200",
            "height_mm": "100",
        },
    )
    assert created.status_code == 302, created.get_data(as_text=True)
    shipment_id = int(created.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    with hub.db.session() as session:
        shipment = session.get_one(t.Shipment, shipment_id)
        assert shipment.location_id == main.id
        assert shipment.ship_from["street1"] == "1 Dock Rd"

    # Get rates: quotes from the five carrier sandboxes, one of them chosen
    page = web.get(f"/shipments/{shipment_id}").get_data(as_text=True)
    rated = web.post(f"/shipments/{shipment_id}/rates", data={"csrf_token": csrf_from(page)})
    assert rated.status_code == 302
    page = web.get(f"/shipments/{shipment_id}").get_data(as_text=True)
    assert "carrier(s) failed" in page and "0 carrier(s) failed" in page
    with hub.db.session() as session:
        shop = session.scalars(select(t.RateShop).where(t.RateShop.shipment_id == shipment_id)).one()
        quotes, failures, chosen = shop.quotes, shop.failures, shop.chosen
    assert failures == []
    assert {q["carrier"] for q in quotes} == CARRIERS
    assert chosen is not None

    # Buy the chosen label from the page's button
    buy = web.post(
        f"/shipments/{shipment_id}/label",
        data={
            "csrf_token": csrf_from(page),
            "connection_id": str(chosen["connection_id"]),
            "service_code": chosen["service_code"],
        },
    )
    assert buy.status_code == 302
    page = web.get(f"/shipments/{shipment_id}").get_data(as_text=True)
    assert 'id="label-state">labelled<' in page
    assert 'id="label"' in page
    with hub.db.session() as session:
        shipment = session.get_one(t.Shipment, shipment_id)
        tracking = shipment.tracking_number
    assert tracking and tracking in page
    label = web.get(f"/shipments/{shipment_id}/label?inline=1")
    assert label.status_code == 200 and len(label.data) > 100

    # the scheduler's push_tracking job: the fulfilment reaches the Shopify sandbox, once
    with app.app_context():
        run_scheduled(app, f"push_tracking:{cid}", push_tracking, cid)
        run_scheduled(app, f"push_tracking:{cid}", push_tracking, cid)
    fulfilments = shopify.fulfillments(order.external_id)
    numbers = [f["tracking_number"] for f in fulfilments if f.get("status") != "cancelled"]
    assert numbers == [tracking]
    with hub.db.session() as session:
        assert session.scalar(select(t.OutboxMessage.state)) == "sent"


def test_a_second_start_seeds_nothing_again(app: Flask, sandboxes: list[Sandbox]) -> None:
    hub = app.extensions["hub"]

    def state() -> tuple[int, int, int, int]:
        with hub.db.session() as session:
            return (
                session.scalar(select(func.count()).select_from(t.Location)) or 0,
                session.scalar(select(func.count()).select_from(t.LocationAddress)) or 0,
                session.scalar(select(func.sum(t.StockLevel.on_hand))) or 0,
                session.scalar(select(func.count()).select_from(t.StockAdjustment)) or 0,
            )

    before = state()
    assert before[0] == 1 and before[1] == 1 and before[2] > 0
    channels = [(_connection(app, s.name), s) for s in sandboxes if s.name in {"shopify", "woocommerce"}]
    with app.app_context():
        assert seed_demo(channels) == 0
    assert state() == before
