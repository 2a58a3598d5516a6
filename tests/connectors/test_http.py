"""HttpClient: joining, retries, Retry-After, masking, call records, hooks and pacing."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from unittest import mock

import pytest
import requests
import responses
import tenacity
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from hub.http import CallRecord, HttpClient, HttpError
from hub.ratelimit import TokenBucket

BASE = "https://shop.example/admin/api/2026-07/"
ORDERS = BASE + "orders.json"
REAL_SLEEP = tenacity.nap.sleep


@pytest.fixture(autouse=True)
def naps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retry waits are recorded instead of slept (the real-time test puts the real sleep back)."""
    slept: list[float] = []
    monkeypatch.setattr(tenacity.nap, "sleep", slept.append)
    return slept


@pytest.fixture
def records() -> list[CallRecord]:
    return []


@pytest.fixture
def client(records: list[CallRecord]) -> HttpClient:
    return HttpClient(BASE, connection_id=7, sink=records.append, max_attempts=3)


@pytest.mark.parametrize(
    ("base", "path"),
    [
        ("https://shop.example/admin/api/2026-07/", "orders.json"),
        ("https://shop.example/admin/api/2026-07", "orders.json"),
        ("https://shop.example/admin/api/2026-07/", "/orders.json"),
        ("https://shop.example/admin/api/2026-07", "/orders.json"),
    ],
)
@responses.activate
def test_paths_are_joined_to_the_base_url(base: str, path: str) -> None:
    responses.get(ORDERS, json={"orders": []})
    assert HttpClient(base).get(path).json() == {"orders": []}
    assert responses.calls[0].request.url == ORDERS


@responses.activate
def test_absolute_urls_are_used_verbatim(client: HttpClient) -> None:
    next_page = "https://shop.example/admin/api/2026-07/orders.json?page_info=abc&limit=50"
    responses.get(next_page, json={})
    client.get(next_page)
    assert responses.calls[0].request.url == next_page


@responses.activate
def test_429_waits_exactly_retry_after_then_succeeds(
    client: HttpClient, records: list[CallRecord], naps: list[float]
) -> None:
    responses.get(ORDERS, status=429, headers={"Retry-After": "2.5"})
    responses.get(ORDERS, json={"orders": []})
    assert client.get("orders.json").status_code == 200
    assert naps == [2.5]
    assert [(r.status, r.attempt) for r in records] == [(429, 1), (200, 2)]
    first = records[0]
    assert (first.connection_id, first.method, first.url) == (7, "GET", ORDERS)
    assert first.error == "429 Too Many Requests"
    assert records[1].error is None
    assert first.at.tzinfo is UTC
    assert first.at <= records[1].at


@responses.activate
def test_http_date_retry_after(client: HttpClient, naps: list[float]) -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    responses.get(ORDERS, status=503, headers={"Retry-After": format_datetime(when, usegmt=True)})
    responses.get(ORDERS, json={})
    client.get("orders.json")
    assert len(naps) == 1
    assert 28 <= naps[0] <= 30


@responses.activate
def test_retry_after_is_capped(records: list[CallRecord], naps: list[float]) -> None:
    responses.get(ORDERS, status=429, headers={"Retry-After": "86400"})
    responses.get(ORDERS, json={})
    HttpClient(BASE, max_retry_after=60).get("orders.json")
    assert naps == [60]


@responses.activate
def test_without_retry_after_backoff_is_jittered_exponential(naps: list[float]) -> None:
    responses.get(ORDERS, status=502)
    with pytest.raises(HttpError):
        HttpClient(BASE, max_attempts=4, backoff_base=0.5, backoff_max=1.5).get("orders.json")
    assert len(naps) == 3
    assert all(0 <= n <= cap for n, cap in zip(naps, [1.0, 1.5, 1.5], strict=True))


@responses.activate
def test_503_is_retried_for_get(client: HttpClient, records: list[CallRecord]) -> None:
    responses.get(ORDERS, status=503)
    responses.get(ORDERS, json={})
    assert client.get("orders.json").status_code == 200
    assert [r.status for r in records] == [503, 200]


@responses.activate
def test_503_is_not_retried_for_post(client: HttpClient, records: list[CallRecord]) -> None:
    responses.post(ORDERS, status=503, body="busy")
    responses.post(ORDERS, json={})
    with pytest.raises(HttpError) as err:
        client.post("orders.json", json={"order": {}})
    assert err.value.status == 503
    assert str(err.value) == f"POST {ORDERS}: 503 Service Unavailable after 1 attempt: busy"
    assert len(responses.calls) == 1
    assert [r.status for r in records] == [503]


@responses.activate
def test_post_marked_idempotent_is_retried(client: HttpClient) -> None:
    responses.post(BASE + "graphql.json", status=502)
    responses.post(BASE + "graphql.json", json={"data": {}})
    client.post("graphql.json", json={"query": "{ shop { name } }"}, idempotent=True)
    assert len(responses.calls) == 2


@responses.activate
def test_429_is_retried_even_for_post(client: HttpClient) -> None:
    responses.post(ORDERS, status=429, headers={"Retry-After": "1"})
    responses.post(ORDERS, status=201, json={})
    assert client.post("orders.json", json={}).status_code == 201


@responses.activate
def test_post_is_retried_on_connect_timeout(client: HttpClient, records: list[CallRecord]) -> None:
    responses.post(ORDERS, body=requests.exceptions.ConnectTimeout("connect timed out"))
    responses.post(ORDERS, status=201, json={})
    assert client.post("orders.json", json={}).status_code == 201
    assert [(r.status, r.error) for r in records] == [
        (None, "ConnectTimeout: connect timed out"),
        (201, None),
    ]


@responses.activate
def test_post_is_retried_when_the_connection_could_not_be_opened(client: HttpClient) -> None:
    refused = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] refused")  # type: ignore[arg-type]
    responses.post(ORDERS, body=requests.ConnectionError(MaxRetryError(None, ORDERS, refused)))  # type: ignore[arg-type]
    responses.post(ORDERS, status=201, json={})
    assert client.post("orders.json", json={}).status_code == 201


@responses.activate
def test_post_is_not_retried_when_the_connection_broke_after_sending(client: HttpClient) -> None:
    responses.post(ORDERS, body=requests.ConnectionError(ProtocolError("Connection aborted.")))
    with pytest.raises(HttpError) as err:
        client.post("orders.json", json={})
    assert err.value.status is None
    assert len(responses.calls) == 1


@responses.activate
def test_post_is_not_retried_on_read_timeout(client: HttpClient, records: list[CallRecord]) -> None:
    responses.post(ORDERS, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(HttpError) as err:
        client.post("orders.json", json={})
    assert str(err.value) == f"POST {ORDERS}: no answer in time after 1 attempt (ReadTimeout: read timed out)"
    assert isinstance(err.value.__cause__, requests.exceptions.ReadTimeout)
    assert [r.status for r in records] == [None]


@responses.activate
def test_get_is_retried_on_read_timeout(client: HttpClient) -> None:
    responses.get(ORDERS, body=requests.exceptions.ReadTimeout("read timed out"))
    responses.get(ORDERS, json={})
    assert client.get("orders.json").status_code == 200


@responses.activate
def test_gives_up_after_max_attempts_with_a_clear_message(
    records: list[CallRecord], naps: list[float]
) -> None:
    responses.get(ORDERS, status=503, body="down for maintenance " + "x" * 500)
    http = HttpClient(BASE, sink=records.append, max_attempts=5)
    with pytest.raises(HttpError) as err:
        http.get("orders.json", params={"access_token": "tok-123", "limit": 50})
    message = str(err.value)
    assert message.startswith(
        f"GET {ORDERS}?access_token=***&limit=50: 503 Service Unavailable after 5 attempts: down for"
    )
    assert len(message.split(": ", 2)[2]) == 300
    assert "tok-123" not in message
    assert err.value.url == f"{ORDERS}?access_token=***&limit=50"
    assert len(responses.calls) == 5
    assert len(naps) == 4
    assert [r.attempt for r in records] == [1, 2, 3, 4, 5]


@responses.activate
def test_404_is_not_retried(client: HttpClient) -> None:
    responses.get(ORDERS, status=404, json={"errors": "Not Found"})
    with pytest.raises(HttpError) as err:
        client.get("orders.json")
    assert err.value.status == 404
    assert err.value.response is not None
    assert err.value.body == '{"errors": "Not Found"}'
    assert len(responses.calls) == 1


@responses.activate
def test_408_is_retried_for_get(client: HttpClient) -> None:
    responses.get(ORDERS, status=408)
    responses.get(ORDERS, json={})
    assert client.get("orders.json").status_code == 200


@responses.activate
def test_ok_statuses_are_returned_not_raised(client: HttpClient) -> None:
    responses.get(ORDERS, status=404)
    assert client.get("orders.json", ok={200, 404}).status_code == 404


@responses.activate
def test_status_outside_ok_raises_even_if_2xx(client: HttpClient) -> None:
    responses.post(ORDERS, status=202)
    with pytest.raises(HttpError, match="202 Accepted after 1 attempt"):
        client.post("orders.json", ok={201})


@responses.activate
def test_query_secrets_and_registered_values_are_masked(
    records: list[CallRecord], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="hub.http")
    http = HttpClient(BASE, sink=records.append, secrets=["sk_live_abcdef"], max_attempts=1)
    http.add_secret("tok/runtime+1")
    http.add_secret("abc")  # too short to mask safely: ignored
    responses.get(
        BASE + "sk_live_abcdef/orders.json", status=401, body="bad key sk_live_abcdef or tok/runtime+1"
    )
    with pytest.raises(HttpError) as err:
        http.get(
            "sk_live_abcdef/orders.json",
            params={"API_KEY": "k-999", "hmac": "h-1", "code": "c-1", "X-Amz-Signature": "sig", "q": "abc"},
        )
    shown = f"{BASE}***/orders.json?API_KEY=***&hmac=***&code=***&X-Amz-Signature=***&q=abc"
    assert records[0].url == shown
    assert records[0].error == "401 Unauthorized: bad key *** or ***"
    assert str(err.value) == f"GET {shown}: 401 Unauthorized after 1 attempt: bad key *** or ***"
    for secret in ("sk_live_abcdef", "tok/runtime+1", "tok%2Fruntime%2B1", "k-999", "h-1", "c-1", "=sig"):
        assert secret not in caplog.text
        assert secret not in str(err.value)


def test_mask_handles_urls_form_bodies_and_json() -> None:
    http = HttpClient(BASE, secrets=["s3cr3t!"])
    assert (
        http.mask("https://h/cb?Code=1&state=x&oauth_token=2")
        == "https://h/cb?Code=***&state=x&oauth_token=***"
    )
    assert http.mask("access_token=abc&expires_in=3600") == "access_token=***&expires_in=3600"
    assert http.mask('{"refresh_token": "r1", "passkey": "p"}') == '{"refresh_token": "***", "passkey": "p"}'
    assert http.mask("monkey=1&keyword=2") == "monkey=1&keyword=2"
    assert http.mask("pw s3cr3t! and s3cr3t%21") == "pw *** and ***"


@responses.activate
def test_auth_headers_never_reach_records_or_logs(
    records: list[CallRecord], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="hub.http")
    http = HttpClient(
        BASE,
        sink=records.append,
        headers={"X-Shopify-Access-Token": "shpat_123456", "Authorization": "Bearer eyJ.x.y"},
    )
    responses.get(ORDERS, status=401, body="token shpat_123456 / eyJ.x.y rejected")
    with pytest.raises(HttpError) as err:
        http.get("orders.json")
    assert responses.calls[0].request.headers["X-Shopify-Access-Token"] == "shpat_123456"
    text = caplog.text + repr(records) + str(err.value)
    assert "shpat_123456" not in text
    assert "eyJ.x.y" not in text


@responses.activate
def test_on_response_hooks_run_after_every_response(client: HttpClient) -> None:
    seen: list[int] = []
    client.on_response.append(lambda r: seen.append(r.status_code))
    responses.get(ORDERS, status=429, headers={"Retry-After": "1"})
    responses.get(ORDERS, json={})
    client.get("orders.json")
    assert seen == [429, 200]


@responses.activate
def test_limiter_is_acquired_before_every_attempt_and_paused_on_retry_after() -> None:
    limiter = mock.create_autospec(TokenBucket, instance=True)
    responses.get(ORDERS, status=429, headers={"Retry-After": "3"})
    responses.get(ORDERS, json={})
    HttpClient(BASE, limiter=limiter).get("orders.json", cost=2.0)
    assert limiter.acquire.call_args_list == [mock.call(2.0), mock.call(2.0)]
    limiter.pause_for.assert_called_once_with(3.0)


@responses.activate
def test_real_limiter_is_spent_per_attempt(naps: list[float]) -> None:
    now = [0.0]
    bucket = TokenBucket(10, 1, clock=lambda: now[0], sleep=lambda s: None)
    responses.get(ORDERS, status=500)
    responses.get(ORDERS, json={})
    HttpClient(BASE, limiter=bucket).get("orders.json")
    assert bucket.available == 8


@responses.activate
def test_sink_exception_is_logged_and_swallowed(caplog: pytest.LogCaptureFixture) -> None:
    def broken(record: CallRecord) -> None:
        raise RuntimeError("call log is down")

    responses.get(ORDERS, json={"ok": True})
    assert HttpClient(BASE, sink=broken).get("orders.json").json() == {"ok": True}
    assert "call sink failed" in caplog.text
    assert "call log is down" in caplog.text


@responses.activate
def test_request_id_is_captured(records: list[CallRecord]) -> None:
    http = HttpClient(BASE, sink=records.append, request_id_header="x-amzn-RequestId")
    responses.get(ORDERS, status=400, headers={"x-amzn-RequestId": "req-42"}, json={"errors": []})
    with pytest.raises(HttpError) as err:
        http.get("orders.json")
    assert err.value.request_id == "req-42"
    assert records[0].request_id == "req-42"


@responses.activate
def test_retries_are_logged_as_warnings(client: HttpClient, caplog: pytest.LogCaptureFixture) -> None:
    responses.get(ORDERS, status=503)
    responses.get(ORDERS, json={})
    client.get("orders.json")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "503 Service Unavailable (attempt 1/3)" in warnings[0].getMessage()


@responses.activate
def test_429_with_retry_after_really_waits_real_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tenacity.nap, "sleep", REAL_SLEEP)
    responses.get(ORDERS, status=429, headers={"Retry-After": "1"})
    responses.get(ORDERS, json={})
    start = time.monotonic()
    HttpClient(BASE).get("orders.json")
    assert time.monotonic() - start >= 0.95
    assert len(responses.calls) == 2


@responses.activate
def test_gate_caps_requests_in_flight() -> None:
    lock, state = threading.Lock(), {"now": 0, "most": 0}

    def slow(request: Any) -> tuple[int, dict[str, str], str]:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return 200, {}, "{}"

    responses.add_callback(responses.GET, "https://shop.test/slow", callback=slow)
    client = HttpClient("https://shop.test/", gate=threading.BoundedSemaphore(2))
    threads = [threading.Thread(target=client.get, args=("slow",)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(responses.calls) == 8 and state["most"] == 2


@responses.activate
def test_a_call_may_be_paced_by_its_own_limiter_instead_of_the_clients() -> None:
    client_bucket = mock.create_autospec(TokenBucket, instance=True)
    points = mock.create_autospec(TokenBucket, instance=True)
    responses.post(BASE + "graphql.json", status=429, headers={"Retry-After": "1.5"})
    responses.post(BASE + "graphql.json", json={"data": {}})
    HttpClient(BASE, limiter=client_bucket).post(
        "graphql.json", json={}, cost=12, limiter=points, idempotent=True
    )
    assert points.acquire.call_args_list == [mock.call(12), mock.call(12)], "every attempt pays its cost"
    points.pause_for.assert_called_once_with(1.5)
    client_bucket.acquire.assert_not_called()
    client_bucket.pause_for.assert_not_called()


class FakeTime:
    """One clock for a bucket and for the retry waits: every sleep is recorded and moves it on."""

    def __init__(self) -> None:
        self.now = 0.0
        self.retry_waits: list[float] = []
        self.bucket_waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def retry_sleep(self, seconds: float) -> None:
        self.retry_waits.append(seconds)
        self.now += seconds

    def bucket_sleep(self, seconds: float) -> None:
        self.bucket_waits.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(tenacity.nap, "sleep", fake.retry_sleep)
    return fake


@responses.activate
def test_429_without_retry_after_on_a_paced_call_waits_for_the_limiters_next_token(
    fake_time: FakeTime, records: list[CallRecord]
) -> None:
    bucket = TokenBucket(10, 2, clock=fake_time.clock, sleep=fake_time.bucket_sleep)
    responses.get(ORDERS, status=429)  # the server's budget is spent though the bucket had 9 left
    responses.get(ORDERS, status=429)
    responses.get(ORDERS, json={})
    client = HttpClient(BASE, limiter=bucket, sink=records.append, backoff_base=5, backoff_max=60)
    assert client.get("orders.json").status_code == 200
    assert fake_time.retry_waits == [0.5, 0.5], "emptied, then 1 token at 2 per second; no backoff"
    assert fake_time.bucket_waits == [], "the retry waited exactly until the token was there"
    assert [r.status for r in records] == [429, 429, 200]
    assert records[0].error == "429 Too Many Requests"


@responses.activate
def test_429_without_retry_after_waits_for_the_cost_of_the_calls_own_limiter(fake_time: FakeTime) -> None:
    client_bucket = TokenBucket(10, 1, clock=fake_time.clock, sleep=fake_time.bucket_sleep)
    points = TokenBucket(1000, 50, clock=fake_time.clock, sleep=fake_time.bucket_sleep)
    responses.post(BASE + "graphql.json", status=429)
    responses.post(BASE + "graphql.json", json={"data": {}})
    HttpClient(BASE, limiter=client_bucket).post(
        "graphql.json", json={}, cost=100, limiter=points, idempotent=True
    )
    assert fake_time.retry_waits == [2.0], "100 points at 50 per second, after emptying the points"
    assert fake_time.bucket_waits == []
    assert client_bucket.available == 10, "the client's bucket neither paid nor was emptied"


@responses.activate
def test_429_with_retry_after_on_a_paced_call_still_honours_it(fake_time: FakeTime) -> None:
    bucket = TokenBucket(10, 2, clock=fake_time.clock, sleep=fake_time.bucket_sleep)
    responses.get(ORDERS, status=429, headers={"Retry-After": "7"})
    responses.get(ORDERS, json={})
    HttpClient(BASE, limiter=bucket).get("orders.json")
    assert fake_time.retry_waits == [7.0]
    assert fake_time.bucket_waits == [], "the pause ended with the wait"
    assert bucket.available == pytest.approx(10 - 1, abs=1e-9), "paused 7 s, then refilled while paused"


@responses.activate
def test_429_without_retry_after_and_without_a_limiter_backs_off(naps: list[float]) -> None:
    responses.get(ORDERS, status=429)
    responses.get(ORDERS, json={})
    HttpClient(BASE, backoff_base=0.5, backoff_max=1.5).get("orders.json")
    assert len(naps) == 1 and 0 <= naps[0] <= 1.0
