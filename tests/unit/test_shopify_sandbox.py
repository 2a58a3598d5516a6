"""The simulated Shopify, over real HTTP: auth, shop, orders paging and filters, the REST bucket,
generated order shape and totals, changes, and signed webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import flask
import pytest
import requests

from connectors.shopify.sandbox import THROTTLED, UNAUTHORIZED, ShopifySandbox
from hub.sandbox import Sandbox, SandboxClock

SAMPLE = json.loads((Path(__file__).parents[1] / "fixtures/shopify/order.json").read_text())["order"]
START = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
API = "/admin/api/2026-07"
NEXT = re.compile(r'<([^>]+)>; rel="next"')
PREVIOUS = re.compile(r'<([^>]+)>; rel="previous"')
LINK_URL = re.compile(r"http://127\.0\.0\.1:\d+/admin/api/2026-07/orders\.json\?limit=250&page_info=[\w-]+$")


@pytest.fixture
def make() -> Iterator[Any]:
    started: list[Sandbox] = []

    def factory(**kw: Any) -> ShopifySandbox:
        kw.setdefault("clock", SandboxClock(START, speed=0))
        sandbox = ShopifySandbox(**kw).start()
        started.append(sandbox)
        return sandbox

    yield factory
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def shop(make: Any) -> ShopifySandbox:
    return make(limits=False)


def get(sb: ShopifySandbox, path: str, token: str | None = None, **params: Any) -> requests.Response:
    headers = {"X-Shopify-Access-Token": sb.access_token if token is None else token}
    return requests.get(sb.url + path, headers=headers, params=params, timeout=5)


def ids(response: requests.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [o["id"] for o in response.json()["orders"]]


def walk(sb: ShopifySandbox, between: Any = None, **params: Any) -> tuple[list[int], list[requests.Response]]:
    """Follow rel="next" from the first page; ``between(page_number)`` runs before each next page."""
    responses = [get(sb, f"{API}/orders.json", **params)]
    while match := NEXT.search(responses[-1].headers.get("Link", "")):
        if between is not None:
            between(len(responses))
        headers = {"X-Shopify-Access-Token": sb.access_token}
        responses.append(requests.get(match.group(1), headers=headers, timeout=5))
    return [i for r in responses for i in ids(r)], responses


def link(response: requests.Response, pattern: re.Pattern[str]) -> str:
    match = pattern.search(response.headers.get("Link", ""))
    assert match is not None, response.headers.get("Link")
    return match.group(1)


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


# -- auth, shop, routes ------------------------------------------------------------------------------


def test_access_token_required(shop: ShopifySandbox) -> None:
    for token in ("", "shpat_wrong"):
        response = get(shop, f"{API}/orders.json", token=token)
        assert response.status_code == 401
        assert response.json() == {"errors": UNAUTHORIZED}
    assert get(shop, f"{API}/orders.json").status_code == 200


def test_shop_json_and_api_version_header(shop: ShopifySandbox) -> None:
    response = get(shop, "/admin/api/2025-10/shop.json")
    assert response.status_code == 200
    assert response.headers["X-Shopify-API-Version"] == "2025-10"
    body = response.json()["shop"]
    assert body["myshopify_domain"].endswith(".myshopify.com")
    assert body["currency"] == "USD"
    assert body["iana_timezone"] == "Etc/GMT+5"  # POSIX sign: UTC-5
    assert body["timezone"].startswith("(GMT-05:00)")
    assert get(shop, "/admin/api/unstable/shop.json").headers["X-Shopify-API-Version"] == "unstable"
    assert get(shop, "/admin/api/latest/shop.json").status_code == 404


def test_unknown_routes_answer_shopify_not_found(shop: ShopifySandbox) -> None:
    for path in (f"{API}/nothing.json", "/elsewhere", f"{API}/orders/1.json"):
        response = get(shop, path)
        assert response.status_code == 404
        assert response.json() == {"errors": "Not Found"}


def test_single_order_and_fields(shop: ShopifySandbox) -> None:
    first = shop.all_orders()[0]
    assert get(shop, f"{API}/orders/{first['id']}.json").json() == {"order": first}
    small = get(shop, f"{API}/orders/{first['id']}.json", fields="id,updated_at").json()
    assert small == {"order": {"id": first["id"], "updated_at": first["updated_at"]}}


def test_connection_values(shop: ShopifySandbox) -> None:
    assert shop.connection_values() == {
        "store_url": shop.url,
        "access_token": "shpat_sandbox_token",
        "api_secret": "sandbox_api_secret",
        "api_version": "2026-07",
    }


# -- paging ------------------------------------------------------------------------------------------


def test_paging_600_orders_in_three_pages(make: Any) -> None:
    sb = make(orders=600, limits=False)
    seen, responses = walk(sb, status="any", limit=250)
    assert [len(ids(r)) for r in responses] == [250, 250, 100]
    assert sorted(seen) == sorted(o["id"] for o in sb.all_orders())
    assert len(set(seen)) == 600

    first, middle, last = (r.headers.get("Link", "") for r in responses)
    assert re.fullmatch(r'<[^>]+>; rel="next"', first)
    assert re.fullmatch(r'<[^>]+>; rel="next", <[^>]+>; rel="previous"', middle)
    assert re.fullmatch(r'<[^>]+>; rel="previous"', last)
    assert LINK_URL.match(link(responses[0], NEXT))
    assert LINK_URL.match(link(responses[2], PREVIOUS))
    headers = {"X-Shopify-Access-Token": sb.access_token}
    assert ids(requests.get(link(responses[2], PREVIOUS), headers=headers, timeout=5)) == ids(responses[1])
    assert ids(requests.get(link(responses[1], PREVIOUS), headers=headers, timeout=5)) == ids(responses[0])

    # default order: newest first (created_at desc, id desc)
    created = [(when(o["created_at"]), o["id"]) for r in responses for o in r.json()["orders"]]
    assert created == sorted(created, reverse=True)


def test_sort_orders(shop: ShopifySandbox) -> None:
    rows = get(shop, f"{API}/orders.json", status="any", order="updated_at asc", limit=250).json()["orders"]
    keys = [(when(o["updated_at"]), o["id"]) for o in rows]
    assert keys == sorted(keys) and len(rows) == 50
    since = sorted(o["id"] for o in shop.all_orders())[9]
    assert ids(get(shop, f"{API}/orders.json", status="any", since_id=since)) == sorted(
        o["id"] for o in shop.all_orders() if o["id"] > since
    )
    assert get(shop, f"{API}/orders.json", order="total_price asc").status_code == 400


def test_paging_is_a_snapshot_while_orders_change(make: Any) -> None:
    sb = make(orders=300, limits=False)
    clock: SandboxClock = sb.clock
    expected = {o["id"] for o in sb.all_orders()}
    changed: list[int] = []

    def change(page: int) -> None:
        clock.advance(60)
        changed.extend(sb.change_orders(40))
        sb.seed_orders(5)

    seen, responses = walk(sb, change, status="any", limit=50, order="updated_at asc")
    assert len(responses) == 6
    assert len(seen) == len(set(seen)) == 300
    assert set(seen) == expected
    # the changed orders show with their new updated_at in the next poll
    later, _ = walk(sb, status="any", limit=250, updated_at_min="2025-06-01T12:00:30Z")
    assert set(later) >= set(changed)


def test_page_info_rejects_other_filters(shop: ShopifySandbox) -> None:
    first = get(shop, f"{API}/orders.json", status="any", limit=10)
    token = link(first, re.compile(r"page_info=([\w-]+)"))
    bad = get(shop, f"{API}/orders.json", page_info=token, status="any")
    assert bad.status_code == 400
    assert "page_info" in bad.json()["errors"]
    assert get(shop, f"{API}/orders.json", page_info=token, updated_at_min="2025-01-01").status_code == 400
    ok = get(shop, f"{API}/orders.json", page_info=token, limit=5, fields="id,name")
    assert ok.status_code == 200
    assert [set(o) for o in ok.json()["orders"]] == [{"id", "name"}] * 5
    assert get(shop, f"{API}/orders.json", page_info="garbage!").status_code == 400


def test_limit_bounds(shop: ShopifySandbox) -> None:
    assert len(ids(get(shop, f"{API}/orders.json", status="any"))) == 50  # default 50
    assert len(ids(get(shop, f"{API}/orders.json", status="any", limit=250))) == 50
    for limit in (251, 0, "ten"):
        response = get(shop, f"{API}/orders.json", limit=limit)
        assert response.status_code == 400
        assert "limit" in response.json()["errors"]


# -- filters and count -------------------------------------------------------------------------------


def test_status_defaults_to_open(shop: ShopifySandbox) -> None:
    orders = shop.all_orders()
    open_ids = {o["id"] for o in orders if o["cancelled_at"] is None and o["closed_at"] is None}
    assert 0 < len(open_ids) < len(orders)
    assert set(ids(get(shop, f"{API}/orders.json", limit=250))) == open_ids
    assert set(ids(get(shop, f"{API}/orders.json", status="open", limit=250))) == open_ids
    assert len(ids(get(shop, f"{API}/orders.json", status="any", limit=250))) == len(orders)
    cancelled = {o["id"] for o in orders if o["cancelled_at"]}
    assert set(ids(get(shop, f"{API}/orders.json", status="cancelled", limit=250))) == cancelled
    assert get(shop, f"{API}/orders.json", status="archived").status_code == 400


def test_updated_at_min_with_an_offset(shop: ShopifySandbox) -> None:
    cutoff = (START - timedelta(days=10)).astimezone(timezone(timedelta(hours=2)))
    text = cutoff.isoformat()  # 2025-05-22T14:00:00+02:00
    assert text.endswith("+02:00")
    expected = {o["id"] for o in shop.all_orders() if when(o["updated_at"]) >= cutoff}
    assert 0 < len(expected) < 50
    assert set(ids(get(shop, f"{API}/orders.json", status="any", updated_at_min=text, limit=250))) == expected
    upper = {o["id"] for o in shop.all_orders() if when(o["updated_at"]) <= cutoff}
    assert set(ids(get(shop, f"{API}/orders.json", status="any", updated_at_max=text, limit=250))) == upper
    # timestamps are in the shop's offset
    assert all(o["updated_at"].endswith("-05:00") for o in shop.all_orders())
    assert get(shop, f"{API}/orders.json", updated_at_min="yesterday").status_code == 400


def test_count(shop: ShopifySandbox) -> None:
    orders = shop.all_orders()
    assert get(shop, f"{API}/orders/count.json", status="any").json() == {"count": len(orders)}
    open_count = sum(o["cancelled_at"] is None and o["closed_at"] is None for o in orders)
    assert get(shop, f"{API}/orders/count.json").json() == {"count": open_count}
    created_min = (START - timedelta(days=5)).isoformat()
    expected = sum(when(o["created_at"]) >= START - timedelta(days=5) for o in orders)
    count = get(shop, f"{API}/orders/count.json", status="any", created_at_min=created_min).json()
    assert count == {"count": expected}
    listed = get(shop, f"{API}/orders.json", status="any", created_at_min=created_min, limit=250)
    assert len(ids(listed)) == expected


# -- generated data ----------------------------------------------------------------------------------


def test_orders_have_the_sample_shape(make: Any) -> None:
    orders = make(orders=200, limits=False).all_orders()
    line_keys = set(SAMPLE["line_items"][0])
    for order in orders:
        assert set(order) == set(SAMPLE)
        assert list(order) == list(SAMPLE)
        assert order["id"] > 2**32 and order["name"] == f"#{order['order_number']}"
        assert all(set(li) == line_keys for li in order["line_items"])
        assert set(order["shipping_lines"][0]) == set(SAMPLE["shipping_lines"][0])
        assert set(order["billing_address"]) == set(SAMPLE["billing_address"])
        assert isinstance(order["tags"], str)
    with_refunds = [o for o in orders if o["refunds"]]
    assert with_refunds
    refund = with_refunds[0]["refunds"][0]
    assert set(refund) == set(SAMPLE["refunds"][0])
    assert set(refund["transactions"][0]) == set(SAMPLE["refunds"][0]["transactions"][0])
    assert set(refund["refund_line_items"][0]) == set(SAMPLE["refunds"][0]["refund_line_items"][0])
    fulfilled = next(o for o in orders if o["fulfillments"])
    assert set(fulfilled["fulfillments"][0]) == set(SAMPLE["fulfillments"][0])
    customer = next(o["customer"] for o in orders if o["customer"])
    assert set(customer) == set(SAMPLE["customer"])
    assert set(customer["default_address"]) == set(SAMPLE["customer"]["default_address"])


def money(value: str) -> Decimal:
    assert re.fullmatch(r"-?\d+\.\d\d", value), value
    return Decimal(value)


def allocated(items: list[dict[str, Any]]) -> Decimal:
    return sum((money(a["amount"]) for i in items for a in i["discount_allocations"]), Decimal(0))


def test_totals_add_up_and_data_varies(make: Any) -> None:
    orders = make(orders=300, skus=12, limits=False).all_orders()
    for o in orders:
        lines, ships = o["line_items"], o["shipping_lines"]
        gross = sum((money(li["price"]) * li["quantity"] for li in lines), Decimal(0))
        tax = sum((money(t["price"]) for li in lines for t in li["tax_lines"]), Decimal(0))
        shipping = sum((money(s["price"]) for s in ships), Decimal(0))
        assert not o["taxes_included"]
        assert money(o["total_line_items_price"]) == gross
        assert money(o["subtotal_price"]) == gross - allocated(lines)
        assert money(o["total_discounts"]) == allocated(lines) + allocated(ships)
        assert money(o["total_tax"]) == tax
        assert money(o["total_shipping_price_set"]["shop_money"]["amount"]) == shipping
        assert money(o["total_price"]) == money(o["subtotal_price"]) + shipping - allocated(ships) + tax
        refunded = sum(
            (money(t["amount"]) for r in o["refunds"] for t in r["transactions"] if t["status"] == "success"),
            Decimal(0),
        )
        assert money(o["current_total_price"]) == money(o["total_price"]) - refunded
        for key in ("total_price", "subtotal_price", "total_tax", "current_total_price", "total_discounts"):
            assert o[f"{key}_set"]["shop_money"] == {"amount": o[key], "currency_code": "USD"}
        assert (o["financial_status"] in ("refunded", "partially_refunded")) == bool(o["refunds"])
    statuses = {o["financial_status"] for o in orders}
    assert {"paid", "pending", "authorized", "partially_refunded", "refunded", "voided"} <= statuses
    assert {o["fulfillment_status"] for o in orders} == {None, "partial", "fulfilled"}
    assert any(o["cancelled_at"] for o in orders)
    assert any(o["discount_codes"] for o in orders)
    assert any(allocated(o["shipping_lines"]) for o in orders)
    assert any(o["tags"] for o in orders)
    assert len({li["sku"] for o in orders for li in o["line_items"]}) == 12


def test_same_seed_same_orders() -> None:
    clock = SandboxClock(START, speed=0)
    a = ShopifySandbox(seed=3, orders=30, clock=clock).all_orders()
    assert a == ShopifySandbox(seed=3, orders=30, clock=clock).all_orders()
    assert a != ShopifySandbox(seed=4, orders=30, clock=clock).all_orders()


def test_change_orders_moves_updated_at(shop: ShopifySandbox) -> None:
    before = {o["id"]: o for o in shop.all_orders()}
    shop.clock.advance(3600)
    changed = shop.change_orders(5)
    assert len(set(changed)) == 5
    for oid in changed:
        after = shop.order(oid)
        assert when(after["updated_at"]) == START + timedelta(hours=1)
        assert after != before[oid]
    since = (START + timedelta(minutes=30)).astimezone(timezone(timedelta(hours=-5))).isoformat()
    assert sorted(ids(get(shop, f"{API}/orders.json", status="any", updated_at_min=since))) == changed
    with pytest.raises(KeyError):
        shop.order(1)


# -- rate limit --------------------------------------------------------------------------------------


def burst(sb: ShopifySandbox, n: int = 45) -> list[requests.Response]:
    with requests.Session() as session:
        session.headers["X-Shopify-Access-Token"] = sb.access_token
        return [session.get(f"{sb.url}{API}/shop.json", timeout=5) for _ in range(n)]


def test_leaky_bucket_answers_429(make: Any) -> None:
    sb = make()
    responses = burst(sb)
    assert responses[0].headers["X-Shopify-Shop-Api-Call-Limit"] == "1/40"
    assert [r.status_code for r in responses[:40]] == [200] * 40
    limited = [r for r in responses if r.status_code == 429]
    assert limited
    for response in limited:
        assert response.headers["Retry-After"] == "2.0"
        assert response.headers["X-Shopify-Shop-Api-Call-Limit"] == "40/40"
        assert response.json() == {"errors": THROTTLED}
    assert sb.stats.faults["rate_limited"] == len(limited)


def test_limits_off_and_control_endpoint(make: Any) -> None:
    sb = make(limits=False)
    responses = burst(sb)
    assert {r.status_code for r in responses} == {200}
    # a shop without limits: the header is still sent, and its bucket never fills
    assert responses[-1].headers["X-Shopify-Shop-Api-Call-Limit"] == "0/40"
    url = sb.url + "/_sandbox/limits"
    assert requests.put(url, json={"enabled": "yes"}, timeout=5).status_code == 400
    assert requests.put(url, json={"enabled": True}, timeout=5).json()["enabled"] is True
    assert 429 in {r.status_code for r in burst(sb)}


# -- webhooks ----------------------------------------------------------------------------------------


class Receiver(Sandbox):
    name = "receiver"

    def __init__(self) -> None:
        super().__init__()
        self.received: list[tuple[bytes, dict[str, str]]] = []

    def routes(self, app: flask.Flask) -> None:
        @app.post("/webhooks/shopify")
        def hook() -> tuple[str, int]:
            self.received.append((flask.request.get_data(), dict(flask.request.headers)))
            return "", 200


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as sb:
        yield sb


def signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_webhook_headers_hmac_and_duplicates(shop: ShopifySandbox, receiver: Receiver) -> None:
    order = shop.all_orders()[0]
    url = receiver.url + "/webhooks/shopify"
    assert shop.send_webhook(url, "orders/updated", order, times=2) == [200, 200]
    (body, first), (body2, second) = receiver.received
    assert body == body2 and json.loads(body) == order
    assert first["X-Shopify-Hmac-Sha256"] == signature("sandbox_api_secret", body)
    assert first["X-Shopify-Topic"] == "orders/updated"
    assert first["X-Shopify-Shop-Domain"].endswith(".myshopify.com")
    assert first["X-Shopify-Api-Version"] == "2026-07"
    assert first["X-Shopify-Order-Id"] == str(order["id"])
    assert first["X-Shopify-Triggered-At"].startswith("2025-06-01T12:00:00")
    assert first["X-Shopify-Event-Id"] == second["X-Shopify-Event-Id"]
    assert first["X-Shopify-Webhook-Id"] == second["X-Shopify-Webhook-Id"]

    shop.send_webhook(url, "orders/create", order, times=1)
    assert receiver.received[2][1]["X-Shopify-Event-Id"] != first["X-Shopify-Event-Id"]

    shop.send_webhook(url, "orders/updated", order, times=1, tamper=True)
    body, headers = receiver.received[3]
    assert headers["X-Shopify-Hmac-Sha256"] != signature("sandbox_api_secret", body)
    shop.send_webhook(url, "orders/updated", order, times=1, secret="other")
    body, headers = receiver.received[4]
    assert headers["X-Shopify-Hmac-Sha256"] == signature("other", body)

    shop.set_faults(duplicate_webhooks=1.0)
    assert shop.send_webhook(url, "orders/paid", order) == [200, 200]


def test_webhook_subscriptions_and_notify(shop: ShopifySandbox, receiver: Receiver) -> None:
    url = f"{shop.url}{API}/webhooks.json"
    headers = {"X-Shopify-Access-Token": shop.access_token}
    address = receiver.url + "/webhooks/shopify"
    created = requests.post(
        url, json={"webhook": {"topic": "orders/updated", "address": address}}, headers=headers
    )
    assert created.status_code == 201
    hook = created.json()["webhook"]
    assert set(hook) == {
        "id", "address", "topic", "created_at", "updated_at", "format", "fields",
        "metafield_namespaces", "api_version", "private_metafield_namespaces",
    }  # fmt: skip
    again = requests.post(
        url, json={"webhook": {"topic": "orders/updated", "address": address}}, headers=headers
    )
    assert again.status_code == 422
    assert (
        requests.post(url, json={"webhook": {"topic": "orders/create"}}, headers=headers).status_code == 422
    )
    assert requests.get(url, headers=headers).json() == {"webhooks": [hook]}

    changed = shop.change_orders(2)
    assert shop.notify(changed) == [200, 200]
    assert [json.loads(body)["id"] for body, _ in receiver.received] == changed
    assert shop.notify(changed, topic="orders/create") == []

    one = f"{shop.url}{API}/webhooks/{hook['id']}.json"
    assert requests.delete(one, headers=headers).status_code == 200
    assert requests.get(one, headers=headers).status_code == 404
    assert requests.get(url, headers=headers).json() == {"webhooks": []}


# -- GraphQL: inventory ------------------------------------------------------------------------------

FIXTURES_DIR = Path(__file__).parents[1] / "fixtures/shopify"
CALL_LIMIT = "X-Shopify-Shop-Api-Call-Limit"
STOCK_QUERY = """query Stock($first: Int!, $after: String, $query: String) {
  productVariants(first: $first, after: $after, query: $query) {
    pageInfo { hasNextPage endCursor }
    nodes { sku inventoryItem { id tracked inventoryLevels(first: 3) {
      pageInfo { hasNextPage endCursor }
      nodes { location { id } quantities(names: ["available"]) { name quantity } } } } }
  }
}"""
SET_MUTATION = """mutation Set($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) %s {
    inventoryAdjustmentGroup { id }
    userErrors { code field message }
  }
}"""


def gql(
    sb: ShopifySandbox, query: str, variables: dict[str, Any], version: str = "2026-07"
) -> requests.Response:
    headers = {"X-Shopify-Access-Token": sb.access_token}
    body = {"query": query, "variables": variables}
    return requests.post(f"{sb.url}/admin/api/{version}/graphql.json", json=body, headers=headers, timeout=5)


def set_quantities(
    sb: ShopifySandbox,
    quantities: list[dict[str, Any]],
    key: str | None = "k-1",
    version: str = "2026-07",
    **extra: Any,
) -> dict[str, Any]:
    directive = f'@idempotent(key: "{key}")' if key else ""
    payload = {"name": "available", "reason": "correction", "quantities": quantities} | extra
    return gql(sb, SET_MUTATION % directive, {"input": payload}, version).json()


def quantity(sb: ShopifySandbox, sku_index: int, location_index: int, n: int, **extra: Any) -> dict[str, Any]:
    item = sb.catalog[sku_index]["inventory_item_id"]
    location = sb.locations[location_index]["id"]
    return {
        "inventoryItemId": f"gid://shopify/InventoryItem/{item}",
        "locationId": f"gid://shopify/Location/{location}",
        "quantity": n,
        "changeFromQuantity": None,
    } | extra


def test_graphql_stock_pages_with_cost_and_no_rest_bucket(make: Any) -> None:
    sb = make(skus=7, locations=2)
    first = gql(sb, STOCK_QUERY, {"first": 5, "after": None, "query": None})
    assert first.status_code == 200 and CALL_LIMIT not in first.headers
    body = first.json()
    page = body["data"]["productVariants"]
    assert [n["sku"] for n in page["nodes"]] == [p["sku"] for p in sb.catalog[:5]]
    node = page["nodes"][0]
    assert node["inventoryItem"]["id"] == f"gid://shopify/InventoryItem/{sb.catalog[0]['inventory_item_id']}"
    levels = node["inventoryItem"]["inventoryLevels"]["nodes"]
    assert [(lv["location"]["id"], lv["quantities"][0]["quantity"]) for lv in levels] == [
        (f"gid://shopify/Location/{loc['id']}", sb.stock(sb.catalog[0]["sku"], loc["id"]))
        for loc in sb.locations
    ]
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 2 + 5 * (2 + 2 + 3 * 3)
    assert cost["actualQueryCost"] == 2 + 5 * (2 + 2 + 2 * 3)
    status = cost["throttleStatus"]
    assert status["maximumAvailable"] == 2000.0 and status["restoreRate"] == 100.0
    assert 2000 - cost["actualQueryCost"] <= status["currentlyAvailable"] <= 2000
    assert page["pageInfo"]["hasNextPage"]
    second = gql(sb, STOCK_QUERY, {"first": 5, "after": page["pageInfo"]["endCursor"], "query": None}).json()
    rest = second["data"]["productVariants"]
    assert [n["sku"] for n in rest["nodes"]] == [p["sku"] for p in sb.catalog[5:]]
    assert not rest["pageInfo"]["hasNextPage"]
    found = gql(sb, STOCK_QUERY, {"first": 5, "query": 'sku:"SBX-0002" OR sku:SBX-0004'}).json()
    assert [n["sku"] for n in found["data"]["productVariants"]["nodes"]] == ["SBX-0002", "SBX-0004"]
    assert get(sb, f"{API}/shop.json").headers[CALL_LIMIT] == "1/40", "GraphQL did not touch the REST bucket"


def test_graphql_throttled_and_max_cost(make: Any) -> None:
    sb = make()
    sb.set_graphql_points(50)
    throttled = gql(sb, STOCK_QUERY, {"first": 5})
    assert throttled.status_code == 200
    body = throttled.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "THROTTLED"
    status = body["extensions"]["cost"]["throttleStatus"]
    assert body["extensions"]["cost"]["requestedQueryCost"] == 67 and 50 <= status["currentlyAvailable"] < 67
    assert sb.stats.faults["throttled"] == 1
    sb.set_graphql_points(0)
    sb.limits = False
    assert "data" in gql(sb, STOCK_QUERY, {"first": 5}).json(), "limits off: never throttled"
    too_big = gql(sb, STOCK_QUERY.replace("first: 3", "first: 250"), {"first": 250}).json()
    assert too_big["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
    unknown = gql(sb, "query { orders(first: 1) { nodes { id } } }", {}).json()
    assert "doesn't exist" in unknown["errors"][0]["message"]


def test_inventory_item_levels_follow_up(make: Any) -> None:
    sb = make(skus=2, locations=12)
    query = """query Levels($id: ID!, $first: Int!, $after: String) {
      inventoryItem(id: $id) { inventoryLevels(first: $first, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { location { id } quantities(names: ["available"]) { name quantity } } } } }"""
    item = f"gid://shopify/InventoryItem/{sb.catalog[1]['inventory_item_id']}"
    seen, after = [], None
    while True:
        page = gql(sb, query, {"id": item, "first": 5, "after": after}).json()["data"]["inventoryItem"][
            "inventoryLevels"
        ]
        seen += [n["location"]["id"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [f"gid://shopify/Location/{loc['id']}" for loc in sb.locations]
    missing = gql(sb, query, {"id": "gid://shopify/InventoryItem/1", "first": 5})
    assert missing.json()["data"] == {"inventoryItem": None}


def test_set_quantities_is_all_or_nothing_and_idempotent(make: Any) -> None:
    sb = make(skus=3)
    sku0, sku1 = sb.catalog[0]["sku"], sb.catalog[1]["sku"]
    main = sb.locations[0]["id"]
    before = sb.stock(sku0, main)
    bad = quantity(sb, 1, 0, 5) | {"locationId": "gid://shopify/Location/1"}
    refused = set_quantities(sb, [quantity(sb, 0, 0, 41), bad], key="k-bad")
    result = refused["data"]["inventorySetQuantities"]
    assert result["inventoryAdjustmentGroup"] is None
    assert result["userErrors"] == [
        {
            "code": "INVALID_LOCATION",
            "field": ["input", "quantities", "1", "locationId"],
            "message": "The specified location could not be found.",
        }
    ]
    assert sb.stock(sku0, main) == before, "nothing applied"

    done = set_quantities(sb, [quantity(sb, 0, 0, 41), quantity(sb, 1, 0, 42)], key="k-ok")
    assert done["data"]["inventorySetQuantities"]["userErrors"] == []
    assert done["data"]["inventorySetQuantities"]["inventoryAdjustmentGroup"]["id"].startswith("gid://")
    assert (sb.stock(sku0, main), sb.stock(sku1, main)) == (41, 42)
    sb.set_stock(sku0, main, 3)  # sold meanwhile
    again = set_quantities(sb, [quantity(sb, 0, 0, 41), quantity(sb, 1, 0, 42)], key="k-ok")
    assert again["data"] == done["data"] and sb.stock(sku0, main) == 3, (
        "a repeated key is answered, not applied"
    )
    other = set_quantities(sb, [quantity(sb, 0, 0, 1)], key="k-ok")["data"]["inventorySetQuantities"]
    assert other["userErrors"][0]["code"] == "IDEMPOTENCY_KEY_PARAMETER_MISMATCH"

    sb.unstock(sku1, main)
    errors = set_quantities(
        sb, [quantity(sb, 1, 0, 1), quantity(sb, 0, 0, 2, changeFromQuantity=99)], key="k-3"
    )
    codes = [e["code"] for e in errors["data"]["inventorySetQuantities"]["userErrors"]]
    assert codes == ["ITEM_NOT_STOCKED_AT_LOCATION", "CHANGE_FROM_QUANTITY_STALE"]
    assert sb.stock(sku1, main) is None


def test_set_quantities_input_rules(make: Any) -> None:
    sb = make(skus=2)
    missing_key = set_quantities(sb, [quantity(sb, 0, 0, 1)], key=None)
    assert "@idempotent" in missing_key["errors"][0]["message"]
    no_change_from = quantity(sb, 0, 0, 1)
    del no_change_from["changeFromQuantity"]
    assert "changeFromQuantity" in set_quantities(sb, [no_change_from])["errors"][0]["message"]
    too_many = set_quantities(sb, [quantity(sb, 0, 0, 1)] * 251)
    assert too_many["errors"][0]["extensions"]["code"] == "MAX_INPUT_SIZE_EXCEEDED"
    bad_reason = set_quantities(sb, [quantity(sb, 0, 0, 1)], key="k-r", reason="because")
    assert bad_reason["data"]["inventorySetQuantities"]["userErrors"][0]["field"] == ["input", "reason"]
    # before 2026-01: no directive, and the compare check is switched off explicitly
    old = quantity(sb, 0, 0, 9)
    del old["changeFromQuantity"]
    required = set_quantities(sb, [old], key=None, version="2025-10")["data"]["inventorySetQuantities"]
    assert required["userErrors"][0]["code"] == "COMPARE_QUANTITY_REQUIRED"
    forced = set_quantities(sb, [old], key=None, version="2025-10", ignoreCompareQuantity=True)
    assert forced["data"]["inventorySetQuantities"]["userErrors"] == []
    assert sb.stock(sb.catalog[0]["sku"], sb.locations[0]["id"]) == 9


# -- REST: fulfillment orders and fulfillments ---------------------------------------------------------

FO_SAMPLE = json.loads((FIXTURES_DIR / "fulfillment_orders_for_order.json").read_text())[
    "fulfillment_orders"
][0]
CREATE_SAMPLE = json.loads((FIXTURES_DIR / "fulfillment_create_with_tracking.json").read_text())


def post(sb: ShopifySandbox, path: str, body: Any) -> requests.Response:
    headers = {"X-Shopify-Access-Token": sb.access_token}
    return requests.post(sb.url + path, json=body, headers=headers, timeout=5)


def unfulfilled(sb: ShopifySandbox, lines: int = 1) -> dict[str, Any]:
    return next(
        o
        for o in sb.all_orders()
        if o["cancelled_at"] is None and o["fulfillment_status"] is None and len(o["line_items"]) >= lines
    )


def test_fulfillment_orders_and_a_fulfillment_in_two_parts(shop: ShopifySandbox) -> None:
    order = unfulfilled(shop)
    line = order["line_items"][0]
    [fo] = get(shop, f"{API}/orders/{order['id']}/fulfillment_orders.json").json()["fulfillment_orders"]
    assert set(fo) == set(FO_SAMPLE) and set(fo["line_items"][0]) == set(FO_SAMPLE["line_items"][0])
    assert fo["status"] == "open" and "create_fulfillment" in fo["supported_actions"]
    fo_line = next(li for li in fo["line_items"] if li["line_item_id"] == line["id"])
    assert fo_line["fulfillable_quantity"] == line["quantity"]
    assert get(shop, f"{API}/orders/{order['id']}/fulfillments.json").json() == {"fulfillments": []}

    shop.clock.advance(60)
    part = {"id": fo_line["id"], "quantity": 1}
    body = {
        "notify_customer": True,
        "tracking_info": {"number": "1Z001", "company": "UPS"},
        "line_items_by_fulfillment_order": [
            {"fulfillment_order_id": fo["id"], "fulfillment_order_line_items": [part]}
        ],
    }
    created = post(shop, f"{API}/fulfillments.json", {"fulfillment": body})
    assert created.status_code == 201, created.text
    fulfillment = created.json()["fulfillment"]
    assert set(fulfillment) == set(CREATE_SAMPLE["response"]["fulfillment"])
    assert fulfillment["tracking_numbers"] == ["1Z001"] and fulfillment["tracking_company"] == "UPS"
    assert (
        fulfillment["tracking_url"]
        == "https://www.ups.com/WebTracking?loc=en_US&requester=ST&trackNums=1Z001"
    )
    assert [(li["id"], li["quantity"]) for li in fulfillment["line_items"]] == [(line["id"], 1)]
    after = shop.order(order["id"])
    assert after["updated_at"] > order["updated_at"] and shop.notified == [fulfillment["id"]]
    assert after["fulfillment_status"] == (
        "partial" if len(order["line_items"]) > 1 or line["quantity"] > 1 else "fulfilled"
    )
    assert shop.fulfillments(order["id"]) == [fulfillment]
    listed = ids(get(shop, f"{API}/orders.json", status="any", ids=str(order["id"])))
    assert listed == [order["id"]]

    whole = [{"id": fo_line["id"], "quantity": line["quantity"]}]  # one is fulfilled already
    group = {"fulfillment_order_id": fo["id"], "fulfillment_order_line_items": whole}
    too_many = post(
        shop, f"{API}/fulfillments.json", {"fulfillment": {"line_items_by_fulfillment_order": [group]}}
    )
    assert too_many.status_code == 422
    rest = {"line_items_by_fulfillment_order": [{"fulfillment_order_id": fo["id"]}]}  # all that remains
    assert post(shop, f"{API}/fulfillments.json", {"fulfillment": rest}).status_code == 201
    [closed] = shop.fulfillment_orders(order["id"])
    assert closed["status"] == "closed" and closed["supported_actions"] == []
    assert shop.order(order["id"])["fulfillment_status"] == "fulfilled"
    again = post(shop, f"{API}/fulfillments.json", {"fulfillment": rest})
    assert again.status_code == 422 and "unfulfillable" in again.json()["errors"][0]


def test_fulfillment_refusals(make: Any) -> None:
    sb = make(orders=60, limits=False)
    assert post(sb, f"{API}/fulfillments.json", {}).status_code == 400
    assert post(sb, f"{API}/fulfillments.json", {"fulfillment": {}}).status_code == 400
    unknown = {"line_items_by_fulfillment_order": [{"fulfillment_order_id": 1}]}
    assert post(sb, f"{API}/fulfillments.json", {"fulfillment": unknown}).status_code == 422
    split = next(o for o in sb.all_orders() if len(sb.fulfillment_orders(o["id"])) == 2)
    both = [{"fulfillment_order_id": fo["id"]} for fo in sb.fulfillment_orders(split["id"])]
    mixed = post(sb, f"{API}/fulfillments.json", {"fulfillment": {"line_items_by_fulfillment_order": both}})
    assert mixed.status_code == 422 and "same location" in mixed.json()["errors"][0]
    assert get(sb, f"{API}/orders/1/fulfillment_orders.json").status_code == 404
    assert get(sb, f"{API}/orders/1/fulfillments.json").status_code == 404


def test_update_tracking(shop: ShopifySandbox) -> None:
    order = unfulfilled(shop)
    [fo] = shop.fulfillment_orders(order["id"])
    body = {
        "tracking_info": {"number": "OLD"},
        "line_items_by_fulfillment_order": [{"fulfillment_order_id": fo["id"]}],
    }
    fid = post(shop, f"{API}/fulfillments.json", {"fulfillment": body}).json()["fulfillment"]["id"]
    assert shop.fulfillments(order["id"])[0]["tracking_url"] is None, "an unknown carrier gets no link"
    before = shop.order(order["id"])["updated_at"]
    shop.clock.advance(5)
    change = {
        "fulfillment": {"notify_customer": False, "tracking_info": {"company": "FedEx", "number": "NEW"}}
    }
    updated = post(shop, f"{API}/fulfillments/{fid}/update_tracking.json", change)
    assert updated.status_code == 200
    [fulfillment] = shop.fulfillments(order["id"])
    assert updated.json()["fulfillment"] == fulfillment
    assert (fulfillment["tracking_number"], fulfillment["tracking_company"]) == ("NEW", "FedEx")
    assert fulfillment["tracking_url"] == "https://www.fedex.com/fedextrack/?trknbr=NEW"
    assert shop.order(order["id"])["updated_at"] > before and shop.notified == []
    assert post(shop, f"{API}/fulfillments/1/update_tracking.json", change).status_code == 404
    assert post(shop, f"{API}/fulfillments/{fid}/update_tracking.json", {}).status_code == 400
