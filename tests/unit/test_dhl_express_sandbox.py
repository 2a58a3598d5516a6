"""The DHL Express sandbox through Flask's test client: DHL's paths, auth, problem bodies,
labels sold per reference, tracking moving with the sandbox clock."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from connectors.dhl_express.sandbox import API, DhlExpressSandbox, minimal_pdf
from hub.sandbox import SandboxClock
from mappings import dhl_express as m

START = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)


@pytest.fixture
def box() -> DhlExpressSandbox:
    return DhlExpressSandbox(clock=SandboxClock(START, speed=0))


@pytest.fixture
def api(box: DhlExpressSandbox) -> FlaskClient:
    client = box.app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = (
        "Basic " + base64.b64encode(f"{box.api_key}:{box.api_secret}".encode()).decode()
    )
    return client


def party(city: str, country: str) -> dict[str, Any]:
    return {
        "postalAddress": {
            "cityName": city,
            "countryCode": country,
            "postalCode": "1",
            "addressLine1": "Street 1",
        },
        "contactInformation": {"phone": "1", "companyName": "Co", "fullName": "Name"},
    }


def rates_body(**kw: Any) -> dict[str, Any]:
    body = {
        "customerDetails": {
            "shipperDetails": {"cityName": "Bonn", "countryCode": "DE"},
            "receiverDetails": {"cityName": "Berlin", "countryCode": "DE"},
        },
        "accounts": [{"typeCode": "shipper", "number": "123456789"}],
        "plannedShippingDateAndTime": m.planned_shipping(START),
        "unitOfMeasurement": "metric",
        "isCustomsDeclarable": False,
        "packages": [{"weight": 1.2, "dimensions": {"length": 30, "width": 20, "height": 10}}],
    }
    return body | kw


def shipment_body(reference: str = "key-1", fmt: str = "pdf", pieces: int = 1) -> dict[str, Any]:
    return {
        "plannedShippingDateAndTime": m.planned_shipping(START, space=True),
        "productCode": "N",
        "getRateEstimates": True,
        "accounts": [{"typeCode": "shipper", "number": "123456789"}],
        "customerReferences": [{"value": reference, "typeCode": "CU"}],
        "outputImageProperties": {"encodingFormat": fmt},
        "customerDetails": {"shipperDetails": party("Bonn", "DE"), "receiverDetails": party("Berlin", "DE")},
        "content": {
            "packages": [{"weight": 2}] * pieces,
            "isCustomsDeclarable": False,
            "description": "Merchandise",
            "unitOfMeasurement": "metric",
        },
    }


def test_every_call_needs_basic_auth(box: DhlExpressSandbox) -> None:
    response = box.app.test_client().post(f"{API}/rates", json=rates_body())
    assert response.status_code == 401 and response.json["title"] == "Unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert box.auth["refused"] == 1


def test_message_reference_longer_than_36_is_refused(api: FlaskClient) -> None:
    response = api.post(f"{API}/rates", json=rates_body(), headers={"Message-Reference": "x" * 37})
    assert response.status_code == 400 and "Message-Reference" in response.json["detail"]


def test_rates_map_to_the_contract(api: FlaskClient) -> None:
    response = api.post(f"{API}/rates", json=rates_body())
    assert response.status_code == 200
    quotes, warnings = m.quotes_from_rates(response.json)
    assert [q.service_code for q in quotes] == ["N", "1"] and warnings == []
    assert quotes[0].currency == "EUR" and quotes[0].estimated_days == 1
    types = [p["currencyType"] for p in response.json["products"][0]["totalPrice"]]
    assert types == ["BILLC", "PULCL", "BASEC"]


def test_imperial_and_volumetric_weight_price_the_same_parcel_alike(api: FlaskClient) -> None:
    metric = api.post(f"{API}/rates", json=rates_body()).json
    heavy = rates_body(packages=[{"weight": 1.2, "dimensions": {"length": 60, "width": 50, "height": 40}}])
    imperial = rates_body(unitOfMeasurement="imperial", packages=[{"weight": 2.646}])
    assert (
        api.post(f"{API}/rates", json=imperial).json["products"][0]["totalPrice"][0]["price"]
        == (metric["products"][0]["totalPrice"][0]["price"])
    )
    priced = api.post(f"{API}/rates", json=heavy).json["products"][0]["totalPrice"][0]["price"]
    assert priced > metric["products"][0]["totalPrice"][0]["price"]  # 24 kg volumetric


def test_international_lanes_offer_dutiable_products(api: FlaskClient) -> None:
    body = rates_body(isCustomsDeclarable=True)
    body["customerDetails"]["receiverDetails"] = {"cityName": "London", "countryCode": "GB"}
    assert [p["productCode"] for p in api.post(f"{API}/rates", json=body).json["products"]] == ["P", "Y", "H"]


@pytest.mark.parametrize(
    ("change", "status", "detail"),
    [
        ({"accounts": [{"typeCode": "shipper", "number": "999999999"}]}, 400, "account number is not found"),
        ({"plannedShippingDateAndTime": "2020-01-01T10:00:00GMT+00:00"}, 400, "in the past"),
        ({"plannedShippingDateAndTime": "2020-01-01 10:00"}, 422, "does not match pattern"),
        ({"unitOfMeasurement": "si"}, 422, "unitOfMeasurement"),
        ({"packages": [{"weight": 0}]}, 422, "#/packages/0/weight"),
    ],
)
def test_rate_refusals_are_problem_bodies(
    api: FlaskClient, change: dict[str, Any], status: int, detail: str
) -> None:
    response = api.post(f"{API}/rates", json=rates_body(**change))
    assert response.status_code == status and detail in response.json["detail"]
    assert response.json["status"] == str(status) and response.content_type == "application/problem+json"
    assert m.problem_message(response.json) is not None


def test_a_label_is_a_valid_pdf(api: FlaskClient) -> None:
    response = api.post(f"{API}/shipments", json=shipment_body(pieces=2))
    assert response.status_code == 201
    label = m.label_from_shipment(response.json)
    assert len(label.tracking_number) == 10 and len(label.parcel_tracking_numbers) == 2
    assert label.amount is not None and label.currency == "EUR"
    pdf = label.label_data
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    xref = int(re.search(rb"startxref\n(\d+)", pdf).group(1))  # type: ignore[union-attr]
    assert pdf[xref:].startswith(b"xref")
    for number, offset in enumerate(re.findall(rb"(\d{10}) 00000 n", pdf), start=1):
        assert pdf[int(offset) :].startswith(b"%d 0 obj" % number)


def test_zpl_labels(api: FlaskClient) -> None:
    label = m.label_from_shipment(api.post(f"{API}/shipments", json=shipment_body(fmt="zpl")).json, "ZPL")
    assert label.label_format == "ZPL" and label.label_data.startswith(b"^XA")


def test_the_same_reference_twice_sells_two_labels(api: FlaskClient, box: DhlExpressSandbox) -> None:
    first = api.post(f"{API}/shipments", json=shipment_body("key-1")).json["shipmentTrackingNumber"]
    second = api.post(f"{API}/shipments", json=shipment_body("key-1")).json["shipmentTrackingNumber"]
    assert first != second
    assert box.labels_sold == 2 and box.labels_for("key-1") == 2
    assert api.get("/_sandbox/labels").json == {"total": 2, "by_reference": {"key-1": 2}}


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        (("content", "description"), "required key [description]"),
        (("customerDetails", "receiverDetails", "contactInformation", "phone"), "required key [phone]"),
    ],
)
def test_shipment_refusals(
    api: FlaskClient, box: DhlExpressSandbox, path: tuple[str, ...], detail: str
) -> None:
    body = shipment_body()
    holder = body
    for key in path[:-1]:
        holder = holder[key]
    del holder[path[-1]]
    response = api.post(f"{API}/shipments", json=body)
    assert response.status_code == 422 and detail in response.json["detail"]
    assert box.labels_sold == 0


def test_dutiable_without_a_declared_value_is_refused(api: FlaskClient) -> None:
    body = shipment_body()
    body["content"]["isCustomsDeclarable"] = True
    body["customerDetails"]["receiverDetails"] = party("London", "GB")
    body["productCode"] = "P"
    response = api.post(f"{API}/shipments", json=body)
    assert response.status_code == 422 and "declaredValue" in response.json["detail"]


def test_tracking_moves_to_delivered_as_the_clock_advances(api: FlaskClient, box: DhlExpressSandbox) -> None:
    number = api.post(f"{API}/shipments", json=shipment_body()).json["shipmentTrackingNumber"]
    seen = []
    for hours in (0, 2, 4, 26, 30):
        box.clock.advance(timedelta(hours=hours) - (box.clock.now() - START))
        answer = api.get(f"{API}/tracking", query_string={"shipmentTrackingNumber": number}).json
        (tracker,), _ = m.trackers_from_tracking(answer, [number])
        seen.append(tracker.status)
    assert seen == ["pending", "picked_up", "in_transit", "out_for_delivery", "delivered"]


def test_tick_moves_parcels_without_moving_the_clock(api: FlaskClient, box: DhlExpressSandbox) -> None:
    number = api.post(f"{API}/shipments", json=shipment_body()).json["shipmentTrackingNumber"]
    for _ in range(20):
        box.tick()
    assert box.clock.now() == START
    answer = api.get(f"{API}/shipments/{number}/tracking").json
    assert m.trackers_from_tracking(answer)[0][0].status == "delivered"


def test_single_tracking_gives_offsets_when_asked(api: FlaskClient, box: DhlExpressSandbox) -> None:
    number = api.post(f"{API}/shipments", json=shipment_body()).json["shipmentTrackingNumber"]
    box.clock.advance(timedelta(hours=3))
    answer = api.get(f"{API}/shipments/{number}/tracking?requestGMTOffsetPerEvent=true").json
    (event,) = answer["shipments"][0]["events"]
    assert event["GMTOffset"] == "+00:00" and event["typeCode"] == "PU"
    assert m.trackers_from_tracking(answer)[0][0].events[0].local_time is False


def test_unknown_numbers_are_a_404(api: FlaskClient) -> None:
    response = api.get(f"{API}/tracking", query_string={"shipmentTrackingNumber": ["1", "2"]})
    assert response.status_code == 404 and response.json["title"] == "Not Found"


def test_lookup_by_reference(api: FlaskClient, box: DhlExpressSandbox) -> None:
    number = api.post(f"{API}/shipments", json=shipment_body("key-9")).json["shipmentTrackingNumber"]
    day = START.date()
    params = {
        "shipmentReference": "key-9",
        "dateRangeFrom": str(day - timedelta(days=1)),
        "dateRangeTo": str(day),
    }
    missing = api.get(f"{API}/tracking", query_string=params)
    assert missing.status_code == 400 and "shipperAccountNumber" in missing.json["detail"]
    found = api.get(f"{API}/tracking", query_string=params | {"shipperAccountNumber": box.account}).json
    assert m.waybills_by_reference(found, "key-9") == [number]
    other = api.get(
        f"{API}/tracking",
        query_string=params | {"shipperAccountNumber": box.account, "shipmentReference": "key-0"},
    )
    assert other.status_code == 404


def test_there_is_no_void(api: FlaskClient) -> None:
    number = api.post(f"{API}/shipments", json=shipment_body()).json["shipmentTrackingNumber"]
    assert api.delete(f"{API}/shipments/{number}").status_code in (404, 405)


def test_injected_faults_use_dhl_bodies(api: FlaskClient, box: DhlExpressSandbox) -> None:
    box.fail_next("429")
    box.fail_next("503")
    limited = api.post(f"{API}/rates", json=rates_body())
    assert (
        limited.status_code == 429
        and limited.headers["Retry-After"] == "1"
        and limited.json["status"] == "429"
    )
    assert api.post(f"{API}/rates", json=rates_body()).json["title"] == "Service Unavailable"


def test_connection_values_and_minimal_pdf(box: DhlExpressSandbox) -> None:
    with box:
        values = box.connection_values()
        assert values["url"] == f"{box.url}{API}" and values["account_number"] == box.account
    assert minimal_pdf("a (b) c").count(b"\\(") == 1
