"""USPS transport: the OAuth and payment authorization tokens, one hourly quota per API, and
errors made readable. Everything USPS-HTTP lives here; the connector gets responses.

Tokens. The OAuth token (client credentials, ``expires_in`` ≈ 8 h) and the payment
authorization token (the Payments API gives no expiry; its spec says eight hours, and asks not to
be called per label) both live in the shared :data:`hub.oauth.TOKENS` cache: fetched once however
many threads ask, renewed shortly before expiry; a 401 drops the OAuth token and retries once.

Quota. USPS meters each API separately (the default product: 60 calls an hour per API). Each
API prefix (``oauth2``, ``shipments``, ``labels``, ``tracking``, ``payments``) has its own token
bucket of ``quota`` calls refilled over the hour, shared by every connection with the same app
(``hub.ratelimit.limiters``); a 429's ``Retry-After`` pauses only that API's bucket."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import requests

from hub.carriers import Bearer, call_details
from hub.http import HttpClient, HttpError, json_body
from hub.oauth import TOKENS, Token, TokenCache, token_from_response
from hub.ratelimit import TokenBucket, limiters
from mappings.usps import error_message

TOKEN_PATH = "/oauth2/v3/token"
PAYMENT_PATH = "/payments/v3/payment-authorization"
#: seconds a payment authorization token is valid (Payments 3.0 spec: eight hours)
PAYMENT_TOKEN_S = 8 * 3600
#: the default product's quota: calls per hour, per API
DEFAULT_HOURLY_QUOTA = 60


class UspsError(HttpError):
    """USPS refused a call; the message carries USPS's own code, title and detail."""


class UspsAuthError(UspsError):
    """USPS refused the app's credentials (OAuth) or the payment account (Payments API)."""


def readable(exc: HttpError, what: str, mask: Callable[[str], str]) -> UspsError:
    """``exc`` with USPS's error body spelled out, secrets masked (the original stays the cause)."""
    try:
        detail = error_message(json_body(exc.response)) if exc.response is not None else None
    except ValueError:
        detail = None
    kind = UspsAuthError if exc.status in (401, 403) or "OAuth" in (detail or "") else UspsError
    message = mask(f"USPS {what}: {exc.status} {detail}" if detail else f"USPS {what}: {exc}")
    return kind(message, **call_details(exc))


class UspsClient:
    def __init__(
        self,
        http: HttpClient,
        *,
        client_id: str,
        client_secret: str,
        payment_roles: list[dict[str, Any]],
        hourly_quota: int = DEFAULT_HOURLY_QUOTA,
        cache: TokenCache | None = None,
    ) -> None:
        self.http = http
        self.cache = cache or TOKENS
        self._form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
        }
        self.roles = payment_roles
        app = TokenCache.key("usps", http.base_url, client_id)
        self.token_key = TokenCache.key("usps-oauth", http.base_url, client_id, client_secret)
        self.bearer = Bearer(http, self.token_key, self._fetch_token, self.cache)
        self.payment_key = TokenCache.key("usps-payment", self.token_key, repr(payment_roles))
        self.quota = max(1, int(hourly_quota))
        self._app = app
        self._lock = threading.Lock()
        self.token_requests = 0  # for tests and the reader of the call log

    def bucket(self, api: str) -> TokenBucket:
        return limiters.get(f"usps:{self._app}:{api}", self.quota, self.quota / 3600.0)

    # -- tokens ----------------------------------------------------------------------------
    def _fetch_token(self) -> Token:
        with self._lock:
            self.token_requests += 1
        try:
            response = self.http.post(TOKEN_PATH, data=self._form, limiter=self.bucket("oauth2"))
        except HttpError as exc:
            raise readable(exc, "refused the app's credentials", self.http.mask) from exc
        body = json_body(response)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise UspsAuthError(
                "USPS OAuth answered without an access_token", url=TOKEN_PATH, status=response.status_code
            )
        self.http.add_secret(str(token))
        return token_from_response(str(token), body.get("expires_in"))

    def _fetch_payment_token(self) -> Token:
        try:
            response = self.call("payments", "POST", PAYMENT_PATH, json={"roles": self.roles})
        except UspsError as exc:
            raise UspsAuthError(
                f"payment authorization: {exc}",
                url=exc.url,
                status=exc.status,
                body=exc.body,
                response=exc.response,
            ) from exc
        body = json_body(response)
        token = body.get("paymentAuthorizationToken") if isinstance(body, dict) else None
        if not token:
            raise UspsAuthError(
                "USPS Payments answered without a paymentAuthorizationToken",
                url=PAYMENT_PATH,
                status=response.status_code,
            )
        self.http.add_secret(str(token))
        return token_from_response(str(token), PAYMENT_TOKEN_S)

    def access_token(self) -> str:
        return self.bearer.token()

    def payment_token(self) -> str:
        return self.cache.get(self.payment_key, self._fetch_payment_token)

    # -- calls -----------------------------------------------------------------------------
    def call(
        self,
        api: str,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        what: str | None = None,
        **kw: Any,
    ) -> requests.Response:
        """A bearer call paced by ``api``'s bucket; USPS's refusals become :class:`UspsError`."""
        try:
            return self.bearer.request(method, path, headers=headers, limiter=self.bucket(api), **kw)
        except UspsError:
            raise
        except HttpError as exc:
            if exc.status is None:
                raise  # no answer: the caller decides what that means
            raise readable(exc, what or f"{method} {path}", self.http.mask) from exc

    def paid(
        self, method: str, path: str, *, headers: Mapping[str, str] | None = None, **kw: Any
    ) -> requests.Response:
        """A Labels API call with the payment authorization token."""
        paid_headers = {**(headers or {}), "X-Payment-Authorization-Token": self.payment_token()}
        return self.call("labels", method, path, headers=paid_headers, **kw)
