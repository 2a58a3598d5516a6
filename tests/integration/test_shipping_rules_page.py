"""The shipping-rules page: create, edit and delete a rule set by scope with the API's own
checks (each bad field named beside it, nothing stored), which rule set each channel connection
uses, and a rate shop afterwards priced by the rule set the page stored. On SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from hub import tables as t
from hub.app import create_app
from hub.db import Database
from hub.services.accounts import create_token
from hub.shipping.rulesets import list_rule_sets
from tests import shipping_fakes
from tests.conftest import csrf_from, make_settings
from tests.shipping_fakes import FakeCarrier, add_carrier, add_order_and_location

fake_carrier = shipping_fakes.fake_carrier
PARCEL = {"weight_g": 800, "length_mm": 200, "width_mm": 150, "height_mm": 100}
#: the form's fields in page order (an error must sit between its field and the next one)
FIELD_ORDER = (
    "scope",
    "strategy",
    "deliver_by",
    "carriers_allow",
    "carriers_deny",
    "services_allow",
    "services_deny",
    "markup_percent",
    "markup_fixed",
    "minimum",
    "currency",
)


@pytest.fixture
def app(tmp_path: Path, db: Database) -> Flask:
    """The app on each database in turn (overrides conftest's SQLite-only app)."""
    application = create_app(make_settings(tmp_path, db.url))
    application.config["TESTING"] = True
    return application


@pytest.fixture
def api(app: Flask, hub_db: Database) -> FlaskClient:
    with hub_db.session() as s:
        token = create_token(s, "erp")
    c = app.test_client()
    c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return c


def stored(db: Database) -> dict[str, dict[str, Any]]:
    with db.session() as s:
        return {r["scope"]: r["rules"] for r in list_rule_sets(s)}


def rule_set_count(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(t.ShippingRuleSet)) or 0


def add_channel(db: Database, name: str, connector: str = "shopify") -> int:
    with db.session() as s:
        row = t.Connection(
            kind="channel", connector=connector, name=name, webhook_key=f"k-{name}", settings={}, schedule={}
        )
        s.add(row)
        s.flush()
        return row.id


def submit(client: FlaskClient, path: str, **fields: Any) -> Any:
    """Post the rule-set form at ``path`` as a browser would (blank fields sent blank)."""
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    data: dict[str, Any] = {
        "csrf_token": csrf_from(page.get_data(as_text=True)),
        "strategy": "cheapest",
        "deliver_by": "",
        "services_allow": "",
        "services_deny": "",
        "markup_percent": "",
        "markup_fixed": "",
        "minimum": "",
        "currency": "",
    }
    data.update(fields)
    return client.post(path, data=data)


def error_beside(page: str, field: str) -> str:
    """The error text shown between ``field`` and the next field of the form ('' if none)."""
    start = page.index(f'id="{field}"')
    later = FIELD_ORDER[FIELD_ORDER.index(field) + 1 :]
    ends = [page.index(f'id="{f}"', start) for f in later if f'id="{f}"' in page[start:]]
    segment = page[start : min(ends) if ends else page.index("</form>", start)]
    marker = '<div class="field-error">'
    if marker not in segment:
        return ""
    return html.unescape(segment.split(marker, 1)[1].split("</div>", 1)[0])


def test_nav_and_connection_page_link_to_the_page(
    client: FlaskClient, hub_db: Database, app: Flask, fake_carrier: type[FakeCarrier]
) -> None:
    shop = add_channel(hub_db, "shop")
    carrier = add_carrier(hub_db, app.extensions["hub"].box, "ups-fake")
    index = client.get("/shipping-rules/")
    assert index.status_code == 200
    body = index.get_data(as_text=True)
    assert 'href="/shipping-rules/"' in body, "linked from the nav"
    assert 'data-strategy="cheapest_by_date"' in body, "each strategy explained"
    assert f'href="/shipping-rules/connection:{shop}"' in client.get(f"/connections/{shop}").get_data(
        as_text=True
    )
    assert "shipping-rules-link" not in client.get(f"/connections/{carrier}").get_data(as_text=True)


def test_create_edit_and_delete_store_what_the_api_would(
    client: FlaskClient, api: FlaskClient, hub_db: Database
) -> None:
    made = submit(
        client,
        "/shipping-rules/new",
        scope="channel:shopify",
        strategy="cheapest_by_date",
        deliver_by="2030-05-04",
        carriers_allow=["ups", "fedex"],
        carriers_deny=["usps"],
        services_allow="ups:03, fedex:FEDEX_GROUND\nGND",
        services_deny="AIR",
        markup_percent="12.5",
        markup_fixed="0.75",
        minimum="6",
        currency="USD",
    )
    assert made.status_code == 302 and made.location.endswith("/shipping-rules/")
    body = {
        "strategy": "cheapest_by_date",
        "deliver_by": "2030-05-04",
        "carriers_allow": ["ups", "fedex"],
        "carriers_deny": ["usps"],
        "services_allow": ["ups:03", "fedex:FEDEX_GROUND", "GND"],
        "services_deny": ["AIR"],
        "markup_percent": "12.5",
        "markup_fixed": "0.75",
        "minimum": "6",
        "currency": "USD",
    }
    by_api = api.put("/api/v1/rule-sets/channel:woocommerce", json=body)
    assert by_api.status_code == 200
    rules = stored(hub_db)
    assert rules["channel:shopify"] == by_api.json["rules"] == rules["channel:woocommerce"]

    listing = client.get("/shipping-rules/").get_data(as_text=True)
    assert 'data-scope="channel:shopify"' in listing and "markup 12.5 % + 0.75" in listing
    form = client.get("/shipping-rules/channel:shopify").get_data(as_text=True)
    assert (
        'value="12.5"' in form and 'value="2030-05-04"' in form and "ups:03, fedex:FEDEX_GROUND, GND" in form
    )

    edited = submit(client, "/shipping-rules/channel:shopify", strategy="fastest", markup_fixed="2")
    assert edited.status_code == 302
    after = stored(hub_db)["channel:shopify"]
    assert after["strategy"] == "fastest" and after["markup_fixed"] == "2"
    assert after["carriers_allow"] == [] and after["deliver_by"] is None and after["minimum"] is None

    again = submit(client, "/shipping-rules/new", scope="channel:shopify")
    assert again.status_code == 400
    assert "already has a rule set" in error_beside(again.get_data(as_text=True), "scope")
    assert stored(hub_db)["channel:shopify"] == after, "a second create does not overwrite"

    page = client.get("/shipping-rules/").get_data(as_text=True)
    gone = client.post("/shipping-rules/channel:shopify/delete", data={"csrf_token": csrf_from(page)})
    assert gone.status_code == 302 and set(stored(hub_db)) == {"channel:woocommerce"}
    missing = client.post("/shipping-rules/channel:shopify/delete", data={"csrf_token": csrf_from(page)})
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("fields", "field", "api_field"),
    [
        ({"strategy": "cheapest_by_date"}, "deliver_by", "deliver_by"),
        ({"strategy": "slowest"}, "strategy", "strategy"),
        ({"deliver_by": "2030-13-01"}, "deliver_by", "deliver_by"),
        ({"markup_percent": "lots"}, "markup_percent", "markup_percent"),
        ({"markup_percent": "2000"}, "markup_percent", "markup_percent"),
        ({"markup_fixed": "NaN"}, "markup_fixed", "markup_fixed"),
        ({"minimum": "-1"}, "minimum", "minimum"),
        ({"currency": "usd"}, "currency", "currency"),
        ({"carriers_allow": ["ups", "royal_mail"]}, "carriers_allow", "carriers_allow.1"),
        ({"services_deny": "x" * 121}, "services_deny", "services_deny.0"),
    ],
)
def test_bad_input_is_refused_beside_its_field_like_the_api(
    client: FlaskClient,
    api: FlaskClient,
    hub_db: Database,
    fields: dict[str, Any],
    field: str,
    api_field: str,
) -> None:
    response = submit(client, "/shipping-rules/default", **fields)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Nothing was saved" in page
    message = error_beside(page, field)
    assert message, f"no error beside {field}"
    assert rule_set_count(hub_db) == 0

    body = {k: (v.split() if k.startswith("services") else v) for k, v in fields.items()}
    by_api = api.put("/api/v1/rule-sets/default", json=body)
    assert by_api.status_code == 400 and by_api.json["error"]["field"] == api_field
    assert by_api.json["error"]["message"] == f"{api_field} {re.sub(r'^entry [0-9]+: ', '', message)}"
    assert rule_set_count(hub_db) == 0


def test_a_refused_edit_keeps_the_stored_rule_set(client: FlaskClient, hub_db: Database) -> None:
    assert submit(client, "/shipping-rules/new", scope="default", markup_percent="5").status_code == 302
    before = stored(hub_db)
    refused = submit(client, "/shipping-rules/default", markup_percent="7", currency="dollars")
    assert refused.status_code == 400 and error_beside(refused.get_data(as_text=True), "currency")
    assert stored(hub_db) == before


def test_bad_scopes_and_missing_csrf_change_nothing(client: FlaskClient, hub_db: Database) -> None:
    bad = submit(client, "/shipping-rules/new", scope="channel:ebay")
    assert bad.status_code == 400 and "is not a channel" in error_beside(bad.get_data(as_text=True), "scope")
    nobody = submit(client, "/shipping-rules/new", scope="connection:999")
    assert nobody.status_code == 400 and "no connection with id 999" in nobody.get_data(as_text=True)
    assert client.get("/shipping-rules/planet:mars").status_code == 404
    assert client.get("/shipping-rules/connection:999").status_code == 404
    forged = client.post("/shipping-rules/new", data={"scope": "default", "strategy": "fastest"})
    assert forged.status_code == 400
    assert rule_set_count(hub_db) == 0


def test_the_rule_set_each_connection_uses(client: FlaskClient, hub_db: Database) -> None:
    first, second = add_channel(hub_db, "shop one"), add_channel(hub_db, "shop two")
    woo = add_channel(hub_db, "woo", "woocommerce")

    def applied() -> dict[int, str]:
        page = client.get("/shipping-rules/").get_data(as_text=True)
        return {
            cid: page.split(f'id="applied-{cid}" data-applied="', 1)[1].split('"', 1)[0]
            for cid in (first, second, woo)
        }

    assert applied() == {first: "built-in", second: "built-in", woo: "built-in"}
    submit(client, "/shipping-rules/new", scope="default")
    submit(client, "/shipping-rules/new", scope="channel:shopify", strategy="fastest")
    own = submit(client, f"/shipping-rules/connection:{second}", markup_percent="3")
    assert own.status_code == 302
    assert applied() == {first: "channel:shopify", second: f"connection:{second}", woo: "default"}
    edit_page = client.get(f"/shipping-rules/connection:{first}").get_data(as_text=True)
    assert "none stored yet" in edit_page and "Channel shopify" in edit_page.split('id="applied-now"')[1]

    page = client.get("/shipping-rules/").get_data(as_text=True)
    client.post("/shipping-rules/default/delete", data={"csrf_token": csrf_from(page)})
    assert applied()[woo] == "built-in"


def test_a_rate_shop_uses_the_rule_set_the_page_stored(
    client: FlaskClient, api: FlaskClient, hub_db: Database, app: Flask, fake_carrier: type[FakeCarrier]
) -> None:
    order_id, _loc = add_order_and_location(hub_db)  # shopify connection 1
    box = app.extensions["hub"].box
    add_carrier(hub_db, box, "ups-fake", carrier="ups")  # GND 10.00 in 5 days, AIR 30.00 in 1
    add_carrier(hub_db, box, "usps-fake", carrier="usps", quotes=[["GA", "8.00", 4]])
    submit(client, "/shipping-rules/new", scope="channel:shopify", strategy="fastest")
    submit(
        client,
        "/shipping-rules/connection:1",
        carriers_deny=["usps"],
        markup_percent="10",
        markup_fixed="0.50",
        minimum="12",
    )
    shipment_id = api.post("/api/v1/shipments", json={"order_id": order_id, "parcels": [PARCEL]}).json["id"]

    shop = api.post("/api/v1/rates", json={"shipment_id": shipment_id}).json
    assert shop["rule_scope"] == "connection:1"
    assert (shop["chosen"]["carrier"], shop["chosen"]["service_code"]) == ("ups", "GND"), "usps denied"
    assert shop["chosen"]["price"] == "12.00", "10.00 * 1.10 + 0.50 = 11.50, under the minimum"

    page = client.get("/shipping-rules/").get_data(as_text=True)
    client.post("/shipping-rules/connection:1/delete", data={"csrf_token": csrf_from(page)})
    shop = api.post("/api/v1/rates", json={"shipment_id": shipment_id}).json
    assert shop["rule_scope"] == "channel:shopify"
    assert (shop["chosen"]["service_code"], shop["chosen"]["price"]) == ("AIR", "30.00"), "fastest, no markup"
