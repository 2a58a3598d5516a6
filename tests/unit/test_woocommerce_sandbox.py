"""The WooCommerce sandbox keeps WooCommerce's wire rules: paths, OAuth on plain HTTP, paging
headers, shop-local vs GMT dates, the ping, signed deliveries that are never retried and disable a
webhook, the optional Shipment Tracking routes, stock inheritance, batch limits, faults."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from oauthlib.oauth1 import Client
from requests_oauthlib import OAuth1
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from connectors.woocommerce import WooCommerceConnector
from connectors.woocommerce.sandbox import WooCommerceSandbox
from hub.sandbox import SandboxClock

START = datetime(2026, 3, 1, 0, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def shop() -> Iterator[WooCommerceSandbox]:
    clock = SandboxClock(START, speed=0)
    with WooCommerceSandbox(seed=3, orders=30, clock=clock, shipment_tracking=True).start() as running:
        yield running


def api(sandbox: WooCommerceSandbox) -> requests.Session:
    session = requests.Session()
    session.auth = OAuth1(sandbox.consumer_key, sandbox.consumer_secret, signature_type="query")
    return session


def url(sandbox: WooCommerceSandbox, path: str) -> str:
    return f"{sandbox.url}/wp-json/wc/v3/{path}"


class Receiver:
    """A delivery URL that records what it gets and answers ``status``."""

    def __init__(self) -> None:
        self.status = 200
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.got.append((dict(request.headers), request.get_data()))
        return Response("ok", self.status)(environ, start_response)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


# -- paths and auth ---------------------------------------------------------------------------------


def test_route_index_lists_the_namespaces(shop: WooCommerceSandbox) -> None:
    index = requests.get(f"{shop.url}/wp-json/").json()
    assert "wc/v3" in index["namespaces"] and "wc-shipment-tracking/v3" in index["namespaces"]
    assert requests.get(f"{shop.url}/wp-json/wc/v3").json()["namespace"] == "wc/v3"
    missing = api(shop).get(url(shop, "nothing-here"))
    assert missing.status_code == 404 and missing.json()["code"] == "rest_no_route"


def test_without_tracking_extension_its_routes_are_missing() -> None:
    with WooCommerceSandbox(orders=1).start() as bare:
        assert "wc-shipment-tracking/v3" not in requests.get(f"{bare.url}/wp-json/").json()["namespaces"]
        assert requests.get(f"{bare.url}/wp-json/wc-shipment-tracking/v3").status_code == 404


def test_oauth1_is_the_only_way_in_over_plain_http(shop: WooCommerceSandbox) -> None:
    assert api(shop).get(url(shop, "orders")).status_code == 200
    bare = requests.get(url(shop, "orders"))
    assert bare.status_code == 401 and bare.json()["code"] == "woocommerce_rest_cannot_view"
    basic = requests.get(url(shop, "orders"), auth=(shop.consumer_key, shop.consumer_secret))
    assert basic.status_code == 401, "WooCommerce ignores Basic auth unless the request is HTTPS"
    header = requests.Session()
    header.auth = OAuth1(shop.consumer_key, shop.consumer_secret, signature_method="HMAC-SHA1")
    assert header.get(url(shop, "orders"), params={"per_page": 5}).status_code == 200


@pytest.mark.parametrize(
    ("key", "secret", "message"),
    [
        ("ck_wrong", None, "Consumer key is invalid."),
        (None, "cs_wrong", "Invalid signature - provided signature does not match."),
    ],
)
def test_bad_oauth_is_401(
    shop: WooCommerceSandbox, key: str | None, secret: str | None, message: str
) -> None:
    session = requests.Session()
    session.auth = OAuth1(key or shop.consumer_key, secret or shop.consumer_secret, signature_type="query")
    answer = session.get(url(shop, "orders"))
    assert answer.status_code == 401 and answer.json()["message"] == message


def test_nonce_is_single_use_and_old_timestamps_are_refused(shop: WooCommerceSandbox) -> None:
    def signed(nonce: str, timestamp: str) -> requests.Response:
        client = Client(
            shop.consumer_key, shop.consumer_secret, signature_type="QUERY", nonce=nonce, timestamp=timestamp
        )
        address, _, _ = client.sign(url(shop, "orders"))
        return requests.get(address)

    now = str(int(datetime.now(UTC).timestamp()))
    assert signed("n" * 32, now).status_code == 200
    again = signed("n" * 32, now)
    assert again.status_code == 401 and "nonce" in again.json()["message"]
    stale = signed("m" * 32, str(int(now) - 16 * 60))
    assert stale.status_code == 401 and stale.json()["message"] == "Invalid timestamp."


# -- paging and dates ---------------------------------------------------------------------------------


def test_paging_headers_and_the_per_page_limit(shop: WooCommerceSandbox) -> None:
    session = api(shop)
    first = session.get(url(shop, "orders"), params={"per_page": 7})
    assert first.headers["X-WP-Total"] == "30" and first.headers["X-WP-TotalPages"] == "5"
    assert (
        len(first.json()) == 7 and 'rel="next"' in first.headers["Link"] and "page=2" in first.headers["Link"]
    )
    last = session.get(url(shop, "orders"), params={"per_page": 7, "page": 5})
    assert (
        len(last.json()) == 2
        and 'rel="prev"' in last.headers["Link"]
        and 'rel="next"' not in last.headers["Link"]
    )
    too_many = session.get(url(shop, "orders"), params={"per_page": 101})
    assert too_many.status_code == 400 and too_many.json()["code"] == "rest_invalid_param"
    default = session.get(url(shop, "orders"))
    assert len(default.json()) == 10, "WordPress pages by 10 unless told"
    ids = [o["id"] for o in default.json()]
    assert ids == sorted(ids, reverse=True), "newest first by default"


def test_dates_are_local_and_gmt_and_filters_follow_dates_are_gmt(shop: WooCommerceSandbox) -> None:
    order = shop.all_orders()[0]
    local = datetime.fromisoformat(order["date_modified"])
    gmt = datetime.fromisoformat(order["date_modified_gmt"])
    assert local - gmt == timedelta(hours=10) and "+" not in order["date_modified"]
    session = api(shop)

    def count(bound: datetime | str, gmt_flag: bool) -> int:
        value = bound if isinstance(bound, str) else bound.strftime("%Y-%m-%dT%H:%M:%S")
        params = {"modified_after": value, "dates_are_gmt": str(gmt_flag).lower(), "per_page": 1}
        return int(session.get(url(shop, "orders"), params=params).headers["X-WP-Total"])

    before_it = gmt - timedelta(seconds=1)
    assert count(before_it, True) == sum(
        o["date_modified_gmt"] > before_it.isoformat() for o in shop.all_orders()
    )
    # the same bare time without dates_are_gmt is read as shop time: 10 hours earlier in UTC
    assert count(before_it, False) == sum(
        o["date_modified_gmt"] > (before_it - timedelta(hours=10)).isoformat() for o in shop.all_orders()
    )
    # an offset does not help: WordPress moves the bound into the shop's zone, then compares
    assert count(before_it.strftime("%Y-%m-%dT%H:%M:%S") + "Z", True) == count(
        before_it + timedelta(hours=10), True
    )
    assert count(gmt, True) < count(before_it, True), "modified_after is exclusive"


def test_orderby_modified_ascending(shop: WooCommerceSandbox) -> None:
    got = (
        api(shop)
        .get(url(shop, "orders"), params={"orderby": "modified", "order": "asc", "per_page": 100})
        .json()
    )
    stamps = [o["date_modified_gmt"] for o in got]
    assert stamps == sorted(stamps) and len(got) == 30


# -- webhooks ------------------------------------------------------------------------------------------


def create_hook(sandbox: WooCommerceSandbox, address: str, topic: str = "order.created") -> dict[str, Any]:
    body = {"name": "t", "topic": topic, "delivery_url": address, "secret": "s3cret", "status": "active"}
    answer = api(sandbox).post(url(sandbox, "webhooks"), json=body)
    assert answer.status_code == 201 and "secret" not in answer.json()
    return answer.json()


def test_creating_a_webhook_pings_it(receiver: Receiver) -> None:
    with WooCommerceSandbox(orders=1).start() as shop:
        hook = create_hook(shop, receiver.url)
        [(headers, body)] = receiver.got
        assert body == f"webhook_id={hook['id']}".encode()
        assert "Hookshot" in headers["User-Agent"] and not any(k.startswith("X-Wc-Webhook") for k in headers)
        assert headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert WooCommerceConnector.verify_webhook({"consumer_secret": "x"}, headers, body)


def test_a_failed_ping_is_repeated_on_update_until_it_passes(receiver: Receiver) -> None:
    receiver.status = 201  # only exactly 200 counts for a ping
    with WooCommerceSandbox(orders=1).start() as shop:
        hook = create_hook(shop, receiver.url)
        receiver.status = 200
        api(shop).put(url(shop, f"webhooks/{hook['id']}"), json={"name": "renamed"})
        api(shop).put(url(shop, f"webhooks/{hook['id']}"), json={"name": "again"})
        assert [d["status"] for d in shop.deliveries] == [201, 200]


def test_deliveries_are_signed_raw_php_json(receiver: Receiver) -> None:
    with WooCommerceSandbox(orders=1).start() as shop:
        hook = create_hook(shop, receiver.url)
        [oid] = shop.create_orders(1)
        assert shop.deliver_pending() == [200]
        headers, body = receiver.got[-1]
        assert headers["X-Wc-Webhook-Topic"] == "order.created" and headers["X-Wc-Webhook-Id"] == str(
            hook["id"]
        )
        assert (
            headers["X-Wc-Webhook-Source"] == shop.url + "/"
            and len(headers["X-Wc-Webhook-Delivery-Id"]) == 32
        )
        expected = base64.b64encode(hmac.new(b"s3cret", body, hashlib.sha256).digest()).decode()
        assert headers["X-Wc-Webhook-Signature"] == expected
        assert b"\\/" in body and json.loads(body)["id"] == oid


def test_one_delivery_per_pending_resource_and_deleted_sends_only_the_id(receiver: Receiver) -> None:
    with WooCommerceSandbox(orders=3).start() as shop:
        create_hook(shop, receiver.url, "order.updated")
        create_hook(shop, receiver.url, "order.deleted")
        oid = shop.all_orders()[0]["id"]
        shop.change_orders([oid])
        shop.change_orders([oid])
        shop.trash_order(oid)
        assert shop.deliver_pending() == [200, 200]
        bodies = [json.loads(body) for _, body in receiver.got[2:]]
        assert bodies[0]["id"] == oid and bodies[0]["status"] == "trash", "built when sent"
        assert bodies[1] == {"id": oid}
        listed = api(shop).get(url(shop, "orders"), params={"per_page": 100}).json()
        assert oid not in {o["id"] for o in listed}, "status=any leaves trash out"


def test_no_retries_and_disabled_on_the_seventh_failure_in_a_row(receiver: Receiver) -> None:
    with WooCommerceSandbox(orders=1).start() as shop:
        hook = create_hook(shop, receiver.url)
        receiver.status = 500
        for _ in range(5):
            shop.create_orders(1)
            shop.deliver_pending()
        receiver.status = 302  # 200..302 counts as delivered and resets the count
        shop.create_orders(1)
        shop.deliver_pending()
        receiver.status = 503
        statuses = []
        for n in range(1, 8):
            shop.create_orders(1)
            statuses += shop.deliver_pending()
            state = api(shop).get(url(shop, f"webhooks/{hook['id']}")).json()["status"]
            assert state == ("disabled" if n == 7 else "active"), n
        assert statuses == [503] * 7 and len(receiver.got) == 1 + 5 + 1 + 7, "each delivery sent once"
        shop.create_orders(1)
        assert shop.deliver_pending() == [], "a disabled webhook gets nothing"
        shop.unreachable = True
        api(shop).put(url(shop, f"webhooks/{hook['id']}"), json={"status": "active"})
        shop.create_orders(1)
        assert shop.deliver_pending() == [None]
        assert api(shop).get(url(shop, f"webhooks/{hook['id']}")).json()["status"] == "disabled", (
            "re-activating does not reset the failure count"
        )


def test_delivery_ids_repeat_within_a_second(receiver: Receiver) -> None:
    with WooCommerceSandbox(orders=1).start() as shop:
        create_hook(shop, receiver.url)
        for _ in range(20):
            shop.create_orders(2)
            shop.deliver_pending()
            first, second = (h["X-Wc-Webhook-Delivery-Id"] for h, _ in receiver.got[-2:])
            if first == second:
                return
        pytest.fail("two deliveries of one webhook in one second should share the id")


# -- stock ------------------------------------------------------------------------------------------


def test_variation_inheriting_stock_shows_parent_and_ignores_its_own_quantity() -> None:
    with WooCommerceSandbox(orders=0, simple_products=1, variable_products=2, inherit_rate=1).start() as shop:
        session = api(shop)
        parents = [p for p in session.get(url(shop, "products")).json() if p["type"] == "variable"]
        parent = next(p for p in parents if p["manage_stock"])
        variation = session.get(url(shop, f"products/{parent['id']}/variations")).json()[0]
        assert (
            variation["manage_stock"] == "parent" and variation["stock_quantity"] == parent["stock_quantity"]
        )
        path = url(shop, f"products/{parent['id']}/variations/{variation['id']}")
        ignored = session.put(path, json={"stock_quantity": 999}).json()
        assert ignored["stock_quantity"] == parent["stock_quantity"], "silently not used"
        own = session.put(path, json={"stock_quantity": 999, "manage_stock": True}).json()
        assert own["manage_stock"] is True and own["stock_quantity"] == 999


def test_batches_refuse_variations_per_item_and_more_than_100_items() -> None:
    with WooCommerceSandbox(orders=0, simple_products=2, variable_products=1).start() as shop:
        session = api(shop)
        simple = session.get(url(shop, "products"), params={"type": "simple"}).json()[0]
        variable = session.get(url(shop, "products"), params={"type": "variable"}).json()[0]
        vid = variable["variations"][0]
        body = {
            "update": [
                {"id": simple["id"], "manage_stock": True, "stock_quantity": 4},
                {"id": vid, "stock_quantity": 1},
            ]
        }
        answer = session.post(url(shop, "products/batch"), json=body).json()["update"]
        assert answer[0]["stock_quantity"] == 4 and answer[0]["stock_status"] == "instock"
        assert answer[1]["id"] == vid and "variations" in answer[1]["error"]["message"]
        too_big = session.post(url(shop, "products/batch"), json={"update": [{"id": simple["id"]}] * 101})
        assert (
            too_big.status_code == 413
            and too_big.json()["code"] == "woocommerce_rest_request_entity_too_large"
        )
        zero = session.post(
            url(shop, "products/batch"), json={"update": [{"id": simple["id"], "stock_quantity": 0}]}
        )
        assert zero.json()["update"][0]["stock_status"] == "outofstock"


# -- Shipment Tracking, notes, faults, activity ------------------------------------------------


def test_shipment_tracking_routes(shop: WooCommerceSandbox) -> None:
    session = api(shop)
    oid = shop.all_orders()[0]["id"]
    base = f"{shop.url}/wp-json/wc-shipment-tracking/v3/orders/{oid}/shipment-trackings"
    known = session.post(base, json={"tracking_provider": "UPS", "tracking_number": "1Z1"})
    assert (
        known.status_code == 201
        and known.json()["tracking_link"].endswith("tracknum=1Z1")
        and known.headers["Location"]
    )
    custom = session.post(
        base,
        json={
            "custom_tracking_provider": "Courier",
            "custom_tracking_link": "https://c/x",
            "tracking_number": "C9",
        },
    )
    assert custom.json()["tracking_link"] == "https://c/x"
    assert [t["tracking_number"] for t in session.get(base).json()] == ["1Z1", "C9"]
    assert session.delete(f"{base}/{known.json()['tracking_id']}").status_code == 200
    assert [t["tracking_number"] for t in session.get(base).json()] == ["C9"]
    providers = requests.get(
        f"{shop.url}/wp-json/wc-shipment-tracking/v3/shipment-trackings/providers"
    ).json()
    assert "UPS" in providers["United States"]


def test_order_update_and_customer_notes(shop: WooCommerceSandbox) -> None:
    session = api(shop)
    oid = shop.all_orders()[1]["id"]
    done = session.put(
        url(shop, f"orders/{oid}"),
        json={"status": "completed", "meta_data": [{"key": "k", "value": {"a": 1}}]},
    ).json()
    assert (
        done["status"] == "completed"
        and done["date_completed_gmt"]
        and {"key": "k", "value": {"a": 1}}.items() <= done["meta_data"][-1].items()
    )
    note = session.post(url(shop, f"orders/{oid}/notes"), json={"note": "Shipped", "customer_note": True})
    assert note.status_code == 201
    session.post(url(shop, f"orders/{oid}/notes"), json={"note": "internal"})
    assert [
        n["note"] for n in session.get(url(shop, f"orders/{oid}/notes"), params={"type": "customer"}).json()
    ] == ["Shipped"]


def test_injected_faults_look_like_a_php_host(shop: WooCommerceSandbox) -> None:
    shop.fail_next("500", path=r"/orders$")
    broken = api(shop).get(url(shop, "orders"))
    assert (
        broken.status_code == 500
        and "critical error" in broken.text
        and broken.headers["Content-Type"].startswith("text/html")
    )
    shop.fail_next("429")
    limited = api(shop).get(url(shop, "orders"))
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"


def test_tick_makes_activity_and_delivers(receiver: Receiver) -> None:
    with WooCommerceSandbox(seed=5, orders=5).start() as shop:
        create_hook(shop, receiver.url)
        create_hook(shop, receiver.url, "order.updated")
        for _ in range(5):
            shop.tick()
        assert len(shop.all_orders()) > 5 and any(d["topic"].startswith("order.") for d in shop.deliveries)
        assert not shop._queue
