"""HTTP to UPS, through the shared HTTP layer: the OAuth client-credentials token (cached in
``hub.oauth.TOKENS``), the ``transId``/``transactionSrc`` headers, and UPS's error body
turned into a readable error. Nothing here maps payloads; ``mappings.ups`` does."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import requests

from hub.carriers import Bearer, call_details
from hub.http import HttpClient, HttpError, json_body
from hub.oauth import TOKENS, Token, TokenCache, token_from_response
from mappings.ups import error_codes, error_text

HOSTS: dict[str, str] = {
    "sandbox": "https://wwwcie.ups.com",  # CIE, the Customer Integration Environment
    "production": "https://onlinetools.ups.com",
}
TOKEN_PATH = "/security/v1/oauth/token"
RATING_VERSION = "v2409"
SHIPPING_VERSION = "v2409"
TRACK_VERSION = "v1"
LABEL_RECOVERY_VERSION = "v1"
TRACK_ALERT_VERSION = "v1"
#: renew a token this long before UPS's expiry (karrio's margin; tokens live about 4 h)
TOKEN_SAFETY_S = 1800
TRACK_QUERY = {
    "locale": "en_US",
    "returnSignature": "false",
    "returnMilestones": "false",
    "returnPOD": "false",
}


class UpsError(HttpError):
    """UPS answered with an error: ``codes`` are its error codes (``TV1002``, ``VSS300`` …)."""

    def __init__(self, operation: str, exc: HttpError, body: Any, mask: Callable[[str], str]) -> None:
        text = mask(error_text(body) or "") or (exc.body[:300] if exc.body else "no error text")
        super().__init__(f"UPS {operation} failed (HTTP {exc.status}): {text}", **call_details(exc))
        self.codes = error_codes(body)


def _body(response: requests.Response | None) -> Any:
    if response is None:
        return None
    try:
        return json_body(response)
    except ValueError:
        return None


def token_lifetime(expires_in: Any) -> float:
    """UPS's ``expires_in`` (seconds, as a string) less the safety margin (at least half of it)."""
    try:
        seconds = float(expires_in)
    except (TypeError, ValueError):
        seconds = 3600.0
    return max(seconds - TOKEN_SAFETY_S, seconds / 2)


class UpsClient:
    def __init__(
        self,
        http: HttpClient,
        *,
        client_id: str,
        client_secret: str,
        account: str,
        transaction_src: str = "hub",
        cache: TokenCache = TOKENS,
    ) -> None:
        self.http = http
        self.account = account
        self.transaction_src = transaction_src
        self.cache = cache
        basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        http.add_secret(basic)
        self._basic = basic
        self.cache_key = TokenCache.key("ups", http.base_url, client_id, client_secret)
        self.bearer = Bearer(http, self.cache_key, self.fetch_token, cache)

    # -- auth ---------------------------------------------------------------------------------

    def fetch_token(self) -> Token:
        """``POST /security/v1/oauth/token`` with the client id and secret as Basic auth."""
        headers = {"Authorization": f"Basic {self._basic}", "x-merchant-id": self.account}
        try:
            response = self.http.post(
                TOKEN_PATH,
                data={"grant_type": "client_credentials"},
                headers=headers,
                idempotent=True,  # asking for a token twice buys nothing
            )
        except HttpError as exc:
            if exc.status is None:
                raise
            raise UpsError("token request", exc, _body(exc.response), self.http.mask) from exc
        body = json_body(response)
        value = str(body.get("access_token") or "")
        if not value:
            raise ValueError("UPS's token answer had no access_token")
        self.http.add_secret(value)
        return token_from_response(value, token_lifetime(body.get("expires_in")))

    def token(self) -> str:
        return self.bearer.token()

    # -- calls ----------------------------------------------------------------------------------

    def call(self, operation: str, method: str, path: str, **kw: Any) -> requests.Response:
        """An authorised call with UPS's transaction headers; UPS's errors as :class:`UpsError`."""
        headers: Mapping[str, str] = {"transId": uuid.uuid4().hex, "transactionSrc": self.transaction_src}
        try:
            return self.bearer.request(method, path, headers=headers, **kw)
        except HttpError as exc:
            if exc.status is None or isinstance(exc, UpsError):
                raise  # no answer at all: the caller decides (a purchase must be reconciled)
            raise UpsError(operation, exc, _body(exc.response), self.http.mask) from exc

    def rate(self, option: str, body: dict[str, Any], timeout: float) -> Any:
        path = f"/api/rating/{RATING_VERSION}/{option}"
        return json_body(self.call("rating", "POST", path, json=body, idempotent=True, timeout=timeout))

    def ship(self, body: dict[str, Any]) -> Any:
        """Buy: never retried after a server error or a lost answer (UPS takes no idempotency key)."""
        path = f"/api/shipments/{SHIPPING_VERSION}/ship"
        return json_body(self.call("shipping", "POST", path, json=body, idempotent=False, timeout=60.0))

    def recover_label(self, body: dict[str, Any]) -> Any:
        path = f"/api/labels/{LABEL_RECOVERY_VERSION}/recovery"
        return json_body(self.call("label recovery", "POST", path, json=body, idempotent=True))

    def void(self, shipment_id: str) -> Any:
        path = f"/api/shipments/{SHIPPING_VERSION}/void/cancel/{quote(shipment_id.upper(), safe='')}"
        return json_body(self.call("void", "DELETE", path))

    def track(self, number: str) -> Any:
        path = f"/api/track/{TRACK_VERSION}/details/{quote(number, safe='')}"
        return json_body(self.call("tracking", "GET", path, params=TRACK_QUERY))

    def subscribe(self, numbers: list[str], url: str, credential: str) -> Any:
        body = {
            "locale": "en_US",
            "countryCode": "US",
            "trackingNumberList": numbers,
            "destination": {"url": url, "credentialType": "Bearer", "credential": credential},
        }
        path = f"/api/track/{TRACK_ALERT_VERSION}/subscription/standard/package"
        # subscribing twice to the same numbers only renews them
        return json_body(self.call("Track Alert subscription", "POST", path, json=body, idempotent=True))
