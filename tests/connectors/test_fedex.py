"""The FedEx connector against ``responses``: OAuth tokens (cached, fetched once for many
threads, refreshed once on a 401), rates, labels, voids, tracking batches, FedEx error
bodies, gzip without a header, and no secret in the call log."""

from __future__ import annotations

import gzip
import json
import threading
import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import pytest
import responses
from responses import matchers

from connectors.fedex import FedexConnector
from connectors.fedex.client import FedexError
from hub.carriers import CannotReconcile
from hub.connectors import ConnectionContext, FieldError, validate_values
from hub.http import CallRecord, HttpClient
from hub.shipping.model import Address, Label, LabelRequest, Parcel, RateRequest
from tests.contracts import FIXTURES

BASE = "https://apis-sandbox.fedex.com"
SAMPLES = FIXTURES / "carriers" / "fedex"
SHIPMENT = RateRequest(
    Address("Ann", "1 Main St", "Memphis", "38118", "US", region="TN", phone="9015550100"),
    Address("Bob", "2 Oak Ave", "Austin", "78701", "US", region="TX", phone="5125550100"),
    (Parcel(1000),),
)


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


class Built:
    def __init__(self, **extra: Any) -> None:
        # fresh keys per test: the token cache is process-wide
        self.api_key, self.secret = f"l7-{uuid.uuid4().hex}", f"sec-{uuid.uuid4().hex}"
        values = validate_values(
            FedexConnector.fields,
            {
                "api_key": self.api_key,
                "secret_key": self.secret,
                "account_number": "740561073",
                "environment": "sandbox",
            }
            | extra,
        )
        creds = {
            k: values.pop(k)
            for k in list(values)
            if k in ("api_key", "secret_key", "track_api_key", "track_secret_key")
        }
        self.records: list[CallRecord] = []
        http = HttpClient(
            FedexConnector.base_url(creds, values),
            sink=self.records.append,
            secrets=FedexConnector.secret_values(creds),
            backoff_base=0.001,
            backoff_max=0.01,
        )
        self.connector = FedexConnector(ConnectionContext(None, creds, values, http))


def token_callback(counter: list[int], token: str = "tok") -> Any:
    def callback(request: Any) -> tuple[int, dict[str, str], str]:
        counter.append(1)
        form = parse_qs(request.body)
        assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert form["grant_type"] == ["client_credentials"]
        return (
            200,
            {},
            json.dumps(
                {
                    "access_token": f"{token}-{len(counter)}",
                    "token_type": "bearer",
                    "expires_in": 3599,
                    "scope": "CXS-TP",
                }
            ),
        )

    return callback


@pytest.fixture
def rsps() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_fields_and_environments() -> None:
    assert FedexConnector.base_url({}, {"environment": "production"}) == "https://apis.fedex.com"
    assert FedexConnector.base_url({}, {"environment": "sandbox"}) == BASE
    assert (
        FedexConnector.base_url({}, {"environment": "sandbox", "url": "http://127.0.0.1:5/"})
        == "http://127.0.0.1:5"
    )
    with pytest.raises(FieldError) as caught:
        validate_values(FedexConnector.fields, {"api_key": "k", "secret_key": "s", "account_number": "12"})
    assert "account_number" in caught.value.errors
    assert {s.name for s in FedexConnector.fields if s.secret} >= {
        "api_key",
        "secret_key",
        "track_secret_key",
    }
    assert FedexConnector.track_batch_size == 30
    assert (
        FedexConnector.tracking_url_template.format(number="1")
        == "https://www.fedex.com/fedextrack/?trknbr=1"
    )


def test_token_is_fetched_once_and_cached(rsps: Any) -> None:
    built, tokens = Built(), []
    rsps.add_callback(responses.POST, f"{BASE}/oauth/token", callback=token_callback(tokens))
    rsps.add(
        responses.POST,
        f"{BASE}/rate/v1/rates/quotes",
        json=sample("rate_response_sandbox_ca_domestic.json"),
        match=[matchers.header_matcher({"Authorization": "Bearer tok-1"})],
    )
    built.connector.rates(SHIPMENT)
    built.connector.rates(SHIPMENT)
    assert len(tokens) == 1


def test_fifty_threads_cause_one_token_request(rsps: Any) -> None:
    built, tokens = Built(), []
    rsps.add_callback(responses.POST, f"{BASE}/oauth/token", callback=token_callback(tokens))
    rsps.add(
        responses.POST, f"{BASE}/rate/v1/rates/quotes", json=sample("rate_response_sandbox_ca_domestic.json")
    )
    barrier = threading.Barrier(50)
    failures: list[BaseException] = []

    def work() -> None:
        barrier.wait()
        try:
            built.connector.rates(SHIPMENT)
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert len(tokens) == 1
    assert sum(1 for r in built.records if r.url.endswith("/rate/v1/rates/quotes")) == 50


def test_a_401_refreshes_the_token_once_and_retries(rsps: Any) -> None:
    built, tokens = Built(), []
    rsps.add_callback(responses.POST, f"{BASE}/oauth/token", callback=token_callback(tokens))
    expired = sample("error_responses_rate_api.json")["401"]
    rsps.add(
        responses.POST,
        f"{BASE}/rate/v1/rates/quotes",
        json=expired,
        status=401,
        match=[matchers.header_matcher({"Authorization": "Bearer tok-1"})],
    )
    rsps.add(
        responses.POST,
        f"{BASE}/rate/v1/rates/quotes",
        json=sample("rate_response_sandbox_ca_domestic.json"),
        match=[matchers.header_matcher({"Authorization": "Bearer tok-2"})],
    )
    assert len(built.connector.rates(SHIPMENT)) == 1
    assert len(tokens) == 2


def test_a_second_401_is_a_clear_error(rsps: Any) -> None:
    built, tokens = Built(), []
    rsps.add_callback(responses.POST, f"{BASE}/oauth/token", callback=token_callback(tokens))
    rsps.add(
        responses.POST,
        f"{BASE}/rate/v1/rates/quotes",
        json=sample("error_responses_rate_api.json")["401"],
        status=401,
    )
    with pytest.raises(FedexError, match=r"refused \(401\): NOT.AUTHORIZED.ERROR: Access token expired"):
        built.connector.rates(SHIPMENT)
    assert len(tokens) == 2


def test_bad_keys_fail_the_connection_test(rsps: Any) -> None:
    built = Built()
    body = {
        "transactionId": "x",
        "errors": [
            {"code": "NOT.AUTHORIZED.ERROR", "message": "The given client credentials were not valid."}
        ],
    }
    rsps.add(responses.POST, f"{BASE}/oauth/token", json=body, status=401)
    result = built.connector.test_connection()
    assert not result.ok and "NOT.AUTHORIZED.ERROR" in result.message


def test_rates_request_and_quotes(rsps: Any) -> None:
    built, tokens = Built(), []
    rsps.add_callback(responses.POST, f"{BASE}/oauth/token", callback=token_callback(tokens))
    rsps.add(
        responses.POST,
        f"{BASE}/rate/v1/rates/quotes",
        json=sample("rate_response_sandbox_intl_multi_service.json"),
    )
    quotes = built.connector.rates(SHIPMENT)
    assert len(quotes) == 6 and quotes[2].currency == "CAD"
    sent = json.loads(rsps.calls[-1].request.body)
    assert sent["accountNumber"] == {"value": "740561073"}
    assert sent["requestedShipment"]["pickupType"] == "DROPOFF_AT_FEDEX_LOCATION"


def test_rate_errors_carry_fedex_codes_and_503_is_retried(rsps: Any) -> None:
    built = Built()
    rsps.add_callback(responses.POST, f"{BASE}/oauth/token", callback=token_callback([]))
    errors = sample("error_responses_rate_api.json")
    rsps.add(responses.POST, f"{BASE}/rate/v1/rates/quotes", json=errors["503"], status=503)
    rsps.add(responses.POST, f"{BASE}/rate/v1/rates/quotes", json=errors["400"], status=400)
    with pytest.raises(FedexError) as caught:
        built.connector.rates(SHIPMENT)
    assert caught.value.status == 400 and caught.value.codes == ("ACCOUNT.NUMBER.MISMATCH",)
    assert "ShippingChargesPayment Payor AccountNumber" in str(caught.value)


def test_buy_label_sends_the_key_and_is_never_retried(rsps: Any) -> None:
    built = Built(label_format="PDF")
    rsps.add_callback(responses.POST, f"{BASE}/oauth/token", callback=token_callback([]))
    rsps.add(
        responses.POST,
        f"{BASE}/ship/v1/shipments",
        json=sample("ship_response_doc_example.json"),
        match=[matchers.header_matcher({"x-customer-transaction-id": "idem-42"})],
    )
    label = built.connector.buy_label(LabelRequest(SHIPMENT, "FEDEX_GROUND", "idem-42"))
    assert label.tracking_number == "794953535000" and label.label_data.startswith(b"%PDF")
    rsps.replace(
        responses.POST,
        f"{BASE}/ship/v1/shipments",
        json=sample("error_responses_rate_api.json")["503"],
        status=503,
    )
    with pytest.raises(FedexError, match=r"SERVICE.UNAVAILABLE.ERROR"):
        built.connector.buy_label(LabelRequest(SHIPMENT, "FEDEX_GROUND", "idem-43"))
    assert (
        sum(1 for c in rsps.calls if c.request.url.endswith("/ship/v1/shipments")) == 2
    )  # one each, no retry


def test_find_label_cannot_reconcile() -> None:
    with pytest.raises(CannotReconcile):
        Built().connector.find_label(LabelRequest(SHIPMENT, "FEDEX_GROUND", "idem-1"))


def test_void(rsps: Any) -> None:
    built = Built()
    rsps.add_callback(responses.POST, f"{BASE}/oauth/token", callback=token_callback([]))
    rsps.add(responses.PUT, f"{BASE}/ship/v1/shipments/cancel", json=sample("cancel_response.json"))
    label = Label("794953555571", "PDF", b"%PDF", carrier_ref="794953555571")
    assert built.connector.void_label(label) is True
    assert json.loads(rsps.calls[-1].request.body)["trackingNumber"] == "794953555571"


def _track_answer(request: Any) -> tuple[int, dict[str, str], str]:
    numbers = [i["trackingNumberInfo"]["trackingNumber"] for i in json.loads(request.body)["trackingInfo"]]
    assert len(numbers) <= 30
    results = [
        {
            "trackingNumber": n,
            "trackResults": [
                {"scanEvents": [{"date": "2024-05-01T10:00:00-05:00", "eventType": "PU"}]}
                if n.endswith("1")
                else {"error": {"code": "TRACKING.TRACKINGNUMBER.NOTFOUND", "message": "not found"}}
            ],
        }
        for n in numbers
    ]
    return 200, {}, json.dumps({"output": {"completeTrackResults": results}})


def test_track_in_batches_of_thirty_leaves_unknown_numbers_out(
    rsps: Any, caplog: pytest.LogCaptureFixture
) -> None:
    built = Built()
    rsps.add_callback(responses.POST, f"{BASE}/oauth/token", callback=token_callback([]))
    rsps.add_callback(responses.POST, f"{BASE}/track/v1/trackingnumbers", callback=_track_answer)
    numbers = [f"79490000{i:04d}" for i in range(65)]
    trackers = built.connector.track(numbers)
    batches = [
        len(json.loads(c.request.body)["trackingInfo"]) for c in rsps.calls if "track" in c.request.url
    ]
    assert batches == [30, 30, 5]
    assert [t.tracking_number for t in trackers] == [n for n in numbers if n.endswith("1")]
    assert all(t.status == "picked_up" for t in trackers)
    assert "TRACKING.TRACKINGNUMBER.NOTFOUND" in caplog.text


def test_tracking_keys_of_a_separate_project(rsps: Any) -> None:
    built = Built(track_api_key="track-key-0001", track_secret_key="track-secret-0001")
    tokens: list[int] = []
    rsps.add_callback(responses.POST, f"{BASE}/oauth/token", callback=token_callback(tokens))
    rsps.add_callback(responses.POST, f"{BASE}/track/v1/trackingnumbers", callback=_track_answer)
    rsps.add(
        responses.POST, f"{BASE}/rate/v1/rates/quotes", json=sample("rate_response_sandbox_ca_domestic.json")
    )
    built.connector.track(["1"])
    built.connector.rates(SHIPMENT)
    forms = [parse_qs(c.request.body) for c in rsps.calls if c.request.url.endswith("/oauth/token")]
    assert [f["client_id"] for f in forms] == [["track-key-0001"], [built.api_key]]


def test_gzip_without_a_header_is_decoded(rsps: Any) -> None:
    built = Built()
    rsps.add_callback(responses.POST, f"{BASE}/oauth/token", callback=token_callback([]))
    packed = gzip.compress(json.dumps(sample("rate_response_sandbox_ca_domestic.json")).encode())
    rsps.add(responses.POST, f"{BASE}/rate/v1/rates/quotes", body=packed, content_type="application/json")
    (quote,) = built.connector.rates(SHIPMENT)
    assert quote.amount == Decimal("38.54")


def test_secrets_never_reach_the_call_log(rsps: Any) -> None:
    built = Built()
    rsps.add_callback(
        responses.POST,
        f"{BASE}/oauth/token",
        callback=token_callback([], token=f"secret-token-{uuid.uuid4().hex}"),
    )
    leak = {"errors": [{"code": "X", "message": f"echo {built.api_key} {built.secret}"}]}
    rsps.add(responses.POST, f"{BASE}/rate/v1/rates/quotes", json=leak, status=400)
    with pytest.raises(FedexError) as caught:
        built.connector.rates(SHIPMENT)
    token = built.connector.client.token()
    logged = " ".join(f"{r.url} {r.error}" for r in built.records) + str(caught.value)
    assert built.records and "echo" in logged
    for secret in (built.api_key, built.secret, token):
        assert secret not in logged
