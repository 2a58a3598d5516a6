"""A simulated UPS on loopback: the real paths and JSON shapes of the OAuth token endpoint,
Rating, Shipping (ship, void, Label Recovery), Track and Track Alert.

- ``POST /security/v1/oauth/token`` checks the Basic client id/secret and hands out bearer
  tokens (all values strings, as UPS sends them); :attr:`UpsSandbox.token_requests` counts them
  and :meth:`UpsSandbox.expire_tokens` makes every issued token answer 401 (code 250002).
- Rating prices every service between the two addresses from the billed weight, with
  negotiated rates (about 9 % off) when asked, transit days and arrival dates for the
  ``…timeintransit`` options; one ``RatedShipment`` comes as an object, several as a list.
- Shipping sells a label (a valid GIF, PNG or ZPL, base64) per request. UPS takes no
  idempotency key, so neither does the sandbox: the same request twice sells two labels.
  Each sale is counted under its shipper reference (the hub puts its idempotency key there),
  and Label Recovery finds a label again by that reference.
- Track moves each parcel through label created → picked up → in transit → out for
  delivery → delivered as the sandbox clock passes ``stage_seconds`` per step.
- Track Alert subscriptions (v1: ``destination{url, credentialType, credential}``) get each
  new event POSTed by :meth:`UpsSandbox.deliver_pending` (``tick``) with the ``credential``
  header and ``User-Agent: UPSPubSubTrackingService``.

Control: ``GET /_sandbox/ups/labels`` (labels sold, total and per reference; voids; token
requests), ``POST /_sandbox/ups/advance`` ``{"seconds": n}``. Error codes the reference does
not document (label not found, void refused) are the sandbox's own, marked below."""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import secrets
import struct
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import flask
import orjson
from flask.typing import ResponseReturnValue

from hub.sandbox import Faults, Sandbox, SandboxClock

#: a 1x1 GIF89a (UPS's default label format is GIF)
GIF_LABEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
ZPL_LABEL = b"^XA^FO50,50^A0N,40,40^FDUPS SANDBOX^FS^XZ"

#: (service code, base price, price per kg, business days, guaranteed) by route kind
DOMESTIC_SERVICES = (
    ("03", "9.50", "1.10", 4, False),
    ("12", "18.00", "1.90", 3, True),
    ("02", "24.00", "2.60", 2, True),
    ("59", "29.00", "2.90", 2, True),
    ("13", "38.00", "3.80", 1, True),
    ("01", "45.00", "4.20", 1, True),
    ("14", "78.00", "5.10", 1, True),
)
INTERNATIONAL_SERVICES = (
    ("11", "32.00", "3.00", 6, False),
    ("08", "61.00", "5.50", 4, True),
    ("65", "79.00", "6.40", 3, True),
    ("07", "88.00", "7.10", 2, True),
    ("54", "130.00", "9.00", 1, True),
)
#: (activity type, code, 3-digit status code, description, city index) after each stage
STAGES = (
    ("M", "MP", "003", "Shipper created a label, UPS has not received the package yet."),
    ("I", "PU", "038", "Picked up by UPS"),
    ("I", "AR", "005", "Arrived at Facility"),
    ("I", "OT", "021", "Out For Delivery Today"),
    ("D", "FS", "011", "DELIVERED"),
)
LOCAL_OFFSET = timedelta(hours=-5)  # activity times in the sandbox's "local" zone
NUMBER_PATTERN = re.compile(r"[0-9A-Z]{7,34}")
TRACK_ALERT_PATTERN = re.compile(r"1Z[0-9A-Z]{16}")
CENT = Decimal("0.01")


def png_label(width: int = 4, height: int = 6) -> bytes:
    """A small valid greyscale PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def check_digit(body: str) -> str:
    """The 1Z check digit over the 15 characters after ``1Z``."""
    values = [int(c) if c.isdigit() else (ord(c) - 63) % 10 for c in body]
    total = sum(values[0::2]) + 2 * sum(values[1::2])
    return str((10 - total % 10) % 10)


def _errors(status: int, code: str, message: str) -> flask.Response:
    response = flask.jsonify(response={"errors": [{"code": code, "message": message}]})
    response.status_code = status
    return response


class UpsRefusal(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Sale:
    shipment_id: str
    numbers: list[str]
    reference: str | None
    service: str
    label_format: str
    image: bytes
    charge: Decimal
    currency: str
    created: datetime
    destination: dict[str, Any]
    voided: bool = False
    sent: dict[str, int] = field(default_factory=dict)  # tracking number -> events pushed


class UpsSandbox(Sandbox):
    name = "ups"

    def __init__(
        self,
        *,
        seed: int = 0,
        faults: Faults | None = None,
        clock: SandboxClock | None = None,
        stage_seconds: float = 600.0,
        client_id: str = "sandbox-ups-client-0123456789",
        client_secret: str = "sandbox-ups-secret-9876543210",
        account: str = "A1B2C3",
        token_lifetime_s: int = 14399,
    ) -> None:
        super().__init__(seed=seed, faults=faults)
        self.clock = clock or SandboxClock()
        self.stage_seconds = stage_seconds
        self.client_id, self.client_secret, self.account = client_id, client_secret, account
        self.token_lifetime_s = token_lifetime_s
        self.tokens: dict[str, datetime] = {}  # token -> expiry (sandbox time)
        self.token_requests = 0
        self.sales: list[Sale] = []
        self.by_number: dict[str, Sale] = {}
        self.voids = 0
        self.subscriptions: dict[str, dict[str, Any]] = {}  # number -> {url, credential, until}
        #: every Track Alert delivery: {"number", "code", "status"}
        self.deliveries: list[dict[str, Any]] = []
        self._serial = itertools.count(int(hashlib.sha256(f"{seed}".encode()).hexdigest()[:5], 16))

    # -- accessors for tests and make run ---------------------------------------------------------

    def connection_values(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "account_number": self.account,
            "environment": "sandbox",
            "url": self.url,
            "label_format": "GIF",
        }

    def labels_sold(self, reference: str | None = None) -> int:
        with self.lock:
            return sum(1 for s in self.sales if reference is None or s.reference == reference)

    def labels_by_reference(self) -> dict[str, int]:
        with self.lock:
            counts: dict[str, int] = {}
            for sale in self.sales:
                counts[sale.reference or ""] = counts.get(sale.reference or "", 0) + 1
            return counts

    def expire_tokens(self) -> None:
        """Every token issued so far answers 401 from now on (as an expired one does)."""
        with self.lock:
            self.tokens.clear()

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def tick(self) -> None:
        self.deliver_pending()

    def deliver_pending(self) -> list[int | None]:
        """POST every event that appeared since the last delivery to its subscription's URL."""
        now = self.clock.now()
        outgoing: list[tuple[str, str, dict[str, Any]]] = []
        with self.lock:
            for number, sub in self.subscriptions.items():
                sale = self.by_number.get(number)
                if sale is None or now > sub["until"]:
                    continue
                events = self._events(sale, now)
                for stage in range(sale.sent.get(number, sub["from"]), len(events)):
                    outgoing.append((sub["url"], sub["credential"], self._alert(sale, number, events[stage])))
                sale.sent[number] = max(len(events), sale.sent.get(number, sub["from"]))
        statuses: list[int | None] = []
        for url, credential, event in outgoing:
            headers = {
                "Content-Type": "application/json",
                "credential": credential,
                "User-Agent": "UPSPubSubTrackingService",
            }
            status = self.deliver_webhook(url, orjson.dumps(event), headers)
            statuses.extend(status)
            with self.lock:
                self.deliveries.append(
                    {
                        "number": event["trackingNumber"],
                        "code": event["activityStatus"]["code"],
                        "status": status,
                    }
                )
        return statuses

    # -- the UPS error bodies ------------------------------------------------------------------------

    def rate_limited_response(self) -> flask.Response:
        response = _errors(429, "429", "Rate Limit Exceeded")
        response.headers["Retry-After"] = "1"
        return response

    def error_response(self, status: int) -> flask.Response:
        if status == 503:
            return _errors(503, "503", "Service Unavailable")
        return _errors(500, "10004", "The system is temporarily unavailable. Please try again later.")

    # -- routes ---------------------------------------------------------------------------------------

    def routes(self, app: flask.Flask) -> None:
        app.register_error_handler(UpsRefusal, lambda e: _errors(e.status, e.code, e.message))
        app.add_url_rule("/security/v1/oauth/token", view_func=self._token, methods=["POST"])
        app.add_url_rule("/api/rating/<version>/<option>", view_func=self._rate, methods=["POST"])
        app.add_url_rule("/api/shipments/<version>/ship", view_func=self._ship, methods=["POST"])
        app.add_url_rule(
            "/api/shipments/<version>/void/cancel/<shipment_id>", view_func=self._void, methods=["DELETE"]
        )
        app.add_url_rule("/api/labels/<version>/recovery", view_func=self._recover, methods=["POST"])
        app.add_url_rule("/api/track/v1/details/<number>", view_func=self._track, methods=["GET"])
        app.add_url_rule(
            "/api/track/<version>/subscription/<kind>/package", view_func=self._subscribe, methods=["POST"]
        )
        app.add_url_rule("/_sandbox/ups/labels", view_func=self._control_labels, methods=["GET"])
        app.add_url_rule("/_sandbox/ups/advance", view_func=self._control_advance, methods=["POST"])

    def _control_labels(self) -> ResponseReturnValue:
        with self.lock:
            return {
                "labels_sold": len(self.sales),
                "by_reference": self.labels_by_reference(),
                "voids": self.voids,
                "token_requests": self.token_requests,
            }

    def _control_advance(self) -> ResponseReturnValue:
        data = flask.request.get_json(silent=True) or {}
        seconds = data.get("seconds") if isinstance(data, dict) else None
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            return {"error": 'body must be {"seconds": <number >= 0>}'}, 400
        return {"now": self.clock.advance(seconds).isoformat()}

    # -- auth -----------------------------------------------------------------------------------------

    def _token(self) -> ResponseReturnValue:
        with self.lock:
            self.token_requests += 1
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if flask.request.headers.get("Authorization", "") != f"Basic {expected}":
            raise UpsRefusal(401, "10401", "ClientId is Invalid")
        if flask.request.form.get("grant_type") != "client_credentials":
            raise UpsRefusal(400, "10400", "Invalid/Missing grant_type")
        token = secrets.token_urlsafe(24)
        now = self.clock.now()
        with self.lock:
            self.tokens[token] = now + timedelta(seconds=self.token_lifetime_s)
        return {
            "token_type": "Bearer",
            "issued_at": str(int(now.timestamp() * 1000)),
            "client_id": self.client_id,
            "access_token": token,
            "scope": "",
            "expires_in": str(self.token_lifetime_s),
            "refresh_count": "0",
            "status": "approved",
        }

    def _authorise(self) -> None:
        header = flask.request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise UpsRefusal(401, "UJ0001", "Invalid token or token is not present.")
        with self.lock:
            expiry = self.tokens.get(header[7:])
        if expiry is None or expiry <= self.clock.now():
            raise UpsRefusal(401, "250002", "Invalid Authentication Information.")

    def _json(self, root: str) -> dict[str, Any]:
        data = flask.request.get_json(silent=True)
        if not isinstance(data, dict) or not isinstance(data.get(root), dict):
            raise UpsRefusal(400, "250001", f"Invalid request: {root} missing")
        return data[root]

    # -- rating ---------------------------------------------------------------------------------------

    def _rate(self, version: str, option: str) -> ResponseReturnValue:
        self._authorise()
        request = self._json("RateRequest")
        shipment = request.get("Shipment") or {}
        option = option.lower()
        if option not in ("rate", "shop", "ratetimeintransit", "shoptimeintransit"):
            raise UpsRefusal(400, "111100", f"The requested option {option} is invalid.")
        origin, domestic = self._route(shipment)
        kg = self._kilograms(_listed(shipment.get("Package")))
        services = DOMESTIC_SERVICES if domestic else INTERNATIONAL_SERVICES
        if option.startswith("rate"):
            wanted = str((shipment.get("Service") or {}).get("Code") or "")
            services = tuple(s for s in services if s[0] == wanted)
            if not services:
                raise UpsRefusal(
                    400, "111210", "The requested service is unavailable between the selected locations."
                )
        negotiated = (shipment.get("ShipmentRatingOptions") or {}).get("NegotiatedRatesIndicator") == "Y"
        currency = "CAD" if origin == "CA" else ("EUR" if origin in ("DE", "FR", "NL", "IT", "ES") else "USD")
        rated = [
            self._rated(s, kg, currency, negotiated, option.endswith("timeintransit"), shipment)
            for s in services
        ]
        return {
            "RateResponse": {
                "Response": {
                    "ResponseStatus": {"Code": "1", "Description": "Success"},
                    "Alert": [
                        {
                            "Code": "110971",
                            "Description": "Your invoice may vary from the displayed reference rates",
                        }
                    ],
                    "TransactionReference": (request.get("Request") or {}).get("TransactionReference") or {},
                },
                "RatedShipment": rated[0] if len(rated) == 1 else rated,  # UPS's collapsing list
            }
        }

    def _route(self, shipment: dict[str, Any]) -> tuple[str, bool]:
        def country(party: str) -> str:
            return str(((shipment.get(party) or {}).get("Address") or {}).get("CountryCode") or "").upper()

        origin = country("ShipFrom") or country("Shipper")
        destination = country("ShipTo")
        if not origin or not destination:
            raise UpsRefusal(400, "111285", "The postal code and/or country code are missing or invalid.")
        return origin, origin == destination

    @staticmethod
    def _kilograms(packages: list[Any]) -> Decimal:
        if not packages:
            raise UpsRefusal(400, "111035", "Missing or invalid package weight.")
        total = Decimal(0)
        for package in packages:
            weight = package.get("PackageWeight") or {}
            try:
                value = Decimal(str(weight.get("Weight")))
            except ArithmeticError:
                raise UpsRefusal(400, "111035", "Missing or invalid package weight.") from None
            unit = str((weight.get("UnitOfMeasurement") or {}).get("Code") or "LBS")
            total += value * Decimal("0.45359237") if unit == "LBS" else value
        return total

    def _rated(
        self,
        service: tuple[str, str, str, int, bool],
        kg: Decimal,
        currency: str,
        negotiated: bool,
        transit: bool,
        shipment: dict[str, Any],
    ) -> dict[str, Any]:
        code, base, per_kg, days, guaranteed = service
        published = (Decimal(base) + Decimal(per_kg) * kg).quantize(CENT, ROUND_HALF_UP)
        out: dict[str, Any] = {
            "Service": {"Code": code, "Description": ""},
            "BillingWeight": {
                "UnitOfMeasurement": {"Code": "KGS"},
                "Weight": format(kg.quantize(Decimal("0.1")), "f"),
            },
            "TransportationCharges": {"CurrencyCode": currency, "MonetaryValue": str(published)},
            "ServiceOptionsCharges": {"CurrencyCode": currency, "MonetaryValue": "0.00"},
            "TotalCharges": {"CurrencyCode": currency, "MonetaryValue": str(published)},
        }
        if negotiated:
            account = (published * Decimal("0.91")).quantize(CENT, ROUND_HALF_UP)
            out["NegotiatedRateCharges"] = {
                "TotalCharge": {"CurrencyCode": currency, "MonetaryValue": str(account)}
            }
        if guaranteed:
            out["GuaranteedDelivery"] = {"BusinessDaysInTransit": str(days)}
        if transit:
            pickup = _pickup_date(shipment) or self.clock.now().date()
            arrival = _business_days_after(pickup, days)
            out["TimeInTransit"] = {
                "PickupDate": pickup.strftime("%Y%m%d"),
                "PackageBillType": "03",
                "ServiceSummary": {
                    "Service": {"Description": ""},
                    "EstimatedArrival": {
                        "Arrival": {"Date": arrival.strftime("%Y%m%d"), "Time": "230000"},
                        "BusinessDaysInTransit": str(days),
                        "TotalTransitDays": str((arrival - pickup).days),
                        "DayOfWeek": arrival.strftime("%a").upper(),
                    },
                    "GuaranteedIndicator": "1" if guaranteed else "",
                },
            }
        return out

    # -- shipping -------------------------------------------------------------------------------------

    def _ship(self, version: str) -> ResponseReturnValue:
        self._authorise()
        request = self._json("ShipmentRequest")
        shipment = request.get("Shipment") or {}
        shipper = shipment.get("Shipper") or {}
        if str(shipper.get("ShipperNumber") or "").upper() != self.account:
            raise UpsRefusal(400, "120100", "Missing or invalid shipper number")
        service = str((shipment.get("Service") or {}).get("Code") or "")
        if not service:
            raise UpsRefusal(400, "120024", "Missing or invalid service code")
        packages = _listed(shipment.get("Package"))
        kg = self._kilograms(packages)
        origin, domestic = self._route(shipment)
        services = {s[0]: s for s in (DOMESTIC_SERVICES if domestic else INTERNATIONAL_SERVICES)}
        if service not in services:
            raise UpsRefusal(
                400, "120051", "The requested service is unavailable between the selected locations."
            )
        fmt = str(
            ((request.get("LabelSpecification") or {}).get("LabelImageFormat") or {}).get("Code") or "GIF"
        )
        if fmt not in ("GIF", "PNG", "ZPL"):
            raise UpsRefusal(400, "120413", f"Invalid label image format {fmt}")
        references = [_reference(p) for p in packages] + [_reference(shipment)]
        reference = next((r for r in references if r), None)
        currency = "CAD" if origin == "CA" else "USD"
        published = self._rated(services[service], kg, currency, False, False, shipment)
        charge = Decimal(published["TotalCharges"]["MonetaryValue"])
        with self.lock:
            numbers = [self._new_number(service) for _ in packages]
            sale = Sale(
                shipment_id=numbers[0],
                numbers=numbers,
                reference=reference,
                service=service,
                label_format=fmt,
                image={"GIF": GIF_LABEL, "PNG": png_label(), "ZPL": ZPL_LABEL}[fmt],
                charge=charge,
                currency=currency,
                created=self.clock.now(),
                destination=(shipment.get("ShipTo") or {}).get("Address") or {},
            )
            self.sales.append(sale)
            for number in numbers:
                self.by_number[number] = sale
        results = [self._package_result(sale, n) for n in numbers]
        body: dict[str, Any] = {
            "ShipmentCharges": {
                "TransportationCharges": {"CurrencyCode": currency, "MonetaryValue": str(charge)},
                "TotalCharges": {"CurrencyCode": currency, "MonetaryValue": str(charge)},
            },
            "BillingWeight": {
                "UnitOfMeasurement": {"Code": "KGS"},
                "Weight": format(kg.quantize(Decimal("0.1")), "f"),
            },
            "ShipmentIdentificationNumber": sale.shipment_id,
            "PackageResults": results[0] if len(results) == 1 else results,
        }
        if (shipment.get("ShipmentRatingOptions") or {}).get("NegotiatedRatesIndicator") == "Y":
            account = (charge * Decimal("0.91")).quantize(CENT, ROUND_HALF_UP)
            body["NegotiatedRateResult"] = {
                "NegotiatedRateCharges": {
                    "TotalCharge": {"CurrencyCode": currency, "MonetaryValue": str(account)}
                }
            }
        return {
            "ShipmentResponse": {
                "Response": {
                    "ResponseStatus": {"Code": "1", "Description": "Success"},
                    "TransactionReference": (request.get("Request") or {}).get("TransactionReference") or {},
                },
                "ShipmentResults": body,
            }
        }

    def _new_number(self, service: str) -> str:
        body = f"{self.account}{service[-2:].zfill(2)}{next(self._serial) % 10**7:07d}"
        return f"1Z{body}{check_digit(body)}"

    @staticmethod
    def _package_result(sale: Sale, number: str) -> dict[str, Any]:
        label: dict[str, Any] = {
            "ImageFormat": {"Code": sale.label_format, "Description": sale.label_format},
            "GraphicImage": base64.b64encode(sale.image).decode(),
        }
        if sale.label_format in ("GIF", "PNG"):
            html = f'<html><body><img src="./label{number}.{sale.label_format.lower()}"></body></html>'
            label["HTMLImage"] = base64.b64encode(html.encode()).decode()
        return {"TrackingNumber": number, "ShippingLabel": label}

    def _void(self, version: str, shipment_id: str) -> ResponseReturnValue:
        self._authorise()
        now = self.clock.now()
        with self.lock:
            sale = self.by_number.get(shipment_id)
            if sale is None or sale.shipment_id != shipment_id:
                # sandbox's own code: the reference does not document UPS's "not found" for void
                raise UpsRefusal(
                    400, "190117", "No shipment found with the given shipment identification number"
                )
            if sale.voided:
                raise UpsRefusal(400, "190102", "The shipment has already been voided")
            if self._stage(sale, now) > 0:
                raise UpsRefusal(400, "190100", "The shipment has been picked up and cannot be voided")
            sale.voided = True
            self.voids += 1
        return {
            "VoidShipmentResponse": {
                "Response": {"ResponseStatus": {"Code": "1", "Description": "Success"}},
                "SummaryResult": {"Status": {"Code": "1", "Description": "Voided"}},
            }
        }

    def _recover(self, version: str) -> ResponseReturnValue:
        self._authorise()
        request = self._json("LabelRecoveryRequest")
        values = request.get("ReferenceValues") or {}
        reference = str((values.get("ReferenceNumber") or {}).get("Value") or "")
        number = str(request.get("TrackingNumber") or "")
        with self.lock:
            if number:
                sale = self.by_number.get(number)
            elif reference and str(values.get("ShipperNumber") or "").upper() == self.account:
                sale = next((s for s in reversed(self.sales) if s.reference == reference), None)
            else:
                sale = None
        if sale is None:
            # sandbox's own code: the reference does not document Label Recovery's "not found"
            raise UpsRefusal(400, "120541", "No label found for the reference or tracking number")
        results = [
            {
                "TrackingNumber": n,
                "LabelImage": {
                    "LabelImageFormat": {"Code": sale.label_format},
                    "GraphicImage": base64.b64encode(sale.image).decode(),
                },
            }
            for n in sale.numbers
        ]
        return {
            "LabelRecoveryResponse": {
                "Response": {"ResponseStatus": {"Code": "1", "Description": "Success"}},
                "ShipmentIdentificationNumber": sale.shipment_id,
                "LabelResults": results[0] if len(results) == 1 else results,
            }
        }

    # -- tracking -------------------------------------------------------------------------------------

    def _stage(self, sale: Sale, now: datetime) -> int:
        elapsed = (now - sale.created).total_seconds()
        return min(int(elapsed // self.stage_seconds), len(STAGES) - 1) if elapsed >= 0 else 0

    def _events(self, sale: Sale, now: datetime) -> list[tuple[datetime, tuple[str, str, str, str]]]:
        """(UTC moment, stage) of every event so far, oldest first; a void ends the story."""
        if sale.voided:
            return [
                (sale.created, STAGES[0]),
                (sale.created + timedelta(seconds=1), ("MV", "VP", "007", "Shipment information voided")),
            ]
        last = self._stage(sale, now)
        step = timedelta(seconds=self.stage_seconds)
        return [(sale.created + i * step, STAGES[i]) for i in range(last + 1)]

    def _activity(self, sale: Sale, at: datetime, stage: tuple[str, str, str, str]) -> dict[str, Any]:
        kind, code, status_code, description = stage
        local = at + LOCAL_OFFSET
        address = {"countryCode": "US", "country": "US"}
        if kind in ("I", "D"):
            dest = sale.destination
            address = {
                "city": dest.get("City") or "ATLANTA",
                "stateProvince": dest.get("StateProvinceCode") or "GA",
                "postalCode": dest.get("PostalCode") or "",
                "countryCode": dest.get("CountryCode") or "US",
                "country": dest.get("CountryCode") or "US",
            }
        return {
            "location": {"address": address, "slic": "0761"},
            "status": {"type": kind, "description": description, "code": code, "statusCode": status_code},
            "date": local.strftime("%Y%m%d"),
            "time": local.strftime("%H%M%S"),
            "gmtDate": at.strftime("%Y%m%d"),
            "gmtTime": at.strftime("%H:%M:%S"),
            "gmtOffset": "-05:00",
        }

    def _track(self, number: str) -> ResponseReturnValue:
        self._authorise()
        number = number.strip().upper()
        if not NUMBER_PATTERN.fullmatch(number):
            raise UpsRefusal(400, "TV1002", "Invalid inquiry number")
        now = self.clock.now()
        with self.lock:
            sale = self.by_number.get(number)
            if sale is None:
                return {
                    "trackResponse": {
                        "shipment": [
                            {
                                "inquiryNumber": number,
                                "warnings": [{"code": "TW0001", "message": "Tracking Information Not Found"}],
                            }
                        ]
                    }
                }
            events = self._events(sale, now)
            activities = [self._activity(sale, at, stage) for at, stage in reversed(events)]
            delivered = events[-1][1][0] == "D"
            scheduled = _business_days_after(sale.created.date(), 2).strftime("%Y%m%d")
        package: dict[str, Any] = {
            "trackingNumber": number,
            "deliveryDate": [
                {
                    "type": "DEL" if delivered else "SDD",
                    "date": activities[0]["date"] if delivered else scheduled,
                }
            ],
            "activity": activities,
            "currentStatus": dict(activities[0]["status"]),
            "packageCount": len(sale.numbers),
        }
        return {"trackResponse": {"shipment": [{"inquiryNumber": number, "package": [package]}]}}

    def _alert(
        self, sale: Sale, number: str, event: tuple[datetime, tuple[str, str, str, str]]
    ) -> dict[str, Any]:
        at, stage = event
        activity = self._activity(sale, at, stage)
        address = activity["location"]["address"]
        delivered = stage[0] == "D"
        return {
            "trackingNumber": number,
            "localActivityDate": activity["date"],
            "localActivityTime": activity["time"],
            "activityLocation": {
                "city": address.get("city", ""),
                "stateProvince": address.get("stateProvince", ""),
                "postalCode": address.get("postalCode", ""),
                "country": address.get("country", "US"),
            },
            "activityStatus": {
                "type": stage[0],
                "code": stage[1],
                "description": stage[3],
                "descriptionCode": stage[2],
            },
            "scheduledDeliveryDate": ""
            if delivered
            else _business_days_after(sale.created.date(), 2).strftime("%Y%m%d"),
            "actualDeliveryDate": activity["date"] if delivered else "",
            "actualDeliveryTime": activity["time"] if delivered else "",
            "gmtActivityDate": at.strftime("%Y%m%d"),
            "gmtActivityTime": at.strftime("%H%M%S"),
            "deliveryStartTime": "",
            "deliveryEndTime": "",
            "deliveryTimeDescription": "" if delivered else "end of day",
        }

    def _subscribe(self, version: str, kind: str) -> ResponseReturnValue:
        self._authorise()
        if not flask.request.headers.get("transId"):
            raise UpsRefusal(400, "VSS002", "Missing transId.")
        if not flask.request.headers.get("transactionSrc"):
            raise UpsRefusal(400, "VSS004", "Missing transactionSrc.")
        if kind not in ("standard", "enhanced"):
            raise UpsRefusal(
                400, "VSS930", "Type is missing or invalid, The Subscription request has been rejected."
            )
        data = flask.request.get_json(silent=True)
        if not isinstance(data, dict):
            raise UpsRefusal(400, "VSS110", "Subscription request is empty or not present.")
        if not data.get("locale"):
            raise UpsRefusal(400, "VSS300", "Locale is required. The Subscription request has been rejected.")
        numbers = data.get("trackingNumberList")
        if not isinstance(numbers, list) or not numbers:
            raise UpsRefusal(400, "VSS200", "Tracking Number List is required.")
        if len(numbers) > 100:
            raise UpsRefusal(400, "VSS220", "You have submitted over 100 1Z numbers which is not allowed.")
        destination = data.get("destination")
        if not isinstance(destination, dict):
            raise UpsRefusal(
                400, "VSS500", "Destination is required. The Subscription request has been rejected."
            )
        if not destination.get("url"):
            raise UpsRefusal(400, "VSS600", "URL is empty or not present.")
        if not destination.get("credential"):
            raise UpsRefusal(400, "VSS700", "Credential is empty or not present.")
        if not destination.get("credentialType"):
            raise UpsRefusal(400, "VSS800", "CredentialType is empty or not present.")
        valid = [str(n) for n in numbers if isinstance(n, str) and TRACK_ALERT_PATTERN.fullmatch(n)]
        invalid = [str(n) for n in numbers if str(n) not in valid]
        until = self.clock.now() + timedelta(days=14)
        with self.lock:
            for number in valid:
                sale = self.by_number.get(number)
                already = len(self._events(sale, self.clock.now())) if sale is not None else 0
                # no history is sent: only events after the subscription
                self.subscriptions[number] = {
                    "url": destination["url"],
                    "credential": destination["credential"],
                    "until": until,
                    "from": already,
                }
                if sale is not None:
                    sale.sent[number] = already
        out: dict[str, Any] = {"validTrackingNumbers": valid}
        if invalid:
            out["invalidTrackingNumbers"] = invalid
        return out


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _reference(holder: Any) -> str | None:
    for ref in _listed((holder or {}).get("ReferenceNumber")):
        if isinstance(ref, dict) and ref.get("Value"):
            return str(ref["Value"])
    return None


def _pickup_date(shipment: dict[str, Any]) -> Any:
    text = str(((shipment.get("DeliveryTimeInformation") or {}).get("Pickup") or {}).get("Date") or "")
    try:
        return datetime.strptime(text, "%Y%m%d").replace(tzinfo=UTC).date() if text else None
    except ValueError:
        return None


def _business_days_after(start: Any, days: int) -> Any:
    current = start
    left = days
    while left > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            left -= 1
    return current
