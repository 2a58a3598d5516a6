"""The UPS sandbox on its own, over real HTTP: the token endpoint, UPS's shapes (collapsing
lists, strings for numbers), sales counted per reference, voids, the parcel's progress, Track
Alert validation and deliveries, faults, control endpoints."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from connectors.ups.sandbox import GIF_LABEL, UpsSandbox, check_digit, png_label
from hub.sandbox import SandboxClock

START = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)


@pytest.fixture
def sandbox() -> Iterator[UpsSandbox]:
    with UpsSandbox(clock=SandboxClock(START, speed=0), stage_seconds=3600) as box:
        yield box


def token(box: UpsSandbox) -> str:
    basic = base64.b64encode(f"{box.client_id}:{box.client_secret}".encode()).decode()
    answer = requests.post(
        f"{box.url}/security/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert all(isinstance(v, str) for v in body.values())
    return str(body["access_token"])


def call(box: UpsSandbox, method: str, path: str, **kw: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token(box)}", "transId": "t1", "transactionSrc": "test"}
    return requests.request(method, box.url + path, headers=headers | kw.pop("headers", {}), timeout=5, **kw)


def shipment(service: str | None = "03", reference: str = "ref-1", packages: int = 1) -> dict[str, Any]:
    address = {"AddressLine": ["1 Main"], "City": "Atlanta", "StateProvinceCode": "GA", "PostalCode": "30301"}
    package = {
        "Packaging": {"Code": "02"},
        "PackageWeight": {"UnitOfMeasurement": {"Code": "LBS"}, "Weight": "2.0"},
        "ReferenceNumber": {"Value": reference},
    }
    body: dict[str, Any] = {
        "Shipper": {"Name": "S", "ShipperNumber": "A1B2C3", "Address": address | {"CountryCode": "US"}},
        "ShipFrom": {"Name": "S", "Address": address | {"CountryCode": "US"}},
        "ShipTo": {"Name": "R", "Address": address | {"CountryCode": "US"}},
        "Package": [package] * packages if packages > 1 else package,
    }
    if service:
        body["Service"] = {"Code": service}
    return body


def buy(box: UpsSandbox, reference: str = "ref-1", fmt: str = "GIF", packages: int = 1) -> dict[str, Any]:
    body = {
        "ShipmentRequest": {
            "Shipment": shipment(reference=reference, packages=packages),
            "LabelSpecification": {"LabelImageFormat": {"Code": fmt}},
        }
    }
    answer = call(box, "POST", "/api/shipments/v2409/ship", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()["ShipmentResponse"]["ShipmentResults"]


def test_tokens_are_counted_and_bad_client_credentials_refused(sandbox: UpsSandbox) -> None:
    token(sandbox)
    token(sandbox)
    bad = requests.post(
        f"{sandbox.url}/security/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + base64.b64encode(b"x:y").decode()},
        timeout=5,
    )
    assert bad.status_code == 401
    assert sandbox.token_requests == 3


def test_calls_without_a_valid_token_are_401(sandbox: UpsSandbox) -> None:
    none = requests.get(f"{sandbox.url}/api/track/v1/details/1ZA1B2C30300000000", timeout=5)
    assert none.status_code == 401 and none.json()["response"]["errors"][0]["code"] == "UJ0001"
    value = token(sandbox)
    sandbox.expire_tokens()
    expired = requests.get(
        f"{sandbox.url}/api/track/v1/details/1ZA", headers={"Authorization": f"Bearer {value}"}, timeout=5
    )
    assert expired.status_code == 401 and expired.json()["response"]["errors"][0]["code"] == "250002"


def test_shop_lists_services_and_rate_collapses_to_one_object(sandbox: UpsSandbox) -> None:
    shop = call(
        sandbox,
        "POST",
        "/api/rating/v2409/Shoptimeintransit",
        json={
            "RateRequest": {
                "Shipment": shipment(None) | {"ShipmentRatingOptions": {"NegotiatedRatesIndicator": "Y"}}
            }
        },
    )
    rated = shop.json()["RateResponse"]["RatedShipment"]
    assert isinstance(rated, list) and len(rated) > 3
    ground = rated[0]
    assert float(ground["NegotiatedRateCharges"]["TotalCharge"]["MonetaryValue"]) < float(
        ground["TotalCharges"]["MonetaryValue"]
    )
    assert ground["TimeInTransit"]["ServiceSummary"]["EstimatedArrival"]["Arrival"]["Date"] == "20261211"
    one = call(sandbox, "POST", "/api/rating/v2409/Rate", json={"RateRequest": {"Shipment": shipment("02")}})
    single = one.json()["RateResponse"]["RatedShipment"]
    assert isinstance(single, dict) and single["Service"]["Code"] == "02"
    assert "NegotiatedRateCharges" not in single and "TimeInTransit" not in single


def test_each_ship_request_sells_a_label_counted_by_reference(sandbox: UpsSandbox) -> None:
    first = buy(sandbox, "ref-1")
    buy(sandbox, "ref-1")  # UPS has no idempotency key: a repeat sells again
    buy(sandbox, "ref-2", fmt="PNG", packages=2)
    assert sandbox.labels_sold() == 3
    assert sandbox.labels_sold("ref-1") == 2
    assert sandbox.labels_by_reference() == {"ref-1": 2, "ref-2": 1}
    package = first["PackageResults"]
    assert isinstance(package, dict)  # one package: an object
    assert base64.b64decode(package["ShippingLabel"]["GraphicImage"]) == GIF_LABEL
    number = package["TrackingNumber"]
    assert len(number) == 18 and number.startswith("1ZA1B2C3") and number[-1] == check_digit(number[2:17])
    control = requests.get(f"{sandbox.url}/_sandbox/ups/labels", timeout=5).json()
    assert control["labels_sold"] == 3 and control["by_reference"]["ref-1"] == 2


def test_png_labels_are_valid_png() -> None:
    data = png_label()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and data.endswith(b"IEND\xaeB`\x82")


def test_label_recovery_by_reference(sandbox: UpsSandbox) -> None:
    number = buy(sandbox, "ref-9")["PackageResults"]["TrackingNumber"]
    body = {
        "LabelRecoveryRequest": {
            "ReferenceValues": {"ReferenceNumber": {"Value": "ref-9"}, "ShipperNumber": "A1B2C3"}
        }
    }
    found = call(sandbox, "POST", "/api/labels/v1/recovery", json=body)
    assert found.json()["LabelRecoveryResponse"]["LabelResults"]["TrackingNumber"] == number
    body["LabelRecoveryRequest"]["ReferenceValues"]["ReferenceNumber"]["Value"] = "nope"
    assert call(sandbox, "POST", "/api/labels/v1/recovery", json=body).status_code == 400


def test_void_once_and_only_before_pickup(sandbox: UpsSandbox) -> None:
    first = buy(sandbox)["ShipmentIdentificationNumber"]
    path = f"/api/shipments/v2409/void/cancel/{first}"
    assert (
        call(sandbox, "DELETE", path).json()["VoidShipmentResponse"]["SummaryResult"]["Status"]["Code"] == "1"
    )
    assert call(sandbox, "DELETE", path).status_code == 400
    second = buy(sandbox)["ShipmentIdentificationNumber"]
    sandbox.advance(3600)
    assert call(sandbox, "DELETE", f"/api/shipments/v2409/void/cancel/{second}").status_code == 400
    assert sandbox.voids == 1
    track = call(sandbox, "GET", f"/api/track/v1/details/{first}").json()
    assert track["trackResponse"]["shipment"][0]["package"][0]["activity"][0]["status"]["type"] == "MV"


def test_tracking_moves_with_the_clock(sandbox: UpsSandbox) -> None:
    number = buy(sandbox)["PackageResults"]["TrackingNumber"]
    seen = []
    for _ in range(6):
        package = call(sandbox, "GET", f"/api/track/v1/details/{number}").json()["trackResponse"]["shipment"][
            0
        ]
        activity = package["package"][0]["activity"]
        seen.append(activity[0]["status"]["code"])
        sandbox.advance(3600)
    assert seen == ["MP", "PU", "AR", "OT", "FS", "FS"]
    assert len(activity) == 5 and activity[0]["gmtTime"] == "18:00:00" and activity[0]["time"] == "130000"
    unknown = call(sandbox, "GET", "/api/track/v1/details/1ZA1B2C30399999999").json()
    assert unknown["trackResponse"]["shipment"][0]["warnings"][0]["code"] == "TW0001"
    assert call(sandbox, "GET", "/api/track/v1/details/bad!").status_code == 400


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"locale": None}, "VSS300"),
        ({"destination": None}, "VSS500"),
        ({"destination": {"url": "http://x", "credentialType": "Bearer"}}, "VSS700"),
        ({"trackingNumberList": [f"1Z{i:016d}" for i in range(101)]}, "VSS220"),
    ],
)
def test_track_alert_validates_like_ups(sandbox: UpsSandbox, change: dict[str, Any], code: str) -> None:
    body = {
        "locale": "en_US",
        "countryCode": "US",
        "trackingNumberList": ["1ZA1B2C30300000000"],
        "destination": {"url": "http://x", "credentialType": "Bearer", "credential": "c"},
    } | change
    answer = call(sandbox, "POST", "/api/track/v1/subscription/standard/package", json=body)
    assert answer.status_code == 400 and answer.json()["response"]["errors"][0]["code"] == code


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_track_alert_pushes_new_events_with_the_credential(sandbox: UpsSandbox) -> None:
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        number = buy(sandbox)["PackageResults"]["TrackingNumber"]
        body = {
            "locale": "en_US",
            "countryCode": "US",
            "trackingNumberList": [number, "not-1z"],
            "destination": {"url": f"http://127.0.0.1:{server.server_port}/hook", "credentialType": "Bearer",
                            "credential": "shared-secret"},
        }  # fmt: skip
        answer = call(sandbox, "POST", "/api/track/v1/subscription/standard/package", json=body).json()
        assert answer == {"validTrackingNumbers": [number], "invalidTrackingNumbers": ["not-1z"]}
        assert sandbox.deliver_pending() == []  # no history is sent
        sandbox.advance(2 * 3600)
        assert sandbox.deliver_pending() == [200, 200]
        sandbox.tick()
        assert len(_Receiver.received) == 2
        headers, event = _Receiver.received[0]
        assert headers["credential"] == "shared-secret"
        assert headers["User-Agent"] == "UPSPubSubTrackingService"
        assert event["trackingNumber"] == number and event["activityStatus"]["code"] == "PU"
        assert _Receiver.received[1][1]["activityStatus"]["code"] == "AR"
    finally:
        server.shutdown()
        server.server_close()


def test_faults_use_ups_error_bodies(sandbox: UpsSandbox) -> None:
    sandbox.fail_next("429", path="/api/")
    limited = call(sandbox, "GET", "/api/track/v1/details/1ZA1B2C30399999999")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert limited.json()["response"]["errors"][0]["message"] == "Rate Limit Exceeded"
    sandbox.fail_next("500", path="/api/")
    assert call(sandbox, "GET", "/api/track/v1/details/1ZA1B2C30399999999").json()["response"]["errors"][0][
        "code"
    ] == ("10004")


def test_connection_values_point_at_the_sandbox(sandbox: UpsSandbox) -> None:
    values = sandbox.connection_values()
    assert values["url"] == sandbox.url and values["environment"] == "sandbox"
    assert values["account_number"] == "A1B2C3"
