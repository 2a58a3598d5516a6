"""Simulated DHL Express MyDHL API (``/mydhlapi``) for the DHL Express connector.

Follows ``reference/carriers/dhl_express.md`` and DHL's OpenAPI examples:

* Auth: HTTP Basic on every call (401 problem body otherwise); no token endpoint exists, so
  there are no token requests to count, only accepted and refused calls.
* ``POST /rates``: products for the lane (domestic or international, dutiable or not), priced
  by chargeable weight (the higher of actual and volumetric, in the request's
  ``unitOfMeasurement``), ``totalPrice`` in ``BILLC``/``PULCL``/``BASEC``, a delivery estimate.
* ``POST /shipments`` (201): a 10-digit waybill, a piece id per package, the label as base64
  PDF (a small valid document) or ZPL, ``shipmentCharges``. DHL takes no idempotency key:
  the same request twice sells two labels, counted per shipment customer reference.
* ``GET /tracking`` (several waybills, or by ``shipmentReference`` with
  ``shipperAccountNumber`` and a date range) and ``GET /shipments/{n}/tracking``: events
  oldest first, local date and time without offset (``GMTOffset`` only with
  ``requestGMTOffsetPerEvent=true``), moving pickup -> transit -> courier -> delivered as the
  sandbox clock advances (``tick`` moves every parcel on two hours); 404 when nothing is found.
* No void and no webhooks: MyDHL API has neither.
* Errors are RFC 7807 style (``instance``, ``detail``, ``title``, ``message``, ``status`` as a
  string); injected 429/500/503 use the same shape.
* Control: ``GET /_sandbox/labels`` (sold, total and per reference), ``GET /_sandbox/auth``,
  ``POST /_sandbox/advance`` ``{"hours": n}``.
"""

from __future__ import annotations

import base64
import re
import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any

import flask
from flask.typing import ResponseReturnValue

from hub.sandbox import Faults, Sandbox, SandboxClock

__all__ = ["API", "DhlExpressSandbox", "minimal_pdf"]

API = "/mydhlapi"
PLANNED = re.compile(r"^(\d{4}-\d{2}-\d{2})T\d{2}:\d{2}:\d{2} ?GMT[+-]\d{2}:\d{2}$")
CENT = Decimal("0.01")
CURRENCIES = {"US": "USD", "GB": "GBP", "AU": "AUD", "NZ": "NZD", "SG": "SGD", "CA": "CAD", "JP": "JPY"}
EUR_PER = {"EUR": Decimal(1), "GBP": Decimal("1.157608"), "USD": Decimal("0.92"), "AUD": Decimal("0.61")}
#: code, name, base price, price per chargeable kg, transit days
DOMESTIC = (("N", "EXPRESS DOMESTIC", 12, "2.10", 1), ("1", "EXPRESS DOMESTIC 12:00", 19, "2.60", 1))
DUTIABLE = (
    ("P", "EXPRESS WORLDWIDE NONDOC", 38, "9.50", 3),
    ("Y", "EXPRESS 12:00 NONDOC", 52, "11.20", 2),
    ("H", "ECONOMY SELECT NONDOC", 24, "6.40", 6),
)
DOCUMENTS = (("D", "EXPRESS WORLDWIDE DOC", 30, "8.00", 3), ("T", "EXPRESS 12:00 DOC", 44, "9.80", 2))
#: what a shipment's parties must carry: (part, "a"ddress or "c"ontact, keys)
REQUIRED_PARTY = (
    ("postalAddress", "a", "cityName countryCode addressLine1"),
    ("contactInformation", "c", "phone companyName fullName"),
)
#: hours after the label, event code, description, where ("from" or "to")
TIMELINE = (
    (2, "PU", "Shipment picked up", "from"),
    (4, "AF", "Arrived at DHL Sort Facility - {area}", "from"),
    (5, "PL", "Processed at - {area}", "from"),
    (6, "DF", "Shipment has departed from a DHL facility - {area}", "from"),
    (20, "AR", "Arrived at DHL Delivery Facility - {area}", "to"),
    (26, "WC", "Shipment is out with courier for delivery", "to"),
    (30, "OK", "Delivered", "to"),
)


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF showing ``text`` (valid: header, objects, cross-reference table)."""
    safe = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    stream = f"BT /F1 14 Tf 20 250 Td ({safe}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 288 432] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _zpl(waybill: str, piece: str) -> bytes:
    return (
        f"^XA^FO40,40^A0N,40,40^FDDHL Express {waybill}^FS^FO40,110^BY3^BCN,120,Y,N,N^FD{piece}^FS^XZ\n"
    ).encode()


def _problem(status: int, title: str, detail: str, message: str | None = None) -> flask.Response:
    body = {
        "instance": flask.request.full_path.rstrip("?").replace(API, "/expressapi", 1),
        "detail": detail,
        "title": title,
        "message": message or title,
        "status": str(status),
    }
    response = flask.jsonify(body)
    response.status_code = status
    response.content_type = "application/problem+json"
    return response


class _Refused(Exception):
    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


def _area(address: dict[str, Any]) -> dict[str, str]:
    city = str(address.get("cityName") or "UNKNOWN").upper()
    country = str(address.get("countryCode") or "").upper()
    return {"code": re.sub(r"[^A-Z]", "", city)[:3] or "XXX", "description": f"{city}-{country}"}


class DhlExpressSandbox(Sandbox):
    """A MyDHL API account; see the module docstring for the wire rules."""

    name = "dhl_express"

    def __init__(
        self,
        *,
        seed: int = 0,
        faults: Faults | None = None,
        clock: SandboxClock | None = None,
        api_key: str = "sbxdhlexpress01",
        api_secret: str = "sbx-dhl-secret-0000000001",
        account: str = "123456789",
    ) -> None:
        super().__init__(seed=seed, faults=faults)
        self.clock = clock or SandboxClock()
        self.api_key, self.api_secret, self.account = api_key, api_secret, account
        self.shipments: dict[str, dict[str, Any]] = {}
        self.sold_by_reference: Counter[str] = Counter()
        self.auth = Counter[str]()
        self._waybill = 1103733901 + 1000 * (seed % 1000)
        self._sold_lock = threading.Lock()

    # -- accessors ---------------------------------------------------------------------------
    @property
    def labels_sold(self) -> int:
        with self.lock:
            return len(self.shipments)

    def labels_for(self, reference: str) -> int:
        """Labels sold under a shipment customer reference (the hub's idempotency key)."""
        with self.lock:
            return self.sold_by_reference[reference]

    def connection_values(self) -> dict[str, Any]:
        return {
            "api_key": self.api_key,
            "api_secret": self.api_secret,
            "account_number": self.account,
            "environment": "sandbox",
            "url": f"{self.url}{API}",
            "unit_of_measurement": "metric",
            "label_format": "PDF",
        }

    def tick(self) -> None:
        """Parcels move on two hours: each undelivered shipment is backdated (the clock stays
        with the hub's, so reference lookups by date still find it)."""
        step, last = timedelta(hours=2), timedelta(hours=TIMELINE[-1][0])
        with self.lock:
            now = self.clock.now()
            for shipment in self.shipments.values():
                if now - shipment["created"] < last:
                    shipment["created"] -= step

    # -- framework hooks ---------------------------------------------------------------------
    def rate_limited_response(self) -> flask.Response:
        response = _problem(429, "Too Many Requests", "Rate limit exceeded, please retry later")
        response.headers["Retry-After"] = "1"
        return response

    def error_response(self, status: int) -> flask.Response:
        if status == 503:
            return _problem(503, "Service Unavailable", "The service is temporarily unavailable")
        return _problem(500, "Internal Server Error", "999: Processing error, please retry")

    def routes(self, app: flask.Flask) -> None:
        app.before_request(self._authenticate)
        app.register_error_handler(_Refused, lambda e: _problem(e.status, e.title, e.detail))
        app.register_error_handler(404, lambda _: _problem(404, "Not Found", "Requested resource not found"))
        app.register_error_handler(405, lambda _: _problem(405, "Method Not Allowed", "Method not allowed"))
        app.add_url_rule(f"{API}/rates", "rates", self._rates, methods=["POST"])
        app.add_url_rule(f"{API}/shipments", "shipments", self._create_shipment, methods=["POST"])
        app.add_url_rule(f"{API}/tracking", "tracking", self._tracking, methods=["GET"])
        app.add_url_rule(f"{API}/shipments/<number>/tracking", "track_one", self._track_one, methods=["GET"])
        app.add_url_rule(f"{API}/address-validate", "address", self._address_validate, methods=["GET"])
        app.add_url_rule("/_sandbox/labels", "labels", self._labels_view, methods=["GET"])
        app.add_url_rule("/_sandbox/auth", "auth", lambda: dict(self.auth), methods=["GET"])
        app.add_url_rule("/_sandbox/advance", "advance", self._advance_view, methods=["POST"])

    # -- auth and checks ---------------------------------------------------------------------
    def _authenticate(self) -> flask.Response | None:
        if not flask.request.path.startswith(API):
            return None
        auth = flask.request.authorization
        ok = auth is not None and auth.type == "basic"
        ok = ok and auth is not None and (auth.username, auth.password) == (self.api_key, self.api_secret)
        with self.lock:
            self.auth["accepted" if ok else "refused"] += 1
        if not ok:
            response = _problem(401, "Unauthorized", "Invalid credentials")
            response.headers["WWW-Authenticate"] = 'Basic realm="MyDHL API"'
            return response
        reference = flask.request.headers.get("Message-Reference")
        if reference is not None and not 1 <= len(reference) <= 36:
            return _problem(400, "Bad request", "Parameters not having correct format: Message-Reference")
        return None

    def _json(self) -> dict[str, Any]:
        body = flask.request.get_json(silent=True)
        if not isinstance(body, dict):
            raise _Refused(400, "Bad request", "Request body is not a valid JSON object")
        return body

    def _check_account(self, body: dict[str, Any]) -> None:
        numbers = [a.get("number") for a in body.get("accounts") or [] if isinstance(a, dict)]
        if self.account not in numbers:
            raise _Refused(
                400,
                "Bad request",
                "The account number is not found or invalid. Please check the account number and retry.",
            )

    @staticmethod
    def _planned(body: dict[str, Any]) -> date:
        value = str(body.get("plannedShippingDateAndTime") or "")
        match = PLANNED.match(value)
        if match is None:
            detail = (
                f"#/plannedShippingDateAndTime: string [{value}] does not match pattern {PLANNED.pattern}"
            )
            raise _Refused(422, "Validation error", detail)
        day = date.fromisoformat(match.group(1))
        if day < datetime.now(UTC).date():
            raise _Refused(400, "Bad request", "Planned shipping date cannot be in the past")
        return day

    @staticmethod
    def _kilograms(packages: Any, units: Any) -> Decimal:
        """Chargeable weight of all packages in kg (actual or volumetric, the higher)."""
        if units not in ("metric", "imperial"):
            raise _Refused(422, "Validation error", f"#/unitOfMeasurement: {units} is not a valid enum value")
        if not isinstance(packages, list) or not packages:
            raise _Refused(422, "Validation error", "#/packages: expected minimum item count: 1, found: 0")
        total = Decimal(0)
        for i, package in enumerate(packages):
            weight = Decimal(str(package.get("weight", 0))) if isinstance(package, dict) else Decimal(0)
            if weight <= 0:
                raise _Refused(
                    422, "Validation error", f"#/packages/{i}/weight: {weight} is not higher than 0"
                )
            dims = package.get("dimensions") or {}
            volume = Decimal(1)
            for side in ("length", "width", "height"):
                volume *= Decimal(str(dims.get(side, 0)))
            volumetric = volume / (Decimal(5000) if units == "metric" else Decimal(139))
            chargeable = max(weight, volumetric)
            total += chargeable if units == "metric" else chargeable * Decimal("0.45359237")
        return total

    # -- rates -------------------------------------------------------------------------------
    def _products(self, origin: str, destination: str, dutiable: bool) -> tuple[tuple[Any, ...], ...]:
        if origin == destination:
            return DOMESTIC
        return DUTIABLE if dutiable else DOCUMENTS

    def _rates(self) -> ResponseReturnValue:
        body = self._json()
        self._check_account(body)
        planned = self._planned(body)
        details = body.get("customerDetails") or {}
        shipper, receiver = details.get("shipperDetails") or {}, details.get("receiverDetails") or {}
        for side, party in (("shipperDetails", shipper), ("receiverDetails", receiver)):
            if not party.get("countryCode") or not party.get("cityName"):
                raise _Refused(
                    422,
                    "Validation error",
                    f"#/customerDetails/{side}: required key [cityName, countryCode] not found",
                )
        kilos = self._kilograms(body.get("packages"), body.get("unitOfMeasurement"))
        origin, destination = shipper["countryCode"].upper(), receiver["countryCode"].upper()
        currency = CURRENCIES.get(origin, "EUR")
        products = [
            self._product(p, kilos, currency, planned, origin, receiver)
            for p in self._products(origin, destination, bool(body.get("isCustomsDeclarable")))
        ]
        rate = EUR_PER.get(currency, Decimal(1))
        return {
            "products": products,
            "exchangeRates": [
                {"currentExchangeRate": float(rate), "currency": currency, "baseCurrency": "EUR"}
            ],
        }

    def _price(self, product: tuple[Any, ...], kilos: Decimal) -> Decimal:
        _, _, base, per_kg, _ = product
        half_kilos = (kilos * 2).to_integral_value(ROUND_CEILING) / 2
        return (Decimal(base) + Decimal(per_kg) * half_kilos).quantize(CENT, ROUND_HALF_UP)

    def _product(
        self,
        product: tuple[Any, ...],
        kilos: Decimal,
        currency: str,
        planned: date,
        origin: str,
        to: dict[str, Any],
    ) -> dict[str, Any]:
        code, name, _, _, days = product
        price = self._price(product, kilos)
        base = (price * EUR_PER.get(currency, Decimal(1))).quantize(CENT, ROUND_HALF_UP)
        arrives = planned + timedelta(days=days)
        return {
            "productName": name,
            "productCode": code,
            "localProductCode": code,
            "localProductCountryCode": origin,
            "networkTypeCode": "TD",
            "isCustomerAgreement": False,
            "weight": {"volumetric": 0, "provided": float(kilos), "unitOfMeasurement": "metric"},
            "totalPrice": [
                {"currencyType": "BILLC", "priceCurrency": currency, "price": float(price)},
                {"currencyType": "PULCL", "priceCurrency": currency, "price": float(price)},
                {"currencyType": "BASEC", "priceCurrency": "EUR", "price": float(base)},
            ],
            "deliveryCapabilities": {
                "deliveryTypeCode": "QDDC",
                "estimatedDeliveryDateAndTime": f"{arrives.isoformat()}T23:59:00",
                "destinationServiceAreaCode": _area(to)["code"],
                "totalTransitDays": days,
            },
            "pricingDate": planned.isoformat(),
        }

    # -- shipments ---------------------------------------------------------------------------
    def _create_shipment(self) -> ResponseReturnValue:
        body = self._json()
        self._check_account(body)
        planned = self._planned(body)
        content = body.get("content") or {}
        details = body.get("customerDetails") or {}
        for side in ("shipperDetails", "receiverDetails"):
            party = details.get(side) or {}
            address, contact = party.get("postalAddress") or {}, party.get("contactInformation") or {}
            for part, holder, keys in REQUIRED_PARTY:
                missing = [k for k in keys.split() if not (address if holder == "a" else contact).get(k)]
                if missing:
                    detail = f"#/customerDetails/{side}/{part}: required key [{', '.join(missing)}] not found"
                    raise _Refused(422, "Validation error", detail)
        if not content.get("description"):
            raise _Refused(422, "Validation error", "#/content: required key [description] not found")
        if content.get("isCustomsDeclarable") and content.get("declaredValue") is None:
            raise _Refused(422, "Validation error", "#/content: required key [declaredValue] not found")
        kilos = self._kilograms(content.get("packages"), content.get("unitOfMeasurement"))
        fmt = str((body.get("outputImageProperties") or {}).get("encodingFormat") or "pdf").lower()
        if fmt not in ("pdf", "zpl"):
            raise _Refused(
                422, "Validation error", f"#/outputImageProperties/encodingFormat: {fmt} is not valid"
            )
        code = str(body.get("productCode") or "")
        shipper, receiver = (
            details["shipperDetails"]["postalAddress"],
            details["receiverDetails"]["postalAddress"],
        )
        origin, destination = shipper["countryCode"].upper(), receiver["countryCode"].upper()
        offered = {
            p[0]: p for p in self._products(origin, destination, bool(content.get("isCustomsDeclarable")))
        }
        if code not in offered:
            raise _Refused(400, "Bad request", f"Product {code} is not available for this lane")
        reference = next(
            (
                str(r.get("value"))
                for r in body.get("customerReferences") or []
                if isinstance(r, dict) and r.get("typeCode") == "CU"
            ),
            "",
        )
        with self.lock:
            self._waybill += 1
            waybill = str(self._waybill)
            pieces = [f"JD0146000046{self._waybill % 10**8:08d}{i}" for i in range(len(content["packages"]))]
            self.shipments[waybill] = {
                "created": self.clock.now(),
                "reference": reference,
                "from": shipper,
                "to": receiver,
                "product": code,
                "pieces": pieces,
                "kilos": kilos,
            }
            self.sold_by_reference[reference] += 1
        currency = CURRENCIES.get(origin, "EUR")
        price = self._price(offered[code], kilos)
        image = (
            minimal_pdf(f"DHL Express {waybill}")
            if fmt == "pdf"
            else b"".join(_zpl(waybill, p) for p in pieces)
        )
        track_url = f"https://express.api.dhl.com/mydhlapi/shipments/{waybill}/tracking"
        answer = {
            "shipmentTrackingNumber": waybill,
            "trackingUrl": track_url,
            "packages": [
                {
                    "referenceNumber": i + 1,
                    "trackingNumber": p,
                    "trackingUrl": f"{track_url}?pieceTrackingNumber={p}",
                }
                for i, p in enumerate(pieces)
            ],
            "documents": [
                {"imageFormat": fmt.upper(), "content": base64.b64encode(image).decode(), "typeCode": "label"}
            ],
            "estimatedDeliveryDate": {
                "estimatedDeliveryDate": f"{planned + timedelta(days=offered[code][4])}T23:59:00Z",
                "estimatedDeliveryType": "QDDC",
            },
        }
        if body.get("getRateEstimates"):
            answer["shipmentCharges"] = [
                {"currencyType": "BILLC", "priceCurrency": currency, "price": float(price)}
            ]
        return answer, 201

    # -- tracking ----------------------------------------------------------------------------
    def _events(self, shipment: dict[str, Any], offsets: bool) -> list[dict[str, Any]]:
        elapsed = self.clock.now() - shipment["created"]
        events = []
        for hours, code, text, where in TIMELINE:
            if elapsed < timedelta(hours=hours):
                break
            area = _area(shipment[where])
            at = shipment["created"] + timedelta(hours=hours)
            event: dict[str, Any] = {"date": at.strftime("%Y-%m-%d"), "time": at.strftime("%H:%M:%S")}
            if offsets:
                event["GMTOffset"] = "+00:00"
            event |= {
                "typeCode": code,
                "description": text.format(area=area["description"]),
                "serviceArea": [area],
            }
            if code == "OK":
                event["signedBy"] = "SANDBOX"
            events.append(event)
        return events

    def _shipment_view(self, number: str, view: str, offsets: bool) -> dict[str, Any]:
        shipment = self.shipments[number]
        answer: dict[str, Any] = {
            "shipmentTrackingNumber": number,
            "status": "Success",
            "shipmentTimestamp": shipment["created"].strftime("%Y-%m-%dT%H:%M:%S"),
            "productCode": shipment["product"],
            "description": "Merchandise",
            "shipperDetails": {
                "name": "",
                "postalAddress": {"countryCode": shipment["from"]["countryCode"]},
                "serviceArea": [_area(shipment["from"])],
            },
            "receiverDetails": {
                "name": "",
                "postalAddress": {"countryCode": shipment["to"]["countryCode"]},
                "serviceArea": [_area(shipment["to"])],
            },
            "totalWeight": float(shipment["kilos"]),
            "unitOfMeasurements": "metric",
            "shipperReferences": [{"value": shipment["reference"], "typeCode": "CU"}]
            if shipment["reference"]
            else [],
            "numberOfPieces": len(shipment["pieces"]),
            "estimatedDeliveryDate": (shipment["created"] + timedelta(hours=30)).strftime(
                "%Y-%m-%dT23:59:00"
            ),
        }
        if view != "shipment-details-only":
            answer["events"] = self._events(shipment, offsets)
        return answer

    def _answer(self, numbers: list[str], view: str, offsets: bool = False) -> ResponseReturnValue:
        with self.lock:
            found = [
                self._shipment_view(n, view, offsets) for n in dict.fromkeys(numbers) if n in self.shipments
            ]
        if not found:
            raise _Refused(404, "Not Found", "No shipment found for the given criteria")
        return {"shipments": found}

    def _tracking(self) -> ResponseReturnValue:
        args = flask.request.args
        view = args.get("trackingView", "all-checkpoints")
        numbers = args.getlist("shipmentTrackingNumber")
        if len(numbers) > 200:
            raise _Refused(400, "Bad request", "Maximum 200 shipment tracking numbers allowed")
        if numbers:
            return self._answer(numbers, view)
        reference = args.get("shipmentReference")
        if not reference:
            raise _Refused(400, "Missing parameters", "Missing mandatory parameters: shipmentTrackingNumber")
        if args.get("shipperAccountNumber") != self.account:
            raise _Refused(400, "Missing parameters", "Missing mandatory parameters: shipperAccountNumber")
        try:
            since, until = date.fromisoformat(args["dateRangeFrom"]), date.fromisoformat(args["dateRangeTo"])
        except (KeyError, ValueError):
            detail = "Missing mandatory parameters: dateRangeFrom, dateRangeTo"
            raise _Refused(400, "Missing parameters", detail) from None
        with self.lock:
            matching = [
                n
                for n, s in self.shipments.items()
                if s["reference"] == reference and since <= s["created"].date() <= until
            ]
        return self._answer(matching, view)

    def _track_one(self, number: str) -> ResponseReturnValue:
        args = flask.request.args
        offsets = args.get("requestGMTOffsetPerEvent") == "true"
        return self._answer([number], args.get("trackingView", "all-checkpoints"), offsets)

    def _address_validate(self) -> ResponseReturnValue:
        args = flask.request.args
        if args.get("type") not in ("pickup", "delivery") or not args.get("countryCode"):
            raise _Refused(400, "Missing parameters", "Missing mandatory parameters: type, countryCode")
        city = args.get("cityName", "").upper()
        return {
            "address": [
                {
                    "countryCode": args["countryCode"],
                    "postalCode": args.get("postalCode", ""),
                    "cityName": city,
                    "serviceArea": _area({"cityName": city, "countryCode": args["countryCode"]}),
                }
            ]
        }

    # -- control -----------------------------------------------------------------------------
    def _labels_view(self) -> ResponseReturnValue:
        with self.lock:
            return {"total": len(self.shipments), "by_reference": dict(self.sold_by_reference)}

    def _advance_view(self) -> ResponseReturnValue:
        data = flask.request.get_json(silent=True) or {}
        hours = data.get("hours", 2) if isinstance(data, dict) else 2
        if isinstance(hours, bool) or not isinstance(hours, int | float) or hours < 0:
            return {"error": "hours must be a number >= 0"}, 400
        return {"now": self.clock.advance(timedelta(hours=hours)).isoformat()}
