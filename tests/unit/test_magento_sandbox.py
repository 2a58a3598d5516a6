"""The simulated Magento, over real HTTP: OAuth 1.0a verification, searchCriteria paging,
generated orders with configurable parent/child rows, MSI and legacy stock, shipments and
tracks, faults, activity."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_HMAC_SHA256
from requests_oauthlib import OAuth1

from connectors.magento import MagentoConnector
from connectors.magento.client import search_pairs, with_query
from connectors.magento.sandbox import BAD_SIGNATURE, MagentoSandbox
from hub.connectors import ConnectionContext, ShipmentLine, ShipmentPush, StockWrite
from hub.http import HttpClient
from hub.sandbox import Sandbox, SandboxClock
from tests.contracts import FIXTURES

START = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SAMPLE = json.loads((FIXTURES / "magento" / "order_9_pending_3_items.json").read_text())
CREDENTIAL_FIELDS = ("store_url", "consumer_key", "consumer_secret", "access_token", "access_token_secret")


@pytest.fixture
def make() -> Iterator[Any]:
    started: list[Sandbox] = []

    def factory(**kw: Any) -> MagentoSandbox:
        kw.setdefault("clock", SandboxClock(START, speed=0))
        sandbox = MagentoSandbox(**kw).start()
        started.append(sandbox)
        return sandbox

    yield factory
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def store(make: Any) -> MagentoSandbox:
    return make(orders=60, seed=4)


def auth(sb: MagentoSandbox, method: str = SIGNATURE_HMAC_SHA256, secret: str | None = None) -> OAuth1:
    return OAuth1(
        sb.consumer_key,
        client_secret=sb.consumer_secret if secret is None else secret,
        resource_owner_key=sb.access_token,
        resource_owner_secret=sb.access_token_secret,
        signature_method=method,
    )


def get(sb: MagentoSandbox, path: str, pairs: list[tuple[str, str]] = (), **kw: Any) -> requests.Response:
    kw.setdefault("auth", auth(sb))
    return requests.get(sb.url + with_query(f"/rest/default/V1/{path}", pairs), timeout=5, **kw)


def send(sb: MagentoSandbox, method: str, path: str, body: Any) -> requests.Response:
    return requests.request(method, f"{sb.url}/rest/default/V1/{path}", json=body, auth=auth(sb), timeout=5)


def connector(sb: MagentoSandbox, **settings: Any) -> MagentoConnector:
    values = sb.connection_values()
    credentials = {k: v for k, v in values.items() if k in CREDENTIAL_FIELDS}
    settings = {k: v for k, v in values.items() if k not in credentials} | settings
    http = HttpClient(MagentoConnector.base_url(credentials, settings), max_attempts=3, backoff_base=0.01)
    return MagentoConnector(ConnectionContext(1, credentials, settings, http))


# -- OAuth ---------------------------------------------------------------------------------------------


def test_a_wrong_signature_is_refused_and_the_connectors_requests_pass(store: MagentoSandbox) -> None:
    bad = get(store, "orders", search_pairs(page_size=1), auth=auth(store, secret="not-the-secret"))
    assert bad.status_code == 401 and bad.json() == {"message": BAD_SIGNATURE}
    assert connector(store).test_connection().ok
    assert store.stats.count(status=401) == 1


def test_signature_method_nonce_and_bearer(make: Any) -> None:
    sb = make(orders=3)
    sha1 = get(sb, "orders", auth=auth(sb, SIGNATURE_HMAC_SHA1))
    assert sha1.status_code == 400 and sha1.json()["parameters"] == ["HMAC-SHA1"]
    signed = requests.Request("GET", sb.url + "/rest/default/V1/orders", auth=auth(sb)).prepare()
    with requests.Session() as session:
        assert session.send(signed, timeout=5).status_code == 200
        assert session.send(signed, timeout=5).status_code == 401, "a nonce is good once"
    bearer = {"Authorization": f"Bearer {sb.access_token}"}
    refused = requests.get(sb.url + "/rest/V1/orders", headers=bearer, timeout=5)
    assert refused.status_code == 401 and "%resources" in refused.json()["message"]
    sb.bearer_allowed = True
    assert requests.get(sb.url + "/rest/V1/orders", headers=bearer, timeout=5).status_code == 200
    assert connector(sb, auth_mode="bearer").test_connection().ok


def test_a_space_sent_as_plus_signs_differently_as_on_a_real_store(store: MagentoSandbox) -> None:
    """``requests`` encodes a space as ``+``; Magento's own split keeps the ``+``; the
    signatures disagree. The connector sends ``%20``."""
    pairs = search_pairs([[("updated_at", "2025-05-01 00:00:00", "gteq")]], page_size=5)
    plus = requests.get(
        store.url + "/rest/default/V1/orders?" + urlencode(pairs), auth=auth(store), timeout=5
    )
    assert plus.status_code == 401
    assert get(store, "orders", pairs).status_code == 200


def test_unknown_route_store_and_missing_auth(store: MagentoSandbox) -> None:
    assert get(store, "nothing/here").json() == {"message": "Request does not match any route."}
    wrong_store = requests.get(store.url + "/rest/nl/V1/orders", auth=auth(store), timeout=5)
    assert wrong_store.status_code == 400
    assert requests.get(store.url + "/rest/V1/orders", timeout=5).status_code == 401


# -- searchCriteria ----------------------------------------------------------------------------------


def test_paging_by_total_count_and_the_last_page_again(store: MagentoSandbox) -> None:
    sort = [("entity_id", "ASC")]
    seen = []
    for page in (1, 2, 3):
        body = get(store, "orders", search_pairs(sort=sort, page_size=25, current_page=page)).json()
        assert body["total_count"] == 60
        seen += [o["entity_id"] for o in body["items"]]
    assert seen == list(range(1, 61))
    past = get(store, "orders", search_pairs(sort=sort, page_size=25, current_page=9)).json()
    assert [o["entity_id"] for o in past["items"]] == list(range(51, 61)), "past the end: the last page"
    assert len(get(store, "orders").json()["items"]) == 60, "no pageSize: everything"


def test_filters_and_sorts(store: MagentoSandbox) -> None:
    groups = [[("state", "processing", "eq"), ("state", "complete", "eq")], [("entity_id", 30, "lteq")]]
    body = get(store, "orders", search_pairs(groups, [("updated_at", "DESC"), ("entity_id", "ASC")])).json()
    assert body["items"] and all(o["state"] in ("processing", "complete") for o in body["items"])
    assert all(o["entity_id"] <= 30 for o in body["items"])
    stamps = [(o["updated_at"], -o["entity_id"]) for o in body["items"]]
    assert stamps == sorted(stamps, reverse=True)
    some = get(store, "orders", search_pairs([[("increment_id", "000000003,000000007", "in")]])).json()
    assert [o["entity_id"] for o in some["items"]] == [3, 7]


def test_input_limits(make: Any) -> None:
    sb = make(orders=30, input_limits=True)
    assert get(sb, "orders", search_pairs(page_size=301)).status_code == 400
    assert len(get(sb, "orders").json()["items"]) == 20, "default page size with limits on"
    items = [
        {"sku": f"SBX-{i:05d}", "source_code": "default", "quantity": 1, "status": 1} for i in range(1, 22)
    ]
    assert send(sb, "POST", "inventory/source-items", {"sourceItems": items}).status_code == 400


# -- orders --------------------------------------------------------------------------------------------


def test_orders_look_like_the_recorded_ones(make: Any) -> None:
    sb = make(orders=20, configurable_share=1.0)
    order = sb.all_orders()[0]
    expected = {k for k in SAMPLE if not k.startswith("customer_d") and k != "customer_gender"}
    assert expected <= set(order), sorted(expected - set(order))
    assert set(SAMPLE["items"][0]) - {"applied_rule_ids"} <= set(order["items"][0])
    parents = [i for i in order["items"] if i["product_type"] == "configurable"]
    children = [i for i in order["items"] if i.get("parent_item_id")]
    assert parents and len(parents) == len(children)
    assert all(
        c["sku"] == p["sku"] and c["parent_item"]["item_id"] == p["item_id"]
        for p, c in zip(parents, children, strict=True)
    )
    address = order["extension_attributes"]["shipping_assignments"][0]["shipping"]["address"]
    assert address["address_type"] == "shipping" and isinstance(address["street"], list)
    assert isinstance(order["grand_total"], int | float) and order["created_at"][10] == " "
    none = make(orders=20, configurable_share=0.0)
    assert not any(i.get("parent_item_id") for o in none.all_orders() for i in o["items"])


def test_changes_and_activity_move_updated_at(store: MagentoSandbox) -> None:
    store.clock.advance(60)
    changed = store.change_orders(5)
    now = store.clock.now().strftime("%Y-%m-%d %H:%M:%S")
    assert all(store.order(i)["updated_at"] == now for i in changed)
    before = len(store.all_orders())
    store.tick()
    assert len(store.all_orders()) >= before
    store.changes_per_list = 3
    get(store, "orders", search_pairs(page_size=1))
    assert sum(o["updated_at"] == now for o in store.all_orders()) >= len(changed)


# -- stock ------------------------------------------------------------------------------------------------


def test_msi_source_items_batch_is_all_or_nothing(store: MagentoSandbox) -> None:
    good = {"sku": "SBX-00001", "source_code": "east_wh", "quantity": 42, "status": 1}
    bad = {"sku": "SBX-00002", "source_code": "nowhere", "quantity": 1, "status": 1}
    assert send(store, "POST", "inventory/source-items", {"sourceItems": [good, bad]}).status_code == 400
    assert store.quantity("SBX-00001", "east_wh") != 42
    empty = send(store, "POST", "inventory/source-items", {"sourceItems": [good | {"sku": ""}]})
    assert empty.status_code == 400 and empty.json()["errors"]
    assert send(store, "POST", "inventory/source-items", {"sourceItems": [good]}).json() == []
    assert store.quantity("SBX-00001", "east_wh") == 42
    found = get(store, "inventory/source-items", search_pairs([[("sku", "SBX-00001", "eq")]])).json()
    assert {i["source_code"] for i in found["items"]} == {"default", "east_wh", "west_wh"}


def test_legacy_store_has_no_msi_routes_and_writes_stock_items(make: Any) -> None:
    sb = make(orders=5, msi=False)
    assert get(sb, "inventory/sources").status_code == 404
    item = get(sb, "stockItems/SBX-00003").json()
    put = send(
        sb,
        "PUT",
        f"products/SBX-00003/stockItems/{item['item_id']}",
        {"stockItem": {"qty": 9, "is_in_stock": 1}},
    )
    assert put.json() == str(item["item_id"]) and sb.quantity("SBX-00003") == 9
    c = connector(sb)
    assert c.inventory() == ("legacy", ["default"])
    assert [r.ok for r in c.write_stock([StockWrite("SBX-00004", "default", 0)])] == [True]
    assert c.read_stock(["SBX-00004", "NOPE"])[0].available == 0
    assert len(c.read_stock()) == 24, "every simple product"


def test_legacy_api_on_an_msi_store_touches_source_default(store: MagentoSandbox) -> None:
    item = get(store, "stockItems/SBX-00005").json()
    send(
        store,
        "PUT",
        f"products/SBX-00005/stockItems/{item['item_id']}",
        {"stockItem": {"qty": 77, "is_in_stock": 1}},
    )
    assert store.quantity("SBX-00005", "default") == 77


# -- shipments ----------------------------------------------------------------------------------------------


def open_order(sb: MagentoSandbox, configurable: bool = False) -> dict[str, Any]:
    return next(
        o
        for o in sb.all_orders()
        if o["state"] in ("new", "processing")
        and any(i["product_type"] == "configurable" for i in o["items"]) == configurable
    )


def test_ship_tracks_and_validation(make: Any) -> None:
    sb = make(orders=40, configurable_share=0.5, seed=2)
    order = open_order(sb, configurable=True)
    parent = next(i for i in order["items"] if i["product_type"] == "configurable")
    child = next(i for i in order["items"] if i.get("parent_item_id") == parent["item_id"])
    path = f"order/{order['entity_id']}/ship"
    too_many = send(sb, "POST", path, {"items": [{"order_item_id": parent["item_id"], "qty": 99}]})
    assert too_many.status_code == 400 and "unshipped quantity" in too_many.json()["message"]
    only_child = send(sb, "POST", path, {"items": [{"order_item_id": child["item_id"], "qty": 1}]})
    assert only_child.status_code == 400, "a configurable's child ships through its parent"
    no_title = send(sb, "POST", path, {"tracks": [{"track_number": "1", "carrier_code": "ups"}]})
    assert no_title.status_code == 400 and no_title.json()["parameters"] == {"fieldName": "title"}
    stock_before = sb.quantity(child["sku"], "east_wh")
    body = {
        "items": [{"order_item_id": parent["item_id"], "qty": parent["qty_ordered"]}],
        "tracks": [{"track_number": "1Z1", "title": "UPS", "carrier_code": "ups"}],
        "comment": {"comment": "hi", "is_visible_on_front": 0},
        "arguments": {"extension_attributes": {"source_code": "east_wh"}},
    }
    created = send(sb, "POST", path, body)
    assert created.status_code == 200 and isinstance(created.json(), str), "the id as a JSON string"
    [shipment] = sb.shipments_of(order["entity_id"])
    assert (
        shipment["extension_attributes"] == {"source_code": "east_wh"}
        and shipment["comments"][0]["comment"] == "hi"
    )
    assert sb.quantity(child["sku"], "east_wh") == max(0, stock_before - parent["qty_ordered"])
    after = sb.order(order["entity_id"])
    assert (
        next(i for i in after["items"] if i["item_id"] == child["item_id"])["qty_shipped"]
        == parent["qty_ordered"]
    )
    track = send(
        sb,
        "POST",
        "shipment/track",
        {
            "entity": {
                "order_id": order["entity_id"],
                "parent_id": shipment["entity_id"],
                "track_number": "2",
                "title": "x",
                "carrier_code": "custom",
            }
        },
    )
    assert track.json()["parent_id"] == shipment["entity_id"]
    listed = get(sb, "shipments", search_pairs([[("order_id", order["entity_id"], "eq")]])).json()
    assert listed["total_count"] == 1 and len(listed["items"][0]["tracks"]) == 2


def test_connector_shipment_is_created_once(store: MagentoSandbox) -> None:
    order = open_order(store)
    lines = tuple(
        ShipmentLine(str(i["item_id"]), int(i["qty_ordered"]))
        for i in order["items"]
        if not i.get("parent_item_id")
    )
    shipment = ShipmentPush("hub-1", str(order["entity_id"]), lines, "usps", "", "9400100000000000000000")
    c = connector(store)
    assert c.push_fulfilment(shipment).outcome == "created"
    assert c.push_fulfilment(shipment).outcome == "unchanged"
    [made] = store.shipments_of(order["entity_id"])
    assert (
        made["tracks"][0]["carrier_code"] == "usps"
        and made["extension_attributes"]["source_code"] == "default"
    )
    assert store.order(order["entity_id"])["state"] in ("processing", "complete")


# -- faults -------------------------------------------------------------------------------------------------


def test_faults_answer_as_magento_and_the_connector_retries(store: MagentoSandbox) -> None:
    store.fail_next("500", path="/orders$")
    failed = get(store, "orders")
    assert failed.status_code == 500 and failed.json()["message"].startswith("Internal Error.")
    store.fail_next("503", count=2, path="/orders$")
    c = connector(store)
    assert c.count_orders(START - timedelta(days=40)) == 60
    assert store.stats.count(rule="/rest/<store>/V1/orders", status=503) == 2


def test_connection_values_make_a_working_connection(store: MagentoSandbox) -> None:
    values = store.connection_values()
    assert values["store_url"] == store.url and values["auth_mode"] == "oauth1"
    result = connector(store).test_connection()
    assert result.ok and "MSI" in result.message and "60 orders" in result.message
