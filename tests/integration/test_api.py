"""REST API read side: bearer tokens, filters, cursor paging, JSON errors."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from hub import tables as t
from hub.db import Database
from hub.ingest import IngestItem, ingest_orders
from hub.services.accounts import create_token
from tests.contracts import validate_order
from tests.factories import make_order, newer

HUB_FIELDS = {"id", "connection_id", "received_at", "history"}


@pytest.fixture
def token(hub_db: Database) -> str:
    with hub_db.session() as s:
        return create_token(s, "erp")


@pytest.fixture
def api(app: Flask, token: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


@pytest.fixture
def orders(hub_db: Database) -> list:
    with hub_db.session() as s:
        s.add(
            t.Connection(
                kind="channel", connector="shopify", name="s", webhook_key="k", settings={}, schedule={}
            )
        )
    orders = [make_order(i) for i in range(30)]
    hub_db.transaction(lambda s: ingest_orders(s, 1, [IngestItem(o, {}) for o in orders]))
    return orders


def test_token_required(app: Flask) -> None:
    c = app.test_client()
    for headers in [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}]:
        response = c.get("/api/v1/orders", headers=headers)
        assert response.status_code == 401
        assert response.json["error"]["code"] == "unauthorized"


def test_token_is_stored_hashed(hub_db: Database, token: str) -> None:
    with hub_db.session() as s:
        row = s.scalar(select(t.ApiToken))
    assert row.token_hash != token and token not in row.token_hash


def test_orders_in_canonical_shape_with_cursor_paging(api: FlaskClient, orders: list) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        response = api.get(
            "/api/v1/orders", query_string={"limit": 7, **({"cursor": cursor} if cursor else {})}
        )
        assert response.status_code == 200
        for doc in response.json["orders"]:
            validate_order({k: v for k, v in doc.items() if k not in HUB_FIELDS})
            seen.append(doc["external_id"])
        cursor = response.json["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(o.external_id for o in orders)
    assert len(seen) == len(set(seen))
    created = [o.created_at for o in sorted(orders, key=lambda o: o.created_at, reverse=True)]
    assert [o.created_at for o in sorted(orders, key=lambda o: seen.index(o.external_id))] == created


def test_filters(api: FlaskClient, orders: list) -> None:
    paid = api.get("/api/v1/orders?payment_status=paid&limit=200").json["orders"]
    assert {o["external_id"] for o in paid} == {o.external_id for o in orders if o.payment_status == "paid"}
    day = orders[0].created_at.date().isoformat()
    same_day = api.get(f"/api/v1/orders?created_from={day}&created_to={day}&limit=200").json["orders"]
    assert len(same_day) == len([o for o in orders if o.created_at.date() == orders[0].created_at.date()])


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=shipped", "status"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("cursor=%%%", "cursor"),
        ("created_from=2026-13-01", "created_from"),
        ("connection_id=x", "connection_id"),
    ],
)
def test_bad_filters_are_400_naming_the_field(api: FlaskClient, orders: list, query: str, field: str) -> None:
    response = api.get(f"/api/v1/orders?{query}")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid"
    assert response.json["error"]["field"] == field


def test_one_order_with_history(api: FlaskClient, hub_db: Database, orders: list) -> None:
    hub_db.transaction(
        lambda s: ingest_orders(s, 1, [IngestItem(newer(orders[0], 60, note="n"), {}, "webhook")])
    )
    with hub_db.session() as s:
        order_id = s.scalar(select(t.Order.id).where(t.Order.external_id == orders[0].external_id))
    doc = api.get(f"/api/v1/orders/{order_id}").json
    assert doc["id"] == order_id and doc["connection_id"] == 1 and doc["received_at"].endswith("Z")
    assert [(h["change"], h["source"], h["fields"]) for h in doc["history"]] == [
        ("created", "poll", []),
        ("updated", "webhook", ["note"]),
    ]
    validate_order({k: v for k, v in doc.items() if k not in HUB_FIELDS})


def test_unknown_order_and_endpoint_are_json_404(api: FlaskClient) -> None:
    for path in ["/api/v1/orders/424242", "/api/v1/nothing"]:
        response = api.get(path)
        assert response.status_code == 404
        assert response.json["error"]["code"] == "not_found"
