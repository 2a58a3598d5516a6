"""The EasyPost connector against `responses`: Basic auth with the key as user name, rates from a
Shipment, buying (a repeated or lost purchase reads the Shipment back), label formats, refunds,
tracking in batches, error bodies, webhook registration, and no secret in the call log."""

from __future__ import annotations

import base64
import copy
import json
from decimal import Decimal
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from connectors.easypost import EasyPostConnector
from connectors.easypost.client import EasyPostError
from hub.carriers import CannotReconcile, LabelNotFound
from hub.connectors import ConnectionContext
from hub.http import CallRecord, HttpClient, HttpError
from hub.shipping.model import Address, Label, LabelRequest, Parcel, RateRequest
from tests.contracts import FIXTURES

BASE = "https://api.easypost.com/v2"
KEY, HOOK_SECRET = "EZAKsecretkey0123456789", "whsec-0123456789"
HOOK_URL = "https://hub.test/webhooks/easypost/k3y"
SAMPLES = FIXTURES / "carriers" / "easypost"
RATED = json.loads((SAMPLES / "shipment_create_response_with_rates.json").read_text())
BOUGHT = json.loads((SAMPLES / "shipment_buy_response_with_label.json").read_text())
TRACKER = json.loads((SAMPLES / "tracker_create_response.json").read_text())
SHP, RATE = BOUGHT["id"], BOUGHT["selected_rate"]["id"]
LABEL_URL = BOUGHT["postage_label"]["label_url"]
PNG = b"\x89PNG\r\n\x1a\nlabel"
REQUEST = RateRequest(
    Address("Jack", "388 Townsend St", "San Francisco", "94107", "US", region="CA"),
    Address("Liz", "179 N Harbor Dr", "Redondo Beach", "90277", "US", region="CA"),
    (Parcel(437, 254, 203, 102),),
)
BUY = LabelRequest(REQUEST, "USPS:GroundAdvantage", "idem-1", "PNG", f"{SHP}:{RATE}")


def connector(records: list[CallRecord] | None = None, **settings: Any) -> EasyPostConnector:
    credentials = {"api_key": KEY, "webhook_secret": HOOK_SECRET}
    http = HttpClient(
        EasyPostConnector.base_url(credentials, settings),
        secrets=EasyPostConnector.secret_values(credentials),
        sink=None if records is None else records.append,
        max_attempts=3,
        backoff_base=0.001,
    )
    return EasyPostConnector(ConnectionContext(1, credentials, settings, http, webhook_url=HOOK_URL))


def error(code: str, message: str, status: int = 422, **kw: Any) -> dict[str, Any]:
    return {"status": status, "json": {"error": {"code": code, "message": message, "errors": [], **kw}}}


@responses.activate
def test_basic_auth_key_as_user_name_and_no_secret_in_the_call_log() -> None:
    responses.get(f"{BASE}/trackers", **error("APIKEY.REQUIRED", f"key {KEY} is not valid", 401))
    records: list[CallRecord] = []
    result = connector(records).test_connection()
    sent = responses.calls[0].request.headers["Authorization"]
    assert sent == "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
    assert not result.ok and "401 APIKEY.REQUIRED" in result.message
    logged = json.dumps([[r.url, r.error] for r in records]) + result.message
    assert KEY not in logged and sent.split()[1] not in logged and records


@responses.activate
def test_rates_create_a_shipment_in_ounces_and_inches() -> None:
    responses.post(f"{BASE}/shipments", json=RATED, status=201)
    quotes = connector(carrier_accounts="ca_b25657e9896e4d63ac8151ac346ac41e", label_format="ZPL").rates(
        REQUEST
    )
    body = json.loads(responses.calls[0].request.body)["shipment"]
    assert body["parcel"] == {"weight": 15.5, "length": 10.0, "width": 8.0, "height": 4.1}
    assert body["carrier_accounts"] == ["ca_b25657e9896e4d63ac8151ac346ac41e"]
    assert body["options"] == {"label_format": "ZPL"}
    assert [(q.service_name, str(q.amount)) for q in quotes] == [
        ("USPS Priority Mail Express", "34.15"),
        ("USPS Priority Mail", "7.42"),
        ("USPS Ground Advantage", "6.07"),
    ]
    assert all(q.carrier_ref and q.carrier_ref.startswith(RATED["id"] + ":rate_") for q in quotes)


@responses.activate
def test_rates_error_body_gives_a_clear_error() -> None:
    fields = [{"field": "to_address.zip", "message": "is invalid"}]
    responses.post(
        f"{BASE}/shipments", **error("SHIPMENT.INVALID_PARAMS", "Unable to create.", errors=fields)
    )
    with pytest.raises(EasyPostError) as caught:
        connector().rates(REQUEST)
    assert caught.value.code == "SHIPMENT.INVALID_PARAMS" and caught.value.status == 422
    assert (
        str(caught.value)
        == "EasyPost 422 SHIPMENT.INVALID_PARAMS: Unable to create. (to_address.zip: is invalid)"
    )


@responses.activate
def test_buy_label_downloads_the_label_and_names_the_carrier() -> None:
    buy = responses.post(
        f"{BASE}/shipments/{SHP}/buy",
        json=BOUGHT,
        match=[matchers.json_params_matcher({"rate": {"id": RATE}})],
    )
    download = responses.get(LABEL_URL, body=PNG)
    label = connector().buy_label(BUY)
    assert (buy.call_count, download.call_count) == (1, 1)
    assert "Authorization" not in download.calls[0].request.headers  # the key stays with EasyPost
    assert label == Label(
        tracking_number="9400100208303109505657",
        label_format="PNG",
        label_data=PNG,
        carrier_ref=SHP,
        amount=Decimal("6.07"),
        currency="USD",
        parcel_tracking_numbers=("9400100208303109505657",),
        carrier_name="USPS",
    )


@responses.activate
def test_a_pdf_label_is_converted_when_the_shipment_has_none() -> None:
    converted = copy.deepcopy(BOUGHT)
    converted["postage_label"]["label_pdf_url"] = "https://files.example/label.pdf"
    responses.post(f"{BASE}/shipments/{SHP}/buy", json=BOUGHT)
    convert = responses.get(
        f"{BASE}/shipments/{SHP}/label",
        json=converted,
        match=[matchers.query_param_matcher({"file_format": "PDF"})],
    )
    responses.get("https://files.example/label.pdf", body=b"%PDF-1.4")
    label = connector().buy_label(LabelRequest(REQUEST, BUY.service_code, "idem-1", "PDF", BUY.carrier_ref))
    assert (label.label_format, label.label_data, convert.call_count) == ("PDF", b"%PDF-1.4", 1)


@responses.activate
def test_a_lost_purchase_answer_is_retried_and_the_refusal_reads_the_shipment_back() -> None:
    buy = responses.post(f"{BASE}/shipments/{SHP}/buy", body=requests.ConnectionError("connection reset"))
    responses.post(
        f"{BASE}/shipments/{SHP}/buy", **error("SHIPMENT.POSTAGE.EXISTS", "Postage already exists.")
    )
    read = responses.get(f"{BASE}/shipments/{SHP}", json=BOUGHT)
    responses.get(LABEL_URL, body=PNG)
    label = connector().buy_label(BUY)
    buys = [c for c in responses.calls if c.request.url.endswith("/buy")]
    assert (label.tracking_number, len(buys), buy.call_count, read.call_count) == (
        BOUGHT["tracking_code"],
        2,
        1,
        1,
    )


@responses.activate
def test_other_purchase_refusals_are_not_retried() -> None:
    buy = responses.post(
        f"{BASE}/shipments/{SHP}/buy", **error("PAYMENT.REQUIRED", "Insufficient funds.", 402)
    )
    with pytest.raises(EasyPostError, match=r"402 PAYMENT\.REQUIRED: Insufficient funds"):
        connector().buy_label(BUY)
    assert buy.call_count == 1


@responses.activate
def test_buy_without_a_quote_rates_first_under_the_idempotency_key() -> None:
    responses.post(f"{BASE}/shipments", json=RATED, status=201)
    priority = RATED["rates"][1]["id"]
    responses.post(f"{BASE}/shipments/{RATED['id']}/buy", json=BOUGHT)
    responses.get(LABEL_URL, body=PNG)
    label = connector().buy_label(LabelRequest(REQUEST, "USPS:Priority", "idem-9", "PNG"))
    created = json.loads(responses.calls[0].request.body)["shipment"]
    assert created["reference"] == "idem-9"
    assert json.loads(responses.calls[1].request.body) == {"rate": {"id": priority}}
    assert label.tracking_number == BOUGHT["tracking_code"]
    with pytest.raises(CannotReconcile):
        connector().find_label(LabelRequest(REQUEST, "USPS:Priority", "idem-9", "PNG"))


@pytest.mark.parametrize("bad", ["GIF", "code"])
def test_bad_label_requests_fail_before_any_call(bad: str) -> None:
    request = (
        LabelRequest(REQUEST, "USPS:Priority", "k", "GIF", BUY.carrier_ref)
        if bad == "GIF"
        else LabelRequest(REQUEST, "Priority", "k", "PNG")
    )
    with responses.RequestsMock() as mocked, pytest.raises(ValueError):
        connector().buy_label(request)
    assert not mocked.calls


@responses.activate
def test_find_label_reads_the_shipment_back() -> None:
    responses.get(f"{BASE}/shipments/{SHP}", json=BOUGHT)
    responses.get(LABEL_URL, body=PNG)
    assert connector().find_label(BUY).tracking_number == "9400100208303109505657"
    responses.replace(responses.GET, f"{BASE}/shipments/{SHP}", json={**BOUGHT, "postage_label": None})
    with pytest.raises(LabelNotFound):
        connector().find_label(BUY)


@responses.activate
@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ([{"json": {**BOUGHT, "refund_status": "submitted"}}], True),
        ([{"json": {**BOUGHT, "refund_status": "rejected"}}], False),
        ([error("SHIPMENT.REFUND.UNAVAILABLE", "Asked."), {"json": {**BOUGHT, "refund_status": "refunded"}}],
         True),
    ],
)  # fmt: skip
def test_void_is_a_refund_request(answers: list[dict[str, Any]], expected: bool) -> None:
    responses.post(f"{BASE}/shipments/{SHP}/refund", **answers[0])
    if len(answers) > 1:
        responses.get(f"{BASE}/shipments/{SHP}", **answers[1])
    label = Label("9400100208303109505657", "PNG", PNG, carrier_ref=SHP)
    assert connector().void_label(label) is expected


@responses.activate
def test_track_in_batches_newest_tracker_first_and_unknown_numbers_left_out() -> None:
    older = {**TRACKER, "id": "trk_old", "status": "unknown", "tracking_details": []}
    other = {**TRACKER, "tracking_code": "NOT-ASKED"}
    listed = responses.get(f"{BASE}/trackers", json={"trackers": [TRACKER, older, other], "has_more": False})
    trackers = connector().track(["EZ1000000001", "EZ404"])
    query = responses.calls[0].request.url
    assert "tracking_codes%5B%5D=EZ1000000001" in query and "tracking_codes%5B%5D=EZ404" in query
    assert [(t.tracking_number, t.status, len(t.events)) for t in trackers] == [
        ("EZ1000000001", "pending", 2)
    ]
    with pytest.raises(ValueError, match="at most 50"):
        connector().track([f"N{i}" for i in range(51)])
    assert listed.call_count == 1


@responses.activate
def test_subscribe_tracking_creates_trackers_and_skips_refused_numbers() -> None:
    responses.post(
        f"{BASE}/trackers",
        json=TRACKER,
        match=[matchers.json_params_matcher({"tracker": {"tracking_code": "EZ1000000001"}})],
    )
    responses.post(f"{BASE}/trackers", **error("TRACKER.INVALID_PARAMS", "bad code"))
    assert connector().subscribe_tracking(["EZ1000000001", "???"]) == ["EZ1000000001"]


def test_trackers_from_a_webhook_event() -> None:
    event = json.loads((SAMPLES / "webhook_event_tracker_updated.json").read_text())
    (tracker,) = connector().trackers_from_webhook(event)
    assert (tracker.tracking_number, tracker.status) == ("1", "in_transit")


@responses.activate
def test_register_webhooks_creates_once_then_fixes_a_disabled_hook() -> None:
    listing = responses.get(f"{BASE}/webhooks", json={"webhooks": []})
    create = responses.post(f"{BASE}/webhooks", json={"id": "hook_1"})
    assert connector().register_webhooks() == ["webhook created"]
    sent = json.loads(create.calls[0].request.body)["webhook"]
    assert (sent["url"], sent["webhook_secret"]) == (HOOK_URL, HOOK_SECRET)
    hook = {"id": "hook_1", "url": HOOK_URL, "disabled_at": None, "custom_headers": sent["custom_headers"]}
    responses.replace(responses.GET, f"{BASE}/webhooks", json={"webhooks": [hook]})
    assert connector().register_webhooks() == []
    responses.replace(
        responses.GET, f"{BASE}/webhooks", json={"webhooks": [{**hook, "disabled_at": "2025-01-01"}]}
    )
    patch = responses.patch(f"{BASE}/webhooks/hook_1", json=hook)
    assert connector().register_webhooks() == ["webhook re-enabled"]
    assert json.loads(patch.calls[0].request.body)["webhook_secret"] == HOOK_SECRET
    assert (listing.call_count, create.call_count) == (1, 1)


@responses.activate
def test_no_answer_stays_an_http_error_with_no_status() -> None:
    responses.get(f"{BASE}/shipments/{SHP}", body=requests.ConnectionError("down"))
    with pytest.raises(HttpError) as caught:
        connector().find_label(BUY)
    assert caught.value.status is None and not isinstance(caught.value, EasyPostError)
