"""Amazon connector against its sandbox over loopback: LWA tokens (one request for many
threads, renewal), the regional endpoint, per-operation pacing with the rate header, 429s
waited out, the poll window and paging (v2026 and v0), quantity push by patch or feed,
shipment confirmation."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.amazon import AmazonConnector, feeds, orders, shipping
from connectors.amazon.client import (
    AmazonAuthError,
    LwaTokens,
    check_marketplaces,
    endpoint_for,
    region_for,
)
from connectors.amazon.sandbox import AmazonSandbox
from hub.connectors import (
    ConnectionContext,
    FieldError,
    ShipmentLine,
    ShipmentPush,
    StockWrite,
    validate_values,
)
from hub.http import CallRecord, HttpClient, HttpError
from hub.mapping import map_order


class Built:
    """A connector on a sandbox, with the call records its HTTP clients wrote."""

    def __init__(self, sandbox: AmazonSandbox, **settings: Any) -> None:
        values = sandbox.connection_values() | settings
        self.credentials = {k: values.pop(k) for k in ("client_id", "client_secret", "refresh_token")}
        self.settings = values
        self.records: list[CallRecord] = []
        self.connector = self.build()

    def build(self) -> AmazonConnector:
        http = HttpClient(AmazonConnector.base_url(self.credentials, self.settings), sink=self.records.append)
        return AmazonConnector(ConnectionContext(None, self.credentials, self.settings, http))


@pytest.fixture
def sandbox() -> Iterator[AmazonSandbox]:
    with AmazonSandbox(seed=3, orders=250, skus=40, speed=100) as running:
        yield running


def since() -> datetime:
    return datetime.now(UTC) - timedelta(days=40)


# -- declaration ---------------------------------------------------------------------------------


def test_marketplaces_decide_the_region_and_endpoint() -> None:
    assert check_marketplaces("ATVPDKIKX0DER, A2EUQ1WTGCTBG2") is None
    assert "different regions" in str(check_marketplaces("ATVPDKIKX0DER,A1PA6795UKMFR9"))
    assert "not a marketplace id" in str(check_marketplaces("amazon.com"))
    assert region_for({"marketplace_ids": "A1PA6795UKMFR9"}).code == "eu"
    assert endpoint_for({"marketplace_ids": "A1VC38T7YXB528"}) == "https://sellingpartnerapi-fe.amazon.com"
    assert endpoint_for({"marketplace_ids": "AZZZZZZZZZZZ", "region": "na"}).endswith("-na.amazon.com")
    with pytest.raises(ValueError, match="not na"):
        region_for({"marketplace_ids": "A1PA6795UKMFR9", "region": "na"})
    with pytest.raises(ValueError, match="choose the region"):
        region_for({"marketplace_ids": "AZZZZZZZZZZZ"})


def test_fields_validate_a_real_connection() -> None:
    values = validate_values(
        AmazonConnector.fields,
        {
            "client_id": "amzn1.application-oa2-client.x",
            "client_secret": "s",
            "refresh_token": "Atzr|r",
            "seller_id": "A3TH9S8BH6GOGM",
            "marketplace_ids": "ATVPDKIKX0DER",
        },
    )
    assert values["orders_api"] == "v2026"
    assert values["lwa_endpoint"] == "https://api.amazon.com/auth/o2/token"
    assert AmazonConnector.base_url({}, values) == "https://sellingpartnerapi-na.amazon.com"
    with pytest.raises(FieldError) as info:
        validate_values(AmazonConnector.fields, values | {"seller_id": "me", "marketplace_ids": ""})
    assert set(info.value.errors) >= {"seller_id", "marketplace_ids"}
    secrets = AmazonConnector.secret_values({"client_secret": "s3cret", "refresh_token": "Atzr|r"})
    assert set(secrets) == {"s3cret", "Atzr|r"}


# -- tokens ------------------------------------------------------------------------------------------


def test_fifty_threads_asking_at_once_cause_one_token_request(sandbox: AmazonSandbox) -> None:
    built = Built(sandbox)
    connectors = [built.build() for _ in range(50)]
    barrier = threading.Barrier(50)
    tokens: list[str] = []

    def ask(c: AmazonConnector) -> None:
        barrier.wait()
        tokens.append(c.client.access_token())

    threads = [threading.Thread(target=ask, args=(c,)) for c in connectors]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sandbox.token_requests == 1
    assert len(tokens) == 50 and len(set(tokens)) == 1
    token_calls = [r for r in built.records if r.url.endswith("/auth/o2/token")]
    assert len(token_calls) == 1 and token_calls[0].request_id


def test_a_token_is_renewed_shortly_before_it_expires(sandbox: AmazonSandbox) -> None:
    now = [0.0]
    built = Built(sandbox)
    http = HttpClient(built.settings["lwa_endpoint"])
    tokens = LwaTokens(
        built.settings["lwa_endpoint"],
        built.credentials["client_id"],
        built.credentials["client_secret"],
        built.credentials["refresh_token"],
        clock=lambda: now[0],
    )
    first = tokens.get(http)
    now[0] = 3600 - 61
    assert tokens.get(http) == first
    now[0] = 3600 - 59
    assert tokens.get(http) != first
    assert tokens.requests == 2
    assert http.mask(first) == "***"  # the token is masked wherever it could show


def test_a_refused_token_is_renewed_once(sandbox: AmazonSandbox) -> None:
    built = Built(sandbox)
    assert built.connector.test_connection().ok
    sandbox.expire_tokens()
    result = built.connector.test_connection()
    assert result.ok, result.message
    assert sandbox.token_requests == 2
    assert [r.status for r in built.records if "marketplaceParticipations" in r.url] == [200, 403, 200]


def test_a_bad_refresh_token_fails_the_test_with_amazons_reason(sandbox: AmazonSandbox) -> None:
    built = Built(sandbox)
    built.credentials["refresh_token"] = "Atzr|not-this-one"
    result = built.build().test_connection()
    assert not result.ok
    assert "invalid grant" in result.message and "Atzr|not-this-one" not in result.message
    with pytest.raises(AmazonAuthError):
        built.build().client.access_token()


def test_call_log_has_amazons_request_id_and_no_token(sandbox: AmazonSandbox) -> None:
    built = Built(sandbox)
    built.connector.fetch_orders(since(), None)
    search = [r for r in built.records if "/orders/2026-01-01/orders" in r.url]
    assert search and all(r.request_id for r in search)
    token = built.connector.client.access_token()
    assert not any(token in (r.url + (r.error or "")) for r in built.records)


# -- pacing ------------------------------------------------------------------------------------------


def test_burst_then_paced_to_the_rate_the_header_gives(sandbox: AmazonSandbox) -> None:
    built = Built(sandbox)
    client = built.connector.client
    ids = sandbox.order_ids()[:60]
    started = time.monotonic()
    for order_id in ids:
        client.call("getOrder", path={"orderId": order_id})
    elapsed = time.monotonic() - started
    assert sandbox.throttled["getOrder"] == 0
    assert client.bucket("getOrder").refill_per_s == pytest.approx(0.5 * 100)
    # 30 in the burst, then 30 more at 50 per second
    assert elapsed >= 0.8 * (60 - 30) / 50


def test_a_429_is_waited_out(sandbox: AmazonSandbox) -> None:
    built = Built(sandbox)
    built.connector.fetch_orders(since(), None)  # learns the rate
    sandbox.drain("searchOrders")  # someone else spent the seller's burst
    page = built.connector.fetch_orders(since(), None)
    assert len(page.payloads) == 100
    assert sandbox.throttled["searchOrders"] == 1
    search = [r for r in built.records if "/orders/2026-01-01/orders" in r.url]
    assert [r.status for r in search] == [200, 429, 200]
    assert search[1].error is not None and search[1].error.startswith("429"), "logged as the error it is"


def test_throttled_for_good_gives_up_after_the_clients_attempts(sandbox: AmazonSandbox) -> None:
    built = Built(sandbox)
    client = built.connector.client
    order_id = sandbox.order_ids()[0]
    client.call("getOrder", path={"orderId": order_id})  # learns the rate (50 per second here)
    sandbox.drain("getOrder", available=-10_000)  # throttled for minutes
    with pytest.raises(HttpError) as caught:
        client.call("getOrder", path={"orderId": order_id})
    assert caught.value.status == 429
    attempts = built.connector.client.http.max_attempts
    assert sandbox.throttled["getOrder"] == attempts
    assert [r.attempt for r in built.records if r.status == 429] == list(range(1, attempts + 1))


# -- orders ------------------------------------------------------------------------------------------


def test_window_ends_two_minutes_and_a_margin_before_now() -> None:
    now = datetime(2026, 3, 1, 12, 0, 0, 700000, tzinfo=UTC)
    state = orders.window(now - timedelta(hours=1), now)
    assert state is not None
    assert (state.after, state.before) == ("2026-03-01T11:00:00Z", "2026-03-01T11:57:30Z")
    assert orders.window(now - timedelta(minutes=2), now) is None
    assert orders.PollState.decode(state.encode()) == state


def test_v2026_pages_share_one_window_and_estimate_progress(sandbox: AmazonSandbox) -> None:
    built = Built(sandbox)
    page = built.connector.fetch_orders(since(), None)
    seen = list(page.payloads)
    windows = {orders.PollState.decode(page.next_page).before}
    progress = [page.progress]
    while page.next_page:
        page = built.connector.fetch_orders(since(), page.next_page)
        seen += page.payloads
        progress.append(page.progress)
        if page.next_page:
            windows.add(orders.PollState.decode(page.next_page).before)
    assert len(windows) == 1
    ids = [o["orderId"] for o in seen]
    assert len(ids) == len(set(ids)) == 250
    assert all(p is not None and p.estimated_total for p in progress)
    assert progress[-1].done == 250 and progress[-1].seconds_left == 0
    assert page.complete_until == datetime.fromisoformat(windows.pop().replace("Z", "+00:00"))
    first = [o["lastUpdatedTime"] for o in seen[:100]]
    assert first == sorted(first)
    requests = [r.url for r in built.records if "/orders/2026-01-01/orders" in r.url]
    assert all("lastUpdatedBefore=" in u and "includedData=BUYER" in u for u in requests)
    assert "paginationToken=" in requests[1]
    order = map_order(AmazonConnector, seen[0])
    assert order.channel == "amazon" and order.lines


def test_v0_pages_pair_each_order_with_all_its_items() -> None:
    with AmazonSandbox(seed=8, orders=120, speed=200, items_page_size=1) as sandbox:
        built = Built(sandbox, orders_api="v0")
        page = built.connector.fetch_orders(since(), None)
        assert len(page.payloads) == 100
        for pair in page.payloads:
            order_id = pair["Order"]["AmazonOrderId"]
            assert len(pair["OrderItems"]) == len(sandbox.order(order_id)["orderItems"])
        rest = built.connector.fetch_orders(since(), page.next_page)
        assert len(rest.payloads) == 20 and rest.next_page is None
        assert sandbox.calls["v0_getOrders"] == 2
        assert sandbox.calls["v0_getOrderItems"] == sum(
            len(sandbox.order(i)["orderItems"]) for i in sandbox.order_ids()
        )
        assert (
            map_order(AmazonConnector, page.payloads[0]).external_id
            == page.payloads[0]["Order"]["AmazonOrderId"]
        )
        one = built.connector.get_order(sandbox.order_ids()[0])
        assert set(one) == {"Order", "OrderItems"}


def test_get_order_v2026_is_what_the_mapping_takes(sandbox: AmazonSandbox) -> None:
    built = Built(sandbox)
    order_id = sandbox.order_ids()[5]
    document = built.connector.get_order(order_id)
    assert document["orderId"] == order_id and "fulfillment" in document
    assert map_order(AmazonConnector, document).external_id == order_id


def test_an_empty_window_asks_nothing(sandbox: AmazonSandbox) -> None:
    built = Built(sandbox)
    page = built.connector.fetch_orders(datetime.now(UTC) - timedelta(seconds=30), None)
    assert page.payloads == [] and page.next_page is None
    assert sandbox.calls["searchOrders"] == 0


# -- quantities ------------------------------------------------------------------------------------


def test_a_few_quantities_go_by_patch(sandbox: AmazonSandbox) -> None:
    built = Built(sandbox)
    writes = [
        StockWrite("SBX-00001", "DEFAULT", 7),
        StockWrite("SBX-00002", "DEFAULT", 3),
        StockWrite("SBX-00001", "DEFAULT", 9),  # the last one for a SKU wins
        StockWrite("NOT-A-LISTING", "DEFAULT", 1),
        StockWrite("SBX-00003", "AMAZON_NA", 1),
        StockWrite("SBX-00004", "DEFAULT", -1),
    ]
    results = built.connector.write_stock(writes)
    assert [r.ok for r in results] == [True, True, True, False, False, False]
    assert "not a listing" in str(results[3].error)
    assert results[4].error == feeds.BAD_LOCATION and results[5].error == feeds.BAD_QUANTITY
    assert (sandbox.quantity("SBX-00001"), sandbox.quantity("SBX-00002")) == (9, 3)
    assert sandbox.calls["patchListingsItem"] == 3 and not sandbox.feeds


def test_patch_or_feed_by_what_the_limits_allow(sandbox: AmazonSandbox) -> None:
    client = Built(sandbox).connector.client
    assert feeds.choose(client, 3) == "patch"
    assert feeds.choose(client, 10_000) == "feed"


def test_a_feed_marks_each_skus_result_from_the_report() -> None:
    with AmazonSandbox(
        seed=2, orders=1, skus=30, rejected_skus={"SBX-00005": "Listing is suppressed."}
    ) as sandbox:
        built = Built(sandbox)
        listings = built.connector.listings
        listings = feeds.Listings(
            listings.client, listings.seller_id, listings.marketplaces, sleep=lambda s: time.sleep(0.6)
        )
        rows = [(i, f"SBX-{i:05d}", i) for i in range(1, 11)] + [(11, "GONE", 1)]
        outcome = feeds.run_feed(listings, rows)
        assert [i for i, error in outcome.items() if error] == [5, 11]
        assert "Listing is suppressed." in str(outcome[5]) and "LISTING_REJECTED" in str(outcome[5])
        assert sandbox.quantity("SBX-00007") == 7
        assert len(sandbox.feeds) == 1
        uploads = [r for r in built.records if "/s3/feeds/" in r.url]
        assert uploads and all("X-Amz-Signature=***" in r.url for r in uploads)


def test_report_outcome_reads_issues_by_message() -> None:
    rows = [(10, "A", 1), (11, "B", 2)]
    report = {
        "issues": [
            {"messageId": 2, "code": "90244", "severity": "ERROR", "message": "bad", "attributeName": "x"},
            {"messageId": 1, "code": "1", "severity": "WARNING", "message": "fine"},
        ]
    }
    assert feeds.report_outcome("F", "DONE", report, rows) == {10: None, 11: "feed F: 90244: bad (x)"}
    fatal = feeds.report_outcome(
        "F", "FATAL", {"issues": [{"code": "1", "severity": "ERROR", "message": "no"}]}, rows
    )
    assert fatal == {10: "feed F: 1: no", 11: "feed F: 1: no"}
    assert feeds.report_outcome("F", "CANCELLED", None, rows)[10] == "feed F: feed F ended CANCELLED"


# -- shipments ---------------------------------------------------------------------------------------


def test_carrier_codes_are_amazons() -> None:
    def push(carrier: str, name: str) -> ShipmentPush:
        return ShipmentPush("k", "o", (ShipmentLine("1", 1),), carrier, name, "T")

    assert shipping.carrier_fields(push("ups", "UPS")) == {"carrierCode": "UPS"}
    assert shipping.carrier_fields(push("dhl_express", "DHL Express")) == {"carrierCode": "DHL"}
    assert shipping.carrier_fields(push("other", "royal mail")) == {"carrierCode": "Royal Mail"}
    assert shipping.carrier_fields(push("other", "Yamato")) == {"carrierCode": "YamatoTransport"}
    assert shipping.carrier_fields(push("other", "Speedy Parcels")) == {
        "carrierCode": "Other",
        "carrierName": "Speedy Parcels",
    }
    assert shipping.package_reference("42") == "42"
    ref = shipping.package_reference("shp_abc")
    assert ref.isdigit() and int(ref) > 0 and ref == shipping.package_reference("shp_abc")
    assert shipping.ship_date(datetime(2026, 2, 11, 1, 0, 0, 5000, tzinfo=UTC)) == "2026-02-11T01:00:00.005Z"


def unshipped(sandbox: AmazonSandbox) -> dict[str, Any]:
    return next(
        sandbox.order(i)
        for i in sandbox.order_ids()
        if sandbox.order(i)["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"
        and sandbox.order(i)["fulfillment"]["fulfilledBy"] == "MERCHANT"
    )


def shipment(
    order: dict[str, Any], key: str = "1001", tracking: str = "1Z999", carrier: str = "ups"
) -> ShipmentPush:
    lines = tuple(ShipmentLine(i["orderItemId"], i["quantityOrdered"]) for i in order["orderItems"])
    lines += (ShipmentLine(f"{order['orderItems'][0]['orderItemId']}:gift-wrap", 1),)
    return ShipmentPush(key, order["orderId"], lines, carrier, carrier.upper(), tracking)


def test_shipment_confirmed_once(sandbox: AmazonSandbox) -> None:
    built = Built(sandbox)
    order = unshipped(sandbox)
    first = built.connector.push_fulfilment(shipment(order))
    assert (first.outcome, first.channel_ref) == ("created", f"{order['orderId']}:1001")
    sent = sandbox.shipments[-1]["packageDetail"]
    assert sent["carrierCode"] == "UPS" and sent["trackingNumber"] == "1Z999"
    assert {i["orderItemId"] for i in sent["orderItems"]} == {i["orderItemId"] for i in order["orderItems"]}
    assert built.connector.push_fulfilment(shipment(order)).outcome == "unchanged"
    assert len(sandbox.shipments) == 1
    changed = built.connector.push_fulfilment(shipment(order, tracking="1Z000"))
    assert changed.outcome == "updated"
    assert sandbox.order(order["orderId"])["packages"][-1]["trackingNumber"] == "1Z000"


def test_already_shipped_400_counts_as_done_and_other_400s_do_not(sandbox: AmazonSandbox) -> None:
    built = Built(sandbox)
    order = unshipped(sandbox)
    built.connector.push_fulfilment(shipment(order))
    # another key and tracking number for an order Amazon shows shipped: Amazon says so
    again = built.connector.push_fulfilment(shipment(order, key="2002", tracking="OTHER"))
    assert again.outcome == "unchanged"
    other = unshipped(sandbox)
    broken = ShipmentPush("3003", other["orderId"], (ShipmentLine("00000000000000", 1),), "ups", "UPS", "1Z1")
    with pytest.raises(shipping.ShipmentError, match="not in the order"):
        built.connector.push_fulfilment(broken)


def test_v0_sellers_skip_orders_amazon_shows_shipped() -> None:
    with AmazonSandbox(seed=6, orders=40, speed=100) as sandbox:
        built = Built(sandbox, orders_api="v0")
        order = unshipped(sandbox)
        assert built.connector.push_fulfilment(shipment(order)).outcome == "created"
        assert built.connector.push_fulfilment(shipment(order)).outcome == "unchanged"
        assert len(sandbox.shipments) == 1
