"""MyDHL API transport: HTTP Basic auth, the headers DHL asks every caller for
(``Message-Reference``, ``x-version``, the platform headers) and RFC 7807 error bodies
turned into one clear line. HTTP only: the bodies come from ``mappings.dhl_express``."""

from __future__ import annotations

import base64
import uuid
from datetime import date
from email.utils import formatdate
from typing import Any

import orjson
import requests
from requests.auth import HTTPBasicAuth

from hub.carriers import call_details
from hub.http import HttpClient, HttpError, json_body
from mappings.dhl_express import problem_message

HOSTS: dict[str, str] = {
    "sandbox": "https://express.api.dhl.com/mydhlapi/test",
    "production": "https://express.api.dhl.com/mydhlapi",
}
#: "Interface version - do not change this field value" (MyDHL API 3.x spec default)
X_VERSION = "3.1.0"
PLATFORM = {"Shipping-System-Platform-Name": "hub", "Shipping-System-Platform-Version": "0.1"}
#: DHL renders documents while creating a shipment: several seconds are normal
SHIP_TIMEOUT_S = 60.0
MESSAGE_REFERENCE_MAX = 36


class DhlExpressError(HttpError):
    """DHL refused a call; the message carries its ``status``, ``title`` and ``detail``."""


def message_reference(value: str | None = None) -> str:
    """A ``Message-Reference`` (1-36 characters): ``value`` when it fits, else a new UUID."""
    if value and len(value) <= MESSAGE_REFERENCE_MAX:
        return value
    return str(uuid.uuid4())


def clear_error(exc: HttpError, what: str) -> HttpError:
    """``exc`` with DHL's own words, when its body is a DHL problem document."""
    try:
        body = orjson.loads(exc.body) if exc.body else None
    except orjson.JSONDecodeError:
        body = None
    message = problem_message(body)
    if message is None:
        return exc
    return DhlExpressError(f"DHL Express refused {what}: {message}", **call_details(exc))


class DhlClient:
    def __init__(self, http: HttpClient, api_key: str, api_secret: str, account: str) -> None:
        self.http = http
        self.account = account
        http.session.auth = HTTPBasicAuth(api_key, api_secret)
        http.add_secret(api_secret)
        http.add_secret(base64.b64encode(f"{api_key}:{api_secret}".encode()).decode())
        http.session.headers.update({"x-version": X_VERSION, "Accept": "application/json", **PLATFORM})

    def call(
        self, method: str, path: str, *, what: str, reference: str | None = None, **kw: Any
    ) -> requests.Response:
        headers = {
            "Message-Reference": message_reference(reference),
            "Message-Reference-Date": formatdate(usegmt=True),
        }
        try:
            return self.http.request(method, path, headers=headers, **kw)
        except HttpError as exc:
            raise clear_error(exc, what) from exc

    def rates(self, body: dict[str, Any]) -> Any:
        """``POST /rates`` changes nothing at DHL: safe to retry."""
        return json_body(self.call("POST", "rates", what="the rate request", json=body, idempotent=True))

    def create_shipment(self, body: dict[str, Any], reference: str) -> Any:
        """``POST /shipments``: never retried after it may have reached DHL (DHL takes no
        idempotency key; ``Message-Reference`` only correlates)."""
        response = self.call(
            "POST", "shipments", what="the shipment", reference=reference, json=body, timeout=SHIP_TIMEOUT_S
        )
        return json_body(response)

    def track(self, numbers: list[str]) -> Any:
        """``GET /tracking`` for several waybills; a 404 means DHL knows none of them."""
        params = {
            "shipmentTrackingNumber": numbers,
            "trackingView": "all-checkpoints",
            "levelOfDetail": "shipment",
        }
        response = self.call("GET", "tracking", what="the tracking request", params=params, ok=(200, 404))
        return {"shipments": []} if response.status_code == 404 else json_body(response)

    def by_reference(self, reference: str, since: date, until: date) -> Any:
        """``GET /tracking`` by the shipment's customer reference (restricted to a date range)."""
        params = {
            "shipmentReference": reference,
            "shipmentReferenceType": "CU",
            "shipperAccountNumber": self.account,
            "dateRangeFrom": since.isoformat(),
            "dateRangeTo": until.isoformat(),
            "trackingView": "shipment-details-only",
            "levelOfDetail": "shipment",
        }
        response = self.call("GET", "tracking", what="the reference lookup", params=params, ok=(200, 404))
        return {"shipments": []} if response.status_code == 404 else json_body(response)

    def validate_address(self, country: str, postal_code: str, city: str) -> Any:
        params = {"type": "delivery", "countryCode": country, "postalCode": postal_code, "cityName": city}
        return json_body(self.call("GET", "address-validate", what="the address check", params=params))
