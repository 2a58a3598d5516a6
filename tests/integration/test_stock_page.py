"""The stock pages with Flask's test client, on SQLite and PostgreSQL: the list (search, low
filter, paging), one SKU with its channels, adjustments with a reason (CSRF, bad input changes
nothing), the reorder point, the mappings and unmapped pages, the orders' unmapped flag, and
``GET /api/v1/inventory/<sku>`` with channel sync and low-stock info."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from hub import tables as t
from hub.app import create_app
from hub.db import Database
from hub.ingest import IngestItem, ingest_orders
from hub.inventory.catalogue import ensure_location, ensure_sku
from hub.inventory.stock import set_on_hand
from hub.services.accounts import create_token, create_user
from tests.conftest import ADMIN_PASSWORD, csrf_from, make_settings
from tests.integration.test_skumap import _order


@pytest.fixture
def web_app(tmp_path: Path, db: Database) -> Flask:
    app = create_app(make_settings(tmp_path, db.url))
    app.config["TESTING"] = True
    with db.session() as s:
        create_user(s, "admin", ADMIN_PASSWORD)
    return app


@pytest.fixture
def web(web_app: Flask) -> FlaskClient:
    c = web_app.test_client()
    page = c.get("/login").get_data(as_text=True)
    response = c.post(
        "/login", data={"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": csrf_from(page)}
    )
    assert response.status_code == 302
    return c


@pytest.fixture
def catalogue(db: Database) -> int:
    """Locations main and store; MUG-1 (reorder point 5) with 10 + 3, TEA-2 with 1, 60 filler
    SKUs; one Shopify channel connection (returned)."""
    with db.session() as s:
        main = ensure_location(s, "main", "Main warehouse", priority=1)
        store = ensure_location(s, "store", "Shop floor", priority=2)
        mug = ensure_sku(s, "MUG-1", "Blue mug", reorder_point=5)
        tea = ensure_sku(s, "TEA-2", "Green tea")
        set_on_hand(s, mug.id, main.id, 10)
        set_on_hand(s, mug.id, store.id, 3)
        set_on_hand(s, tea.id, main.id, 1)
        for i in range(60):
            ensure_sku(s, f"Z-{i:03d}", f"Filler {i}")
        conn = t.Connection(
            kind="channel", connector="shopify", name="web shop", webhook_key="w", settings={}, schedule={}
        )
        s.add(conn)
        s.flush()
        return conn.id


def _on_hand(db: Database, sku: str, location: str) -> int:
    with db.session() as s:
        return s.scalar(
            select(t.StockLevel.on_hand)
            .join(t.Sku, t.Sku.id == t.StockLevel.sku_id)
            .join(t.Location, t.Location.id == t.StockLevel.location_id)
            .where(t.Sku.sku == sku, t.Location.code == location)
        )


def test_stock_list_searches_filters_low_and_pages(web: FlaskClient, catalogue: int) -> None:
    html = web.get("/stock/").get_data(as_text=True)
    assert 'data-sku="MUG-1" class="low"' not in html  # 13 available, reorder point 5
    assert 'data-sku="MUG-1"' in html and 'data-sku="Z-047"' in html and 'data-sku="Z-048"' not in html
    next_url = re.search(r'id="next-page" href="([^"]+)"', html)
    assert next_url
    second = web.get(next_url.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert 'data-sku="Z-048"' in second and 'data-sku="MUG-1"' not in second and "next-page" not in second
    found = web.get("/stock/?q=mug").get_data(as_text=True)
    assert 'data-sku="MUG-1"' in found and 'data-sku="TEA-2"' not in found
    assert "web shop" in found  # a column per channel
    assert 'data-sku="MUG-1"' not in web.get("/stock/?low=1").get_data(as_text=True)
    assert web.get("/stock/?cursor=%%%").status_code == 400


def _adjust(web: FlaskClient, sku: str, **fields: object) -> tuple[int, str]:
    page = web.get(f"/stock/sku/{sku}").get_data(as_text=True)
    data = {
        "location": "main",
        "mode": "adjust",
        "quantity": "1",
        "reason": "found",
        "csrf_token": csrf_from(page),
    }
    data.update({k: str(v) for k, v in fields.items()})
    response = web.post(f"/stock/sku/{sku}/adjust", data=data)
    return response.status_code, response.get_data(as_text=True)


def test_adjust_and_count_with_a_reason_going_low_raises_stock_low(
    web: FlaskClient, db: Database, catalogue: int
) -> None:
    status, _ = _adjust(web, "MUG-1", quantity=-4, reason="broken in transit")
    assert status == 302
    assert _on_hand(db, "MUG-1", "main") == 6
    status, _ = _adjust(web, "MUG-1", mode="count", quantity=2, reason="stocktake")
    assert status == 302 and _on_hand(db, "MUG-1", "main") == 2
    page = web.get("/stock/sku/MUG-1").get_data(as_text=True)
    assert "broken in transit" in page and "stocktake" in page and "web:admin" in page
    assert 'id="low-badge"' in page  # 2 + 3 = 5 available: at the reorder point
    assert 'data-sku="MUG-1" class="low"' in web.get("/stock/?low=1").get_data(as_text=True)
    with db.session() as s:
        assert s.scalar(select(func.count()).where(t.HubEvent.topic == "stock.low")) == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"quantity": -11}, "would take on_hand below 0"),
        ({"reason": ""}, "This field is required."),
        ({"quantity": "many"}, "Not a valid integer value."),
        ({"quantity": 0}, "must not be 0"),
        ({"location": "nowhere"}, "Not a valid choice."),
        ({"mode": "count", "quantity": -1}, "must be 0 or more"),
    ],
)
def test_bad_adjustment_is_refused_and_changes_nothing(
    web: FlaskClient, db: Database, catalogue: int, fields: dict, message: str
) -> None:
    status, html = _adjust(web, "MUG-1", **fields)
    assert status == 400
    assert message in html
    assert _on_hand(db, "MUG-1", "main") == 10
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(t.StockAdjustment)) == 3  # the fixture's


def test_adjust_without_csrf_is_refused(web: FlaskClient, db: Database, catalogue: int) -> None:
    response = web.post(
        "/stock/sku/MUG-1/adjust", data={"location": "main", "mode": "adjust", "quantity": "5", "reason": "x"}
    )
    assert response.status_code == 400
    assert _on_hand(db, "MUG-1", "main") == 10


def test_reorder_point_is_editable(web: FlaskClient, db: Database, catalogue: int) -> None:
    page = web.get("/stock/sku/TEA-2").get_data(as_text=True)
    response = web.post(
        "/stock/sku/TEA-2/reorder", data={"reorder_point": "2", "csrf_token": csrf_from(page)}
    )
    assert response.status_code == 302
    assert "stock.low event was raised" in web.get("/stock/sku/TEA-2").get_data(as_text=True)
    bad = web.post("/stock/sku/TEA-2/reorder", data={"reorder_point": "-3", "csrf_token": csrf_from(page)})
    assert bad.status_code == 400
    with db.session() as s:
        assert s.scalar(select(t.Sku.reorder_point).where(t.Sku.sku == "TEA-2")) == 2
    assert web.get("/stock/sku/NOPE").status_code == 404


def test_unmapped_page_fixes_a_channel_sku_and_clears_the_order_flag(
    web: FlaskClient, db: Database, catalogue: int
) -> None:
    ids = db.transaction(
        lambda s: ingest_orders(s, catalogue, [IngestItem(_order(1, ("MUG-1", 1), ("mug-blue", 2)), {})])
    )
    order_id = ids[0].order_id
    assert "unmapped-flag" in web.get("/orders/").get_data(as_text=True)
    assert "mug-blue" in web.get(f"/orders/{order_id}").get_data(as_text=True)
    page = web.get("/stock/mappings/unmapped").get_data(as_text=True)
    row = re.search(r'<tr data-channel-sku="mug-blue">.*?</tr>', page, re.S)
    assert row and '<td class="open-orders"><a' in row.group(0) and ">1</a>" in row.group(0)
    with db.session() as s:
        mapping_id = s.scalar(select(t.SkuMapping.id).where(t.SkuMapping.channel_sku == "mug-blue"))
    bad = web.post(
        f"/stock/mappings/{mapping_id}/map", data={"sku": "NO-SUCH", "csrf_token": csrf_from(page)}
    )
    assert bad.status_code == 302
    assert "is not an internal SKU" in web.get("/stock/mappings").get_data(as_text=True)
    ok = web.post(
        f"/stock/mappings/{mapping_id}/map",
        data={"sku": "MUG-1", "csrf_token": csrf_from(page), "next": "/stock/mappings/unmapped"},
    )
    assert ok.status_code == 302 and ok.headers["Location"].endswith("/stock/mappings/unmapped")
    assert "Every channel SKU seen is mapped" in web.get("/stock/mappings/unmapped").get_data(as_text=True)
    assert "unmapped-flag" not in web.get("/orders/").get_data(as_text=True)
    assert "unmapped-flag" not in web.get(f"/orders/{order_id}").get_data(as_text=True)
    mappings = web.get("/stock/mappings?q=blue").get_data(as_text=True)
    assert 'data-channel-sku="mug-blue"' in mappings and 'value="MUG-1"' in mappings
    with db.session() as s:
        pushed = s.scalar(select(t.StockPush.channel_sku).where(t.StockPush.channel_sku == "mug-blue"))
        assert pushed == "mug-blue"  # the new mapping queued a push of MUG-1's stock


def test_create_sku_from_an_unmapped_channel_sku(web: FlaskClient, db: Database, catalogue: int) -> None:
    db.transaction(lambda s: ingest_orders(s, catalogue, [IngestItem(_order(1, ("CUP-9", 1)), {})]))
    page = web.get("/stock/mappings/unmapped").get_data(as_text=True)
    with db.session() as s:
        mapping_id = s.scalar(select(t.SkuMapping.id).where(t.SkuMapping.channel_sku == "CUP-9"))
    response = web.post(
        f"/stock/mappings/{mapping_id}/create-sku", data={"sku": "CUP-9", "csrf_token": csrf_from(page)}
    )
    assert response.status_code == 302
    assert web.get("/stock/sku/CUP-9").status_code == 200
    assert "unmapped-flag" not in web.get("/orders/").get_data(as_text=True)


def test_new_sku_and_locations(web: FlaskClient, db: Database, catalogue: int) -> None:
    page = web.get("/stock/skus/new").get_data(as_text=True)
    assert (
        web.post(
            "/stock/skus/new", data={"sku": "NEW-1", "name": "New", "csrf_token": csrf_from(page)}
        ).status_code
        == 302
    )
    dup = web.post("/stock/skus/new", data={"sku": "NEW-1", "csrf_token": csrf_from(page)})
    assert dup.status_code == 400 and "already exists" in dup.get_data(as_text=True)
    form = web.get("/stock/locations/new").get_data(as_text=True)
    response = web.post(
        "/stock/locations/new",
        data={
            "code": "eu",
            "name": "EU warehouse",
            "priority": "5",
            "country_code": "de",
            "regions": "de, fr,DE",
            "allow_split": "y",
            "csrf_token": csrf_from(form),
        },
    )
    assert response.status_code == 302
    with db.session() as s:
        eu = s.scalar(select(t.Location).where(t.Location.code == "eu"))
        assert (eu.priority, eu.country_code, eu.regions, eu.paused, eu.allow_split) == (
            5,
            "DE",
            ["DE", "FR"],
            False,
            True,
        )
        main_id = s.scalar(select(t.Location.id).where(t.Location.code == "main"))
    clash = web.post(
        f"/stock/locations/{eu.id}",
        data={"code": "main", "name": "x", "priority": "1", "csrf_token": csrf_from(form)},
    )
    assert clash.status_code == 400 and "already the code" in clash.get_data(as_text=True)
    paused = web.post(
        f"/stock/locations/{main_id}",
        data={"code": "main", "name": "Main", "priority": "1", "paused": "y", "csrf_token": csrf_from(form)},
    )
    assert paused.status_code == 302
    assert "paused" in web.get("/stock/locations").get_data(as_text=True)


def test_api_sku_has_channel_sync_and_low_stock(web_app: Flask, db: Database, catalogue: int) -> None:
    with db.session() as s:
        token = create_token(s, "erp")
        mug_id = s.scalar(select(t.Sku.id).where(t.Sku.sku == "MUG-1"))
        s.add(
            t.StockPublication(
                connection_id=catalogue,
                channel_sku="MUG-1",
                location="1",
                sku_id=mug_id,
                quantity=9,
                expected=8,
            )
        )
    api = web_app.test_client()
    api.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    doc = api.get("/api/v1/inventory/MUG-1").json
    assert doc["channels"] == [{"connection_id": catalogue, "name": "web shop", "published": 13}]
    (sync,) = doc["channel_sync"]
    assert (sync["published"], sync["last_pushed"], sync["channel_shows"], sync["drift"]) == (13, 9, 8, 5)
    assert sync["last_push_at"].endswith("Z")
    assert doc["low_stock"] == {
        "reorder_point": 5,
        "low": False,
        "low_since": None,
        "available": 13,
        "units_sold_30d": 0,
        "days_of_cover": None,
    }
    page = api.get("/api/v1/inventory/TEA-2").json
    assert page["channel_sync"][0]["last_pushed"] is None and page["channel_sync"][0]["drift"] is None
