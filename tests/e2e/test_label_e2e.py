"""Acceptance, label purchase against the carrier sandboxes: a purchase whose answer the
sandbox drops is reconciled and retried, and the sandbox has sold exactly one label; the
label is stored and downloadable, and the shop, the purchase and the event are recorded."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import func, select

from hub import tables as t
from hub.connectors import get_connector
from hub.db import Database
from hub.sandbox import Sandbox, load_sandbox
from hub.services.connections import create_connection
from tests.e2e.test_rate_shop_e2e import api_client
from tests.shipping_fakes import add_order_and_location

#: the carrier's purchase call, where the sandbox loses the answer after selling
BUY_PATHS = {"usps": r"^/labels/v3/label$", "easypost": r"^/v2/shipments/[^/]+/buy$"}
US_ADDRESS = {
    "name": "Ann Buyer",
    "company": None,
    "line1": "350 5th Ave",
    "line2": None,
    "city": "New York",
    "region": "NY",
    "postal_code": "10118",
    "country_code": "US",
    "phone": "2125550100",
}


def sold(sandbox: Sandbox) -> int:
    """The sandbox's count of labels sold (a method on some sandboxes, a property on others)."""
    value = sandbox.labels_sold  # type: ignore[attr-defined]
    return int(value() if callable(value) else value)


@pytest.fixture(params=sorted(BUY_PATHS))
def carrier(request: pytest.FixtureRequest) -> Iterator[tuple[str, Sandbox]]:
    name = request.param
    sandbox = load_sandbox(get_connector(name).sandbox or "", seed=random.randrange(1, 1_000_000)).start()
    try:
        yield name, sandbox
    finally:
        sandbox.stop()


def test_a_dropped_purchase_answer_sells_exactly_one_label(
    app: Flask, hub_db: Database, carrier: tuple[str, Sandbox]
) -> None:
    name, sandbox = carrier
    order_id, _loc = add_order_and_location(hub_db)
    with hub_db.session() as session:
        order = session.get_one(t.Order, order_id)
        order.canonical = {**order.canonical, "shipping_address": US_ADDRESS}
        conn_id = create_connection(
            session, app.extensions["hub"].box, name, f"{name} sandbox", sandbox.connection_values()
        ).id
    client = api_client(app, hub_db)
    created = client.post(
        "/api/v1/shipments",
        json={
            "order_id": order_id,
            "parcels": [{"weight_g": 900, "length_mm": 250, "width_mm": 200, "height_mm": 100}],
        },
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    shipment_id = created.json["id"]
    shop = client.post("/api/v1/rates", json={"shipment_id": shipment_id, "connection_ids": [conn_id]})
    assert shop.status_code == 200 and shop.json["chosen"] is not None, shop.get_data(as_text=True)

    sandbox.fail_next("lost_response", path=BUY_PATHS[name])
    bought = client.post(f"/api/v1/shipments/{shipment_id}/label", json={})
    assert bought.status_code == 201, bought.get_data(as_text=True)
    doc = bought.json
    assert sandbox.stats.faults["lost_response"] == 1, "the answer to the purchase was dropped"
    assert doc["label_state"] == "labelled" and doc["tracking_number"]
    assert sold(sandbox) == 1
    assert doc["label"]["attempts"] >= 1 and doc["label"]["has_label"]
    label = client.get(f"/api/v1/shipments/{shipment_id}/label")
    assert label.status_code == 200 and len(label.data) > 0
    assert client.post(f"/api/v1/shipments/{shipment_id}/label", json={}).status_code == 409
    assert sold(sandbox) == 1
    with hub_db.session() as session:
        events = session.scalar(
            select(func.count()).select_from(t.HubEvent).where(t.HubEvent.topic == "shipment.label_created")
        )
        shops = session.scalar(select(func.count()).select_from(t.RateShop))
    assert (events, shops) == (1, 1)
