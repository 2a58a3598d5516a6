"""DHL Express connector and client against ``responses``: Basic auth and headers on every
call, rates, label, no void, tracking in batches, lookups by reference, DHL's error bodies,
and no secret in the call log."""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
import tenacity

from connectors.dhl_express import DhlExpressConnector, planned_time
from connectors.dhl_express.client import HOSTS, X_VERSION, DhlExpressError
from hub.carriers import CannotReconcile
from hub.connectors import ConnectionContext, FieldError, validate_values
from hub.http import CallRecord, HttpClient, HttpError
from hub.shipping.model import Address, LabelRequest, Parcel, RateRequest
from tests.contracts import FIXTURES

SAMPLES = FIXTURES / "carriers" / "dhl_express"
BASE = "https://dhl.test/mydhlapi"
KEY, SECRET, ACCOUNT = "apiuser01", "s3cr3t-pa55word", "123456789"
BASIC = "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tenacity.nap, "sleep", lambda _: None)


@pytest.fixture
def records() -> list[CallRecord]:
    return []


@pytest.fixture
def dhl(records: list[CallRecord]) -> DhlExpressConnector:
    credentials = {"api_key": KEY, "api_secret": SECRET}
    settings = {"account_number": ACCOUNT, "environment": "sandbox", "url": BASE}
    http = HttpClient(
        DhlExpressConnector.base_url(credentials, settings),
        sink=records.append,
        secrets=DhlExpressConnector.secret_values(credentials),
    )
    return DhlExpressConnector(ConnectionContext(1, credentials, settings, http))


def rate_request() -> RateRequest:
    return RateRequest(
        Address("Ann", "Main St 1", "Bonn", "53113", "DE", company="Shop", phone="+49 228 1"),
        Address("Bob", "Ring 2", "Berlin", "10115", "DE", phone="+49 30 2"),
        (Parcel(1500, 300, 200, 100),),
        reference="SHIP-1",
    )


def label_request(key: str = "idem-0001") -> LabelRequest:
    return LabelRequest(rate_request(), "P", key, carrier_ref="P")


def query(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


# --------------------------------------------------------------------------- declaration


def test_environment_picks_dhl_hosts_and_url_overrides() -> None:
    assert DhlExpressConnector.base_url({}, {"environment": "production"}) == HOSTS["production"]
    assert (
        DhlExpressConnector.base_url({}, {"environment": "sandbox"})
        == "https://express.api.dhl.com/mydhlapi/test"
    )
    assert DhlExpressConnector.base_url({}, {"environment": "production", "url": BASE}) == BASE


def test_form_fields() -> None:
    values = validate_values(
        DhlExpressConnector.fields, {"api_key": KEY, "api_secret": SECRET, "account_number": ACCOUNT}
    )
    assert values["environment"] == "sandbox" and values["label_format"] == "PDF"
    assert values["unit_of_measurement"] == "metric"
    with pytest.raises(FieldError) as bad:
        validate_values(
            DhlExpressConnector.fields, {"api_key": KEY, "api_secret": SECRET, "account_number": "12"}
        )
    assert "9-digit" in bad.value.errors["account_number"]
    assert [f.name for f in DhlExpressConnector.fields if f.secret] == ["api_secret"]


def test_declares_no_void_and_no_webhooks() -> None:
    assert DhlExpressConnector.can_void is False
    assert "tracking_webhook" not in DhlExpressConnector.capabilities
    assert any("void" in note for note in DhlExpressConnector.notes)
    assert DhlExpressConnector.tracking_url_template.format(number="1").endswith("tracking-id=1")


def test_void_says_dhl_has_none(dhl: DhlExpressConnector) -> None:
    with pytest.raises(NotImplementedError, match="no void"):
        dhl.void_label(None)  # type: ignore[arg-type]


def test_planned_time() -> None:
    now = datetime(2030, 1, 2, 23, 55, tzinfo=UTC)
    assert planned_time(None, now) == datetime(2030, 1, 3, 0, 5, tzinfo=UTC)  # never in the past
    assert planned_time(date(2030, 1, 1), now) == datetime(2030, 1, 3, 0, 5, tzinfo=UTC)
    assert planned_time(date(2030, 1, 9), now) == datetime(2030, 1, 9, 9, tzinfo=UTC)


# --------------------------------------------------------------------------- auth and headers


@responses.activate
def test_rates_with_basic_auth_and_dhl_headers(dhl: DhlExpressConnector) -> None:
    responses.post(f"{BASE}/rates", json=sample("rates_response.json"))
    (quote,) = dhl.rates(rate_request())
    assert (quote.service_code, str(quote.amount), quote.currency) == ("P", "157.95", "GBP")
    sent = responses.calls[0].request
    assert sent.headers["Authorization"] == BASIC
    assert sent.headers["x-version"] == X_VERSION
    assert 1 <= len(sent.headers["Message-Reference"]) <= 36
    assert sent.headers["Message-Reference-Date"].endswith(" GMT")
    body = json.loads(sent.body)
    assert body["accounts"] == [{"typeCode": "shipper", "number": ACCOUNT}]
    assert body["unitOfMeasurement"] == "metric" and body["packages"][0]["weight"] == 1.5


@responses.activate
def test_imperial_connection_sends_imperial(records: list[CallRecord]) -> None:
    credentials = {"api_key": KEY, "api_secret": SECRET}
    settings = {"account_number": ACCOUNT, "url": BASE, "unit_of_measurement": "imperial"}
    http = HttpClient(BASE, sink=records.append)
    dhl = DhlExpressConnector(ConnectionContext(1, credentials, settings, http))
    responses.post(f"{BASE}/rates", json=sample("rates_response.json"))
    dhl.rates(rate_request())
    body = json.loads(responses.calls[0].request.body)
    assert body["unitOfMeasurement"] == "imperial" and body["packages"][0]["weight"] == 3.307


@responses.activate
def test_fifty_threads_each_send_basic_auth_and_no_token_is_ever_fetched(dhl: DhlExpressConnector) -> None:
    responses.post(f"{BASE}/rates", json=sample("rates_response.json"))
    errors: list[BaseException] = []

    def shop() -> None:
        try:
            assert len(dhl.rates(rate_request())) == 1
        except BaseException as exc:  # collected for the main thread
            errors.append(exc)

    threads = [threading.Thread(target=shop) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(responses.calls) == 50
    assert {c.request.headers["Authorization"] for c in responses.calls} == {BASIC}
    assert len({c.request.headers["Message-Reference"] for c in responses.calls}) == 50
    assert all(urlsplit(c.request.url).path == "/mydhlapi/rates" for c in responses.calls)


@responses.activate
def test_a_401_is_not_retried_and_says_why(dhl: DhlExpressConnector) -> None:
    responses.post(
        f"{BASE}/rates",
        status=401,
        json={"title": "Unauthorized", "detail": "Invalid credentials", "status": "401"},
    )
    with pytest.raises(DhlExpressError, match="DHL Express refused the rate request: 401 Unauthorized"):
        dhl.rates(rate_request())
    assert len(responses.calls) == 1


@responses.activate
def test_test_connection(dhl: DhlExpressConnector) -> None:
    responses.get(f"{BASE}/address-validate", json={"address": []})
    assert dhl.test_connection().ok
    responses.get(f"{BASE}/address-validate", status=401, json={"title": "Unauthorized", "status": "401"})
    result = dhl.test_connection()
    assert not result.ok and "401" in result.message


# --------------------------------------------------------------------------- errors and secrets


@responses.activate
@pytest.mark.parametrize("key", list(sample("error_responses.json")))
def test_dhl_error_bodies_become_clear_errors(dhl: DhlExpressConnector, key: str) -> None:
    body = sample("error_responses.json")[key]
    responses.post(f"{BASE}/rates", status=int(body["status"]), json=body)
    with pytest.raises(DhlExpressError) as caught:
        dhl.rates(rate_request())
    expected = f"{body['status']} {body['title']}: {body['detail']}"
    assert str(caught.value) == f"DHL Express refused the rate request: {expected}"
    assert caught.value.status == int(body["status"])


@responses.activate
def test_secrets_never_reach_the_call_log(dhl: DhlExpressConnector, records: list[CallRecord]) -> None:
    echoed = {
        "title": "Bad request",
        "status": "400",
        "detail": f"user {KEY} secret {SECRET} auth {BASIC[6:]}",
    }
    responses.post(f"{BASE}/rates", status=400, json=echoed)
    with pytest.raises(DhlExpressError) as caught:
        dhl.rates(rate_request())
    shown = " ".join([str(caught.value), *(f"{r.url} {r.error}" for r in records)])
    assert SECRET not in shown and BASIC[6:] not in shown
    assert records and records[0].status == 400


@responses.activate
def test_rates_are_retried_on_503(dhl: DhlExpressConnector) -> None:
    responses.post(f"{BASE}/rates", status=503, json={"title": "Service Unavailable", "status": "503"})
    responses.post(f"{BASE}/rates", json=sample("rates_response.json"))
    assert len(dhl.rates(rate_request())) == 1
    assert len(responses.calls) == 2


# --------------------------------------------------------------------------- labels


@responses.activate
def test_buy_label(dhl: DhlExpressConnector) -> None:
    responses.post(f"{BASE}/shipments", status=201, json=sample("shipment_response.json"))
    label = dhl.buy_label(label_request("idem-0001"))
    assert (label.tracking_number, label.label_format) == ("1103733901", "PDF")
    assert label.label_data.startswith(b"%PDF")
    sent = responses.calls[0].request
    assert sent.headers["Message-Reference"] == "idem-0001"
    body = json.loads(sent.body)
    assert body["customerReferences"] == [{"value": "idem-0001", "typeCode": "CU"}]
    assert body["productCode"] == "P" and body["accounts"][0]["number"] == ACCOUNT


@responses.activate
@pytest.mark.parametrize("status", [500, 503])
def test_a_failed_purchase_is_never_retried(dhl: DhlExpressConnector, status: int) -> None:
    responses.post(f"{BASE}/shipments", status=status, json={"title": "Error", "status": str(status)})
    with pytest.raises(DhlExpressError):
        dhl.buy_label(label_request())
    assert len(responses.calls) == 1


@responses.activate
def test_a_lost_purchase_answer_is_never_retried(dhl: DhlExpressConnector) -> None:
    responses.post(f"{BASE}/shipments", body=requests.ConnectionError("Connection aborted: reset by peer"))
    with pytest.raises(HttpError, match="could not connect, or the connection dropped"):
        dhl.buy_label(label_request())
    assert len(responses.calls) == 1


@responses.activate
def test_a_422_on_purchase_names_the_field(dhl: DhlExpressConnector) -> None:
    body = sample("error_responses.json")["422 (POST /shipments, 'Schema validation error')"]
    responses.post(f"{BASE}/shipments", status=422, json=body)
    with pytest.raises(
        DhlExpressError, match="refused the shipment: 422 Validation error: #/content/packages/0"
    ):
        dhl.buy_label(label_request())


@responses.activate
def test_find_label_names_the_waybill_found_by_reference(dhl: DhlExpressConnector) -> None:
    found = {
        "shipments": [
            {
                "shipmentTrackingNumber": "1103733901",
                "status": "Success",
                "shipperReferences": [{"value": "idem-0001", "typeCode": "CU"}],
            }
        ]
    }
    responses.get(f"{BASE}/tracking", json=found)
    with pytest.raises(CannotReconcile, match="waybill 1103733901 under reference idem-0001"):
        dhl.find_label(label_request("idem-0001"))
    params = query(responses.calls[0])
    assert params["shipmentReference"] == ["idem-0001"] and params["shipmentReferenceType"] == ["CU"]
    assert params["shipperAccountNumber"] == [ACCOUNT]
    assert date.fromisoformat(params["dateRangeFrom"][0]) < date.fromisoformat(params["dateRangeTo"][0])


@responses.activate
def test_find_label_without_a_waybill_still_cannot_say(dhl: DhlExpressConnector) -> None:
    responses.get(
        f"{BASE}/tracking", status=404, json={"title": "Not Found", "status": "404", "detail": "none"}
    )
    with pytest.raises(CannotReconcile, match="no shipment under reference"):
        dhl.find_label(label_request())


# --------------------------------------------------------------------------- tracking


@responses.activate
def test_track_a_batch_in_one_call(dhl: DhlExpressConnector) -> None:
    responses.get(f"{BASE}/tracking", json=sample("tracking_response.json"))
    numbers = ["1234567890", *(f"99{i:08d}" for i in range(99))]
    (tracker,) = dhl.track(numbers)
    assert (tracker.tracking_number, tracker.status) == ("1234567890", "delivered")
    params = query(responses.calls[0])
    assert params["shipmentTrackingNumber"] == numbers
    assert params["trackingView"] == ["all-checkpoints"] and params["levelOfDetail"] == ["shipment"]


def test_more_than_a_batch_is_refused(dhl: DhlExpressConnector) -> None:
    with pytest.raises(ValueError, match="at most 100"):
        dhl.track([str(i) for i in range(101)])
    assert dhl.track([]) == []


@responses.activate
def test_a_404_means_no_number_is_known(dhl: DhlExpressConnector) -> None:
    responses.get(f"{BASE}/tracking", status=404, json={"title": "Not Found", "status": "404"})
    assert dhl.track(["1", "2"]) == []


@responses.activate
def test_tracking_is_retried_on_server_errors(dhl: DhlExpressConnector) -> None:
    responses.get(f"{BASE}/tracking", status=500, json={"title": "Internal Server Error", "status": "500"})
    responses.get(f"{BASE}/tracking", json=sample("tracking_response.json"))
    assert len(dhl.track(["1234567890"])) == 1


@responses.activate
def test_no_quote_for_a_shipment_dhl_would_not_label(dhl: DhlExpressConnector) -> None:
    """DHL's shipment API refuses a party without a phone: the shop reports it, no quote is offered."""
    import dataclasses

    from hub.shipping.errors import ShippingError

    request = rate_request()
    no_phone = dataclasses.replace(request, ship_to=dataclasses.replace(request.ship_to, phone=None))
    with pytest.raises(ShippingError, match="phone number for the recipient"):
        dhl.rates(no_phone)
    assert len(responses.calls) == 0
