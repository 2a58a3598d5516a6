"""EasyPost over HTTP: Basic auth with the API key as user name, JSON bodies, EasyPost's error body
turned into one clear message. Every call goes through the connection's ``HttpClient``."""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any

from hub.carriers import call_details
from hub.http import HttpClient, HttpError, json_body

PRODUCTION_URL = "https://api.easypost.com/v2"
#: EasyPost's error codes the connector acts on
POSTAGE_EXISTS = "SHIPMENT.POSTAGE.EXISTS"
#: trackers asked for in one list call (EasyPost's largest page)
PAGE_SIZE = 100


class EasyPostError(HttpError):
    """EasyPost refused a call: ``status``, EasyPost's ``code`` and its message (field errors included)."""

    def __init__(self, exc: HttpError, code: str | None, message: str) -> None:
        super().__init__(message, **call_details(exc))
        self.code = code


def basic_auth(api_key: str) -> str:
    """``Authorization`` value: the key as user name, no password (``curl -u "KEY":``)."""
    return "Basic " + base64.b64encode(f"{api_key}:".encode()).decode("ascii")


def _explain(exc: HttpError, mask: Callable[[str], str]) -> EasyPostError:
    """EasyPost's ``{"error": {"code", "message", "errors": [...]}}`` as one line, secrets masked
    (read from the raw body: the HTTP layer's masked copy hides every ``"code"`` value)."""
    try:
        error = json_body(exc.response).get("error") if exc.response is not None else None
    except (ValueError, AttributeError):
        error = None
    if not isinstance(error, dict):
        return EasyPostError(exc, None, f"EasyPost answered {exc.status}: {exc.body[:300] or 'no body'}")
    code, message = error.get("code"), error.get("message") or ""
    details = []
    for item in error.get("errors") or []:
        if isinstance(item, dict):
            details.append(f"{item.get('field') or '?'}: {item.get('message') or ''}".strip())
        else:
            details.append(str(item))
    text = f"EasyPost {exc.status} {code}: {message}"
    if details:
        text += f" ({'; '.join(details)})"
    return EasyPostError(exc, str(code) if code else None, mask(text))


class EasyPostClient:
    def __init__(self, http: HttpClient, api_key: str) -> None:
        self.http = http
        self._auth = basic_auth(api_key)
        http.add_secret(api_key)
        http.add_secret(self._auth.partition(" ")[2])

    def call(self, method: str, path: str, **kw: Any) -> Any:
        """The JSON of an authenticated call; an EasyPost refusal raises :class:`EasyPostError`,
        no answer at all raises the HTTP layer's ``HttpError`` (``status`` None)."""
        headers: Mapping[str, str] = {"Authorization": self._auth, "Accept": "application/json"}
        try:
            response = self.http.request(method, path, headers=headers, **kw)
        except HttpError as exc:
            if exc.status is None:
                raise
            raise _explain(exc, self.http.mask) from exc
        return json_body(response) if response.content else {}

    # -- shipments --------------------------------------------------------------------------------
    def create_shipment(self, body: dict[str, Any]) -> Any:
        """Creating a Shipment buys nothing: a retry after a lost answer only leaves an unused one."""
        return self.call("POST", "shipments", json=body, idempotent=True)

    def shipment(self, shipment_id: str) -> Any:
        return self.call("GET", f"shipments/{shipment_id}")

    def buy(self, shipment_id: str, rate_id: str) -> Any:
        """Safe to repeat: EasyPost refuses a second purchase of one Shipment (``POSTAGE_EXISTS``),
        which the connector answers by reading the Shipment back."""
        body = {"rate": {"id": rate_id}}
        return self.call("POST", f"shipments/{shipment_id}/buy", json=body, idempotent=True)

    def convert_label(self, shipment_id: str, file_format: str) -> Any:
        """The Shipment with its label also in ``file_format`` (``label_pdf_url``, ``label_zpl_url``)."""
        return self.call("GET", f"shipments/{shipment_id}/label", params={"file_format": file_format})

    def refund(self, shipment_id: str) -> Any:
        """Asking twice refunds once (EasyPost refuses a second request for the same Shipment)."""
        return self.call("POST", f"shipments/{shipment_id}/refund", json={}, idempotent=True)

    def download(self, url: str) -> bytes:
        """A label file: a plain URL (EasyPost's file store), so the API key is not sent."""
        try:
            return self.http.request("GET", url, headers={"Accept": "*/*"}).content
        except HttpError as exc:
            if exc.status is None:
                raise
            raise EasyPostError(exc, None, f"the label file could not be fetched: {exc}") from exc

    # -- trackers ---------------------------------------------------------------------------------
    def trackers(self, numbers: list[str]) -> list[Any]:
        """Trackers for these tracking codes, newest first (several per code are possible)."""
        params: dict[str, Any] = {"tracking_codes[]": numbers, "page_size": PAGE_SIZE}
        return list(self.call("GET", "trackers", params=params).get("trackers") or [])

    def create_tracker(self, body: dict[str, Any]) -> Any:
        """EasyPost returns the existing tracker for a code it already follows (not billed twice)."""
        return self.call("POST", "trackers", json=body)

    def tracker(self, tracker_id: str) -> Any:
        return self.call("GET", f"trackers/{tracker_id}")

    # -- webhooks ---------------------------------------------------------------------------------
    def webhooks(self) -> list[Any]:
        return list(self.call("GET", "webhooks").get("webhooks") or [])

    def create_webhook(self, url: str, secret: str, headers: list[dict[str, str]]) -> Any:
        body = {"webhook": {"url": url, "webhook_secret": secret, "custom_headers": headers}}
        return self.call("POST", "webhooks", json=body)

    def update_webhook(self, webhook_id: str, secret: str, headers: list[dict[str, str]]) -> Any:
        """Also re-enables a webhook EasyPost disabled after failed deliveries."""
        body = {"webhook_secret": secret, "custom_headers": headers}
        return self.call("PATCH", f"webhooks/{webhook_id}", json=body)
