"""Amazon SP-API transport: Login with Amazon access tokens, the regional endpoint, and one
token bucket per operation. Everything SP-API-HTTP lives here; callers get responses.

Tokens. An access token lives an hour; it is cached per (token endpoint, app, refresh token)
for the whole process and renewed ``TOKEN_MARGIN`` seconds before it expires, by one thread
while the others wait for it (however many ask at that moment, one token request goes out).

Limits. Amazon meters every operation separately per application and selling partner: a
token bucket of ``burst`` requests refilled at ``rate`` per second (published defaults in
``OPERATIONS``; the ``x-amzn-RateLimit-Limit`` header of an answer gives the rate that
applies, and is adopted). Each operation has its own bucket in the process-wide registry
(``hub.ratelimit.limiters``), keyed by app, seller, endpoint and operation, so every thread and
connector instance of one seller shares it: the burst is spent, then calls go out exactly at
the rate. Every HTTP attempt, retries included, takes a token. A 429 (Amazon sends no
``Retry-After``) is retried by ``HttpClient``'s one retry policy: it empties the operation's
bucket and sends the call again when the next token is due.

The server counts a request when it arrives, the client when it sends it: each bucket is kept
a round trip behind the server's (``_lag``), so a request that happens to travel faster than
an earlier one cannot arrive before the server's token is there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Container, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests

from hub.http import HttpClient, HttpError
from hub.ratelimit import TokenBucket, limiters
from mappings.amazon import MARKETPLACES as MAPPING_MARKETPLACES

log = logging.getLogger("connectors.amazon")

DEFAULT_LWA_ENDPOINT = "https://api.amazon.com/auth/o2/token"
#: renew an access token this long before Amazon says it expires
TOKEN_MARGIN = 60.0
USER_AGENT = "IntegrationHub/0.1 (Language=Python; Platform=Linux)"
RATE_HEADER = "x-amzn-RateLimit-Limit"
REQUEST_ID_HEADER = "x-amzn-RequestId"
#: a bucket lags the server's by the longest round trip (at most LAG_MAX) plus LAG_MARGIN (module doc)
LAG_MARGIN, LAG_MAX = 0.01, 0.25


@dataclass(frozen=True)
class Region:
    code: str
    endpoint: str
    aws_region: str
    name: str


REGIONS: dict[str, Region] = {
    "na": Region("na", "https://sellingpartnerapi-na.amazon.com", "us-east-1", "North America"),
    "eu": Region("eu", "https://sellingpartnerapi-eu.amazon.com", "eu-west-1", "Europe"),
    "fe": Region("fe", "https://sellingpartnerapi-fe.amazon.com", "us-west-2", "Far East"),
}

#: marketplace id -> (country code, region), from the one table the mapping keeps
MARKETPLACES: dict[str, tuple[str, str]] = {i: (m.country, m.region) for i, m in MAPPING_MARKETPLACES.items()}
_MARKETPLACE_ID = re.compile(r"A[0-9A-Z]{6,20}")


@dataclass(frozen=True)
class Operation:
    """An SP-API operation and its published default usage plan."""

    name: str
    method: str
    path: str  # with {placeholders}
    rate: float  # requests per second
    burst: float


OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation("searchOrders", "GET", "/orders/2026-01-01/orders", 0.0056, 20),
        Operation("getOrder", "GET", "/orders/2026-01-01/orders/{orderId}", 0.5, 30),
        Operation("v0.getOrders", "GET", "/orders/v0/orders", 0.0167, 20),
        Operation("v0.getOrder", "GET", "/orders/v0/orders/{orderId}", 0.5, 30),
        Operation("v0.getOrderItems", "GET", "/orders/v0/orders/{orderId}/orderItems", 0.5, 30),
        Operation("confirmShipment", "POST", "/orders/v0/orders/{orderId}/shipmentConfirmation", 2.0, 10),
        Operation("patchListingsItem", "PATCH", "/listings/2021-08-01/items/{sellerId}/{sku}", 5.0, 5),
        Operation("createFeedDocument", "POST", "/feeds/2021-06-30/documents", 0.5, 15),
        Operation("createFeed", "POST", "/feeds/2021-06-30/feeds", 0.0083, 15),
        Operation("getFeed", "GET", "/feeds/2021-06-30/feeds/{feedId}", 2.0, 15),
        Operation("getFeedDocument", "GET", "/feeds/2021-06-30/documents/{feedDocumentId}", 0.0222, 10),
        # Sellers API: 0.016/s, burst 15 (the API's own model; not in the project reference)
        Operation("getMarketplaceParticipations", "GET", "/sellers/v1/marketplaceParticipations", 0.016, 15),
    )
}


class AmazonAuthError(Exception):
    """Login with Amazon refused the app's credentials or the seller's refresh token."""


# -- connection values --------------------------------------------------------------------------


def marketplace_ids(value: Any) -> list[str]:
    """The marketplace ids of a setting: comma- or space-separated, order kept, no repeats."""
    parts = re.split(r"[\s,;]+", str(value or "").strip())
    return list(dict.fromkeys(p for p in parts if p))


def check_marketplaces(value: Any) -> str | None:
    ids = marketplace_ids(value)
    if not ids:
        return "give at least one marketplace id (ATVPDKIKX0DER is amazon.com)"
    if len(ids) > 50:
        return "at most 50 marketplaces"
    bad = [i for i in ids if not _MARKETPLACE_ID.fullmatch(i)]
    if bad:
        return f"{bad[0]} is not a marketplace id (they look like ATVPDKIKX0DER)"
    regions = {MARKETPLACES[i][1] for i in ids if i in MARKETPLACES}
    if len(regions) > 1:
        return "the marketplaces are in different regions: one connection reads one region"
    return None


def region_for(settings: Mapping[str, Any]) -> Region:
    """The connection's region: the ``region`` setting, else the region of its marketplaces.
    Raises ValueError when neither tells, or when they disagree."""
    ids = marketplace_ids(settings.get("marketplace_ids"))
    known = {MARKETPLACES[i][1] for i in ids if i in MARKETPLACES}
    chosen = settings.get("region") or None
    if chosen:
        if chosen not in REGIONS:
            raise ValueError(f"unknown region {chosen!r}")
        if known and known != {chosen}:
            raise ValueError(
                f"the marketplaces are in {', '.join(sorted(known))}, not {chosen}: "
                "a seller's data is only on its own region's endpoint (403 elsewhere)"
            )
        return REGIONS[chosen]
    if len(known) == 1:
        return REGIONS[known.pop()]
    raise ValueError("choose the region: none of the marketplace ids is one the hub knows")


def endpoint_for(settings: Mapping[str, Any]) -> str:
    """The SP-API root URL: the ``api_endpoint`` setting (a sandbox), else the region's host."""
    override = settings.get("api_endpoint")
    return str(override).rstrip("/") if override else region_for(settings).endpoint


def amz_date(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


# -- Login with Amazon ----------------------------------------------------------------------------


class LwaTokens:
    """The access tokens of one (app, refresh token) pair: cached until ``margin`` seconds
    before they expire; renewed by one thread while the others wait for that token."""

    def __init__(
        self,
        endpoint: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        *,
        margin: float = TOKEN_MARGIN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoint = endpoint
        self._form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
            "client_secret": client_secret,
        }
        self.margin = margin
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        #: token requests sent (for tests and the call log's reader)
        self.requests = 0

    def get(self, http: HttpClient) -> str:
        """A valid access token; asks Login with Amazon (through ``http``, the asking
        connection's client, so the call is in its log) only when the cached one is (nearly) over."""
        with self._lock:
            if self._token is not None and self._clock() < self._expires_at - self.margin:
                return self._token
            self._token, self._expires_at = self._fetch(http)
            return self._token

    def invalidate(self, token: str) -> bool:
        """Forget ``token`` if it is still the cached one (Amazon refused it); True if it was."""
        with self._lock:
            if self._token == token:
                self._token = None
                return True
            return False

    def _fetch(self, http: HttpClient) -> tuple[str, float]:
        self.requests += 1
        started = self._clock()
        try:
            response = http.post(
                self.endpoint,
                data=self._form,
                headers={"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"},
                idempotent=True,  # a second token request is harmless
            )
        except HttpError as exc:
            if exc.status in (400, 401):
                raise AmazonAuthError(
                    f"Login with Amazon refused the credentials ({exc.status}): {_lwa_reason(exc.body)}"
                ) from exc
            raise
        data = response.json()
        token = str(data["access_token"])
        http.add_secret(token)
        return token, started + float(data.get("expires_in") or 3600)


def _lwa_reason(body: str) -> str:
    match = re.search(r'"error_description"\s*:\s*"([^"]*)"', body) or re.search(
        r'"error"\s*:\s*"([^"]*)"', body
    )
    return match.group(1) if match else body[:200]


_TOKENS: dict[tuple[str, str, str], LwaTokens] = {}
_TOKENS_LOCK = threading.Lock()


def lwa_tokens(endpoint: str, client_id: str, client_secret: str, refresh_token: str) -> LwaTokens:
    """The process-wide token cache of one app and seller."""
    key = (endpoint, client_id, hashlib.sha256(f"{client_secret}\0{refresh_token}".encode()).hexdigest())
    with _TOKENS_LOCK:
        tokens = _TOKENS.get(key)
        if tokens is None:
            tokens = _TOKENS[key] = LwaTokens(endpoint, client_id, client_secret, refresh_token)
        return tokens


def forget_tokens() -> None:
    """Drop every cached access token (tests)."""
    with _TOKENS_LOCK:
        _TOKENS.clear()


# -- per-operation pacing --------------------------------------------------------------------------


class OperationLimiter:
    """The limiter of every SP-API call: takes a token from the bucket of the operation the
    calling thread is making (``use``), so every attempt of that call, retries too, is paced."""

    def __init__(self) -> None:
        self._local = threading.local()

    @contextmanager
    def use(self, key: str, bucket: TokenBucket) -> Iterator[None]:
        previous = getattr(self._local, "current", None)
        self._local.current = (key, bucket)
        try:
            yield
        finally:
            self._local.current = previous

    @property
    def current(self) -> tuple[str, TokenBucket] | None:
        return getattr(self._local, "current", None)

    @property
    def bucket(self) -> TokenBucket | None:
        current = self.current
        return current[1] if current is not None else None

    @property
    def sent_at(self) -> float | None:
        return getattr(self._local, "sent_at", None)

    def acquire(self, tokens: float = 1.0) -> float:
        bucket = self.bucket
        waited = bucket.acquire(1.0) if bucket is not None else 0.0
        self._local.sent_at = time.monotonic()
        return waited

    def pause_for(self, seconds: float) -> None:
        if (bucket := self.bucket) is not None:
            bucket.pause_for(seconds)

    # what HttpClient reads to wait for the operation's next token after a 429

    @property
    def capacity(self) -> float:
        bucket = self.bucket
        return bucket.capacity if bucket is not None else 1.0

    @property
    def available(self) -> float:
        bucket = self.bucket
        return bucket.available if bucket is not None else 1.0

    @property
    def refill_per_s(self) -> float:
        bucket = self.bucket
        return bucket.refill_per_s if bucket is not None else 1.0


_ROUND_TRIPS: dict[str, float] = {}
_ROUND_TRIPS_LOCK = threading.Lock()


def _lag(key: str, bucket: TokenBucket, burst: float, round_trip: float) -> None:
    """Keep a bucket behind the server's by the longest round trip seen (capped at
    ``LAG_MAX``) plus ``LAG_MARGIN``: on first use by taking that much off it, and for good by
    lowering its capacity by as much (where both buckets fill up, the margin is kept)."""
    with _ROUND_TRIPS_LOCK:
        first = key not in _ROUND_TRIPS
        longest = _ROUND_TRIPS[key] = max(_ROUND_TRIPS.get(key, 0.0), min(round_trip, LAG_MAX))
    margin = (longest + LAG_MARGIN) * bucket.refill_per_s
    if first:
        bucket.acquire(margin)
    capacity = max(1.0, burst - margin)
    if abs(bucket.capacity - capacity) > 0.01:
        bucket.update(capacity=capacity)


def parse_rate(value: str | None) -> float | None:
    """The rate of an ``x-amzn-RateLimit-Limit`` header (requests per second), if valid."""
    try:
        rate = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return rate if rate > 0 and rate < 1e6 else None


class _Accept(Container[int]):
    def __init__(self, wanted: Container[int]) -> None:
        self.wanted = wanted

    def __contains__(self, status: object) -> bool:
        return status == 403 or status in self.wanted


# -- the client -------------------------------------------------------------------------------------


class AmazonClient:
    """SP-API calls of one seller through ``http`` (built on the regional endpoint; each call
    paced by the client's ``OperationLimiter``) and the seller's ``tokens`` (renewed through
    ``lwa_http``). ``scope`` names the app, seller and endpoint: the buckets are
    ``<scope>:<operation>``."""

    def __init__(
        self, http: HttpClient, tokens: LwaTokens, *, scope: str, lwa_http: HttpClient | None = None
    ) -> None:
        self.http = http
        self.limiter = OperationLimiter()
        self.tokens = tokens
        self.lwa_http = lwa_http or http
        self.scope = scope
        self._known_token: str | None = None
        http.on_response.append(self._on_response)

    def bucket(self, operation: str) -> TokenBucket:
        op = OPERATIONS[operation]
        return limiters.get(self.bucket_key(operation), op.burst, op.rate)

    def bucket_key(self, operation: str) -> str:
        return f"{self.scope}:{operation}"

    def access_token(self) -> str:
        token = self.tokens.get(self.lwa_http)
        if token != self._known_token:
            self.http.add_secret(token)
            self._known_token = token
        return token

    def call(
        self,
        operation: str,
        *,
        path: Mapping[str, str] | None = None,
        params: Any = None,
        json: Any = None,
        ok: Container[int] | None = None,
        idempotent: bool | None = None,
    ) -> requests.Response:
        """Send one operation; the response whose status is in ``ok`` (default 2xx), else
        ``HttpError``. 429s are retried by ``self.http`` (each after the operation's next
        token); a 403 gets one more try with a fresh access token."""
        op = OPERATIONS[operation]
        url = op.path.format(**{k: quote(str(v), safe="") for k, v in (path or {}).items()})
        wanted = range(200, 300) if ok is None else ok
        key, bucket = self.bucket_key(operation), self.bucket(operation)
        renewed = False
        while True:
            token = self.access_token()
            headers = {"x-amz-access-token": token, "x-amz-date": amz_date()}
            with self.limiter.use(key, bucket):
                response = self.http.request(
                    op.method,
                    url,
                    params=params,
                    json=json,
                    headers=headers,
                    ok=_Accept(wanted),
                    idempotent=idempotent,
                    limiter=self.limiter,  # type: ignore[arg-type]
                )
            if response.status_code == 403 and 403 not in wanted:
                if not renewed and self.tokens.invalidate(token):
                    renewed = True
                    continue
                raise self._error(op, response, "access denied")
            return response

    def _on_response(self, response: requests.Response) -> None:
        current = self.limiter.current
        if current is None:
            return
        key, bucket = current
        rate = parse_rate(response.headers.get(RATE_HEADER))
        if rate is not None and abs(rate - bucket.refill_per_s) > 1e-9 * rate:
            log.info("adopting %s req/s from %s", rate, RATE_HEADER)
            bucket.update(refill_per_s=rate)
        sent = self.limiter.sent_at
        if sent is not None:
            operation = key.rsplit(":", 1)[1]
            _lag(key, bucket, OPERATIONS[operation].burst, time.monotonic() - sent)

    def _error(self, op: Operation, response: requests.Response, what: str) -> HttpError:
        body = self.http.mask(response.text)
        shown = self.http.mask(response.url or op.path)
        return HttpError(
            f"{op.method} {shown}: {response.status_code} {what}: {body[:300]}",
            url=shown,
            status=response.status_code,
            body=body,
            request_id=response.headers.get(REQUEST_ID_HEADER),
            response=response,
        )


def error_messages(body: str) -> list[str]:
    """The ``errors[].message`` (with code and details) of an SP-API error body."""
    try:
        data = json.loads(body)
    except ValueError:
        return [body[:300]] if body else []
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list):
        return [body[:300]]
    out = []
    for e in errors:
        if isinstance(e, dict):
            text = " ".join(str(e.get(k) or "") for k in ("code", "message", "details")).strip()
            out.append(re.sub(r"\s+", " ", text))
    return out
