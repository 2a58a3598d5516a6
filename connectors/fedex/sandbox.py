"""Simulated FedEx REST APIs for the FedEx connector (one project, one shipping account).

Paths and shapes of the real APIs (``shared/reference/carriers/fedex.md`` and its samples):

* ``POST /oauth/token`` (form-encoded client credentials) -> ``access_token``, ``expires_in``;
  every other call needs ``Authorization: Bearer`` with an unexpired token, else 401
  ``NOT.AUTHORIZED.ERROR``. Token requests are counted (``token_requests``).
* ``POST /rate/v1/rates/quotes``: every service of the lane (or ``serviceType``), ``ACCOUNT``
  and ``LIST`` rates, ``commit`` and ``operationalDetail`` transit data.
* ``POST /ship/v1/shipments``: a small valid PDF, PNG or ZPL II label, base64 in
  ``encodedLabel``. Like FedEx, it takes no idempotency key: every accepted call sells a label.
  Labels are counted in total and per ``x-customer-transaction-id`` (the hub's key).
* ``PUT /ship/v1/shipments/cancel``: cancels a label not yet tendered to FedEx.
* ``POST /track/v1/trackingnumbers``: up to 30 numbers; an unknown number is an ``error`` inside
  the 200. Each label moves OC -> PU -> AR/DP/AO -> OD -> DL one ``step`` of sandbox time apart;
  :meth:`tick` advances the clock by one step.

Error codes FedEx documents are used as they are; where FedEx publishes none (cancel of a
tendered or unknown shipment, more than 30 numbers) the sandbox's codes are its own choice.
Control endpoints: ``GET /_sandbox/fedex`` (labels sold, per key, voids, token requests).
"""

from __future__ import annotations

import base64
import struct
import time
import uuid
import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import flask
from flask.typing import ResponseReturnValue

from hub.sandbox import Faults, Sandbox, SandboxClock
from mappings.fedex import SERVICE_NAMES

__all__ = ["FedexSandbox", "label_pdf", "label_png"]

CENT = Decimal("0.01")
LB_PER_KG = Decimal("2.20462")
LOCAL = timezone(timedelta(hours=-6))  # FedEx writes scan times in the scan's local time
WORDS = ("ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN")
WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
FUEL = Decimal("0.1475")
DISCOUNT = Decimal("0.82")  # the account's negotiated rate against list
#: service -> (business days, base, per lb, express?)
DOMESTIC: dict[str, tuple[int, str, str, bool]] = {
    "FEDEX_GROUND": (4, "9.50", "0.65", False),
    "FEDEX_EXPRESS_SAVER": (3, "24.10", "1.45", True),
    "FEDEX_2_DAY": (2, "31.20", "1.95", True),
    "STANDARD_OVERNIGHT": (1, "58.40", "3.10", True),
    "PRIORITY_OVERNIGHT": (1, "72.90", "3.60", True),
}
INTERNATIONAL: dict[str, tuple[int, str, str, bool]] = {
    "INTERNATIONAL_ECONOMY": (5, "88.00", "6.10", True),
    "FEDEX_INTERNATIONAL_PRIORITY": (3, "121.00", "7.90", True),
}
IMAGE_TYPES = ("PDF", "PNG", "ZPLII")
#: scan events of a label's life: (steps after purchase, eventType, description, derivedStatusCode)
TIMELINE: tuple[tuple[float, str, str, str], ...] = (
    (0.0, "OC", "Shipment information sent to FedEx", "IN"),
    (1.0, "PU", "Picked up", "PU"),
    (2.0, "AR", "Arrived at FedEx location", "IT"),
    (2.5, "DP", "Departed FedEx location", "IT"),
    (2.6, "AO", "Shipment arriving On-Time", "IT"),
    (3.0, "OD", "On FedEx vehicle for delivery", "IT"),
    (4.0, "DL", "Delivered", "DL"),
)


def _pdf_object(number: int, body: bytes) -> bytes:
    return b"%d 0 obj\n" % number + body + b"\nendobj\n"


def label_pdf(tracking_number: str, service: str) -> bytes:
    """A one-page 4x6 PDF with the tracking number on it, with a correct cross-reference table."""
    text = f"BT /F1 18 Tf 24 380 Td (FedEx {service}) Tj 0 -30 Td (TRK# {tracking_number}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 288 432] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += _pdf_object(number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def label_png(tracking_number: str, width: int = 120, height: int = 180) -> bytes:
    """A valid greyscale PNG with bars drawn from the tracking number's digits."""
    digits = [int(c) for c in tracking_number if c.isdigit()] or [0]
    rows = []
    for y in range(height):
        row = bytes(
            0
            if (x // 6) < len(digits) * 2
            and digits[(x // 12) % len(digits)] % 2 == (x // 6) % 2
            and 20 < y < 100
            else 255
            for x in range(width)
        )
        rows.append(b"\x00" + row)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + _png_chunk(b"IEND", b"")
    )


def label_zpl(tracking_number: str, service: str) -> bytes:
    return (
        f"^XA^CF0,40^FO50,50^FDFedEx {service}^FS^FO50,120^BCN,120,Y,N,N^FD{tracking_number}^FS^XZ\n"
    ).encode()


def _money(value: Decimal) -> float:
    return float(value.quantize(CENT, ROUND_HALF_UP))


def _business_days_after(start: date, days: int) -> date:
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def _errors(status: int, code: str, message: str) -> flask.Response:
    response = flask.jsonify(transactionId=str(uuid.uuid4()), errors=[{"code": code, "message": message}])
    response.status_code = status
    return response


class _Refused(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class _Shipment:
    tracking_number: str
    key: str | None
    service: str
    created_at: datetime
    charge: Decimal
    origin: dict[str, Any]
    destination: dict[str, Any]
    cancelled_at: datetime | None = None


class FedexSandbox(Sandbox):
    """FedEx for one project and account; see the module docstring."""

    name = "fedex"

    def __init__(
        self,
        *,
        seed: int = 0,
        faults: Faults | None = None,
        clock: SandboxClock | None = None,
        step: timedelta = timedelta(hours=6),
        api_key: str | None = None,
        secret_key: str = "sandbox-fedex-secret-key",
        account_number: str = "740561073",
        token_seconds: int = 3599,
    ) -> None:
        super().__init__(seed=seed, faults=faults)
        self.clock = clock or SandboxClock()
        self.step = step
        #: a new project per sandbox unless given: token caches never mix two sandboxes
        self.api_key = api_key or f"l7{uuid.uuid4().hex[:30]}"
        self.secret_key = secret_key
        self.account_number = account_number
        self.token_seconds = token_seconds
        self.token_requests = 0
        #: token lifetimes run on real time (``timer``), not the parcels' clock: a tick moves
        #: parcels hours on without expiring the hub's token
        self.timer = time.monotonic
        self._tokens: dict[str, float] = {}
        self._shipments: dict[str, _Shipment] = {}
        self._sold: Counter[str] = Counter()
        self.voids: list[str] = []
        #: tracking numbers asked per Track call (batch sizes)
        self.track_batches: list[int] = []

    # -- accessors for tests ----------------------------------------------------------------
    @property
    def labels_sold(self) -> int:
        with self.lock:
            return len(self._shipments)

    def labels_sold_for(self, key: str) -> int:
        with self.lock:
            return self._sold[key]

    def tracking_numbers(self) -> list[str]:
        with self.lock:
            return list(self._shipments)

    def expire_tokens(self) -> None:
        """Every token issued so far stops working (the next call gets 401)."""
        with self.lock:
            self._tokens.clear()

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {
                "labels_sold": len(self._shipments),
                "labels_by_key": dict(self._sold),
                "voids": list(self.voids),
                "token_requests": self.token_requests,
                "track_batches": list(self.track_batches),
                "now": self.clock.now().isoformat(),
            }

    # -- Sandbox hooks -----------------------------------------------------------------------
    def tick(self) -> None:
        """Every parcel moves one step on."""
        self.clock.advance(self.step)

    def connection_values(self) -> dict[str, Any]:
        return {
            "api_key": self.api_key,
            "secret_key": self.secret_key,
            "account_number": self.account_number,
            "environment": "sandbox",
            "url": self.url,
        }

    def rate_limited_response(self) -> flask.Response:
        return _errors(
            429, "TOO.MANY.REQUESTS.ERROR", "We have received too many requests in a short duration."
        )

    def error_response(self, status: int) -> flask.Response:
        if status == 503:
            return _errors(
                503,
                "SERVICE.UNAVAILABLE.ERROR",
                "The service is currently unavailable and we are working to resolve the issue.",
            )
        return _errors(500, "INTERNAL.SERVER.ERROR", "We encountered an unexpected error.")

    def routes(self, app: flask.Flask) -> None:
        app.before_request(self._authenticate)
        app.add_url_rule("/oauth/token", "token", self._token, methods=["POST"])
        app.add_url_rule("/rate/v1/rates/quotes", "rates", self._rates, methods=["POST"])
        app.add_url_rule("/ship/v1/shipments", "ship", self._ship, methods=["POST"])
        app.add_url_rule("/ship/v1/shipments/cancel", "cancel", self._cancel, methods=["PUT"])
        app.add_url_rule("/track/v1/trackingnumbers", "track", self._track, methods=["POST"])
        app.add_url_rule("/_sandbox/fedex", "summary", lambda: self.summary(), methods=["GET"])
        app.register_error_handler(
            404,
            lambda _: _errors(404, "NOT.FOUND.ERROR", "The resource you requested is no longer available."),
        )

    # -- auth --------------------------------------------------------------------------------
    def _authenticate(self) -> flask.Response | None:
        path = flask.request.path
        if path.startswith("/_sandbox") or path == "/oauth/token":
            return None
        header = flask.request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        with self.lock:
            expires = self._tokens.get(token)
        if expires is None or expires <= self.timer():
            return _errors(
                401, "NOT.AUTHORIZED.ERROR", "Access token expired. Please modify your request and try again."
            )
        return None

    def _token(self) -> ResponseReturnValue:
        form = flask.request.form
        if flask.request.mimetype != "application/x-www-form-urlencoded":
            return _errors(400, "BAD.REQUEST.ERROR", "The request must be application/x-www-form-urlencoded.")
        if form.get("grant_type") != "client_credentials":
            return _errors(400, "GRANT.TYPE.INVALID", "The given grant_type is not supported.")
        with self.lock:
            self.token_requests += 1
            if form.get("client_id") != self.api_key or form.get("client_secret") != self.secret_key:
                return _errors(401, "NOT.AUTHORIZED.ERROR", "The given client credentials were not valid.")
            token = f"sbx.{uuid.uuid4().hex}{uuid.uuid4().hex}"
            self._tokens[token] = self.timer() + self.token_seconds
        return {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": self.token_seconds,
            "scope": "CXS-TP",
        }

    # -- rates -------------------------------------------------------------------------------
    def _request_json(self) -> dict[str, Any]:
        body = flask.request.get_json(silent=True)
        if not isinstance(body, dict):
            raise _Refused("INVALID.INPUT.EXCEPTION", "Invalid field value in the input")
        if (body.get("accountNumber") or {}).get("value") != self.account_number:
            raise _Refused(
                "ACCOUNT.NUMBER.MISMATCH",
                "When payment Type is SENDER, ShippingChargesPayment Payor AccountNumber should match the "
                "shipper account number.",
            )
        return body

    @staticmethod
    def _pounds(items: Any) -> Decimal:
        if not isinstance(items, list) or not items:
            raise _Refused("PACKAGE.WEIGHT.REQUIRED", "requestedPackageLineItems with a weight are required.")
        total = Decimal(0)
        for item in items:
            weight = (item or {}).get("weight") or {}
            try:
                value = Decimal(str(weight.get("value")))
            except ArithmeticError:
                raise _Refused("WEIGHT.VALUE.INVALID", "Package weight is not valid.") from None
            if not value.is_finite() or value <= 0 or weight.get("units") not in ("LB", "KG"):
                raise _Refused("WEIGHT.VALUE.INVALID", "Package weight is not valid.")
            total += value * LB_PER_KG if weight["units"] == "KG" else value
        return total

    def _lane(
        self, shipment: dict[str, Any], recipient_key: str
    ) -> tuple[dict[str, Any], dict[str, Any], int]:
        origin = ((shipment.get("shipper") or {}).get("address")) or {}
        recipient = shipment.get(recipient_key)
        if isinstance(recipient, list):
            recipient = recipient[0] if recipient else {}
        destination = (recipient or {}).get("address") or {}
        for side, address in (("SHIPPER", origin), ("RECIPIENT", destination)):
            if not address.get("countryCode"):
                raise _Refused(f"{side}.COUNTRY.REQUIRED", f"{side.title()} country code is required.")
        digits = [str(a.get("postalCode") or "0")[:1] for a in (origin, destination)]
        zone = 2 + abs(int(digits[0]) - int(digits[1])) if all(d.isdigit() for d in digits) else 5
        return origin, destination, zone

    def _services(
        self, origin: dict[str, Any], destination: dict[str, Any]
    ) -> dict[str, tuple[int, str, str, bool]]:
        return DOMESTIC if origin.get("countryCode") == destination.get("countryCode") else INTERNATIONAL

    def _price(self, spec: tuple[int, str, str, bool], pounds: Decimal, zone: int) -> Decimal:
        _, base, per_lb, _ = spec
        billed = max(Decimal(1), pounds.to_integral_value(rounding="ROUND_CEILING"))
        return (Decimal(base) + Decimal(per_lb) * billed * (1 + Decimal(zone) / 10)).quantize(
            CENT, ROUND_HALF_UP
        )

    def _rated(self, rate_type: str, net: Decimal, pounds: Decimal, zone: int) -> dict[str, Any]:
        base = (net / (1 + FUEL)).quantize(CENT, ROUND_HALF_UP)
        fuel = net - base
        return {
            "rateType": rate_type,
            "ratedWeightMethod": "ACTUAL",
            "totalDiscounts": 0,
            "totalBaseCharge": _money(base),
            "totalNetCharge": _money(net),
            "totalNetFedExCharge": _money(net),
            "shipmentRateDetail": {
                "rateZone": str(zone),
                "dimDivisor": 139,
                "fuelSurchargePercent": float(FUEL * 100),
                "totalSurcharges": _money(fuel),
                "surCharges": [
                    {
                        "type": "FUEL",
                        "description": "Fuel Surcharge",
                        "level": "PACKAGE",
                        "amount": _money(fuel),
                    }
                ],
                "totalBillingWeight": {"units": "LB", "value": float(pounds.quantize(CENT))},
                "currency": "USD",
            },
            "currency": "USD",
        }

    def _reply_detail(
        self, code: str, spec: tuple[int, str, str, bool], pounds: Decimal, zone: int, ship_day: date
    ) -> dict[str, Any]:
        days, _, _, express = spec
        listed = self._price(spec, pounds, zone)
        account = (listed * DISCOUNT).quantize(CENT, ROUND_HALF_UP)
        arrives = _business_days_after(ship_day, days)
        stamp = f"{arrives.isoformat()}T{'10:30:00' if express else '23:59:00'}"
        words = f"{WORDS[days - 1]}_DAY{'S' if days > 1 else ''}"
        return {
            "serviceType": code,
            "serviceName": SERVICE_NAMES[code] + "®",
            "packagingType": "YOUR_PACKAGING",
            "ratedShipmentDetails": [
                self._rated("ACCOUNT", account, pounds, zone),
                self._rated("LIST", listed, pounds, zone),
            ],
            "operationalDetail": {
                "transitTime": words,
                "deliveryDate": stamp,
                "deliveryDay": WEEKDAYS[arrives.weekday()],
                "commitDays": [WEEKDAYS[arrives.weekday()]],
                "ineligibleForMoneyBackGuarantee": not express,
            },
            "commit": {
                "dateDetail": {"dayOfWeek": WEEKDAYS[arrives.weekday()].title(), "dayFormat": stamp},
                "transitDays": {"minimumTransitTime": words, "description": f"{days} Business Days"},
                "saturdayDelivery": False,
            },
            "signatureOptionType": "SERVICE_DEFAULT",
        }

    def _ship_day(self, text: Any) -> date:
        if text:
            try:
                return date.fromisoformat(str(text))
            except ValueError:
                raise _Refused("SHIPDATESTAMP.INVALID", "Ship date is not valid.") from None
        return self.clock.now().astimezone(LOCAL).date()

    def _envelope(self, output: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"transactionId": str(uuid.uuid4())}
        if tid := flask.request.headers.get("x-customer-transaction-id"):
            out["customerTransactionId"] = tid
        out["output"] = output
        return out

    def _rates(self) -> ResponseReturnValue:
        try:
            body = self._request_json()
            shipment = body.get("requestedShipment") or {}
            origin, destination, zone = self._lane(shipment, "recipient")
            pounds = self._pounds(shipment.get("requestedPackageLineItems"))
            services = self._services(origin, destination)
            wanted = shipment.get("serviceType")
            if wanted is not None and wanted not in services:
                raise _Refused(
                    "SERVICE.TYPE.INVALID", f"{wanted} is not available for this origin and destination."
                )
            ship_day = self._ship_day(shipment.get("shipDateStamp"))
        except _Refused as exc:
            return _errors(400, exc.code, str(exc))
        details = [
            self._reply_detail(code, spec, pounds, zone, ship_day)
            for code, spec in services.items()
            if wanted is None or code == wanted
        ]
        return self._envelope(
            {"rateReplyDetails": details, "quoteDate": ship_day.isoformat(), "encoded": False}
        )

    # -- ship and cancel ---------------------------------------------------------------------
    def _new_tracking_number(self) -> str:
        while True:
            number = f"7949{self.rng.randrange(10**8):08d}"
            if number not in self._shipments:
                return number

    def _ship(self) -> ResponseReturnValue:
        try:
            body = self._request_json()
            shipment = body.get("requestedShipment") or {}
            origin, destination, zone = self._lane(shipment, "recipients")
            items = shipment.get("requestedPackageLineItems")
            pounds = self._pounds(items)
            code = shipment.get("serviceType")
            spec = self._services(origin, destination).get(str(code))
            if spec is None:
                raise _Refused(
                    "SERVICE.TYPE.INVALID", f"{code} is not available for this origin and destination."
                )
            image = (shipment.get("labelSpecification") or {}).get("imageType")
            if image not in IMAGE_TYPES:
                raise _Refused("LABEL.IMAGETYPE.INVALID", "Label image type is not valid.")
            if body.get("labelResponseOptions") not in ("LABEL", "URL_ONLY"):
                raise _Refused("LABELRESPONSEOPTIONS.REQUIRED", "labelResponseOptions is required.")
            ship_day = self._ship_day(shipment.get("shipDatestamp"))
        except _Refused as exc:
            return _errors(400, exc.code, str(exc))
        charge = (self._price(spec, pounds, zone) * DISCOUNT).quantize(CENT, ROUND_HALF_UP)
        key = flask.request.headers.get("x-customer-transaction-id")
        with self.lock:
            numbers = [self._new_tracking_number() for _ in items]
            master = numbers[0]
            self._shipments[master] = _Shipment(
                master, key, str(code), self.clock.now(), charge, origin, destination
            )
            self._sold[key or ""] += 1
        name = SERVICE_NAMES[str(code)]
        pieces = []
        for i, (number, item) in enumerate(zip(numbers, items, strict=True), start=1):
            data = {
                "PDF": lambda n=number: label_pdf(n, name),
                "PNG": lambda n=number: label_png(n),
                "ZPLII": lambda n=number: label_zpl(n, name),
            }[image]()
            pieces.append(
                {
                    "masterTrackingNumber": master,
                    "trackingNumber": number,
                    "packageSequenceNumber": i,
                    "netChargeAmount": _money(charge / len(numbers)),
                    "customerReferences": list((item or {}).get("customerReferences") or []),
                    "packageDocuments": [
                        {
                            "contentType": "LABEL",
                            "copiesToPrint": 1,
                            "docType": image,
                            "encodedLabel": base64.b64encode(data).decode(),
                        }
                    ],
                }
            )
        rating = {
            "actualRateType": "PAYOR_ACCOUNT_SHIPMENT",
            "shipmentRateDetails": [
                {"rateType": "PAYOR_ACCOUNT_SHIPMENT", "totalNetCharge": _money(charge), "currency": "USD"}
            ],
        }
        return self._envelope(
            {
                "transactionShipments": [
                    {
                        "serviceType": code,
                        "serviceName": name + "®",
                        "shipDatestamp": ship_day.isoformat(),
                        "serviceCategory": "EXPRESS" if spec[3] else "GROUND",
                        "masterTrackingNumber": master,
                        "pieceResponses": pieces,
                        "completedShipmentDetail": {
                            "usDomestic": origin.get("countryCode") == destination.get("countryCode") == "US",
                            "masterTrackingId": {
                                "trackingIdType": "EXPRESS" if spec[3] else "GROUND",
                                "trackingNumber": master,
                            },
                            "shipmentRating": rating,
                        },
                        "alerts": [],
                    }
                ]
            }
        )

    def _cancel(self) -> ResponseReturnValue:
        try:
            body = self._request_json()
        except _Refused as exc:
            return _errors(400, exc.code, str(exc))
        number = str(body.get("trackingNumber") or "")
        with self.lock:
            shipment = self._shipments.get(number)
            now = self.clock.now()
            if shipment is None:
                return _errors(400, "TRACKING.NUMBER.NOTFOUND", "The tracking number could not be found.")
            if shipment.cancelled_at is None and now >= shipment.created_at + self.step * TIMELINE[1][0]:
                return _errors(
                    400,
                    "SHIPMENT.ALREADY.TENDERED",
                    "The shipment was tendered to FedEx and cannot be cancelled.",
                )
            if shipment.cancelled_at is None:
                shipment.cancelled_at = now
                self.voids.append(number)
        return self._envelope(
            {"cancelledShipment": True, "cancelledHistory": True, "successMessage": "Success"}
        )

    # -- tracking ----------------------------------------------------------------------------
    def _scan(
        self, shipment: _Shipment, when: datetime, code: str, text: str, derived: str
    ) -> dict[str, Any]:
        place = shipment.destination if code in ("OD", "DL") else shipment.origin
        return {
            "date": when.astimezone(LOCAL).isoformat(timespec="seconds"),
            "eventType": code,
            "eventDescription": text,
            "exceptionCode": "",
            "exceptionDescription": "",
            "scanLocation": {
                "city": place.get("city"),
                "stateOrProvinceCode": place.get("stateOrProvinceCode"),
                "postalCode": place.get("postalCode"),
                "countryCode": place.get("countryCode"),
                "residential": False,
            },
            "derivedStatusCode": derived,
        }

    def _track_result(self, shipment: _Shipment, now: datetime) -> dict[str, Any]:
        scans = []
        for steps, code, text, derived in TIMELINE:
            when = shipment.created_at + self.step * steps
            if when > now or (shipment.cancelled_at is not None and when > shipment.cancelled_at):
                break
            scans.append(self._scan(shipment, when, code, text, derived))
        if shipment.cancelled_at is not None:
            scans.append(
                self._scan(shipment, shipment.cancelled_at, "CA", "Shipment cancelled by sender", "CA")
            )
        scans.reverse()  # newest first, as FedEx lists them
        latest = next(s for s in scans if s["eventType"] != "AO")
        local = shipment.created_at.astimezone(LOCAL)
        dates = [
            {"type": "SHIP", "dateTime": local.replace(hour=0, minute=0, second=0, microsecond=0).isoformat()}
        ]
        by_code = {s["eventType"]: s["date"] for s in scans}
        if "PU" in by_code:
            dates.append({"type": "ACTUAL_PICKUP", "dateTime": by_code["PU"]})
        if "DL" in by_code:
            dates.append({"type": "ACTUAL_DELIVERY", "dateTime": by_code["DL"]})
        elif shipment.cancelled_at is None:
            eta = (shipment.created_at + self.step * TIMELINE[-1][0]).astimezone(LOCAL)
            dates.append({"type": "ESTIMATED_DELIVERY", "dateTime": eta.isoformat(timespec="seconds")})
        return {
            "trackingNumberInfo": {
                "trackingNumber": shipment.tracking_number,
                "trackingNumberUniqueId": f"{local:%Y%j}000~{shipment.tracking_number}~FX",
                "carrierCode": "FDXE" if shipment.service != "FEDEX_GROUND" else "FDXG",
            },
            "latestStatusDetail": {
                "code": latest["eventType"],
                "derivedCode": latest["derivedStatusCode"],
                "statusByLocale": latest["eventDescription"],
                "description": latest["eventDescription"],
                "scanLocation": latest["scanLocation"],
            },
            "dateAndTimes": dates,
            "serviceDetail": {"type": shipment.service, "description": SERVICE_NAMES[shipment.service]},
            "scanEvents": scans,
        }

    def _track(self) -> ResponseReturnValue:
        body = flask.request.get_json(silent=True)
        infos = body.get("trackingInfo") if isinstance(body, dict) else None
        if not isinstance(infos, list) or not infos:
            return _errors(400, "TRACKING.TRACKINGNUMBER.EMPTY", "Please provide tracking number.")
        if len(infos) > 30:
            return _errors(
                400,
                "TRACKING.TRACKINGNUMBERS.LIMIT.EXCEEDED",
                "A request may hold at most 30 tracking numbers.",
            )
        now = self.clock.now()
        complete = []
        with self.lock:
            self.track_batches.append(len(infos))
            for info in infos:
                number = str(((info or {}).get("trackingNumberInfo") or {}).get("trackingNumber") or "")
                shipment = self._shipments.get(number)
                if shipment is not None:
                    result = self._track_result(shipment, now)
                else:
                    result = {
                        "trackingNumberInfo": {
                            "trackingNumber": number,
                            "trackingNumberUniqueId": "",
                            "carrierCode": "",
                        },
                        "error": {
                            "code": "TRACKING.TRACKINGNUMBER.NOTFOUND",
                            "message": "Tracking number cannot be found. Please correct the tracking number "
                            "and try again.",
                        },
                    }
                complete.append({"trackingNumber": number, "trackResults": [result]})
        return self._envelope({"completeTrackResults": complete})
