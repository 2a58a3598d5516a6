"""The Shopify client and webhooks against `responses`: paging, throttling, signatures, topics."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import responses

from connectors.shopify import ShopifyConnector, webhooks
from hub.connectors import ConnectionContext, ConnectionGone, Ignored, OrderChanged
from hub.http import HttpClient
from hub.ratelimit import TokenBucket
from tests.contracts import FIXTURES

BASE = "https://demo.myshopify.com/admin/api/2026-07/"
SECRET = "shpss_webhook_secret"
ORDER = json.loads((FIXTURES / "shopify" / "order.json").read_text())
ORDER = ORDER.get("order", ORDER)


def connector(limiter: TokenBucket | None = None) -> ShopifyConnector:
    credentials = {
        "store_url": "https://demo.myshopify.com",
        "access_token": "shpat_abc123",
        "api_secret": SECRET,
    }
    http = HttpClient(BASE, limiter=limiter, secrets=["shpat_abc123", SECRET], max_attempts=4)
    ctx = ConnectionContext(
        1, credentials, {"api_version": "2026-07"}, http, webhook_url="https://hub.test/wh/x"
    )
    return ShopifyConnector(ctx)


@responses.activate
def test_paging_follows_the_link_header_verbatim() -> None:
    page2 = BASE + "orders.json?limit=250&page_info=abc"
    responses.get(
        BASE + "orders.json",
        json={"orders": [{"id": 1}, {"id": 2}]},
        headers={"Link": f'<{page2}>; rel="next"'},
    )
    responses.get(
        page2,
        json={"orders": [{"id": 3}]},
        headers={"Link": f'<{BASE}orders.json?limit=250&page_info=zzz>; rel="previous"'},
    )
    c = connector()
    since = datetime(2026, 1, 1, tzinfo=UTC)
    first = c.fetch_orders(since, None)
    assert [o["id"] for o in first.payloads] == [1, 2] and first.next_page == page2
    second = c.fetch_orders(since, first.next_page)
    assert [o["id"] for o in second.payloads] == [3] and second.next_page is None
    query = responses.calls[0].request.params
    assert (
        query["status"] == "any"
        and query["limit"] == "250"
        and query["updated_at_min"].startswith("2026-01-01T")
    )
    assert responses.calls[1].request.url == page2, "page_info URLs carry their filters: nothing may be added"
    assert all(call.request.headers["X-Shopify-Access-Token"] == "shpat_abc123" for call in responses.calls)


@responses.activate
def test_count_orders() -> None:
    responses.get(BASE + "orders/count.json", json={"count": 5000})
    assert connector().count_orders(datetime(2026, 1, 1, tzinfo=UTC)) == 5000
    assert responses.calls[0].request.params["status"] == "any"


@responses.activate
def test_429_waits_retry_after_once() -> None:
    responses.get(
        BASE + "shop.json",
        status=429,
        headers={"Retry-After": "2.0"},
        json={"errors": "Exceeded 2 calls per second for api client."},
    )
    responses.get(
        BASE + "shop.json", json={"shop": {"name": "Demo", "myshopify_domain": "demo.myshopify.com"}}
    )
    started = time.monotonic()
    result = connector(TokenBucket(40, 2)).test_connection()
    elapsed = time.monotonic() - started
    assert result.ok
    assert len(responses.calls) == 2
    assert 1.9 <= elapsed < 3.5, elapsed


@responses.activate
def test_call_limit_header_drives_the_local_bucket() -> None:
    bucket = TokenBucket(40, 2)
    responses.get(BASE + "shop.json", json={"shop": {}}, headers={"X-Shopify-Shop-Api-Call-Limit": "39/40"})
    connector(bucket).test_connection()
    assert bucket.available < 2, "the shop says the bucket is nearly full: the hub must slow down"


@responses.activate
def test_bad_token_is_reported_without_the_token() -> None:
    responses.get(BASE + "shop.json", status=401, json={"errors": "[API] Invalid API key or access token"})
    result = connector().test_connection()
    assert not result.ok and "401" in result.message and "shpat_abc123" not in result.message


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


BODY = json.dumps(ORDER).encode()


def test_valid_signature() -> None:
    assert ShopifyConnector.verify_webhook(
        {"api_secret": SECRET}, {"X-Shopify-Hmac-Sha256": sign(BODY)}, BODY
    )


def test_header_names_are_case_insensitive() -> None:
    assert ShopifyConnector.verify_webhook(
        {"api_secret": SECRET}, {"x-shopify-hmac-sha256": sign(BODY)}, BODY
    )


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"X-Shopify-Hmac-Sha256": sign(BODY, "wrong-secret")}, BODY),
        ({"X-Shopify-Hmac-Sha256": sign(BODY)}, BODY[:-2] + bytes([BODY[-2] ^ 1]) + BODY[-1:]),
        ({}, BODY),
        ({"X-Shopify-Hmac-Sha256": ""}, BODY),
        ({"X-Shopify-Hmac-Sha256": "not base64 at all"}, BODY),
    ],
    ids=["wrong-secret", "one-byte-changed", "header-missing", "header-empty", "garbage"],
)
def test_bad_signatures_are_refused(headers: dict[str, str], body: bytes) -> None:
    assert not ShopifyConnector.verify_webhook({"api_secret": SECRET}, headers, body)


def test_no_secret_configured_refuses_everything() -> None:
    assert not ShopifyConnector.verify_webhook(
        {"api_secret": ""}, {"X-Shopify-Hmac-Sha256": sign(BODY, "")}, BODY
    )


def test_delivery_is_keyed_by_event_id() -> None:
    headers = {
        "X-Shopify-Topic": "orders/updated",
        "X-Shopify-Event-Id": "evt-1",
        "X-Shopify-Webhook-Id": "w-1",
    }
    again = headers | {"X-Shopify-Webhook-Id": "w-2"}
    assert webhooks.delivery(headers, BODY) == webhooks.delivery(again, BODY)
    assert webhooks.delivery(headers, BODY).topic == "orders/updated"


@pytest.mark.parametrize(
    "topic", ["orders/create", "orders/updated", "orders/cancelled", "orders/fulfilled", "orders/paid"]
)
def test_order_topics_carry_the_order(topic: str) -> None:
    assert webhooks.interpret(topic, ORDER, lambda _id: {}) == [OrderChanged(ORDER)]


def test_refund_rereads_the_order() -> None:
    refund = json.loads((FIXTURES / "shopify" / "refund_create.json").read_text())
    refund = refund["response"]["refund"]  # the refund object a refunds/create webhook carries
    asked: list[Any] = []

    def fetch(order_id: Any) -> dict[str, Any]:
        asked.append(order_id)
        return ORDER

    assert webhooks.interpret("refunds/create", refund, fetch) == [OrderChanged(ORDER)]
    assert asked == [refund["order_id"]]


def test_an_order_edit_rereads_the_order() -> None:
    edit = {"order_edit": {"id": 1, "order_id": 450789469, "committed_at": "2026-01-01T00:00:00Z"}}
    assert webhooks.interpret("orders/edited", edit, lambda order_id: ORDER | {"asked": order_id}) == [
        OrderChanged(ORDER | {"asked": 450789469})
    ]


def test_uninstall_disables_and_a_level_of_an_unknown_item_is_ignored() -> None:
    [gone] = webhooks.interpret("app/uninstalled", {"id": 1}, lambda _id: {})
    assert isinstance(gone, ConnectionGone) and "uninstalled" in gone.reason
    level = {"inventory_item_id": 1, "location_id": 2, "available": 3, "updated_at": "2025-07-02T11:29:59Z"}
    [ignored] = webhooks.interpret("inventory_levels/update", level, lambda _id: {})  # no item map: no SKU
    assert isinstance(ignored, Ignored)


@responses.activate
def test_register_webhooks_creates_only_missing_ones() -> None:
    responses.get(
        BASE + "webhooks.json",
        json={
            "webhooks": [
                {"id": 1, "topic": "orders/create", "address": "https://hub.test/wh/x"},
                {"id": 2, "topic": "orders/updated", "address": "https://elsewhere.example/x"},
            ]
        },
    )
    responses.post(BASE + "webhooks.json", json={"webhook": {"id": 9}}, status=201)
    created = connector().register_webhooks()
    assert "orders/create" not in created and "orders/updated" in created and "app/uninstalled" in created
    posted = [json.loads(c.request.body)["webhook"] for c in responses.calls if c.request.method == "POST"]
    assert {p["topic"] for p in posted} == set(created)
    assert all(p["address"] == "https://hub.test/wh/x" and p["format"] == "json" for p in posted)
