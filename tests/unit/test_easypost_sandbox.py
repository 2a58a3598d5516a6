"""The EasyPost sandbox through Flask's test client: auth, rates, one label per shipment, valid
label files, refunds, trackers moving with the sandbox clock, signed webhook Events."""

from __future__ import annotations

import base64
import json
import re
import struct
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient

from connectors.easypost import EasyPostConnector
from connectors.easypost.sandbox import EasyPostSandbox, pdf_label, png_label
from hub.sandbox import SandboxClock
from hub.shipping.document import dump_document
from mappings import easypost as m
from tests.contracts import validate_shipping

ADDRESS = {
    "street1": "388 Townsend St",
    "city": "San Francisco",
    "state": "CA",
    "zip": "94107",
    "country": "US",
}
SHIPMENT = {"shipment": {"from_address": ADDRESS, "to_address": {**ADDRESS, "zip": "90277"},
                         "parcel": {"weight": 15.4, "length": 10, "width": 8, "height": 4},
                         "options": {"label_format": "PDF"}}}  # fmt: skip


@pytest.fixture
def box() -> EasyPostSandbox:
    return EasyPostSandbox(clock=SandboxClock(speed=0))


@pytest.fixture
def api(box: EasyPostSandbox) -> Iterator[FlaskClient]:
    client = box.app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = (
        "Basic " + base64.b64encode(f"{box.api_key}:".encode()).decode()
    )
    yield client


def bought(api: FlaskClient, rate: int = 1) -> dict[str, Any]:
    shipment = api.post("/v2/shipments", json=SHIPMENT).get_json()
    answer = api.post(
        f"/v2/shipments/{shipment['id']}/buy", json={"rate": {"id": shipment["rates"][rate]["id"]}}
    )
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_auth_basic_or_bearer_anything_else_is_401(box: EasyPostSandbox) -> None:
    client = box.app.test_client()
    assert client.get("/v2/trackers").status_code == 401
    wrong = client.get(
        "/v2/trackers", headers={"Authorization": "Basic " + base64.b64encode(b"nope:").decode()}
    )
    assert wrong.get_json()["error"]["code"] == "APIKEY.REQUIRED"
    assert client.get("/v2/trackers", headers={"Authorization": f"Bearer {box.api_key}"}).status_code == 200
    assert client.get("/_sandbox/auth").get_json() == {"failures": 2}


def test_rates_map_to_valid_quotes_and_bad_bodies_name_the_fields(api: FlaskClient) -> None:
    shipment = api.post("/v2/shipments", json=SHIPMENT).get_json()
    document = m.map_document(shipment)
    validate_shipping(dump_document(document))
    assert {q.service_code.split(":")[0] for q in document.quotes} == {"USPS", "UPS", "FedEx"}
    assert all(q.amount > 0 and q.estimated_days for q in document.quotes)
    bad = api.post("/v2/shipments", json={"shipment": {"parcel": {"weight": 0}}})
    fields = {e["field"] for e in bad.get_json()["error"]["errors"]}
    assert bad.status_code == 422 and {"to_address.street1", "parcel.weight"} <= fields


def test_carrier_accounts_narrow_the_rates(api: FlaskClient, box: EasyPostSandbox) -> None:
    body = {"shipment": {**SHIPMENT["shipment"], "carrier_accounts": [box.accounts["UPS"]]}}
    assert {r["carrier"] for r in api.post("/v2/shipments", json=body).get_json()["rates"]} == {"UPS"}


def test_one_label_per_shipment(api: FlaskClient, box: EasyPostSandbox) -> None:
    shipment = bought(api)
    again = api.post(f"/v2/shipments/{shipment['id']}/buy", json={"rate": {"id": shipment["rates"][0]["id"]}})
    assert again.status_code == 422 and again.get_json()["error"]["code"] == "SHIPMENT.POSTAGE.EXISTS"
    assert api.get("/_sandbox/labels").get_json() == {"total": 1, "by_shipment": {shipment["id"]: 1}}
    purchase = m.purchase(api.get(f"/v2/shipments/{shipment['id']}").get_json())
    assert purchase is not None and set(purchase.label_urls) == {"PNG", "PDF"}  # PDF asked at creation
    assert purchase.tracker_id and purchase.carrier_name == "USPS"


def test_label_files_are_valid_png_pdf_and_zpl(api: FlaskClient) -> None:
    shipment = bought(api)
    label = api.get(f"/v2/shipments/{shipment['id']}/label?file_format=ZPL").get_json()["postage_label"]
    fields = {"PNG": "label_url", "PDF": "label_pdf_url", "ZPL": "label_zpl_url"}
    files = {fmt: api.get(urlsplit(label[field]).path) for fmt, field in fields.items()}
    assert files["PNG"].mimetype == "image/png" and files["PNG"].data.startswith(b"\x89PNG\r\n\x1a\n")
    assert files["PDF"].data.startswith(b"%PDF-1.4") and files["ZPL"].data.startswith(b"^XA")


def test_png_and_pdf_are_well_formed() -> None:
    png = png_label("9400100000000000000000", 40, 30)
    width, height = struct.unpack(">II", png[16:24])
    idat_length = struct.unpack(">I", png[33:37])[0]
    assert (width, height) == (40, 30)
    assert len(zlib.decompress(png[41 : 41 + idat_length])) == height * (width + 1)
    pdf = pdf_label(["USPS Priority", "Tracking 1"])
    start = int(re.search(rb"startxref\n(\d+)", pdf).group(1))  # type: ignore[union-attr]
    offsets = [int(o) for o in re.findall(rb"(\d{10}) 00000 n", pdf[start:])]
    assert pdf[start:].startswith(b"xref") and len(offsets) == 5
    assert all(pdf[o:].startswith(f"{n} 0 obj".encode()) for n, o in enumerate(offsets, start=1))


def test_refund_once_then_refunded_a_day_later(api: FlaskClient, box: EasyPostSandbox) -> None:
    shipment = bought(api)
    first = api.post(f"/v2/shipments/{shipment['id']}/refund", json={})
    assert first.get_json()["refund_status"] == "submitted"
    assert api.post(f"/v2/shipments/{shipment['id']}/refund", json={}).status_code == 422
    box.advance(86400)
    assert api.get(f"/v2/shipments/{shipment['id']}").get_json()["refund_status"] == "refunded"
    assert api.get("/_sandbox/refunds").get_json() == {"total": 1, "shipments": [shipment["id"]]}


def test_a_parcel_moves_with_the_clock_and_each_change_is_a_signed_event(
    api: FlaskClient, box: EasyPostSandbox
) -> None:
    sent: list[tuple[str, bytes, dict[str, str]]] = []
    box.deliver_webhook = lambda url, body, headers, **kw: sent.append((url, body, dict(headers))) or [200]  # type: ignore[method-assign,func-returns-value]
    hook = {"webhook": {"url": "http://hub.test/webhooks/easypost/k", "webhook_secret": "s\u00e9cret"}}
    assert api.post("/v2/webhooks", json=hook).status_code == 201
    code = bought(api)["tracking_code"]
    seen = []
    for hours in (0, 4, 8, 8, 10, 4):
        box.advance(hours * 3600)
        (tracker,) = m.map_document(api.get(f"/v2/trackers?tracking_codes[]={code}").get_json()).trackers
        seen.append(tracker.status)
    assert seen == ["pending", "picked_up", "in_transit", "in_transit", "out_for_delivery", "delivered"]
    events = [(body, headers) for _, body, headers in sent]
    assert len(events) == 6  # created + five moves
    credentials = {"webhook_secret": "se\u0301cret"}
    assert all(EasyPostConnector.verify_webhook(credentials, h, b) for b, h in events)
    assert not EasyPostConnector.verify_webhook({"webhook_secret": "other"}, events[0][1], events[0][0])
    last = m.map_document(json.loads(events[-1][0]))
    assert last.trackers[0].status == "delivered"


def test_failed_deliveries_are_retried_then_the_webhook_is_disabled(
    api: FlaskClient, box: EasyPostSandbox
) -> None:
    box.deliver_webhook = lambda url, body, headers, **kw: [500]  # type: ignore[method-assign]
    api.post("/v2/webhooks", json={"webhook": {"url": "http://hub.test/x", "webhook_secret": "k"}})
    api.post("/v2/trackers", json={"tracker": {"tracking_code": "EZ4000000004"}})
    for _ in range(7):
        box.deliver_pending()
    (hook,) = api.get("/v2/webhooks").get_json()["webhooks"]
    assert hook["disabled_at"] is not None and len(box.deliveries) == 7
    patched = api.patch(f"/v2/webhooks/{hook['id']}", json={"webhook_secret": "k2"}).get_json()
    assert patched["disabled_at"] is None


@pytest.mark.parametrize(
    ("code", "status"),
    [("EZ1000000001", "pending"), ("EZ2000000002", "in_transit"), ("EZ3000000003", "out_for_delivery"),
     ("EZ4000000004", "delivered"), ("EZ5000000005", "return_to_sender"), ("EZ6000000006", "delivery_failed"),
     ("EZ7000000007", "unknown")],
)  # fmt: skip
def test_easyposts_test_tracking_codes(api: FlaskClient, code: str, status: str) -> None:
    created = api.post("/v2/trackers", json={"tracker": {"tracking_code": code, "carrier": "USPS"}})
    again = api.post("/v2/trackers", json={"tracker": {"tracking_code": code}})
    assert created.status_code == 201 and again.get_json()["id"] == created.get_json()["id"]
    assert m.tracker(created.get_json()).status == status


def test_tracker_list_leaves_unknown_codes_out(api: FlaskClient) -> None:
    api.post("/v2/trackers", json={"tracker": {"tracking_code": "EZ4000000004"}})
    listed = api.get("/v2/trackers?tracking_codes[]=EZ4000000004&tracking_codes[]=NOPE").get_json()
    assert [t["tracking_code"] for t in listed["trackers"]] == ["EZ4000000004"] and listed[
        "has_more"
    ] is False
    assert api.get("/v2/trackers/trk_nope").status_code == 404
