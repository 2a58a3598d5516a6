"""The WooCommerce client, webhooks, stock and fulfilment against `responses`: paging, both auth
modes, the per-connection limits, the ping, signatures, batch limits."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from responses import matchers

from connectors.woocommerce import WooCommerceConnector, webhooks
from connectors.woocommerce.sandbox import oauth_signature
from hub.connectors import ConnectionContext, Ignored, OrderChanged, ShipmentPush, StockWrite
from hub.http import HttpClient
from tests.contracts import FIXTURES

STORE = "https://shop.example.com"
BASE = STORE + "/wp-json/wc/v3/"
KEY, SECRET = "ck_0123456789abcdef", "cs_fedcba9876543210"
ORDER = json.loads((FIXTURES / "woocommerce" / "order.json").read_text())
HOOK_URL = "https://hub.test/webhooks/woocommerce/k3y"


def connector(store: str = STORE, **settings: Any) -> WooCommerceConnector:
    credentials = {"store_url": store, "consumer_key": KEY, "consumer_secret": SECRET}
    http = HttpClient(
        WooCommerceConnector.base_url(credentials, settings), secrets=[KEY, SECRET], max_attempts=3
    )
    return WooCommerceConnector(ConnectionContext(None, credentials, settings, http, webhook_url=HOOK_URL))


def order(oid: int, modified: str) -> dict[str, Any]:
    return {"id": oid, "date_modified_gmt": modified, "date_modified": "local, never read"}


def pages(total_pages: int, total: int = 0) -> dict[str, str]:
    return {"X-WP-Total": str(total), "X-WP-TotalPages": str(total_pages)}


# -- paging ---------------------------------------------------------------------------------------

SINCE = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@responses.activate
def test_first_page_asks_gmt_modified_after_ordered_by_modification() -> None:
    responses.get(BASE + "orders", json=[order(7, "2026-03-01T12:00:05")], headers=pages(1, 1))
    page = connector().fetch_orders(SINCE, None)
    assert [o["id"] for o in page.payloads] == [7] and page.next_page is None
    query = dict(parse_qsl(urlsplit(responses.calls[0].request.url).query))
    assert query == {
        "per_page": "100",
        "modified_after": "2026-03-01T11:59:59",  # bare UTC: an offset would be moved to shop time
        "dates_are_gmt": "true",
        "orderby": "modified",
        "order": "asc",
        "page": "1",
    }


@responses.activate
def test_next_page_starts_at_the_last_second_skipping_what_was_seen() -> None:
    first = [
        order(1, "2026-03-01T12:00:01"),
        order(2, "2026-03-01T12:00:09"),
        order(3, "2026-03-01T12:00:09"),
    ]
    responses.get(BASE + "orders", json=first, headers=pages(4, 400))
    c = connector()
    page = c.fetch_orders(SINCE, None)
    assert page.next_page == "2026-03-01T12:00:08|1|2026-03-01T12:00:09|2,3"
    # 2 was modified again meanwhile: its new version is no duplicate and must not be skipped
    again = [
        order(3, "2026-03-01T12:00:09"),
        order(4, "2026-03-01T12:05:00"),
        order(2, "2026-03-01T12:06:00"),
    ]
    responses.get(BASE + "orders", json=again, headers=pages(1, 3))
    second = c.fetch_orders(SINCE, page.next_page)
    assert [o["id"] for o in second.payloads] == [4, 2] and second.next_page is None
    query = dict(parse_qsl(urlsplit(responses.calls[1].request.url).query))
    assert query["modified_after"] == "2026-03-01T12:00:08" and query["page"] == "1"


@responses.activate
def test_a_page_all_in_one_second_pages_on_by_number() -> None:
    same = [order(i, "2026-03-01T12:00:09") for i in range(100)]
    responses.get(BASE + "orders", json=same, headers=pages(3, 250))
    page = connector().fetch_orders(SINCE, "2026-03-01T12:00:00|1||")
    assert page.next_page == "2026-03-01T12:00:00|2||"


@responses.activate
def test_a_store_ignoring_the_filter_cannot_make_the_poll_loop() -> None:
    older = [order(1, "2026-03-01T10:00:00"), order(2, "2026-03-01T11:00:00")]
    responses.get(BASE + "orders", json=older, headers=pages(5, 500))
    page = connector().fetch_orders(SINCE, "2026-03-01T12:00:00|3|2026-03-01T12:00:01|9")
    assert page.next_page == "2026-03-01T12:00:00|4|2026-03-01T12:00:01|9", (
        "the start would go back: page on instead"
    )


@responses.activate
def test_payloads_come_oldest_change_first() -> None:
    shuffled = [
        order(2, "2026-03-01T12:00:09"),
        order(1, "2026-03-01T12:00:02"),
        order(3, "2026-03-01T13:00:00"),
    ]
    responses.get(BASE + "orders", json=shuffled, headers=pages(1, 3))
    assert [o["id"] for o in connector().fetch_orders(SINCE, None).payloads] == [1, 2, 3]


@responses.activate
def test_count_orders_reads_x_wp_total() -> None:
    responses.get(BASE + "orders", json=[order(1, "2026-03-01T12:00:01")], headers=pages(3000, 3000))
    assert connector().count_orders(SINCE) == 3000
    assert "per_page=1&" in responses.calls[0].request.url


@responses.activate
def test_every_follows_x_wp_total_pages() -> None:
    for n in (1, 2, 3):
        responses.get(
            BASE + "webhooks",
            json=[{"id": n}],
            headers=pages(3),
            match=[matchers.query_param_matcher({"per_page": "100", "page": str(n)})],
        )
    assert [w["id"] for w in connector().client.every("webhooks")] == [1, 2, 3]


# -- auth and limits ------------------------------------------------------------------------------


@responses.activate
def test_https_uses_basic_auth_with_the_key_pair() -> None:
    responses.get(BASE + "orders", json=[], headers=pages(0))
    connector().test_connection()
    request = responses.calls[0].request
    assert (
        request.headers["Authorization"] == "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
    )
    assert "oauth_signature" not in request.url


@responses.activate
def test_plain_http_signs_oauth1_in_the_query_as_woocommerce_checks_it() -> None:
    base = "http://shop.example.com/wp-json/wc/v3/"
    responses.get(base + "orders", json=[], headers=pages(0))
    responses.post(base + "products/batch", json={"update": []})
    c = connector("http://shop.example.com")
    c.fetch_orders(SINCE, None)
    c.client.batch_update("products/batch", [{"id": 1, "stock_quantity": 2}])
    for call in responses.calls:
        request = call.request
        assert "Authorization" not in request.headers
        url = urlsplit(request.url)
        params = dict(parse_qsl(url.query))
        assert params["oauth_consumer_key"] == KEY and params["oauth_signature_method"] == "HMAC-SHA256"
        assert len(params["oauth_nonce"]) >= 16 and abs(int(params["oauth_timestamp"]) - time.time()) < 60
        expected = oauth_signature(
            request.method, f"{url.scheme}://{url.netloc}{url.path}", params, SECRET, "sha256"
        )
        assert params["oauth_signature"] == expected
    nonces = {dict(parse_qsl(urlsplit(c.request.url).query))["oauth_nonce"] for c in responses.calls}
    assert len(nonces) == 2


@responses.activate
def test_bad_key_is_reported_without_the_secrets() -> None:
    body = {
        "code": "woocommerce_rest_cannot_view",
        "message": "Sorry, you cannot list resources.",
        "data": {"status": 401},
    }
    responses.get(BASE + "orders", status=401, json=body)
    result = connector().test_connection()
    assert not result.ok and "401" in result.message and "cannot list" in result.message
    assert KEY not in result.message and SECRET not in result.message


def test_rate_setting_drives_the_token_bucket() -> None:
    assert WooCommerceConnector.rate_limit({}) == (5.0, 5.0)
    assert WooCommerceConnector.rate_limit({"requests_per_second": 2}) == (2.0, 2.0)


def test_requests_in_flight_setting_is_the_connection_concurrency() -> None:
    assert WooCommerceConnector.concurrency({}) == 2, "gentle by default: a merchant's PHP workers are few"
    assert WooCommerceConnector.concurrency({"requests_in_flight": 4}) == 4


# -- webhooks ---------------------------------------------------------------------------------------

HOOK_SECRET = webhooks.secret_for({"consumer_secret": SECRET})
BODY = json.dumps(ORDER, separators=(",", ":")).replace("/", "\\/").encode()  # wp_json_encode escapes slashes


def sign(body: bytes, secret: str = HOOK_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def delivery_headers(body: bytes = BODY, **extra: str) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "X-WC-Webhook-Topic": "order.updated",
        "X-WC-Webhook-Resource": "order",
        "X-WC-Webhook-Event": "updated",
        "X-WC-Webhook-ID": "12",
        "X-WC-Webhook-Delivery-ID": "5d2e1b4ff2a2b8fd1c35bd5b2a3c6a7e",
        "X-WC-Webhook-Signature": sign(body),
    }
    return headers | extra


def verify(headers: dict[str, str], body: bytes, secret: str = SECRET) -> bool:
    return WooCommerceConnector.verify_webhook({"consumer_secret": secret}, headers, body)


def test_valid_signature_over_the_raw_body() -> None:
    assert verify(delivery_headers(), BODY)
    assert verify({k.lower(): v for k, v in delivery_headers().items()}, BODY)


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        (delivery_headers(**{"X-WC-Webhook-Signature": sign(BODY, "wrong")}), BODY),
        (delivery_headers(), BODY.replace(b"\\/", b"/")),  # re-serialised: not the bytes signed
        (delivery_headers(), BODY[:-2] + bytes([BODY[-2] ^ 1]) + BODY[-1:]),
        (delivery_headers(**{"X-WC-Webhook-Signature": ""}), BODY),
        (delivery_headers(**{"X-WC-Webhook-Signature": "not base64"}), BODY),
        ({k: v for k, v in delivery_headers().items() if k != "X-WC-Webhook-Signature"}, BODY),
    ],
    ids=["wrong-secret", "reserialised", "one-byte", "empty", "garbage", "unsigned-json"],
)
def test_bad_signatures_are_refused(headers: dict[str, str], body: bytes) -> None:
    assert not verify(headers, body)


def test_no_consumer_secret_refuses_signed_deliveries() -> None:
    assert not verify(delivery_headers(**{"X-WC-Webhook-Signature": sign(BODY, "")}), BODY, secret="")


def test_the_unsigned_ping_passes_only_as_a_ping() -> None:
    ping = {
        "User-Agent": "WooCommerce/9.8.1 Hookshot (WordPress/6.8.1)",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    assert verify(ping, b"webhook_id=12")
    delivery = WooCommerceConnector.webhook_delivery(ping, b"webhook_id=12")
    assert (delivery.key, delivery.topic) == ("ping:12", "ping")
    assert not verify(ping, b"webhook_id=12&x=1")
    assert not verify(ping, b'{"webhook_id": 12}')
    assert not verify(ping | {"X-WC-Webhook-Topic": "order.created"}, b"webhook_id=12")
    assert webhooks.interpret("ping", "webhook_id=12", lambda _id: None) == [Ignored("ping")]


def test_deliveries_are_keyed_by_delivery_id_and_body() -> None:
    one = WooCommerceConnector.webhook_delivery(delivery_headers(), BODY)
    assert one == WooCommerceConnector.webhook_delivery(delivery_headers(), BODY), (
        "a re-sent delivery is a duplicate"
    )
    other = json.dumps(ORDER | {"id": 728}).encode()
    # WooCommerce's delivery id is a hash of the webhook id and the second: two orders may share it
    assert WooCommerceConnector.webhook_delivery(delivery_headers(other), other).key != one.key
    assert one.topic == "order.updated" and "5d2e1b4ff2a2b8fd1c35bd5b2a3c6a7e" in one.key


@pytest.mark.parametrize("topic", ["order.created", "order.updated", "order.restored"])
def test_order_topics_carry_the_order(topic: str) -> None:
    assert webhooks.interpret(topic, ORDER, lambda _id: None) == [OrderChanged(ORDER)]


@responses.activate
def test_order_deleted_rereads_the_order() -> None:
    trashed = ORDER | {"status": "trash"}
    responses.get(BASE + "orders/727", json=trashed)
    responses.get(BASE + "orders/728", status=404, json={"code": "woocommerce_rest_shop_order_invalid_id"})
    c = connector()
    assert c.handle_webhook("order.deleted", {"id": 727}) == [OrderChanged(trashed)]
    [gone] = c.handle_webhook("order.deleted", {"id": 728})
    assert isinstance(gone, Ignored) and "728" in gone.reason
    [product] = c.handle_webhook("product.updated", {"id": 22})
    assert isinstance(product, Ignored)


@responses.activate
def test_register_webhooks_creates_missing_and_reactivates_disabled() -> None:
    tag = hashlib.sha256(HOOK_SECRET.encode()).hexdigest()[:8]
    existing = [
        {
            "id": 1,
            "topic": "order.created",
            "status": "active",
            "delivery_url": HOOK_URL,
            "name": f"Hub order.created #{tag}",
        },
        {
            "id": 2,
            "topic": "order.updated",
            "status": "disabled",
            "delivery_url": HOOK_URL,
            "name": f"Hub order.updated #{tag}",
        },
        {
            "id": 3,
            "topic": "order.deleted",
            "status": "active",
            "delivery_url": HOOK_URL,
            "name": "Hub order.deleted #old",
        },
        {
            "id": 4,
            "topic": "product.updated",
            "status": "active",
            "delivery_url": "https://elsewhere/x",
            "name": "x",
        },
    ]
    responses.get(BASE + "webhooks", json=existing, headers=pages(1, 4))
    responses.post(BASE + "webhooks", json={"id": 9}, status=201)
    responses.put(BASE + "webhooks/2", json={"id": 2})
    responses.put(BASE + "webhooks/3", json={"id": 3})
    changed = connector().register_webhooks()
    assert changed == ["order.updated (was disabled)", "order.deleted (was active)", "product.updated"]
    sent = {
        (c.request.method, c.request.url.rsplit("/", 1)[-1]): json.loads(c.request.body)
        for c in responses.calls[1:]
    }
    assert sent["PUT", "2"] == {
        "name": f"Hub order.updated #{tag}",
        "secret": HOOK_SECRET,
        "status": "active",
    }
    assert sent["PUT", "3"]["secret"] == HOOK_SECRET, "a new secret is pushed"
    assert sent["POST", "webhooks"] == {
        "name": f"Hub product.updated #{tag}",
        "secret": HOOK_SECRET,
        "topic": "product.updated",
        "delivery_url": HOOK_URL,
    }


# -- stock --------------------------------------------------------------------------------------------


def catalog(simple: int = 0, variable: dict[int, list[dict[str, Any]]] | None = None) -> None:
    """Register the product and variation listings the catalog read walks."""
    products = [
        {"id": 1000 + i, "sku": f"S-{i}", "type": "simple", "manage_stock": True, "stock_quantity": i}
        for i in range(simple)
    ]
    products += [
        {"id": pid, "sku": f"P-{pid}", "type": "variable", "manage_stock": True, "stock_quantity": 7}
        for pid in variable or {}
    ]
    per_page = 100
    chunks = [products[i : i + per_page] for i in range(0, len(products), per_page)] or [[]]
    for n, chunk in enumerate(chunks, 1):
        responses.get(
            BASE + "products",
            json=chunk,
            headers=pages(len(chunks), len(products)),
            match=[matchers.query_param_matcher({"page": str(n)}, strict_match=False)],
        )
    for pid, variations in (variable or {}).items():
        responses.get(BASE + f"products/{pid}/variations", json=variations, headers=pages(1, len(variations)))


def echo_batch(request: Any) -> tuple[int, dict[str, str], str]:
    updates = json.loads(request.body)["update"]
    if len(updates) > 100:
        return 413, {}, json.dumps({"code": "woocommerce_rest_request_entity_too_large"})
    return (
        200,
        {},
        json.dumps({"update": [{"id": u["id"], "stock_quantity": u["stock_quantity"]} for u in updates]}),
    )


@responses.activate
def test_stock_writes_go_in_batches_of_100() -> None:
    catalog(simple=250)
    responses.add_callback(responses.POST, BASE + "products/batch", callback=echo_batch)
    results = connector().write_stock([StockWrite(f"S-{i}", "default", i + 1) for i in range(250)])
    assert all(r.ok for r in results) and len(results) == 250
    batches = [json.loads(c.request.body)["update"] for c in responses.calls if c.request.method == "POST"]
    assert [len(b) for b in batches] == [100, 100, 50]
    assert batches[0][0] == {"id": 1000, "manage_stock": True, "stock_quantity": 1}
    assert "_fields=" in responses.calls[0].request.url


@responses.activate
def test_variations_go_to_their_parent_and_inheriting_ones_to_the_parent_stock() -> None:
    variations = [
        {"id": 11, "sku": "V-11", "manage_stock": True, "stock_quantity": 3},
        {"id": 12, "sku": "V-12", "manage_stock": "parent", "stock_quantity": 7},
        {"id": 13, "sku": "V-13", "manage_stock": "parent", "stock_quantity": 7},
        {"id": 14, "sku": "V-14", "manage_stock": False, "stock_quantity": None},
    ]
    catalog(variable={10: variations})
    responses.add_callback(responses.POST, BASE + "products/10/variations/batch", callback=echo_batch)
    responses.add_callback(responses.POST, BASE + "products/batch", callback=echo_batch)
    c = connector()
    levels = {s.sku: s.available for s in c.read_stock()}
    assert levels == {"P-10": 7, "V-11": 3, "V-12": 7, "V-13": 7}, "unmanaged V-14 has no level"
    results = c.write_stock(
        [
            StockWrite("V-11", "default", 5),
            StockWrite("V-12", "default", 9),
            StockWrite("V-14", "default", 2),
            StockWrite("nope", "default", 1),
        ]
    )
    outcome = {r.sku: (r.ok, r.error) for r in results}
    assert outcome == {
        "V-11": (True, None),
        "V-12": (True, None),
        "V-14": (True, None),
        "nope": (False, "SKU not in the store"),
    }
    posted = {
        c.request.url.removeprefix(BASE): json.loads(c.request.body)["update"]
        for c in responses.calls
        if c.request.method == "POST"
    }
    assert posted["products/10/variations/batch"] == [
        {"id": 11, "manage_stock": True, "stock_quantity": 5},
        {"id": 14, "manage_stock": True, "stock_quantity": 2},
    ]
    assert posted["products/batch"] == [{"id": 10, "manage_stock": True, "stock_quantity": 9}], (
        "V-12 shares P-10's stock"
    )


@responses.activate
def test_siblings_sharing_a_parent_must_agree_and_item_errors_are_reported() -> None:
    variations = [
        {"id": 12, "sku": "V-12", "manage_stock": "parent", "stock_quantity": 7},
        {"id": 13, "sku": "V-13", "manage_stock": "parent", "stock_quantity": 7},
        {"id": 15, "sku": "V-15", "manage_stock": True, "stock_quantity": 1},
        {"id": 16, "sku": "V-16", "manage_stock": True, "stock_quantity": 1},
    ]
    catalog(variable={10: variations})
    error = {
        "code": "woocommerce_rest_product_variation_invalid_id",
        "message": "Invalid ID.",
        "data": {"status": 400},
    }
    answer = {"update": [{"id": 15, "error": error}, {"id": 16, "stock_quantity": None}]}
    responses.post(BASE + "products/10/variations/batch", json=answer)
    results = connector().write_stock(
        [
            StockWrite("V-12", "default", 1),
            StockWrite("V-13", "default", 2),
            StockWrite("V-15", "default", 4),
            StockWrite("V-16", "default", 4),
        ]
    )
    errors = {r.sku: r.error for r in results if not r.ok}
    assert set(errors) == {"V-12", "V-13", "V-15", "V-16"}
    assert "sharing a parent" in errors["V-12"] and errors["V-15"] == "Invalid ID."
    assert errors["V-16"] == "WooCommerce did not apply the quantity"


# -- fulfilment ---------------------------------------------------------------------------------------

PUSH = ShipmentPush(
    key="shp_1",
    order_external_id="727",
    lines=(),
    carrier="ups",
    carrier_name="UPS",
    tracking_number="1Z999AA10123456784",
    tracking_url="https://www.ups.com/track?tracknum=1Z999AA10123456784",
)
TRACKING_BASE = STORE + "/wp-json/wc-shipment-tracking/v3"


@responses.activate
def test_push_with_shipment_tracking_then_completed_then_nothing_twice() -> None:
    responses.get(BASE + "orders/727", json=ORDER)
    responses.get(TRACKING_BASE, json={"namespace": "wc-shipment-tracking/v3"})
    responses.get(TRACKING_BASE + "/orders/727/shipment-trackings", json=[])
    responses.post(TRACKING_BASE + "/orders/727/shipment-trackings", json={"tracking_id": "ab12"}, status=201)
    responses.put(BASE + "orders/727", json=ORDER | {"status": "completed"})
    c = connector()
    result = c.push_fulfilment(PUSH)
    assert (result.outcome, result.channel_ref) == ("created", "ab12")
    methods = [(call.request.method, call.request.url.removeprefix(STORE)) for call in responses.calls]
    assert methods.index(
        ("POST", "/wp-json/wc-shipment-tracking/v3/orders/727/shipment-trackings")
    ) < methods.index(("PUT", "/wp-json/wc/v3/orders/727")), "the tracking goes in before the Completed email"
    tracking = json.loads(responses.calls[3].request.body)
    assert tracking == {
        "custom_tracking_provider": "UPS",
        "custom_tracking_link": PUSH.tracking_url,
        "tracking_number": PUSH.tracking_number,
    }
    update = json.loads(responses.calls[4].request.body)
    assert update["status"] == "completed"
    meta = {"key": "hub_shipment_shp_1", "value": {"tracking_number": PUSH.tracking_number, "ref": "ab12"}}
    assert update["meta_data"] == [meta]

    responses.replace(
        responses.GET,
        BASE + "orders/727",
        json=ORDER | {"status": "completed", "meta_data": [meta | {"id": 1}]},
    )
    calls = len(responses.calls)
    assert c.push_fulfilment(PUSH).outcome == "unchanged"
    assert len(responses.calls) == calls + 1, "one read, nothing added"


@responses.activate
@pytest.mark.parametrize(("notify", "kind"), [(True, "customer"), (False, "internal")])
def test_push_without_the_extension_adds_one_note(notify: bool, kind: str) -> None:
    """A customer note is e-mailed by WooCommerce: only when the connection says to notify."""
    responses.get(BASE + "orders/727", json=ORDER)
    responses.get(TRACKING_BASE, status=404, json={"code": "rest_no_route"})
    responses.get(
        BASE + "orders/727/notes", json=[{"id": 1, "note": "Order status changed.", "customer_note": False}]
    )
    responses.post(BASE + "orders/727/notes", json={"id": 77}, status=201)
    responses.put(BASE + "orders/727", json=ORDER)
    result = connector().push_fulfilment(dataclasses.replace(PUSH, notify_customer=notify))
    assert (result.outcome, result.channel_ref) == ("created", "note:77")
    note = json.loads(next(c.request.body for c in responses.calls if c.request.method == "POST"))
    assert note["customer_note"] is notify
    assert (
        "UPS" in note["note"] and PUSH.tracking_number in note["note"] and PUSH.tracking_url in note["note"]
    )
    assert responses.calls[2].request.params == {"type": kind}


@responses.activate
def test_a_push_repeated_after_a_lost_answer_finds_its_note() -> None:
    responses.get(BASE + "orders/727", json=ORDER)
    responses.get(TRACKING_BASE, status=404, json={"code": "rest_no_route"})
    responses.get(
        BASE + "orders/727/notes",
        json=[
            {
                "id": 77,
                "note": f"Shipped with UPS, tracking number {PUSH.tracking_number}",
                "customer_note": True,
            }
        ],
    )
    responses.put(BASE + "orders/727", json=ORDER)
    assert connector().push_fulfilment(PUSH).channel_ref == "note:77"
    assert not [c for c in responses.calls if c.request.method == "POST"]


@responses.activate
def test_a_new_tracking_number_replaces_the_old_item() -> None:
    meta = {"id": 1, "key": "hub_shipment_shp_1", "value": {"tracking_number": "OLD1", "ref": "old"}}
    responses.get(BASE + "orders/727", json=ORDER | {"status": "completed", "meta_data": [meta]})
    responses.get(TRACKING_BASE, json={})
    responses.get(
        TRACKING_BASE + "/orders/727/shipment-trackings",
        json=[{"tracking_id": "old", "tracking_number": "OLD1"}],
    )
    responses.post(TRACKING_BASE + "/orders/727/shipment-trackings", json={"tracking_id": "new"}, status=201)
    responses.delete(TRACKING_BASE + "/orders/727/shipment-trackings/old", json={})
    responses.put(BASE + "orders/727", json=ORDER)
    assert connector().push_fulfilment(PUSH).outcome == "updated"
    put = json.loads(next(c.request.body for c in responses.calls if c.request.method == "PUT"))
    assert "status" not in put, "a completed order is not completed again (no second email)"
