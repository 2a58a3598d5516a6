"""Shopify fulfilment push against `responses`: the fulfillment-order flow with the reference
samples, the company table, look-first idempotency, tracking updates, lost answers."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pytest
import requests
import responses

from connectors.shopify import ShopifyConnector
from connectors.shopify.fulfilment import FulfilmentError, company_for
from hub.connectors import Capability, ConnectionContext, PushResult, ShipmentLine, ShipmentPush
from hub.http import HttpClient, HttpError
from tests.contracts import FIXTURES

BASE = "https://demo.myshopify.com/admin/api/2026-07/"
ORDER_ID = "450789469"
SAMPLES = FIXTURES / "shopify"
FULFILLMENT_ORDERS = json.loads((SAMPLES / "fulfillment_orders_for_order.json").read_text())
CREATE = json.loads((SAMPLES / "fulfillment_create_with_tracking.json").read_text())
UPDATE = json.loads((SAMPLES / "fulfillment_update_tracking.json").read_text())
NUMBER = CREATE["request"]["body"]["fulfillment"]["tracking_info"]["number"]  # 1Z001985YW99744790

FULFILLMENTS_URL = BASE + f"orders/{ORDER_ID}/fulfillments.json"
ORDERS_URL = BASE + f"orders/{ORDER_ID}/fulfillment_orders.json"


def connector() -> ShopifyConnector:
    credentials = {"store_url": "https://demo.myshopify.com", "access_token": "shpat_abc", "api_secret": "s"}
    http = HttpClient(BASE, max_attempts=4)
    return ShopifyConnector(ConnectionContext(None, credentials, {"api_version": "2026-07"}, http))


def shipment(lines: dict[int, int], **kw: Any) -> ShipmentPush:
    values = {
        "key": "shp-1",
        "order_external_id": ORDER_ID,
        "lines": tuple(ShipmentLine(str(line), n) for line, n in lines.items()),
        "carrier": "ups",
        "carrier_name": "UPS",
        "tracking_number": NUMBER,
    }
    return ShipmentPush(**(values | kw))


def fulfillable(fo: dict[str, Any]) -> dict[str, Any]:
    """The sample fulfillment order as a merchant-managed one (the sample's was submitted to a
    fulfilment service, so it only supports ``cancel_fulfillment_order``)."""
    return copy.deepcopy(fo) | {"request_status": "unsubmitted", "supported_actions": ["create_fulfillment"]}


def fo(fo_id: int, location: int, lines: list[tuple[int, int, int]], status: str = "open") -> dict[str, Any]:
    """A fulfillment order: (its line id, the order's line id, fulfillable quantity) per line."""
    items = [
        {"id": i, "fulfillment_order_id": fo_id, "line_item_id": li, "quantity": n, "fulfillable_quantity": n}
        for i, li, n in lines
    ]
    actions = ["create_fulfillment"] if status in ("open", "in_progress") else []
    return {
        "id": fo_id,
        "order_id": int(ORDER_ID),
        "assigned_location_id": location,
        "status": status,
        "supported_actions": actions,
        "line_items": items,
    }


def existing(fid: int, number: str, lines: dict[int, int], **kw: Any) -> dict[str, Any]:
    base = copy.deepcopy(CREATE["response"]["fulfillment"])
    base |= {"id": fid, "tracking_number": number, "tracking_numbers": [number], "tracking_company": "UPS"}
    base["line_items"] = [{"id": li, "quantity": n} for li, n in lines.items()]
    return base | kw


def posts() -> list[tuple[str, dict[str, Any]]]:
    return [
        (c.request.url, json.loads(c.request.body)) for c in responses.calls if c.request.method == "POST"
    ]


def test_declares_fulfilment_push() -> None:
    assert Capability.FULFILMENT_PUSH in ShopifyConnector.capabilities


@pytest.mark.parametrize(
    ("carrier", "carrier_name", "company"),
    [
        ("ups", "United Parcel Service", "UPS"),
        ("fedex", "Federal Express", "FedEx"),
        ("usps", "US Postal Service", "USPS"),
        ("dhl_express", "DHL", "DHL Express"),
        ("other", "Royal Mail", "Royal Mail"),
        ("other", "  ", None),
    ],
)
def test_shopify_company_names(carrier: str, carrier_name: str, company: str | None) -> None:
    assert company_for(shipment({1: 1}, carrier=carrier, carrier_name=carrier_name)) == company


@responses.activate
def test_creates_through_the_fulfillment_orders_as_the_sample_does() -> None:
    responses.get(FULFILLMENTS_URL, json={"fulfillments": []})
    responses.get(
        ORDERS_URL, json={"fulfillment_orders": [fulfillable(FULFILLMENT_ORDERS["fulfillment_orders"][0])]}
    )
    responses.post(BASE + "fulfillments.json", json=CREATE["response"], status=201)
    result = connector().push_fulfilment(shipment({518995019: 1}))
    assert result == PushResult("created", str(CREATE["response"]["fulfillment"]["id"]))
    [(url, body)] = posts()
    assert url == BASE + "fulfillments.json"
    sample = CREATE["request"]["body"]["fulfillment"]
    assert set(body["fulfillment"]) == set(sample) - {"message"}
    assert body == {
        "fulfillment": {
            "notify_customer": False,
            "tracking_info": sample["tracking_info"],
            "line_items_by_fulfillment_order": [
                {
                    "fulfillment_order_id": 1046000780,
                    "fulfillment_order_line_items": [{"id": 1072503277, "quantity": 1}],
                }
            ],
        }
    }
    assert responses.calls[0].request.params == {"limit": "250"}


@responses.activate
def test_tracking_url_and_notify_are_sent() -> None:
    responses.get(FULFILLMENTS_URL, json={"fulfillments": []})
    responses.get(ORDERS_URL, json={"fulfillment_orders": [fo(1, 10, [(11, 518995019, 2)])]})
    responses.post(BASE + "fulfillments.json", json={"fulfillment": {"id": 5}}, status=201)
    url = "https://track.example/RM1"
    push = shipment(
        {518995019: 2}, carrier="other", carrier_name="Royal Mail", tracking_url=url, notify_customer=True
    )
    assert connector().push_fulfilment(push) == PushResult("created", "5")
    body = posts()[0][1]["fulfillment"]
    assert body["tracking_info"] == {"number": NUMBER, "company": "Royal Mail", "url": url}
    assert body["notify_customer"] is True


@responses.activate
def test_a_fulfillment_order_held_by_a_service_is_not_fulfilled() -> None:
    responses.get(FULFILLMENTS_URL, json={"fulfillments": []})
    responses.get(ORDERS_URL, json=FULFILLMENT_ORDERS)  # as sampled: submitted to a fulfilment service
    with pytest.raises(FulfilmentError, match="line 518995019 needs 1 more"):
        connector().push_fulfilment(shipment({518995019: 1}))
    assert posts() == []


@responses.activate
def test_an_existing_fulfillment_with_the_tracking_number_means_no_post() -> None:
    sample = CREATE["response"]["fulfillment"]
    responses.get(FULFILLMENTS_URL, json={"fulfillments": [sample]})
    line = sample["line_items"][0]
    result = connector().push_fulfilment(shipment({line["id"]: line["quantity"]}))
    assert result == PushResult("unchanged", str(sample["id"]))
    assert len(responses.calls) == 1 and posts() == []


@responses.activate
def test_same_number_other_company_updates_the_tracking() -> None:
    sample = CREATE["response"]["fulfillment"]
    responses.get(FULFILLMENTS_URL, json={"fulfillments": [sample]})
    update_url = BASE + f"fulfillments/{sample['id']}/update_tracking.json"
    responses.post(update_url, json={"fulfillment": sample})
    line = sample["line_items"][0]
    result = connector().push_fulfilment(shipment({line["id"]: 1}, carrier="fedex", carrier_name="FedEx"))
    assert result == PushResult("updated", str(sample["id"]))
    assert posts()[0][1]["fulfillment"]["tracking_info"]["company"] == "FedEx"


@responses.activate
def test_a_new_tracking_number_updates_the_same_shipment_as_the_sample_does() -> None:
    sample = UPDATE["response"]["fulfillment"]
    before = sample | {"tracking_number": "OLD-1", "tracking_numbers": ["OLD-1"], "tracking_urls": []}
    line = sample["line_items"][0]
    responses.get(FULFILLMENTS_URL, json={"fulfillments": [before]})
    responses.get(
        ORDERS_URL, json={"fulfillment_orders": [fo(7, 24826418, [(71, line["id"], 0)], status="closed")]}
    )
    responses.post(BASE + UPDATE["request"]["path"].split("/2026-07/")[1], json=UPDATE["response"])
    result = connector().push_fulfilment(shipment({line["id"]: line["quantity"]}, notify_customer=True))
    assert result == PushResult("updated", str(sample["id"]))
    [(url, body)] = posts()
    assert url.endswith(UPDATE["request"]["path"])
    assert body == UPDATE["request"]["body"]


@responses.activate
def test_a_split_shipment_of_the_same_lines_is_a_new_fulfillment() -> None:
    responses.get(FULFILLMENTS_URL, json={"fulfillments": [existing(900, "T-1", {111: 1})]})
    responses.get(ORDERS_URL, json={"fulfillment_orders": [fo(1, 10, [(11, 111, 1)], status="in_progress")]})
    responses.post(BASE + "fulfillments.json", json={"fulfillment": {"id": 901}}, status=201)
    result = connector().push_fulfilment(shipment({111: 1}, tracking_number="T-2"))
    assert result == PushResult("created", "901")
    assert [url for url, _ in posts()] == [BASE + "fulfillments.json"]


@responses.activate
def test_a_lost_create_is_not_repeated_by_the_http_layer() -> None:
    responses.get(FULFILLMENTS_URL, json={"fulfillments": []})
    responses.get(ORDERS_URL, json={"fulfillment_orders": [fo(1, 10, [(11, 111, 1)])]})
    responses.post(BASE + "fulfillments.json", body=requests.ConnectionError("Connection aborted."))
    with pytest.raises(HttpError):
        connector().push_fulfilment(shipment({111: 1}))
    assert len(posts()) == 1

    # the create went through after all: the next push finds it and creates nothing
    responses.calls.reset()
    responses.replace(
        responses.GET, FULFILLMENTS_URL, json={"fulfillments": [existing(950, NUMBER, {111: 1})]}
    )
    assert connector().push_fulfilment(shipment({111: 1})) == PushResult("unchanged", "950")
    assert posts() == []


@responses.activate
def test_two_locations_make_two_fulfillments_and_one_email() -> None:
    responses.get(FULFILLMENTS_URL, json={"fulfillments": []})
    orders = [fo(1, 10, [(11, 111, 2)]), fo(2, 20, [(21, 222, 1), (22, 333, 4)])]
    responses.get(ORDERS_URL, json={"fulfillment_orders": orders})
    responses.post(BASE + "fulfillments.json", json={"fulfillment": {"id": 31}}, status=201)
    responses.post(BASE + "fulfillments.json", json={"fulfillment": {"id": 30}}, status=201)
    result = connector().push_fulfilment(shipment({111: 2, 222: 1, 333: 4}, notify_customer=True))
    assert result == PushResult("created", "30,31")
    bodies = [body["fulfillment"] for _, body in posts()]
    groups = [b["line_items_by_fulfillment_order"] for b in bodies]
    assert groups == [
        [
            {
                "fulfillment_order_id": 2,
                "fulfillment_order_line_items": [{"id": 21, "quantity": 1}, {"id": 22, "quantity": 4}],
            }
        ],
        [{"fulfillment_order_id": 1, "fulfillment_order_line_items": [{"id": 11, "quantity": 2}]}],
    ]
    assert [b["notify_customer"] for b in bodies] == [True, False]


@responses.activate
def test_a_push_that_stopped_half_way_creates_only_the_rest() -> None:
    responses.get(FULFILLMENTS_URL, json={"fulfillments": [existing(40, NUMBER, {222: 1})]})
    orders = [fo(1, 10, [(11, 111, 2)]), fo(2, 20, [(21, 222, 0)], status="closed")]
    responses.get(ORDERS_URL, json={"fulfillment_orders": orders})
    responses.post(BASE + "fulfillments.json", json={"fulfillment": {"id": 41}}, status=201)
    result = connector().push_fulfilment(shipment({111: 2, 222: 1}, notify_customer=True))
    assert result == PushResult("created", "40,41")
    [(_, body)] = posts()
    assert body["fulfillment"]["line_items_by_fulfillment_order"] == [
        {"fulfillment_order_id": 1, "fulfillment_order_line_items": [{"id": 11, "quantity": 2}]}
    ]
    assert body["fulfillment"]["notify_customer"] is False, "the customer heard with the first part"


@responses.activate
def test_cancelled_fulfillments_do_not_count() -> None:
    cancelled = existing(60, NUMBER, {111: 1}, status="cancelled")
    responses.get(FULFILLMENTS_URL, json={"fulfillments": [cancelled]})
    responses.get(ORDERS_URL, json={"fulfillment_orders": [fo(1, 10, [(11, 111, 1)])]})
    responses.post(BASE + "fulfillments.json", json={"fulfillment": {"id": 61}}, status=201)
    assert connector().push_fulfilment(shipment({111: 1})) == PushResult("created", "61")


@responses.activate
def test_nothing_left_to_fulfil_and_no_matching_shipment_is_an_error() -> None:
    responses.get(FULFILLMENTS_URL, json={"fulfillments": [existing(70, "T-9", {111: 1, 222: 1})]})
    responses.get(ORDERS_URL, json={"fulfillment_orders": [fo(1, 10, [(11, 111, 0)], status="closed")]})
    with pytest.raises(FulfilmentError, match=f"order {ORDER_ID}: .*line 111 needs 1 more"):
        connector().push_fulfilment(shipment({111: 1}))
    assert posts() == []


@responses.activate
def test_bad_shipments_are_refused_before_any_call() -> None:
    c = connector()
    with pytest.raises(FulfilmentError, match="no line items"):
        c.push_fulfilment(shipment({111: 0}))
    with pytest.raises(FulfilmentError, match="no tracking number"):
        c.push_fulfilment(dataclasses.replace(shipment({111: 1}), tracking_number=""))
    assert len(responses.calls) == 0
