"""The FedEx sandbox through Flask's test client: auth, rates, labels (valid files), cancel,
tracking moving with the clock, FedEx-shaped errors and faults, and its counters."""

from __future__ import annotations

import struct
import time
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from connectors.fedex.sandbox import FedexSandbox, label_pdf, label_png
from hub.sandbox import SandboxClock
from hub.shipping.document import dump_document
from mappings import fedex
from tests.contracts import validate_shipping

START = datetime(2024, 7, 1, 15, 0, tzinfo=UTC)  # a Monday
SHIPPER = {
    "address": {"city": "Memphis", "stateOrProvinceCode": "TN", "postalCode": "38118", "countryCode": "US"},
    "contact": {"personName": "Ann", "phoneNumber": "9015550100"},
}
RECIPIENT = {
    "address": {"city": "Austin", "stateOrProvinceCode": "TX", "postalCode": "78701", "countryCode": "US"},
    "contact": {"personName": "Bob", "phoneNumber": "5125550100"},
}
PACKAGE = {"weight": {"units": "LB", "value": 2.5}}


@pytest.fixture
def sandbox() -> FedexSandbox:
    return FedexSandbox(seed=7, clock=SandboxClock(START, speed=0), step=timedelta(hours=6))


@pytest.fixture
def client(sandbox: FedexSandbox) -> FlaskClient:
    return sandbox.app.test_client()


def token(client: FlaskClient, sandbox: FedexSandbox) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_id": sandbox.api_key,
        "client_secret": sandbox.secret_key,
    }
    answer = client.post("/oauth/token", data=form)
    assert answer.status_code == 200
    return {"Authorization": f"Bearer {answer.json['access_token']}"}


def rate_body(sandbox: FedexSandbox, **shipment: Any) -> dict[str, Any]:
    requested = {
        "shipper": {"address": SHIPPER["address"]},
        "recipient": {"address": RECIPIENT["address"]},
        "pickupType": "DROPOFF_AT_FEDEX_LOCATION",
        "requestedPackageLineItems": [PACKAGE],
    } | shipment
    return {"accountNumber": {"value": sandbox.account_number}, "requestedShipment": requested}


def ship(
    client: FlaskClient,
    sandbox: FedexSandbox,
    auth: dict[str, str],
    image: str = "PDF",
    key: str = "k1",
    service: str = "FEDEX_GROUND",
) -> Any:
    body = {
        "accountNumber": {"value": sandbox.account_number},
        "labelResponseOptions": "LABEL",
        "requestedShipment": {
            "shipper": SHIPPER,
            "recipients": [RECIPIENT],
            "serviceType": service,
            "packagingType": "YOUR_PACKAGING",
            "pickupType": "DROPOFF_AT_FEDEX_LOCATION",
            "shippingChargesPayment": {"paymentType": "SENDER"},
            "labelSpecification": {"imageType": image, "labelStockType": "PAPER_4X6"},
            "requestedPackageLineItems": [PACKAGE],
        },
    }
    return client.post("/ship/v1/shipments", json=body, headers=auth | {"x-customer-transaction-id": key})


def test_token_endpoint_counts_and_refuses_bad_keys(client: FlaskClient, sandbox: FedexSandbox) -> None:
    token(client, sandbox)
    bad = client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"}
    )
    assert bad.status_code == 401 and bad.json["errors"][0]["code"] == "NOT.AUTHORIZED.ERROR"
    as_json = client.post("/oauth/token", json={"grant_type": "client_credentials"})
    assert as_json.status_code == 400
    assert sandbox.token_requests == 2


def test_calls_need_an_unexpired_token(client: FlaskClient, sandbox: FedexSandbox) -> None:
    assert client.post("/rate/v1/rates/quotes", json=rate_body(sandbox)).status_code == 401
    auth = token(client, sandbox)
    assert client.post("/rate/v1/rates/quotes", json=rate_body(sandbox), headers=auth).status_code == 200
    sandbox.timer = lambda: time.monotonic() + 3600  # an hour of real time later
    expired = client.post("/rate/v1/rates/quotes", json=rate_body(sandbox), headers=auth)
    assert expired.status_code == 401 and "expired" in expired.json["errors"][0]["message"]


def test_rates_map_to_the_contract(client: FlaskClient, sandbox: FedexSandbox) -> None:
    auth = token(client, sandbox)
    answer = client.post("/rate/v1/rates/quotes", json=rate_body(sandbox), headers=auth)
    document = fedex.map_document(answer.json)
    validate_shipping(dump_document(document))
    quotes = {q.service_code: q for q in document.quotes}
    assert set(quotes) == {
        "FEDEX_GROUND",
        "FEDEX_EXPRESS_SAVER",
        "FEDEX_2_DAY",
        "STANDARD_OVERNIGHT",
        "PRIORITY_OVERNIGHT",
    }
    ground, overnight = quotes["FEDEX_GROUND"], quotes["PRIORITY_OVERNIGHT"]
    assert ground.amount < ground.list_amount and ground.amount < overnight.amount  # type: ignore[operator]
    assert (ground.estimated_days, str(ground.estimated_delivery), ground.guaranteed) == (
        4,
        "2024-07-05",
        False,
    )
    assert (overnight.estimated_days, str(overnight.estimated_delivery), overnight.guaranteed) == (
        1,
        "2024-07-02",
        True,
    )
    one = client.post(
        "/rate/v1/rates/quotes", json=rate_body(sandbox, serviceType="FEDEX_2_DAY"), headers=auth
    )
    assert [r["serviceType"] for r in one.json["output"]["rateReplyDetails"]] == ["FEDEX_2_DAY"]


def test_rate_errors_are_fedex_shaped(client: FlaskClient, sandbox: FedexSandbox) -> None:
    auth = token(client, sandbox)
    wrong = rate_body(sandbox) | {"accountNumber": {"value": "000000000"}}
    answer = client.post("/rate/v1/rates/quotes", json=wrong, headers=auth)
    assert answer.status_code == 400 and answer.json["errors"][0]["code"] == "ACCOUNT.NUMBER.MISMATCH"
    no_weight = client.post(
        "/rate/v1/rates/quotes", json=rate_body(sandbox, requestedPackageLineItems=[]), headers=auth
    )
    assert no_weight.status_code == 400


def _png_ok(data: bytes) -> bool:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    at, idat = 8, b""
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, chunk = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + chunk) & 0xFFFFFFFF
        idat += chunk if kind == b"IDAT" else b""
        at += 12 + length
    width, height = struct.unpack(">II", data[16:24])
    return len(zlib.decompress(idat)) == height * (width + 1)


def _pdf_ok(data: bytes) -> bool:
    assert data.startswith(b"%PDF-1.4") and data.rstrip().endswith(b"%%EOF")
    start = int(data.rsplit(b"startxref\n", 1)[1].split(b"\n", 1)[0])
    return data[start : start + 4] == b"xref"


def test_label_files_are_valid() -> None:
    assert _pdf_ok(label_pdf("794900000001", "FedEx Ground"))
    assert _png_ok(label_png("794900000001"))


@pytest.mark.parametrize(("image", "fmt"), [("PDF", "PDF"), ("PNG", "PNG"), ("ZPLII", "ZPL")])
def test_ship_sells_a_label_per_call(
    client: FlaskClient, sandbox: FedexSandbox, image: str, fmt: str
) -> None:
    auth = token(client, sandbox)
    answer = ship(client, sandbox, auth, image=image)
    assert answer.status_code == 200 and answer.json["customerTransactionId"] == "k1"
    label = fedex.label_from_response(answer.json)
    assert label.label_format == fmt and label.amount is not None
    assert {"PDF": _pdf_ok, "PNG": _png_ok, "ZPL": lambda d: d.startswith(b"^XA")}[fmt](label.label_data)
    ship(client, sandbox, auth, image=image)  # FedEx has no idempotency key: the same key buys again
    assert sandbox.labels_sold == 2 and sandbox.labels_sold_for("k1") == 2
    assert client.get("/_sandbox/fedex").json["labels_by_key"] == {"k1": 2}


def test_ship_refuses_a_service_of_another_lane(client: FlaskClient, sandbox: FedexSandbox) -> None:
    answer = ship(client, sandbox, token(client, sandbox), service="INTERNATIONAL_ECONOMY")
    assert answer.status_code == 400 and answer.json["errors"][0]["code"] == "SERVICE.TYPE.INVALID"
    assert sandbox.labels_sold == 0


def _track(client: FlaskClient, auth: dict[str, str], *numbers: str) -> Any:
    body = {
        "includeDetailedScans": True,
        "trackingInfo": [{"trackingNumberInfo": {"trackingNumber": n}} for n in numbers],
    }
    return client.post("/track/v1/trackingnumbers", json=body, headers=auth)


def test_tracking_moves_with_the_clock(client: FlaskClient, sandbox: FedexSandbox) -> None:
    auth = token(client, sandbox)
    number = ship(client, sandbox, auth).json["output"]["transactionShipments"][0]["masterTrackingNumber"]
    seen = []
    for _ in range(5):
        answer = _track(client, auth, number, "000000000000")
        assert answer.status_code == 200
        document = fedex.map_document(answer.json)
        validate_shipping(dump_document(document))
        assert len(document.warnings) == 1 and "000000000000" in document.warnings[0]
        seen.append(document.trackers[0].status)
        sandbox.tick()
    assert seen == ["pending", "picked_up", "in_transit", "out_for_delivery", "delivered"]


def test_cancel_before_tender_only(client: FlaskClient, sandbox: FedexSandbox) -> None:
    auth = token(client, sandbox)
    first = ship(client, sandbox, auth).json["output"]["transactionShipments"][0]["masterTrackingNumber"]
    body = {
        "accountNumber": {"value": sandbox.account_number},
        "trackingNumber": first,
        "deletionControl": "DELETE_ALL_PACKAGES",
    }
    answer = client.put("/ship/v1/shipments/cancel", json=body, headers=auth)
    assert answer.status_code == 200 and answer.json["output"]["cancelledShipment"] is True
    (tracker,) = fedex.map_document(_track(client, auth, first).json).trackers
    assert tracker.status == "cancelled"
    second = ship(client, sandbox, auth, key="k2").json["output"]["transactionShipments"][0][
        "masterTrackingNumber"
    ]
    sandbox.tick()
    auth = token(client, sandbox)
    late = client.put("/ship/v1/shipments/cancel", json=body | {"trackingNumber": second}, headers=auth)
    assert late.status_code == 400 and late.json["errors"][0]["code"] == "SHIPMENT.ALREADY.TENDERED"
    assert sandbox.voids == [first]


def test_more_than_thirty_numbers_is_refused(client: FlaskClient, sandbox: FedexSandbox) -> None:
    answer = _track(client, token(client, sandbox), *(f"{i:012d}" for i in range(31)))
    assert answer.status_code == 400 and answer.json["errors"][0]["code"]


def test_faults_answer_in_fedex_shape(client: FlaskClient, sandbox: FedexSandbox) -> None:
    auth = token(client, sandbox)
    sandbox.fail_next("503", path="/rate/")
    answer = client.post("/rate/v1/rates/quotes", json=rate_body(sandbox), headers=auth)
    assert answer.status_code == 503 and answer.json["errors"][0]["code"] == "SERVICE.UNAVAILABLE.ERROR"
    sandbox.fail_next("lost_response", path="/ship/")
    with pytest.raises(ConnectionAbortedError):
        ship(client, sandbox, auth, key="lost")
    assert sandbox.labels_sold_for("lost") == 1  # the work was done, the answer lost


def test_connection_values_are_a_valid_form(sandbox: FedexSandbox) -> None:
    from connectors.fedex import FedexConnector
    from hub.connectors import validate_values

    with sandbox:
        values = validate_values(FedexConnector.fields, sandbox.connection_values())
        assert FedexConnector.base_url(values, values) == sandbox.url
