"""The UPS connector against `responses`: the token (cached, fetched once by 50 threads, a 401
refreshes once), rates, labels, voids, tracking one number a call, Label Recovery, Track
Alert subscriptions and deliveries, UPS's error bodies, and no secret in the call log."""

from __future__ import annotations

import base64
import json
import threading
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import responses
from responses import matchers

from connectors.ups import UpsConnector, webhooks
from connectors.ups.client import UpsError
from hub.carriers import CannotReconcile
from hub.connectors import Capability, ConnectionContext
from hub.http import CallRecord, HttpClient, HttpError
from hub.oauth import TokenCache
from hub.shipping.model import Address, Label, LabelRequest, Parcel, RateRequest
from tests.contracts import FIXTURES

HOST = "https://wwwcie.ups.com"
TOKEN_URL = HOST + "/security/v1/oauth/token"
CLIENT_ID, CLIENT_SECRET, ACCOUNT = "ups-client-id-123", "ups-client-secret-456", "A1B2C3"
BASIC = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
HOOK_URL = "https://hub.test/webhooks/ups/k3y"
SAMPLES = FIXTURES / "carriers" / "ups"
FROM = Address("Ann", "1 Main St", "Timonium", "21093", "US", region="MD")
TO = Address("Bob", "2 Elm St", "Atlanta", "30301", "US", region="GA")
SHIPMENT = RateRequest(FROM, TO, (Parcel(1500, 300, 200, 100),), ship_date=date(2026, 12, 7))
CREDENTIALS = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "account_number": ACCOUNT}


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def connector(**settings: Any) -> tuple[UpsConnector, list[CallRecord]]:
    settings = {"environment": "sandbox", **settings}
    calls: list[CallRecord] = []
    http = HttpClient(
        UpsConnector.base_url(CREDENTIALS, settings),
        secrets=UpsConnector.secret_values(CREDENTIALS),
        sink=calls.append,
        max_attempts=3,
        backoff_base=0.001,
        backoff_max=0.01,
    )
    ctx = ConnectionContext(None, dict(CREDENTIALS), settings, http, HOOK_URL, {"token_cache": TokenCache()})
    return UpsConnector(ctx), calls


def token(value: str = "tok-1", expires_in: str = "14399") -> dict[str, Any]:
    return sample("oauth_token_response.json") | {"access_token": value, "expires_in": expires_in}


def add_token(*values: str) -> responses.BaseResponse:
    last = None
    for value in values or ("tok-1",):
        last = responses.post(
            TOKEN_URL,
            json=token(value),
            match=[
                matchers.header_matcher({"Authorization": f"Basic {BASIC}", "x-merchant-id": ACCOUNT}),
                matchers.urlencoded_params_matcher({"grant_type": "client_credentials"}),
            ],
        )
    assert last is not None
    return last


def bearer(value: str) -> Any:
    return matchers.header_matcher({"Authorization": f"Bearer {value}"})


# -- declaration --------------------------------------------------------------------------------


def test_declaration() -> None:
    assert Capability.TRACKING_WEBHOOK in UpsConnector.capabilities
    assert UpsConnector.track_batch_size == 1
    assert UpsConnector.label_formats[0] == "GIF" and "PDF" not in UpsConnector.label_formats
    assert UpsConnector.tracking_url_template.format(number="1Z9") == (
        "https://www.ups.com/track?loc=en_US&tracknum=1Z9"
    )
    assert UpsConnector.base_url({}, {"environment": "production"}) == "https://onlinetools.ups.com"
    assert UpsConnector.base_url({}, {"environment": "sandbox"}) == HOST
    assert UpsConnector.base_url({}, {"url": "http://127.0.0.1:5100/"}) == "http://127.0.0.1:5100"
    secret_fields = {f.name for f in UpsConnector.fields if f.secret}
    assert {"client_id", "client_secret", "webhook_credential"} <= secret_fields


# -- token -----------------------------------------------------------------------------------------


@responses.activate
def test_the_token_is_fetched_once_and_reused() -> None:
    grant = add_token("tok-1")
    responses.get(
        f"{HOST}/api/track/v1/details/1ZA",
        json=sample("track_response_delivered.json"),
        match=[bearer("tok-1")],
    )
    ups, _ = connector()
    ups.track(["1ZA"])
    ups.track(["1ZA"])
    assert grant.call_count == 1


@responses.activate
def test_fifty_threads_cause_one_token_request() -> None:
    grant = add_token("tok-1")
    responses.post(
        f"{HOST}/api/rating/v2409/Shoptimeintransit",
        json=sample("rate_response_simple_ground.json"),
        match=[bearer("tok-1")],
    )
    ups, _ = connector()
    start = threading.Barrier(50)
    errors: list[BaseException] = []

    def shop() -> None:
        start.wait()
        try:
            ups.rates(SHIPMENT)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=shop) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert grant.call_count == 1


@responses.activate
def test_a_401_refreshes_the_token_once_and_retries_once() -> None:
    add_token("tok-old", "tok-new")
    url = f"{HOST}/api/track/v1/details/1ZA"
    expired = {"response": {"errors": [{"code": "250002", "message": "Invalid Authentication Information."}]}}
    refused = responses.get(url, status=401, json=expired, match=[bearer("tok-old")])
    accepted = responses.get(url, json=sample("track_response_delivered.json"), match=[bearer("tok-new")])
    ups, _ = connector()
    assert ups.track(["1ZA"])[0].status == "delivered"
    assert (refused.call_count, accepted.call_count) == (1, 1)


@responses.activate
def test_a_second_401_is_an_error_naming_the_code() -> None:
    add_token("tok-a", "tok-b")
    body = {"response": {"errors": [{"code": "250002", "message": "Invalid Authentication Information."}]}}
    responses.get(f"{HOST}/api/track/v1/details/1ZA", status=401, json=body)
    ups, _ = connector()
    with pytest.raises(UpsError, match="250002 Invalid Authentication Information") as info:
        ups.track(["1ZA"])
    assert info.value.status == 401
    assert len([c for c in responses.calls if c.request.url == TOKEN_URL]) == 2


@responses.activate
def test_bad_client_credentials_fail_the_connection_test_clearly() -> None:
    responses.post(
        TOKEN_URL,
        status=401,
        json={"response": {"errors": [{"code": "10401", "message": "ClientId is Invalid"}]}},
    )
    ups, _ = connector()
    result = ups.test_connection()
    assert not result.ok
    assert "10401 ClientId is Invalid" in result.message
    assert CLIENT_SECRET not in result.message and BASIC not in result.message


@responses.activate
def test_connection_test_succeeds_with_a_token() -> None:
    add_token()
    ups, _ = connector()
    assert ups.test_connection().ok


# -- rates ---------------------------------------------------------------------------------------


@responses.activate
def test_rates_shop_every_service_with_time_in_transit() -> None:
    add_token()
    rated = responses.post(
        f"{HOST}/api/rating/v2409/Shoptimeintransit",
        json=sample("rate_response_shoptimeintransit_negotiated.json"),
        match=[matchers.header_matcher({"transactionSrc": "hub"})],
    )
    ups, _ = connector()
    quotes = ups.rates(SHIPMENT)
    sent = json.loads(rated.calls[0].request.body)["RateRequest"]
    assert sent["Request"]["RequestOption"] == "Shoptimeintransit"
    assert sent["Shipment"]["Shipper"]["ShipperNumber"] == ACCOUNT
    assert len(rated.calls[0].request.headers["transId"]) <= 32
    assert [q.service_code for q in quotes] == ["14", "01", "13", "02", "11"]
    assert quotes[0].amount == Decimal("321.03") and quotes[0].list_amount == Decimal("330.92")
    assert quotes[0].service_name == "UPS Next Day Air Early"  # names by the US origin asked


@responses.activate
def test_rating_is_retried_after_a_server_error() -> None:
    add_token()
    url = f"{HOST}/api/rating/v2409/Shoptimeintransit"
    responses.post(url, status=503)
    responses.post(url, json=sample("rate_response_simple_ground.json"))
    ups, _ = connector()
    assert [q.service_code for q in ups.rates(SHIPMENT)] == ["03"]


@responses.activate
def test_rating_refusal_names_ups_code_and_message() -> None:
    add_token()
    body = {
        "response": {"errors": [{"code": "111285", "message": "The postal code 99999 is invalid for GA."}]}
    }
    responses.post(f"{HOST}/api/rating/v2409/Shoptimeintransit", status=400, json=body)
    ups, _ = connector()
    with pytest.raises(UpsError, match=r"UPS rating failed \(HTTP 400\): 111285 The postal code") as info:
        ups.rates(SHIPMENT)
    assert info.value.codes == {"111285"}


@responses.activate
def test_negotiated_rates_can_be_turned_off() -> None:
    add_token()
    rated = responses.post(
        f"{HOST}/api/rating/v2409/Shoptimeintransit", json=sample("rate_response_simple_ground.json")
    )
    ups, _ = connector(negotiated_rates=False)
    ups.rates(SHIPMENT)
    assert "ShipmentRatingOptions" not in json.loads(rated.calls[0].request.body)["RateRequest"]["Shipment"]


# -- labels -----------------------------------------------------------------------------------------

LABEL_REQUEST = LabelRequest(SHIPMENT, "03", "hub-key-42", "GIF")


@responses.activate
def test_buy_label() -> None:
    add_token()
    shipped = responses.post(f"{HOST}/api/shipments/v2409/ship", json=sample("ship_response_with_label.json"))
    ups, _ = connector()
    label = ups.buy_label(LABEL_REQUEST)
    assert label.tracking_number == "1ZXXXXXXXXXXXXXXXX"
    assert label.label_data.startswith(b"\x89PNG")
    sent = json.loads(shipped.calls[0].request.body)["ShipmentRequest"]
    assert sent["Shipment"]["Package"][0]["ReferenceNumber"] == {"Value": "hub-key-42"}
    assert sent["LabelSpecification"]["LabelImageFormat"] == {"Code": "GIF"}


@responses.activate
def test_a_purchase_is_never_retried_after_a_server_error() -> None:
    add_token()
    shipped = responses.post(f"{HOST}/api/shipments/v2409/ship", status=500)
    ups, _ = connector()
    with pytest.raises(HttpError):
        ups.buy_label(LABEL_REQUEST)
    assert shipped.call_count == 1


@responses.activate
def test_find_label_recovers_it_by_the_reference() -> None:
    add_token()
    image = base64.b64encode(b"GIF89a-label").decode()
    answer = {
        "LabelRecoveryResponse": {
            "Response": {"ResponseStatus": {"Code": "1"}},
            "ShipmentIdentificationNumber": "1ZA1B2C30300000011",
            "LabelResults": {
                "TrackingNumber": "1ZA1B2C30300000011",
                "LabelImage": {"LabelImageFormat": {"Code": "GIF"}, "GraphicImage": image},
            },
        }
    }
    recovery = responses.post(f"{HOST}/api/labels/v1/recovery", json=answer)
    ups, _ = connector()
    label = ups.find_label(LABEL_REQUEST)
    assert (label.tracking_number, label.label_data) == ("1ZA1B2C30300000011", b"GIF89a-label")
    values = json.loads(recovery.calls[0].request.body)["LabelRecoveryRequest"]["ReferenceValues"]
    assert values == {"ReferenceNumber": {"Value": "hub-key-42"}, "ShipperNumber": ACCOUNT}


@responses.activate
def test_find_label_cannot_prove_there_is_none() -> None:
    add_token()
    body = {"response": {"errors": [{"code": "120541", "message": "No label found"}]}}
    responses.post(f"{HOST}/api/labels/v1/recovery", status=400, json=body)
    ups, _ = connector()
    with pytest.raises(CannotReconcile, match="hub-key-42"):
        ups.find_label(LABEL_REQUEST)


@responses.activate
def test_void() -> None:
    add_token()
    voided = responses.delete(
        f"{HOST}/api/shipments/v2409/void/cancel/1ZXXXXXXXXXXXXXXXX", json=sample("void_response.json")
    )
    ups, _ = connector()
    assert ups.void_label(Label("1ZXXXXXXXXXXXXXXXX", "GIF", b"", carrier_ref="1zxxxxxxxxxxxxxxxx"))
    assert voided.call_count == 1


@responses.activate
def test_a_refused_void_is_false() -> None:
    add_token()
    body = {"response": {"errors": [{"code": "190117", "message": "Void period has expired"}]}}
    responses.delete(f"{HOST}/api/shipments/v2409/void/cancel/1ZA", status=400, json=body)
    ups, _ = connector()
    assert ups.void_label(Label("1ZA", "GIF", b"", carrier_ref="1ZA")) is False


# -- tracking ---------------------------------------------------------------------------------------


@responses.activate
def test_track_one_number_a_call_and_leave_unknown_ones_out() -> None:
    add_token()
    known = responses.get(
        f"{HOST}/api/track/v1/details/1Z1442YY7229014688",
        json=sample("track_response_delivered.json"),
        match=[matchers.query_param_matcher({"locale": "en_US", "returnSignature": "false",
                                             "returnMilestones": "false", "returnPOD": "false"})],
    )  # fmt: skip
    warned = {"trackResponse": {"shipment": [{"inquiryNumber": "1ZNONE", "warnings": [{"code": "TW0001"}]}]}}
    responses.get(f"{HOST}/api/track/v1/details/1ZNONE", json=warned)
    responses.get(
        f"{HOST}/api/track/v1/details/BAD", status=400, json=sample("error_response_invalid_inquiry.json")
    )
    ups, _ = connector()
    assert [t.status for t in ups.track(["1Z1442YY7229014688"])] == ["delivered"]
    assert ups.track(["1ZNONE"]) == []
    assert ups.track(["BAD"]) == []
    assert known.call_count == 1
    with pytest.raises(ValueError, match="1 number a call"):
        ups.track(["1ZA", "1ZB"])


# -- Track Alert ---------------------------------------------------------------------------------


@responses.activate
def test_subscribe_sends_the_webhook_url_and_credential_in_hundreds() -> None:
    add_token()
    url = f"{HOST}/api/track/v1/subscription/standard/package"
    numbers = [f"1ZA1B2C303{i:08d}" for i in range(150)]

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        sent = json.loads(request.body)
        return 200, {}, json.dumps({"validTrackingNumbers": sent["trackingNumberList"]})

    responses.add_callback(responses.POST, url, callback=answer)
    ups, _ = connector()
    accepted = ups.subscribe_tracking([*numbers, "not-a-1z", numbers[0]])
    assert accepted == numbers
    bodies = [json.loads(c.request.body) for c in responses.calls if c.request.url == url]
    assert [len(b["trackingNumberList"]) for b in bodies] == [100, 50]
    destination = bodies[0]["destination"]
    assert destination["url"] == HOOK_URL and destination["credentialType"] == "Bearer"
    assert destination["credential"] == webhooks.credential_for(CREDENTIALS)
    assert all(c.request.headers.get("transactionSrc") for c in responses.calls if c.request.url == url)


def test_webhook_credential_is_checked_in_constant_time_and_case_blind() -> None:
    body = (SAMPLES / "trackalert_webhook_delivered.json").read_bytes()
    good = webhooks.credential_for(CREDENTIALS)
    assert UpsConnector.verify_webhook(CREDENTIALS, {"Credential": good}, body)
    assert not UpsConnector.verify_webhook(CREDENTIALS, {"credential": good[:-1] + "0"}, body)
    assert not UpsConnector.verify_webhook(CREDENTIALS, {}, body)
    explicit = CREDENTIALS | {"webhook_credential": "merchant-set-credential"}
    assert UpsConnector.verify_webhook(explicit, {"credential": "merchant-set-credential"}, body)
    assert not UpsConnector.verify_webhook(explicit, {"credential": good}, body)
    assert not UpsConnector.verify_webhook({}, {"credential": ""}, body)


def test_webhook_delivery_key_is_the_event_not_the_bytes() -> None:
    event = sample("trackalert_webhook_delivered.json")
    one = UpsConnector.webhook_delivery({}, json.dumps(event).encode())
    again = UpsConnector.webhook_delivery({}, json.dumps(event, indent=2).encode())
    later = UpsConnector.webhook_delivery({}, json.dumps(event | {"gmtActivityTime": "140000"}).encode())
    assert one.key == again.key != later.key
    assert one.ignore is None
    assert UpsConnector.webhook_delivery({}, b"not json").ignore


def test_trackers_from_webhook() -> None:
    ups, _ = connector()
    trackers = ups.trackers_from_webhook(sample("trackalert_webhook_out_for_delivery.json"))
    assert [(t.tracking_number, t.status) for t in trackers] == [("1Z204W4R0308071865", "out_for_delivery")]


# -- secrets --------------------------------------------------------------------------------------


@responses.activate
def test_no_secret_reaches_the_call_log() -> None:
    add_token("secret-bearer-token-value")
    body = {
        "response": {"errors": [{"code": "X", "message": f"echo {CLIENT_SECRET} secret-bearer-token-value"}]}
    }
    responses.get(f"{HOST}/api/track/v1/details/1ZA", status=500, json=body)
    ups, calls = connector()
    with pytest.raises(UpsError) as info:
        ups.track(["1ZA"])
    logged = " ".join(f"{c.url} {c.error}" for c in calls)
    for secret in (CLIENT_ID, CLIENT_SECRET, BASIC, "secret-bearer-token-value"):
        assert secret not in logged
        assert secret not in str(info.value)
    assert any(c.url == TOKEN_URL for c in calls)
