"""The shipping API: shipments from orders, validation naming the field with no state change,
rule sets, rate shops stored with the shipment, the order and shipment pages."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from hub import tables as t
from hub.db import Database
from hub.services.accounts import create_token
from tests import shipping_fakes
from tests.conftest import csrf_from
from tests.shipping_fakes import FakeCarrier, add_carrier, add_order_and_location

fake_carrier = shipping_fakes.fake_carrier
PARCEL = {"weight_g": 800, "length_mm": 200, "width_mm": 150, "height_mm": 100}


@pytest.fixture
def api(app: Flask, hub_db: Database, fake_carrier: type[FakeCarrier]) -> FlaskClient:
    with hub_db.session() as s:
        token = create_token(s, "erp")
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def shipments(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(t.Shipment)) or 0


def test_a_shipment_takes_the_reserved_location_and_the_order_address(
    api: FlaskClient, hub_db: Database
) -> None:
    order_id, _loc = add_order_and_location(hub_db)
    response = api.post(
        "/api/v1/shipments",
        json={
            "order_id": order_id,
            "parcels": [PARCEL],
            "lines": [{"line_external_id": "1-0", "quantity": 2}],
        },
    )
    assert response.status_code == 201, response.json
    doc = response.json
    assert doc["location"] == "WH1" and doc["ship_from"]["city"] == "Atlanta"
    assert doc["lines"] == [{"line_external_id": "1-0", "quantity": 2}] and doc["label_state"] == "none"
    rest = api.post("/api/v1/shipments", json={"order_id": order_id, "parcels": [PARCEL]})
    assert rest.json["lines"] == [
        {"line_external_id": "1-0", "quantity": 1},
        {"line_external_id": "1-1", "quantity": 1},
    ]
    full = api.post("/api/v1/shipments", json={"order_id": order_id, "parcels": [PARCEL]})
    assert full.status_code == 400 and full.json["error"]["field"] == "lines"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"parcels": [PARCEL]}, "order_id"),
        ({"order_id": 1}, "parcels"),
        ({"order_id": 1, "parcels": [{"weight_g": -5}]}, "parcels.0.weight_g"),
        ({"order_id": 1, "parcels": [{"weight_g": 1.5}]}, "parcels.0.weight_g"),
        (
            {"order_id": 1, "parcels": [PARCEL], "lines": [{"line_external_id": "nope", "quantity": 1}]},
            "lines.0.line_external_id",
        ),
        (
            {"order_id": 1, "parcels": [PARCEL], "lines": [{"line_external_id": "1-0", "quantity": 9}]},
            "lines.0.quantity",
        ),
        ({"order_id": 1, "parcels": [PARCEL], "location": "NOWHERE"}, "location"),
        ({"order_id": 1, "parcels": [PARCEL], "location": "WH2"}, "location"),
        ({"order_id": 1, "parcels": [PARCEL], "colour": "red"}, "colour"),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(
    api: FlaskClient, hub_db: Database, body: dict, field: str
) -> None:
    add_order_and_location(hub_db)
    response = api.post("/api/v1/shipments", json=body)
    assert response.status_code == 400, response.json
    assert response.json["error"]["field"] == field
    assert shipments(hub_db) == 0


def test_rule_sets_and_a_stored_shop(api: FlaskClient, hub_db: Database, app: Flask) -> None:
    order_id, _loc = add_order_and_location(hub_db)
    box = app.extensions["hub"].box
    add_carrier(hub_db, box, "ups-fake", carrier="ups")
    add_carrier(hub_db, box, "usps-fake", carrier="usps", quotes=[["GA", "8.00", 4]])
    add_carrier(hub_db, box, "broken", carrier="fedex", fail="503")
    bad = api.put("/api/v1/rule-sets/channel:shopify", json={"strategy": "cheapest_by_date"})
    assert bad.status_code == 400 and bad.json["error"]["field"] == "deliver_by"
    assert api.put("/api/v1/rule-sets/planet:mars", json={}).json["error"]["field"] == "scope"
    put = api.put(
        "/api/v1/rule-sets/channel:shopify", json={"markup_percent": "10", "carriers_deny": ["usps"]}
    )
    assert put.status_code == 200 and put.json["rules"]["markup_percent"] == "10"
    shipment_id = api.post("/api/v1/shipments", json={"order_id": order_id, "parcels": [PARCEL]}).json["id"]
    shop = api.post("/api/v1/rates", json={"shipment_id": shipment_id})
    assert shop.status_code == 200
    doc = shop.json
    assert doc["rule_scope"] == "channel:shopify"
    assert doc["chosen"]["carrier"] == "ups" and doc["chosen"]["price"] == "11.00", "usps denied, 10 % markup"
    assert [(f["connection_name"], f["reason"]) for f in doc["failures"]] == [("broken", "error")]
    shown = api.get(f"/api/v1/shipments/{shipment_id}").json["rate_shop"]
    assert shown["chosen"]["service_code"] == "GND" and "carrier_ref" not in shown["chosen"]
    with hub_db.session() as s:
        stored = s.scalar(select(t.RateShop))
        assert stored.chosen["carrier_ref"] == "rate_ups_GND", "kept for buying the quote"
    bought = api.post(f"/api/v1/shipments/{shipment_id}/label", json={})
    assert bought.status_code == 201 and bought.json["label_state"] == "labelled"
    label = api.get(f"/api/v1/shipments/{shipment_id}/label")
    assert label.mimetype == "image/png" and label.data.startswith(b"\x89PNG")


def test_shipment_pages(
    client: FlaskClient, hub_db: Database, fake_carrier: type[FakeCarrier], app: Flask
) -> None:
    order_id, _loc = add_order_and_location(hub_db)
    add_carrier(hub_db, app.extensions["hub"].box, "ups-fake", carrier="ups")
    order_page = client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert f"/orders/{order_id}/shipments/new" in order_page
    form = client.get(f"/orders/{order_id}/shipments/new").get_data(as_text=True)
    bad = client.post(
        f"/orders/{order_id}/shipments/new", data={"csrf_token": csrf_from(form), "weight_g": ""}
    )
    assert bad.status_code == 400 and "weight_g is required" in bad.get_data(as_text=True)
    made = client.post(
        f"/orders/{order_id}/shipments/new", data={"csrf_token": csrf_from(form), "weight_g": "700"}
    )
    assert made.status_code == 302
    page = client.get(made.location).get_data(as_text=True)
    assert "Get rates" in page
    with hub_db.session() as s:
        skus = [line.sku for line in s.query(t.OrderLine).filter(t.OrderLine.order_id == order_id)]
    assert all(sku in page for sku in skus) and "\u00d7 line " not in page, "lines by SKU and name, not ids"
    client.post(made.location + "/rates", data={"csrf_token": csrf_from(page)})
    page = client.get(made.location).get_data(as_text=True)
    assert 'id="quotes"' in page and "Buy label" in page
    client.post(
        made.location + "/label",
        data={"csrf_token": csrf_from(page), "connection_id": "2", "service_code": "GND"},
    )
    page = client.get(made.location).get_data(as_text=True)
    assert 'id="label"' in page and "<img" in page and "1ZFAKE000001" in page


def test_settle_a_lost_purchase_by_page_and_by_api(
    client: FlaskClient, api: FlaskClient, hub_db: Database, app: Flask
) -> None:
    from hub.shipping.labels import purchase_label
    from hub.shipping.model import Parcel
    from hub.shipping.shipments import create_shipment

    box = app.extensions["hub"].box
    order_id, _loc = add_order_and_location(hub_db)
    carrier_id = add_carrier(hub_db, box, "fedex-fake", no_lookup=True)
    shipment_id = hub_db.transaction(
        lambda s: create_shipment(s, order_id=order_id, parcels=[Parcel(500)]).id
    )
    FakeCarrier.ledger.lose_answers = 1
    purchase_label(hub_db, box, "http://hub.test", shipment_id, connection_id=carrier_id, service_code="GND")
    page = client.get(f"/shipments/{shipment_id}").get_data(as_text=True)
    assert 'id="settle-form"' in page
    bad = api.post(f"/api/v1/shipments/{shipment_id}/settle", json={"outcome": "bought"})
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "tracking_number"
    client.post(
        f"/shipments/{shipment_id}/settle",
        data={"csrf_token": csrf_from(page), "outcome": "bought", "tracking_number": "7946000042"},
    )
    page = client.get(f"/shipments/{shipment_id}").get_data(as_text=True)
    assert 'id="settle-form"' not in page and "7946000042" in page
    again = api.post(f"/api/v1/shipments/{shipment_id}/settle", json={"outcome": "none"})
    assert again.status_code == 409
