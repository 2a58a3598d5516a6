"""REST API, inventory: reading stock per SKU, counts and adjustments, clear 400s that change nothing."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from hub import tables as t
from hub.db import Database
from hub.inventory.catalogue import ensure_location, ensure_sku, set_channel_rules
from hub.inventory.publish import ChannelRules
from hub.inventory.stock import set_on_hand
from hub.services.accounts import create_token


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
def stock(hub_db: Database) -> None:
    """SKUs A-1, B/2 (a slash), C-3; locations main (first), store, closed (paused); two channels."""
    with hub_db.session() as s:
        main = ensure_location(s, "main", "Main warehouse", priority=1)
        store = ensure_location(s, "store", "Shop floor", priority=2)
        closed = ensure_location(s, "closed", "Closed for stocktake", priority=3, paused=True)
        a = ensure_sku(s, "A-1", "Blue mug", reorder_point=5)
        b = ensure_sku(s, "B/2", "Red mug")
        ensure_sku(s, "C-3", "Teapot")
        for sku, loc, units in [(a, main, 10), (a, store, 3), (a, closed, 7), (b, main, 1)]:
            set_on_hand(s, sku.id, loc.id, units)
        for name, rules in [("web", None), ("market", ChannelRules(buffer_units=2, percent=50))]:
            conn = t.Connection(
                kind="channel", connector="shopify", name=name, webhook_key=name, settings={}, schedule={}
            )
            s.add(conn)
            s.flush()
            if rules:
                set_channel_rules(s, conn.id, rules)
        s.add(
            t.Connection(
                kind="carrier", connector="ups", name="ups", webhook_key="u", settings={}, schedule={}
            )
        )


def snapshot(db: Database) -> tuple[list[Any], int]:
    with db.session() as s:
        levels = s.execute(
            select(t.StockLevel.sku_id, t.StockLevel.location_id, t.StockLevel.on_hand).order_by(
                t.StockLevel.id
            )
        ).all()
        return [tuple(r) for r in levels], s.scalar(select(func.count()).select_from(t.StockAdjustment))


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/v1/inventory"), ("get", "/api/v1/inventory/A-1"), ("patch", "/api/v1/inventory/A-1")],
)
def test_token_required(app: Flask, method: str, path: str) -> None:
    response = getattr(app.test_client(), method)(path, json={"location": "main", "on_hand": 1})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"


def test_empty_catalogue(api: FlaskClient) -> None:
    response = api.get("/api/v1/inventory")
    assert response.status_code == 200
    assert response.json == {"skus": [], "next_cursor": None}


def test_one_sku_with_locations_totals_and_channels(api: FlaskClient, stock: None) -> None:
    response = api.get("/api/v1/inventory/A-1")
    assert response.status_code == 200
    doc = response.json
    assert (doc["sku"], doc["name"], doc["reorder_point"]) == ("A-1", "Blue mug", 5)
    assert doc["totals"] == {"on_hand": 20, "reserved": 0, "available": 20, "backordered": 0}
    fields = ("location", "name", "on_hand", "reserved", "available", "paused")
    assert [tuple(lv[f] for f in fields) for lv in doc["locations"]] == [
        ("main", "Main warehouse", 10, 0, 10, False),
        ("store", "Shop floor", 3, 0, 3, False),
        ("closed", "Closed for stocktake", 7, 0, 7, True),
    ]
    assert sorted(doc["locations"][0]) == sorted(fields)
    assert doc["channels"] == [  # 13 sellable: the paused location's 7 are not offered
        {"connection_id": 1, "name": "web", "published": 13},
        {"connection_id": 2, "name": "market", "published": 5},  # (13 - 2) * 50 %
    ]
    assert api.get("/api/v1/inventory/B/2").json["totals"]["on_hand"] == 1


def test_unknown_sku_is_404(api: FlaskClient, stock: None) -> None:
    for response in [
        api.get("/api/v1/inventory/NOPE"),
        api.patch("/api/v1/inventory/NOPE", json={"location": "main", "on_hand": 1}),
    ]:
        assert response.status_code == 404
        assert response.json["error"]["code"] == "not_found"


def test_list_pages_in_sku_order_and_filters(api: FlaskClient, stock: None) -> None:
    seen, cursor = [], None
    while True:
        response = api.get(
            "/api/v1/inventory", query_string={"limit": 2, **({"cursor": cursor} if cursor else {})}
        )
        assert response.status_code == 200
        seen += [doc["sku"] for doc in response.json["skus"]]
        cursor = response.json["next_cursor"]
        if cursor is None:
            break
    assert seen == ["A-1", "B/2", "C-3"]
    assert [d["sku"] for d in api.get("/api/v1/inventory?q=MUG").json["skus"]] == ["A-1", "B/2"]
    assert [d["sku"] for d in api.get("/api/v1/inventory?q=c-").json["skus"]] == ["C-3"]
    assert api.get("/api/v1/inventory?q=%25").json["skus"] == []  # % is a character, not a wildcard
    for query, field in [("limit=0", "limit"), ("limit=x", "limit"), ("cursor=%%%", "cursor")]:
        response = api.get(f"/api/v1/inventory?{query}")
        assert response.status_code == 400 and response.json["error"]["field"] == field


def test_count_sets_on_hand_and_is_recorded(api: FlaskClient, hub_db: Database, stock: None) -> None:
    response = api.patch("/api/v1/inventory/A-1", json={"location": "store", "on_hand": 8})
    assert response.status_code == 200
    assert response.json["change"] == {"location": "store", "delta": 5, "replayed": False}
    assert response.json["totals"]["on_hand"] == 25
    response = api.patch(
        "/api/v1/inventory/C-3", json={"location": "main", "on_hand": 4, "reason": "cycle count"}
    )
    assert response.json["locations"][0]["on_hand"] == 4
    with hub_db.session() as s:
        rows = s.execute(
            select(
                t.StockAdjustment.delta,
                t.StockAdjustment.reason,
                t.StockAdjustment.source,
                t.StockAdjustment.who,
            )
            .where(t.StockAdjustment.source == "api")
            .order_by(t.StockAdjustment.id)
        ).all()
    assert [tuple(r) for r in rows] == [(5, "count", "api", "api:erp"), (4, "cycle count", "api", "api:erp")]


def test_adjust_moves_on_hand_and_a_key_makes_a_retry_harmless(api: FlaskClient, stock: None) -> None:
    body = {"location": "main", "adjust": -4, "reason": "damaged in transit"}
    first = api.patch("/api/v1/inventory/A-1", json=body, headers={"Idempotency-Key": "r-1"})
    again = api.patch("/api/v1/inventory/A-1", json=body, headers={"Idempotency-Key": "r-1"})
    assert first.status_code == again.status_code == 200
    assert first.json["change"] == {"location": "main", "delta": -4, "replayed": False}
    assert again.json["change"] == {"location": "main", "delta": -4, "replayed": True}
    assert again.json["locations"][0]["on_hand"] == 6
    assert api.patch("/api/v1/inventory/A-1", json={**body, "adjust": 2}).json["locations"][0]["on_hand"] == 8
    other = api.patch("/api/v1/inventory/B/2", json=body | {"adjust": 1}, headers={"Idempotency-Key": "r-1"})
    assert other.status_code == 409 and other.json["error"]["field"] == "Idempotency-Key"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([1, 2], "body"),
        ("text", "body"),
        ({}, "location"),
        ({"on_hand": 1}, "location"),
        ({"location": "", "on_hand": 1}, "location"),
        ({"location": 5, "on_hand": 1}, "location"),
        ({"location": "nowhere", "on_hand": 1}, "location"),
        ({"location": "main"}, "on_hand"),
        ({"location": "main", "on_hand": 1, "adjust": 1, "reason": "x"}, "adjust"),
        ({"location": "main", "on_hand": -1}, "on_hand"),
        ({"location": "main", "on_hand": "5"}, "on_hand"),
        ({"location": "main", "on_hand": 2.5}, "on_hand"),
        ({"location": "main", "on_hand": True}, "on_hand"),
        ({"location": "main", "on_hand": None}, "on_hand"),
        ({"location": "main", "on_hand": 10**12}, "on_hand"),
        ({"location": "main", "adjust": 0, "reason": "x"}, "adjust"),
        ({"location": "main", "adjust": "1", "reason": "x"}, "adjust"),
        ({"location": "main", "adjust": 3}, "reason"),
        ({"location": "main", "adjust": 3, "reason": "  "}, "reason"),
        ({"location": "main", "adjust": 3, "reason": 7}, "reason"),
        ({"location": "main", "adjust": -11, "reason": "more than there is"}, "adjust"),
        ({"location": "main", "on_hand": 1, "colour": "blue"}, "colour"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(
    api: FlaskClient, hub_db: Database, stock: None, body: Any, field: str
) -> None:
    before = snapshot(hub_db)
    response = api.patch("/api/v1/inventory/A-1", json=body, headers={"Idempotency-Key": "k"})
    assert response.status_code == 400, response.json
    assert response.json["error"]["code"] == "invalid"
    assert response.json["error"]["field"] == field
    assert field in response.json["error"]["message"]
    assert snapshot(hub_db) == before


def test_malformed_json_is_a_400(api: FlaskClient, stock: None) -> None:
    response = api.patch("/api/v1/inventory/A-1", data="{not json", content_type="application/json")
    assert response.status_code == 400 and response.json["error"]["field"] == "body"
