"""The USPS sandbox through Flask's test client: tokens counted, idempotency keys honoured as the
Labels 3.0 spec says, reprint, cancel, tracking moved by the clock, valid label files."""

from __future__ import annotations

import base64
import re
import struct
import uuid
import zlib
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from connectors.usps.sandbox import UspsSandbox, pdf_label, png_label
from hub.sandbox import SandboxClock
from mappings import usps


@pytest.fixture
def box() -> UspsSandbox:
    return UspsSandbox(clock=SandboxClock(speed=0))


@pytest.fixture
def client(box: UspsSandbox) -> FlaskClient:
    return box.app.test_client()


def bearer(client: FlaskClient, box: UspsSandbox) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_id": box.client_id,
        "client_secret": box.client_secret,
    }
    answer = client.post("/oauth2/v3/token", data=form)
    assert answer.status_code == 200 and answer.json["expires_in"] == 28799
    return {"Authorization": f"Bearer {answer.json['access_token']}"}


def paid(client: FlaskClient, box: UspsSandbox) -> dict[str, str]:
    headers = bearer(client, box)
    roles = [
        {"roleName": "PAYER", "CRID": box.crid, "accountType": "EPS", "accountNumber": box.eps_account},
        {"roleName": "LABEL_OWNER", "CRID": box.crid, "MID": box.mid, "manifestMID": box.mid},
    ]
    answer = client.post("/payments/v3/payment-authorization", json={"roles": roles}, headers=headers)
    assert answer.status_code == 200
    return headers | {"X-Payment-Authorization-Token": answer.json["paymentAuthorizationToken"]}


def label_body(**package: Any) -> dict[str, Any]:
    address = {
        "firstName": "Nick",
        "lastName": "Fury",
        "streetAddress": "2700 S Jefferson Ave",
        "city": "St. Louis",
        "state": "MO",
        "ZIPCode": "63104",
    }
    sender = address | {"city": "Washington", "state": "DC", "ZIPCode": "20024"}
    return {
        "imageInfo": {"imageType": "PDF"},
        "toAddress": address,
        "fromAddress": sender,
        "packageDescription": {"mailClass": "USPS_GROUND_ADVANTAGE", "rateIndicator": "SP", "weight": 2.2}
        | package,
    }


def test_tokens_are_counted_and_bad_credentials_refused(client: FlaskClient, box: UspsSandbox) -> None:
    bearer(client, box)
    refused = client.post("/oauth2/v3/token", json={"grant_type": "client_credentials", "client_id": "x"})
    assert refused.status_code == 401 and refused.json["error"] == "invalid_client"
    assert box.token_requests == 2
    assert client.get("/_sandbox/usps").json["token_requests"] == 2
    unauthorised = client.post("/shipments/v3/options/search", json={})
    assert unauthorised.status_code == 401 and "WWW-Authenticate" in unauthorised.headers


def test_revoked_tokens_get_a_401(client: FlaskClient, box: UspsSandbox) -> None:
    headers = bearer(client, box)
    assert client.get("/tracking/v3/tracking/1", headers=headers).status_code == 404
    client.post("/_sandbox/usps/revoke-tokens")
    assert client.get("/tracking/v3/tracking/1", headers=headers).status_code == 401


def test_payment_authorization_checks_the_accounts(client: FlaskClient, box: UspsSandbox) -> None:
    headers = bearer(client, box)
    wrong = [{"roleName": "PAYER", "CRID": box.crid, "accountType": "EPS", "accountNumber": "999"}]
    answer = client.post("/payments/v3/payment-authorization", json={"roles": wrong}, headers=headers)
    assert answer.status_code == 400
    assert (
        usps.error_message(answer.json)
        == "400 Bad Request; Bad Request The PAYER CRID or EPS account is not valid. (roles)"
    )


def test_rates_have_prices_and_commitments_the_mapping_reads(client: FlaskClient, box: UspsSandbox) -> None:
    body = {
        "originZIPCode": "20024",
        "destinationZIPCode": "94105",
        "pricingOptions": [{"priceType": "COMMERCIAL"}],
        "packageDescription": {"weight": 2.2, "mailClass": "ALL_OUTBOUND", "mailingDate": "2026-01-05"},
    }
    answer = client.post("/shipments/v3/options/search", json=body, headers=bearer(client, box))
    quotes = usps.quotes_from_options(answer.json)
    assert [q.service_code for q in quotes] == [
        "USPS_GROUND_ADVANTAGE",
        "PRIORITY_MAIL",
        "PRIORITY_MAIL_EXPRESS",
    ]
    assert all(q.amount > 0 and q.estimated_delivery and q.estimated_days for q in quotes)
    assert quotes[0].amount < quotes[1].amount < quotes[2].amount and quotes[2].guaranteed
    bad = client.post(
        "/shipments/v3/options/search", json=body | {"originZIPCode": "2002"}, headers=bearer(client, box)
    )
    assert bad.status_code == 400 and "originZIPCode" in usps.error_message(bad.json)


def test_the_same_key_and_body_replays_the_label_and_sells_once(
    client: FlaskClient, box: UspsSandbox
) -> None:
    headers = paid(client, box) | {"X-Idempotency-Key": str(uuid.uuid4())}
    first = client.post("/labels/v3/label", json=label_body(), headers=headers)
    again = client.post("/labels/v3/label", json=label_body(), headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.data == again.data
    label = usps.label_from_response(first.headers["Content-Type"], first.data, "PDF")
    assert label.label_data.startswith(b"%PDF")
    other = client.post("/labels/v3/label", json=label_body(weight=5), headers=headers)
    assert other.status_code == 400 and "already used" in usps.error_message(other.json)
    assert box.state()["labels_sold"] == 1
    assert box.state()["sold_by_key"] == {headers["X-Idempotency-Key"]: 1}
    client.post(
        "/labels/v3/label", json=label_body(), headers=headers | {"X-Idempotency-Key": str(uuid.uuid4())}
    )
    assert box.labels_sold == 2


def test_keys_must_be_uuids_and_the_payment_token_is_required(client: FlaskClient, box: UspsSandbox) -> None:
    headers = paid(client, box)
    bad_key = client.post(
        "/labels/v3/label", json=label_body(), headers=headers | {"X-Idempotency-Key": "abc"}
    )
    assert bad_key.status_code == 400
    unpaid = client.post("/labels/v3/label", json=label_body(), headers=bearer(client, box))
    assert unpaid.status_code == 401
    assert box.labels_sold == 0


def test_the_json_label_answer(client: FlaskClient, box: UspsSandbox) -> None:
    headers = paid(client, box) | {"Accept": "application/vnd.usps.labels+json"}
    answer = client.post("/labels/v3/label", json=label_body(), headers=headers)
    label = usps.label_from_response(answer.headers["Content-Type"], answer.data, "PDF")
    assert label.tracking_number.startswith("92") and len(label.tracking_number) == 22


def test_reprint_finds_by_key_three_times_at_most(client: FlaskClient, box: UspsSandbox) -> None:
    key = str(uuid.uuid4())
    headers = paid(client, box) | {"X-Idempotency-Key": key}
    missing = client.post("/labels/v3/label-reprint", json={}, headers=headers)
    assert missing.status_code == 400 and "Order not found" in usps.error_message(missing.json)
    sold = client.post("/labels/v3/label", json=label_body(), headers=headers)
    number = usps.label_from_response(sold.headers["Content-Type"], sold.data, "PDF").tracking_number
    for _ in range(3):
        again = client.post("/labels/v3/label-reprint", json={}, headers=headers)
        assert (
            usps.label_from_response(again.headers["Content-Type"], again.data, "PDF").tracking_number
            == number
        )
    assert client.post("/labels/v3/label-reprint", json={}, headers=headers).status_code == 400
    assert box.labels_sold == 1


def test_cancel_counts_one_void_per_label(client: FlaskClient, box: UspsSandbox) -> None:
    headers = paid(client, box)
    sold = client.post("/labels/v3/label", json=label_body(), headers=headers)
    number = usps.label_from_response(sold.headers["Content-Type"], sold.data, "PDF").tracking_number
    for _ in range(2):
        answer = client.delete(f"/labels/v3/label/{number}", headers=headers)
        assert usps.cancelled(answer.json)
    assert box.voids == 1
    assert client.delete("/labels/v3/label/123", headers=headers).status_code == 400


def test_tracking_moves_with_the_clock(client: FlaskClient, box: UspsSandbox) -> None:
    headers = paid(client, box)
    sold = client.post("/labels/v3/label", json=label_body(), headers=headers)
    number = usps.label_from_response(sold.headers["Content-Type"], sold.data, "PDF").tracking_number
    seen = []
    for _ in range(6):
        answer = client.get(f"/tracking/v3/tracking/{number}?expand=DETAIL", headers=headers)
        seen.append(usps.tracker_from_tracking(answer.json).status)
        client.post("/_sandbox/usps/advance", json={"hours": 4})
    assert seen == ["pending", "picked_up", "in_transit", "in_transit", "out_for_delivery", "delivered"]
    event = answer.json["trackingEvents"][0]
    assert (
        event["eventCode"] == "01"
        and "Z" not in event["eventTimestamp"]
        and event["GMTTimestamp"].endswith("Z")
    )


def test_tick_moves_the_clock_an_hour(box: UspsSandbox) -> None:
    before = box.clock.now()
    box.tick()
    assert box.clock.now() - before == timedelta(hours=1)


def test_label_files_are_valid() -> None:
    pdf = pdf_label(["USPS TRACKING # 92"])
    assert pdf.startswith(b"%PDF-1.4") and pdf.endswith(b"%%EOF\n")
    start = int(re.search(rb"startxref\n(\d+)", pdf).group(1))  # type: ignore[union-attr]
    assert pdf[start:].startswith(b"xref")
    for number, offset in enumerate(re.findall(rb"(\d{10}) 00000 n", pdf), start=1):
        assert pdf[int(offset) :].startswith(b"%d 0 obj" % number)
    png = png_label()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    at = 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        assert struct.unpack(">I", png[at + 8 + length : at + 12 + length])[0] == zlib.crc32(kind + data)
        at += 12 + length
    assert kind == b"IEND"
    assert base64.b64decode(base64.b64encode(png)) == png
