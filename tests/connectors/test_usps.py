"""USPS connector against ``responses``: tokens (cached, fetched once by 50 threads, refreshed on a
401), the payment authorization token, rates, labels with idempotency keys, the label lookup,
voids, tracking one number per call, readable errors, quotas, and secrets kept out of the call log."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import responses
import tenacity
from responses import matchers

from connectors.usps import UspsConnector
from connectors.usps.client import UspsAuthError, UspsError
from hub.carriers import CannotReconcile, LabelNotFound
from hub.connectors import ConnectionContext, validate_values
from hub.http import CallRecord, HttpClient
from hub.oauth import TokenCache
from hub.shipping.errors import ShippingError
from hub.shipping.model import Address, Label, LabelRequest, Parcel, RateRequest
from tests.contracts import FIXTURES

BASE = "https://apis-tem.usps.com"
SAMPLES = FIXTURES / "carriers" / "usps"
SECRET = "consumer-secret-7f3a9c"
VALUES = {
    "client_id": "consumer-key-123",
    "client_secret": SECRET,
    "crid": "56982563",
    "mid": "903123456",
    "eps_account": "1000123456",
    "environment": "sandbox",
    "hourly_quota": 100_000,
}
FROM = Address("Sam Wilson", "45 L St SW", "Washington", "20024", "US", region="DC")
TO = Address("Nick Fury", "2700 S Jefferson Ave", "St. Louis", "63104", "US", region="MO")
SHIPMENT = RateRequest(FROM, TO, (Parcel(1000, 300, 200, 100),))
MULTIPART = "multipart/form-data; boundary=r6-fpGYWbdZmd9w5-850fEfX"


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(tenacity.nap, "sleep", slept.append)
    return slept


@pytest.fixture
def records() -> list[CallRecord]:
    return []


@pytest.fixture
def cache() -> TokenCache:
    return TokenCache()


@pytest.fixture
def usps(records: list[CallRecord], cache: TokenCache, monkeypatch: pytest.MonkeyPatch) -> UspsConnector:
    monkeypatch.setattr("connectors.usps.client.TOKENS", cache)
    values = validate_values(UspsConnector.fields, VALUES)
    credentials = {
        s.name: values[s.name] for s in UspsConnector.fields if s.group == "credentials" and s.name in values
    }
    settings = {k: v for k, v in values.items() if k not in credentials}
    http = HttpClient(
        UspsConnector.base_url(credentials, settings),
        sink=records.append,
        secrets=UspsConnector.secret_values(credentials),
        max_attempts=3,
    )
    return UspsConnector(ConnectionContext(1, credentials, settings, http))


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def token(api: responses.RequestsMock, value: str = "access-token-1") -> responses.BaseResponse:
    return api.post(
        f"{BASE}/oauth2/v3/token",
        json={"access_token": value, "token_type": "Bearer", "expires_in": 28799, "status": "approved"},
    )


def payment(api: responses.RequestsMock) -> responses.BaseResponse:
    return api.post(
        f"{BASE}/payments/v3/payment-authorization", json={"paymentAuthorizationToken": "pay-token-1"}
    )


def options(api: responses.RequestsMock) -> responses.BaseResponse:
    body = json.loads((SAMPLES / "shipping_options_search_response.json").read_text())
    return api.post(f"{BASE}/shipments/v3/options/search", json=body)


def label_request(key: str = "shipment-7-label") -> LabelRequest:
    return LabelRequest(SHIPMENT, "USPS_GROUND_ADVANTAGE", key, carrier_ref="SP|MACHINABLE")


def multipart_label(
    api: responses.RequestsMock, path: str = "/labels/v3/label", **kw: Any
) -> responses.BaseResponse:
    body = (SAMPLES / "label_response_multipart.txt").read_bytes()
    return api.post(f"{BASE}{path}", body=body, content_type=MULTIPART, **kw)


def usps_error(status: int, detail: str) -> dict[str, Any]:
    return {
        "apiVersion": "/labels/v3",
        "error": {
            "code": str(status),
            "message": "Bad Request",
            "errors": [
                {
                    "title": "Bad Request",
                    "detail": detail,
                    "code": "00000XX",
                    "source": {"parameter": "trackingNumber"},
                }
            ],
        },
    }


# -------------------------------------------------------------------- declaration


def test_fields_hosts_and_quota() -> None:
    assert UspsConnector.base_url({}, {"environment": "production"}) == "https://apis.usps.com"
    assert UspsConnector.base_url({}, {"environment": "sandbox"}) == BASE
    assert UspsConnector.base_url({}, {"url": "http://127.0.0.1:5105/"}) == "http://127.0.0.1:5105"
    assert UspsConnector.rate_limit({}) == (60.0, 60.0 / 3600)  # the default product: 60 an hour per API
    assert UspsConnector.tracking_url_template.format(number="9400") == (
        "https://tools.usps.com/go/TrackConfirmAction?tLabels=9400"
    )
    secret = next(f for f in UspsConnector.fields if f.name == "client_secret")
    assert secret.secret and secret.group == "credentials"
    with pytest.raises(ValueError, match="mid"):
        validate_values(UspsConnector.fields, VALUES | {"mid": "12"})


# -------------------------------------------------------------------- tokens


def test_the_token_is_fetched_once_and_reused(usps: UspsConnector, api: responses.RequestsMock) -> None:
    fetch = token(api)
    options(api)
    usps.rates(SHIPMENT)
    usps.rates(SHIPMENT)
    assert fetch.call_count == 1
    sent = api.calls[0].request
    assert "grant_type=client_credentials" in sent.body and sent.headers["Content-Type"].startswith(
        "application/x-www-form-urlencoded"
    )
    assert api.calls[1].request.headers["Authorization"] == "Bearer access-token-1"


def test_fifty_threads_cause_one_token_request(usps: UspsConnector, api: responses.RequestsMock) -> None:
    fetch = token(api)
    search = options(api)
    barrier, errors = threading.Barrier(50), []

    def shop() -> None:
        barrier.wait()
        try:
            assert len(usps.rates(SHIPMENT)) == 5
        except Exception as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=shop) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert (fetch.call_count, search.call_count) == (1, 50)


def test_a_401_refreshes_the_token_and_retries_once(usps: UspsConnector, api: responses.RequestsMock) -> None:
    api.post(f"{BASE}/oauth2/v3/token", json={"access_token": "old", "expires_in": 28799})
    api.post(f"{BASE}/oauth2/v3/token", json={"access_token": "new", "expires_in": 28799})
    url = f"{BASE}/shipments/v3/options/search"
    api.post(
        url,
        status=401,
        json=usps_error(401, "expired"),
        match=[matchers.header_matcher({"Authorization": "Bearer old"})],
    )
    body = json.loads((SAMPLES / "shipping_options_search_response.json").read_text())
    api.post(url, json=body, match=[matchers.header_matcher({"Authorization": "Bearer new"})])
    assert len(usps.rates(SHIPMENT)) == 5
    assert [c.request.url.rsplit("/", 1)[-1] for c in api.calls] == ["token", "search", "token", "search"]


def test_refused_credentials_say_so(usps: UspsConnector, api: responses.RequestsMock) -> None:
    refused = json.loads((SAMPLES / "oauth_error_response.json").read_text())
    api.post(f"{BASE}/oauth2/v3/token", status=401, json=refused)
    with pytest.raises(UspsAuthError, match="invalid_client: Client authentication failed"):
        usps.rates(SHIPMENT)
    result = usps.test_connection()
    assert not result.ok and "invalid_client" in result.message


# -------------------------------------------------------------------- rates


def test_rates_send_one_package_every_outbound_class(
    usps: UspsConnector, api: responses.RequestsMock
) -> None:
    token(api)
    options(api)
    quotes = usps.rates(SHIPMENT)
    sent = json.loads(api.calls[1].request.body)
    assert sent["packageDescription"]["mailClass"] == "ALL_OUTBOUND"
    assert sent["pricingOptions"] == [
        {"priceType": "COMMERCIAL", "paymentAccount": {"accountType": "EPS", "accountNumber": "1000123456"}}
    ]
    assert [q.service_code for q in quotes][:2] == ["LIBRARY_MAIL", "PRIORITY_MAIL_EXPRESS"]


def test_shipments_usps_cannot_take_get_no_quotes_and_no_call(
    usps: UspsConnector, api: responses.RequestsMock
) -> None:
    abroad = Address("Ana Lopez", "Calle 1", "Madrid", "28001", "ES")
    assert usps.rates(RateRequest(FROM, abroad, SHIPMENT.parcels)) == []
    assert usps.rates(RateRequest(FROM, TO, SHIPMENT.parcels * 2)) == []
    assert len(api.calls) == 0


def test_a_429_is_honoured(usps: UspsConnector, api: responses.RequestsMock, no_sleep: list[float]) -> None:
    token(api)
    url = f"{BASE}/shipments/v3/options/search"
    api.post(url, status=429, headers={"Retry-After": "7"}, json=usps_error(429, "quota"))
    options(api)
    assert len(usps.rates(SHIPMENT)) == 5
    assert no_sleep == [7.0]
    assert usps.client.bucket("shipments") is not usps.client.bucket("tracking")  # one quota per API


def test_an_error_body_becomes_a_clear_error(usps: UspsConnector, api: responses.RequestsMock) -> None:
    token(api)
    api.post(f"{BASE}/shipments/v3/options/search", status=400, json=usps_error(400, "ZIP Code is not valid"))
    with pytest.raises(
        UspsError, match=r"USPS rates: 400 400 Bad Request; Bad Request ZIP Code is not valid"
    ):
        usps.rates(SHIPMENT)


# -------------------------------------------------------------------- labels


def test_a_label_is_bought_with_both_tokens_and_the_idempotency_key(
    usps: UspsConnector, api: responses.RequestsMock
) -> None:
    token(api)
    pay = payment(api)
    create = multipart_label(api)
    key = str(uuid.uuid4())
    label = usps.buy_label(label_request(key))
    assert label.tracking_number == "9234690361980900000142"
    assert label.label_data.startswith(b"%PDF")
    usps.buy_label(label_request(str(uuid.uuid4())))
    assert (pay.call_count, create.call_count) == (1, 2)  # the payment token is cached like a token
    roles = json.loads(pay.calls[0].request.body)["roles"]
    assert {r["roleName"] for r in roles} == {"PAYER", "LABEL_OWNER"}
    assert roles[1]["manifestMID"] == "903123456"
    sent = create.calls[0].request
    assert sent.headers["X-Idempotency-Key"] == key
    assert sent.headers["X-Payment-Authorization-Token"] == "pay-token-1"
    assert json.loads(sent.body)["packageDescription"]["mailClass"] == "USPS_GROUND_ADVANTAGE"


def test_a_lost_label_answer_is_asked_again_with_the_same_key(
    usps: UspsConnector, api: responses.RequestsMock
) -> None:
    token(api)
    payment(api)
    api.post(f"{BASE}/labels/v3/label", status=503, json=usps_error(503, "unavailable"))
    create = multipart_label(api)
    label = usps.buy_label(label_request())
    keys = {c.request.headers["X-Idempotency-Key"] for c in api.calls if c.request.url.endswith("/label")}
    assert len(keys) == 1 and uuid.UUID(keys.pop()).version == 5  # the hub's key, as the UUID USPS takes
    assert create.call_count == 1 and label.tracking_number == "9234690361980900000142"


def test_a_label_without_payment_account_or_with_two_packages_is_refused(
    usps: UspsConnector, api: responses.RequestsMock
) -> None:
    two = LabelRequest(RateRequest(FROM, TO, SHIPMENT.parcels * 2), "PRIORITY_MAIL", "k")
    with pytest.raises(ShippingError, match="one package at a time"):
        usps.buy_label(two)
    abroad = LabelRequest(
        RateRequest(FROM, Address("Ana", "C 1", "Madrid", "28001", "ES"), SHIPMENT.parcels), "X", "k"
    )
    with pytest.raises(ShippingError, match="domestic"):
        usps.buy_label(abroad)
    usps.client.roles = []
    with pytest.raises(ShippingError, match="CRID"):
        usps.buy_label(label_request())
    assert len(api.calls) == 0


def test_find_label_reprints_by_the_idempotency_key(usps: UspsConnector, api: responses.RequestsMock) -> None:
    token(api)
    payment(api)
    reprint = multipart_label(api, "/labels/v3/label-reprint")
    label = usps.find_label(label_request())
    assert label.tracking_number == "9234690361980900000142"
    assert reprint.calls[0].request.headers["X-Idempotency-Key"] == str(
        uuid.uuid5(uuid.UUID("7b3f6b0e-2f4c-5a51-9a35-3c0d8e8b5f21"), "shipment-7-label")
    )
    assert not any(c.request.url.endswith("/labels/v3/label") for c in api.calls)  # never buys


def test_find_label_not_found_and_cannot_say(usps: UspsConnector, api: responses.RequestsMock) -> None:
    token(api)
    payment(api)
    url = f"{BASE}/labels/v3/label-reprint"
    api.post(url, status=400, json=usps_error(400, "Order not found"))
    with pytest.raises(LabelNotFound):
        usps.find_label(label_request())
    api.replace(
        responses.POST, url, status=400, json=usps_error(400, "The label has reached its reprint limit.")
    )
    with pytest.raises(CannotReconcile, match="reprint limit"):
        usps.find_label(label_request())


def test_void_cancels_by_tracking_number(usps: UspsConnector, api: responses.RequestsMock) -> None:
    token(api)
    payment(api)
    cancel = api.delete(
        f"{BASE}/labels/v3/label/9234690361980900000142",
        json=json.loads((SAMPLES / "label_cancel_response.json").read_text()),
    )
    assert usps.void_label(
        Label("9234690361980900000142", "PDF", b"%PDF", carrier_ref="9234690361980900000142")
    )
    assert cancel.calls[0].request.headers["X-Payment-Authorization-Token"] == "pay-token-1"


# -------------------------------------------------------------------- tracking


def test_tracking_one_number_per_call_unknown_left_out(
    usps: UspsConnector, api: responses.RequestsMock
) -> None:
    token(api)
    detail = json.loads((SAMPLES / "tracking_response_detail.json").read_text())
    known = api.get(f"{BASE}/tracking/v3/tracking/9400109104250532908587", json=detail)
    api.get(
        f"{BASE}/tracking/v3/tracking/9400000000000000000000", status=404, json=usps_error(404, "not found")
    )
    with pytest.raises(ValueError, match="1 number per call"):
        usps.track(["9400109104250532908587", "9400000000000000000000"])
    [tracker] = usps.track(["9400109104250532908587"])
    assert tracker.status == "delivered"
    assert "expand=DETAIL" in known.calls[0].request.url
    assert usps.track(["9400000000000000000000"]) == []


# -------------------------------------------------------------------- secrets


def test_secrets_never_reach_the_call_log(
    usps: UspsConnector, api: responses.RequestsMock, records: list[CallRecord]
) -> None:
    token(api, "access-token-secret-value")
    payment(api)
    multipart_label(api)
    api.delete(
        f"{BASE}/labels/v3/label/9234690361980900000142", status=400, json=usps_error(400, f"bad {SECRET}")
    )
    usps.buy_label(label_request())
    with pytest.raises(UspsError) as info:
        usps.void_label(Label("9234690361980900000142", "PDF", b"x"))
    logged = " ".join(f"{r.url} {r.error}" for r in records) + str(info.value)
    assert records and SECRET not in logged and "pay-token-1" not in logged
    assert "access-token-secret-value" not in logged
    assert "***" in str(info.value)
