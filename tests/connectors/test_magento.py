"""The Magento client and connector against `responses`: OAuth 1.0a as Magento checks it,
Bearer mode, searchCriteria paging, keyset order pages, webhook signatures, stock in batches,
shipments found before they are created."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest
import requests
import responses
from responses import matchers
from responses.matchers import query_param_matcher

from connectors.magento import MagentoConnector, webhooks
from connectors.magento.client import OrderKeyset, error_message, search_pairs, with_query
from hub.connectors import (
    ConnectionContext,
    Ignored,
    OrderChanged,
    ShipmentLine,
    ShipmentPush,
    StockWrite,
)
from hub.http import HttpClient, HttpError
from tests.contracts import FIXTURES

STORE = "https://shop.example.com"
BASE = STORE + "/rest/default/V1/"
CREDENTIALS = {
    "store_url": STORE,
    "consumer_key": "ck-0123456789abcdef0123456789abcd",
    "consumer_secret": "cs-0123456789abcdef0123456789abc",
    "access_token": "at-0123456789abcdef0123456789abcd",
    "access_token_secret": "ats-0123456789abcdef0123456789ab",
    "webhook_secret": "whsec-magento",
}
ORDER = json.loads((FIXTURES / "magento" / "order_9_pending_3_items.json").read_text())
SHIP = json.loads((FIXTURES / "magento" / "order_ship_partial.json").read_text())
TRACK = json.loads((FIXTURES / "magento" / "shipment_track_create.json").read_text())
STOCK = json.loads((FIXTURES / "magento" / "stock_item_get_and_update.json").read_text())


def connector(**settings: Any) -> MagentoConnector:
    values = {"store_code": "default", "auth_mode": "oauth1", "inventory_mode": "auto"} | settings
    http = HttpClient(
        MagentoConnector.base_url(CREDENTIALS, values),
        secrets=MagentoConnector.secret_values(CREDENTIALS),
        max_attempts=2,
        backoff_base=0.01,
    )
    return MagentoConnector(ConnectionContext(1, dict(CREDENTIALS), values, http))


def magento_signature(method: str, url: str, header: str, consumer_secret: str, token_secret: str) -> str:
    """The signature as Magento 2.4 computes it on its side: query split on & and = and
    rawurldecode-d, header parameters, names sorted, RFC 3986 encoding, HMAC-SHA256."""
    params = {}
    for part in header.removeprefix("OAuth ").split(","):
        name, _, value = part.strip().partition("=")
        if name != "oauth_signature":
            params[unquote(name)] = unquote(value.strip('"'))
    parts = urlsplit(url)
    for piece in parts.query.split("&") if parts.query else ():
        data = piece.split("=")
        if len(data) == 2:
            params[unquote(data[0])] = unquote(data[1])
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted(params.items()))
    base_url = f"{parts.scheme}://{parts.netloc}{parts.path}"
    base = f"{method}&{quote(base_url, safe='')}&{quote(query, safe='')}"
    key = f"{quote(consumer_secret, safe='')}&{quote(token_secret, safe='')}"
    return base64.b64encode(hmac.new(key.encode(), base.encode(), hashlib.sha256).digest()).decode()


def oauth_params(header: str) -> dict[str, str]:
    pairs = (p.strip().partition("=") for p in header.removeprefix("OAuth ").split(","))
    return {unquote(k): unquote(v.strip('"')) for k, _, v in pairs}


def search_body(items: list[dict[str, Any]], total: int) -> dict[str, Any]:
    return {"items": items, "search_criteria": {}, "total_count": total}


# -- auth ------------------------------------------------------------------------------------------


@responses.activate
def test_requests_are_oauth1_hmac_sha256_signed_as_magento_checks_them() -> None:
    responses.get(BASE + "orders", json=search_body([], 0))
    connector().count_orders(datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC))
    request = responses.calls[0].request
    header = request.headers["Authorization"]
    header = header.decode() if isinstance(header, bytes) else header
    params = oauth_params(header)
    assert params["oauth_signature_method"] == "HMAC-SHA256"
    assert params["oauth_consumer_key"] == CREDENTIALS["consumer_key"]
    assert params["oauth_token"] == CREDENTIALS["access_token"]
    assert "%20" in request.url and "+" not in request.url, "a space signs differently as +"
    expected = magento_signature(
        "GET", request.url, header, CREDENTIALS["consumer_secret"], CREDENTIALS["access_token_secret"]
    )
    assert params["oauth_signature"] == expected
    query = parse_qs(urlsplit(request.url).query)
    assert query["searchCriteria[filter_groups][0][filters][0][value]"] == ["2025-01-02 03:04:05"]


@responses.activate
def test_bearer_mode_sends_the_access_token_and_no_signature() -> None:
    responses.get(BASE + "orders", json=search_body([], 7))
    responses.get(
        BASE + "inventory/sources", status=404, json={"message": "Request does not match any route."}
    )
    result = connector(auth_mode="bearer").test_connection()
    assert result.ok and "7 orders" in result.message and "legacy" in result.message
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {CREDENTIALS['access_token']}"


@responses.activate
def test_refused_bearer_token_explains_the_store_option_without_the_token() -> None:
    body = {
        "message": "The consumer isn't authorized to access %resources.",
        "parameters": {"resources": "X"},
    }
    responses.get(BASE + "orders", status=401, json=body)
    result = connector(auth_mode="bearer").test_connection()
    assert (
        not result.ok and "standalone Bearer" in result.message and "authorized to access X" in result.message
    )
    assert CREDENTIALS["access_token"] not in result.message


def test_store_code_is_in_the_path() -> None:
    assert MagentoConnector.base_url(CREDENTIALS, {"store_code": "fr"}) == STORE + "/rest/fr/V1/"
    assert MagentoConnector.base_url({"store_url": STORE + "/index.php/"}, {}) == (
        STORE + "/index.php/rest/default/V1/"
    )


# -- searchCriteria ----------------------------------------------------------------------------------


def test_search_pairs_encode_spaces_and_brackets_for_the_signature() -> None:
    pairs = search_pairs([[("updated_at", "2025-01-01 00:00:00", "gteq")]], [("updated_at", "ASC")], 100, 2)
    url = with_query("orders", pairs)
    assert (
        "searchCriteria%5Bfilter_groups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5Bvalue%5D=2025-01-01%2000%3A00%3A00"
        in url
    )
    assert url.endswith("searchCriteria%5BpageSize%5D=100&searchCriteria%5BcurrentPage%5D=2")
    with pytest.raises(ValueError):
        search_pairs([[("a", 1, "eq")]] * 10)


@responses.activate
def test_paging_stops_at_total_count_and_never_asks_past_the_last_page() -> None:
    def reply(request: Any) -> tuple[int, dict[str, str], str]:
        query = parse_qs(urlsplit(request.url).query)
        size = int(query["searchCriteria[pageSize]"][0])
        page = min(int(query["searchCriteria[currentPage]"][0]), 3)  # past the end: the last again
        codes = [f"s{i}" for i in range(102)][(page - 1) * size : page * size]
        return 200, {}, json.dumps(search_body([{"source_code": c} for c in codes], 102))

    responses.add_callback(responses.GET, BASE + "inventory/sources", callback=reply)
    found = connector(page_size=50).client.sources()
    assert found is not None and [s["source_code"] for s in found] == [f"s{i}" for i in range(102)]
    assert len(responses.calls) == 3


def item(entity_id: int, at: str) -> dict[str, Any]:
    return {"entity_id": entity_id, "updated_at": at}


def test_keyset_moves_past_the_last_order_and_drops_what_was_read() -> None:
    first = OrderKeyset("ge", "2025-01-01 00:00:00", 0)
    page = [item(1, "2025-01-01 00:00:00"), item(5, "2025-01-02 10:00:00"), item(3, "2025-01-03 08:00:00")]
    token = first.next(page, total=10, size=3)
    assert token == "ge|2025-01-03 08:00:00|3"
    step = OrderKeyset.decode(token)
    assert step.groups() == [[("updated_at", "2025-01-03 08:00:00", "gteq")]]
    again = [item(3, "2025-01-03 08:00:00"), item(9, "2025-01-03 08:00:00"), item(2, "2025-01-04 00:00:00")]
    assert [o["entity_id"] for o in step.keep(again)] == [9, 2]
    assert step.next(again, total=3, size=3) is None, "total_count says this page is the last"


def test_a_second_fuller_than_a_page_is_read_by_id() -> None:
    step = OrderKeyset("ge", "2025-01-01 00:00:00", 0)
    same = [item(i, "2025-01-05 00:00:00") for i in (4, 7, 8)]
    token = step.next(same, total=9, size=3)
    assert token == "eq|2025-01-05 00:00:00|8"
    tie = OrderKeyset.decode(token)
    assert tie.groups() == [[("updated_at", "2025-01-05 00:00:00", "eq")], [("entity_id", 8, "gt")]]
    assert tie.sort() == [("entity_id", "ASC")]
    assert tie.next([item(11, "2025-01-05 00:00:00")], total=1, size=3) == "gt|2025-01-05 00:00:00|0"
    after = OrderKeyset.decode("gt|2025-01-05 00:00:00|0")
    assert after.groups() == [[("updated_at", "2025-01-05 00:00:00", "gt")]]
    assert after.next([], total=0, size=3) is None


@responses.activate
def test_fetch_orders_asks_page_one_sorted_by_updated_at_then_id() -> None:
    page = [dict(ORDER)]
    responses.get(BASE + "orders", json=search_body(page, 1))
    since = datetime(2020, 4, 1, tzinfo=UTC)
    result = connector(page_size=50).fetch_orders(since, None)
    assert result.payloads == page and result.next_page is None
    query = parse_qs(urlsplit(responses.calls[0].request.url).query)
    assert query["searchCriteria[sortOrders][0][field]"] == ["updated_at"]
    assert query["searchCriteria[sortOrders][1][field]"] == ["entity_id"]
    assert query["searchCriteria[pageSize]"] == ["50"] and query["searchCriteria[currentPage]"] == ["1"]


def test_error_message_fills_in_parameters() -> None:
    body = json.dumps({"message": "Invalid product data: %1", "parameters": ["Invalid attribute set"]})
    assert error_message(HttpError("x", url="u", status=400, body=body)) == (
        "400 Invalid product data: Invalid attribute set"
    )
    named = json.dumps({"message": '"%fieldName" is required.', "parameters": {"fieldName": "sku"}})
    assert error_message(HttpError("x", url="u", status=400, body=named)) == '400 "sku" is required.'


# -- webhook ------------------------------------------------------------------------------------------

BODY = json.dumps({"event": "sales_order_save_after", "order_id": 9, "event_id": "e-1"}).encode()


def hex_sign(body: bytes, secret: str = CREDENTIALS["webhook_secret"]) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    "signature",
    [
        hex_sign(BODY),
        "sha256=" + hex_sign(BODY),
        hex_sign(BODY).upper(),
        base64.b64encode(hmac.new(b"whsec-magento", BODY, hashlib.sha256).digest()).decode(),
    ],
    ids=["hex", "prefixed", "upper-hex", "base64"],
)
def test_webhook_signature_forms(signature: str) -> None:
    assert MagentoConnector.verify_webhook(CREDENTIALS, {"x-magento-hmac-sha256": signature}, BODY)


@pytest.mark.parametrize(
    ("credentials", "headers", "body"),
    [
        (CREDENTIALS, {"X-Magento-Hmac-Sha256": hex_sign(BODY, "wrong")}, BODY),
        (CREDENTIALS, {"X-Magento-Hmac-Sha256": hex_sign(BODY)}, BODY + b" "),
        (CREDENTIALS, {}, BODY),
        (CREDENTIALS, {"X-Magento-Hmac-Sha256": "ü"}, BODY),
        (CREDENTIALS | {"webhook_secret": ""}, {"X-Magento-Hmac-Sha256": hex_sign(BODY, "")}, BODY),
        (
            CREDENTIALS | {"webhook_signature_header": "X-Sig"},
            {"X-Magento-Hmac-Sha256": hex_sign(BODY)},
            BODY,
        ),
    ],
    ids=["wrong-secret", "body-changed", "missing", "garbage", "no-secret-configured", "other-header"],
)
def test_bad_webhooks_are_refused(credentials: dict[str, str], headers: dict[str, str], body: bytes) -> None:
    assert not MagentoConnector.verify_webhook(credentials, headers, body)


def test_the_signature_header_is_configured_on_the_connection() -> None:
    credentials = CREDENTIALS | {"webhook_signature_header": "X-Sig"}
    assert MagentoConnector.verify_webhook(credentials, {"x-sig": hex_sign(BODY)}, BODY)


def test_delivery_key_and_topic() -> None:
    keyed = webhooks.delivery({"X-Magento-Event-Id": "abc", "X-Magento-Event": "order_saved"}, BODY)
    assert (keyed.key, keyed.topic) == ("order_saved:abc", "order_saved")
    from_body = webhooks.delivery({}, BODY)
    assert (from_body.key, from_body.topic) == ("sales_order_save_after:e-1", "sales_order_save_after")
    bare = webhooks.delivery({}, b'{"order_id": 9}')
    assert bare.key.startswith("order:sha256:") and bare == webhooks.delivery({}, b'{"order_id": 9}')


@pytest.mark.parametrize(
    ("payload", "found"),
    [
        ({"order_id": 9}, "9"),
        ({"data": {"order": {"entity_id": 9, "increment_id": "13", "state": "new"}}}, "9"),
        (ORDER, "9"),
        ({"entity_id": 3, "order_id": "9"}, "9"),  # a shipment: its own id is not the order's
        ({"entity_id": 3}, None),
        ([1, 2], None),
    ],
)
def test_order_id_of_a_module_payload(payload: Any, found: str | None) -> None:
    assert webhooks.order_id(payload) == found


@responses.activate
def test_a_delivery_is_a_trigger_the_order_is_read_again() -> None:
    responses.get(BASE + "orders/9", json=ORDER)
    responses.get(
        BASE + "orders/404", status=404, json={"message": "The entity that was requested doesn't exist."}
    )
    by_number = {"searchCriteria[filter_groups][0][filters][0][value]": "000000009"}
    responses.get(
        BASE + "orders",
        json=search_body([ORDER], 1),
        match=[query_param_matcher(by_number, strict_match=False)],
    )
    responses.get(BASE + "orders", json=search_body([], 0))
    c = connector()
    assert c.handle_webhook("sales_order_save_after", {"order_id": 9}) == [OrderChanged(ORDER)]
    assert c.handle_webhook("sales_order_save_after", {"order_id": "000000009"}) == [OrderChanged(ORDER)], (
        "an increment id is looked up as one, never read as entity 9"
    )
    assert not any(call.request.url.endswith("/orders/000000009") for call in responses.calls)
    [gone] = c.handle_webhook("sales_order_save_after", {"order_id": 404})
    [empty] = c.handle_webhook("ping", {"hello": 1})
    assert isinstance(gone, Ignored) and isinstance(empty, Ignored)
    assert c.register_webhooks() == [], "Magento has no subscription API"


# -- inventory -------------------------------------------------------------------------------------------

SOURCES = search_body([{"source_code": c} for c in ("default", "east")], 2)


@responses.activate
def test_msi_stock_is_written_in_batches() -> None:
    responses.get(BASE + "inventory/sources", json=SOURCES)
    responses.post(BASE + "inventory/source-items", json=[])
    writes = [StockWrite(f"SKU-{i}", "east" if i % 2 else "default", i) for i in range(250)]
    results = connector(stock_batch_size=100).write_stock([*writes, StockWrite("SKU-1", "nowhere", 3)])
    posts = [c for c in responses.calls if c.request.method == "POST"]
    assert len(posts) == 3
    sent = [json.loads(c.request.body)["sourceItems"] for c in posts]
    assert [len(s) for s in sent] == [100, 100, 50]
    assert sent[0][0] == {"sku": "SKU-0", "source_code": "default", "quantity": 0, "status": 0}
    assert sent[0][1] == {"sku": "SKU-1", "source_code": "east", "quantity": 1, "status": 1}
    assert all(r.ok for r in results[:250])
    assert not results[250].ok and "nowhere" in (results[250].error or "")


@responses.activate
def test_a_refused_batch_is_sent_again_item_by_item() -> None:
    responses.get(BASE + "inventory/sources", json=SOURCES)
    refused = {"message": "Validation Failed", "errors": [{"message": '"sku" can not be empty.'}]}

    def reply(request: Any) -> tuple[int, dict[str, str], str]:
        items = json.loads(request.body)["sourceItems"]
        bad = any(not i["sku"] for i in items)
        return (400, {}, json.dumps(refused)) if bad else (200, {}, "[]")

    responses.add_callback(responses.POST, BASE + "inventory/source-items", callback=reply)
    results = connector().write_stock(
        [StockWrite("A", "default", 1), StockWrite("", "east", 2), StockWrite("B", "east", 3)]
    )
    assert [r.ok for r in results] == [True, False, True]
    assert "Validation Failed" in (results[1].error or "")
    assert len([c for c in responses.calls if c.request.method == "POST"]) == 4


@responses.activate
def test_legacy_stock_is_written_per_sku_only_when_it_differs() -> None:
    responses.get(
        BASE + "inventory/sources", status=404, json={"message": "Request does not match any route."}
    )
    responses.get(BASE + "stockItems/MH09-L-Blue", json=STOCK["get"]["response"])
    responses.get(BASE + "stockItems/SAME", json=STOCK["get"]["response"] | {"item_id": 5})
    responses.get(
        BASE + "stockItems/GONE",
        status=404,
        json={"message": "The product that was requested doesn't exist."},
    )
    responses.put(
        BASE + "products/MH09-L-Blue/stockItems/190",
        json="190",
        match=[matchers.json_params_matcher({"stockItem": {"qty": 333, "is_in_stock": 1}})],
    )
    results = connector().write_stock(
        [
            StockWrite("MH09-L-Blue", "default", 333),
            StockWrite("SAME", "default", 30),
            StockWrite("GONE", "default", 1),
            StockWrite("MH09-L-Blue", "east", 1),
        ]
    )
    assert [r.ok for r in results] == [True, True, False, False]
    assert "one location" in (results[3].error or "")
    assert [c.request.method for c in responses.calls].count("PUT") == 1


@responses.activate
def test_read_stock_per_source_and_legacy() -> None:
    responses.get(BASE + "inventory/sources", json=SOURCES)
    example = json.loads((FIXTURES / "magento" / "msi_source_items_doc_example.json").read_text())
    rows = example["search_response"]["response"]["items"] + [
        {"sku": "new_product2", "source_code": "west", "quantity": 9, "status": 0}
    ]
    responses.get(BASE + "inventory/source-items", json=search_body(rows, 3))
    levels = connector().read_stock(["new_product2"])
    assert [(s.location_id, s.available) for s in levels] == [("central", 500), ("east", 250), ("west", 0)]
    query = parse_qs(urlsplit(responses.calls[-1].request.url).query)
    assert query["searchCriteria[filter_groups][0][filters][0][condition_type]"] == ["in"]


# -- shipments -------------------------------------------------------------------------------------------


def push(**kw: Any) -> ShipmentPush:
    values = {
        "key": "hub-77",
        "order_external_id": "9",
        "lines": (ShipmentLine("17", 2), ShipmentLine("18", 1)),  # 17 is the child of configurable 16
        "carrier": "dhl_express",
        "carrier_name": "",
        "tracking_number": "JD0123",
    }
    return ShipmentPush(**(values | kw))


@responses.activate
def test_shipment_is_created_with_tracks_source_and_the_pushs_notify_flag() -> None:
    responses.get(BASE + "orders/9", json=ORDER)
    responses.get(BASE + "shipments", json=search_body([], 0))
    responses.get(BASE + "inventory/sources", json=SOURCES)
    responses.post(BASE + "order/9/ship", json=SHIP["response"])
    # the core passes the connection's notify_customer setting with every push
    result = connector(shipment_source="east").push_fulfilment(push(notify_customer=True))
    assert (result.outcome, result.channel_ref) == ("created", "5")
    body = json.loads(responses.calls[-1].request.body)
    assert body["items"] == [{"order_item_id": 16, "qty": 2}, {"order_item_id": 18, "qty": 1}]
    assert body["tracks"] == [{"track_number": "JD0123", "title": "DHL", "carrier_code": "dhl"}]
    assert body["notify"] is True and body["appendComment"] is False
    assert "[hub shipment hub-77]" in body["comment"]["comment"]
    assert body["arguments"] == {"extension_attributes": {"source_code": "east"}}


@pytest.mark.parametrize(
    ("carrier", "code"), [("ups", "ups"), ("fedex", "fedex"), ("usps", "usps"), ("other", "custom")]
)
@responses.activate
def test_carrier_codes(carrier: str, code: str) -> None:
    responses.get(BASE + "orders/9", json=ORDER)
    responses.get(BASE + "shipments", json=search_body([], 0))
    responses.get(
        BASE + "inventory/sources", status=404, json={"message": "Request does not match any route."}
    )
    responses.post(BASE + "order/9/ship", json="6")
    connector().push_fulfilment(push(carrier=carrier, carrier_name="Acme Freight"))
    body = json.loads(responses.calls[-1].request.body)
    assert body["tracks"][0] == {"track_number": "JD0123", "title": "Acme Freight", "carrier_code": code}
    assert "arguments" not in body, "no source on a legacy store"


def existing(tracks: list[str], comment: str = "Shipped by the hub [hub shipment hub-77]") -> dict[str, Any]:
    return {
        "entity_id": 3,
        "order_id": 9,
        "comments": [{"comment": comment}],
        "tracks": [{"track_number": n, "carrier_code": "dhl"} for n in tracks],
    }


@responses.activate
def test_a_push_repeated_finds_its_shipment_and_creates_nothing() -> None:
    responses.get(BASE + "orders/9", json=ORDER)
    responses.get(BASE + "shipments", json=search_body([existing(["JD0123"])], 1))
    result = connector().push_fulfilment(push())
    assert (result.outcome, result.channel_ref) == ("unchanged", "3")
    assert all(c.request.method == "GET" for c in responses.calls)


@responses.activate
def test_new_tracking_adds_a_track_to_the_existing_shipment() -> None:
    responses.get(BASE + "orders/9", json=ORDER)
    responses.get(BASE + "shipments", json=search_body([existing(["OLD1"])], 1))
    responses.post(BASE + "shipment/track", json=TRACK["response"])
    result = connector().push_fulfilment(push())
    assert (result.outcome, result.channel_ref) == ("updated", "3")
    entity = json.loads(responses.calls[-1].request.body)["entity"]
    assert entity["description"] == "[hub shipment hub-77]", "the mark the next push finds it by"
    assert entity | {"description": ""} == {
        "track_number": "JD0123",
        "title": "DHL",
        "carrier_code": "dhl",
        "order_id": 9,
        "parent_id": 3,
        "description": "",
    }


@responses.activate
def test_a_shipment_made_by_hand_with_the_same_tracking_is_ours() -> None:
    responses.get(BASE + "orders/9", json=ORDER)
    responses.get(BASE + "shipments", json=search_body([existing(["JD0123"], comment="by hand")], 1))
    assert connector().push_fulfilment(push()).outcome == "unchanged"


@responses.activate
def test_a_lost_answer_is_resolved_by_looking_not_by_shipping_again() -> None:
    responses.get(BASE + "orders/9", json=ORDER)
    responses.get(BASE + "shipments", json=search_body([], 0))
    responses.get(BASE + "shipments", json=search_body([existing(["JD0123"])], 1))
    responses.get(BASE + "inventory/sources", json=SOURCES)
    responses.post(BASE + "order/9/ship", body=requests.exceptions.ConnectionError("connection reset"))
    result = connector().push_fulfilment(push())
    assert (result.outcome, result.channel_ref) == ("created", "3")
    assert [c.request.method for c in responses.calls].count("POST") == 1, "a ship is never sent twice"


@responses.activate
def test_an_increment_id_is_looked_up_not_read_as_an_entity_id() -> None:
    responses.get(BASE + "orders", json=search_body([ORDER], 1))
    responses.get(BASE + "shipments", json=search_body([existing(["JD0123"])], 1))
    assert connector().push_fulfilment(push(order_external_id="000000013")).outcome == "unchanged"
    query = parse_qs(urlsplit(responses.calls[0].request.url).query)
    assert query["searchCriteria[filter_groups][0][filters][0][field]"] == ["increment_id"]


@responses.activate
def test_unknown_line_is_an_error() -> None:
    responses.get(BASE + "orders/9", json=ORDER)
    responses.get(BASE + "shipments", json=search_body([], 0))
    with pytest.raises(ValueError, match="no item 99"):
        connector().push_fulfilment(push(lines=(ShipmentLine("99", 1),)))


def test_the_connection_form_says_open_source_sends_no_webhooks(client: Any) -> None:
    page = client.get("/connections/new/magento").get_data(as_text=True)
    assert "Magento Open Source sends no webhooks" in page
    assert "standalone Bearer tokens" in page
