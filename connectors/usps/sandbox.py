"""The simulated USPS APIs v3: the real paths and payload shapes, on loopback.

OAuth client credentials (``/oauth2/v3/token``, requests counted), payment authorization tokens
(``/payments/v3/payment-authorization``), Shipping Options rates with prices and commitments,
labels (``/labels/v3/label``, multipart by default, a small valid PDF or PNG base64-encoded)
that honour ``X-Idempotency-Key`` as the Labels 3.0 spec says: the same key with an identical
body returns the label already made and sells nothing; the same key with another body is refused.
``/labels/v3/label-reprint`` finds a label by that key, ``DELETE /labels/v3/label/{n}`` cancels it,
and ``/tracking/v3/tracking/{n}`` moves every label through pre-shipment, acceptance, transit, out
for delivery and delivered as the sandbox clock passes ``stage_hours`` per step (``tick`` moves
the clock one hour). Errors use USPS's v3 error body. Control endpoints: ``GET /_sandbox/usps``
(labels sold in total and per key, voids, token requests), ``POST /_sandbox/usps/revoke-tokens``,
``POST /_sandbox/usps/advance`` (``{"hours": n}``)."""

from __future__ import annotations

import base64
import json
import secrets
import struct
import uuid
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import flask
from flask.typing import ResponseReturnValue

from hub.sandbox import Faults, Sandbox, SandboxClock

TOKEN_SECONDS = 28799
LOCAL = timezone(timedelta(hours=-5))  # the scans' local time (USPS sends it without offset)
CENT = Decimal("0.01")
BOUNDARY = "usps-sandbox-boundary"

#: mailClass -> (rate indicator, base price, per lb, per zone, days base, zone divisor, guaranteed)
SERVICES: dict[str, tuple[str, str, str, str, int, int, bool]] = {
    "USPS_GROUND_ADVANTAGE": ("SP", "5.40", "0.85", "0.45", 2, 2, False),
    "PRIORITY_MAIL": ("SP", "9.25", "1.35", "0.70", 1, 4, False),
    "PRIORITY_MAIL_EXPRESS": ("PA", "29.95", "2.40", "1.60", 1, 8, True),
}
#: (hours after purchase in stages, event code, text, statusCategory, at destination)
STAGES: tuple[tuple[int, str, str, str, bool], ...] = (
    (0, "GX", "Shipping Label Created, USPS Awaiting Item", "Pre-Shipment", False),
    (1, "03", "USPS in possession of item", "Accepted", False),
    (2, "10", "Arrived at USPS Regional Origin Facility", "In Transit", False),
    (3, "A1", "Arrived at USPS Regional Facility", "In Transit", True),
    (4, "OF", "Out for Delivery", "Out for Delivery", True),
    (5, "01", "Delivered, In/At Mailbox", "Delivered", True),
)


def usps_error(status: int, title: str, detail: str, parameter: str | None = None) -> flask.Response:
    """A USPS v3 error body."""
    error: dict[str, Any] = {"title": title, "detail": detail, "code": f"{status:05d}XX"}
    if parameter:
        error["source"] = {"parameter": parameter}
    response = flask.jsonify(
        apiVersion="v3", error={"code": str(status), "message": title, "errors": [error]}
    )
    response.status_code = status
    return response


def pdf_label(lines: list[str]) -> bytes:
    """A one-page 4x6 in PDF with a few lines of text (a real, valid file: offsets computed)."""
    text = "".join(
        f"BT /F1 12 Tf 18 {400 - 20 * i} Td ({line.replace('(', '[').replace(')', ']')}) Tj ET\n"
        for i, line in enumerate(lines)
    ).encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 288 432] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(text) + text + b"endstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def png_label(width: int = 60, height: int = 40) -> bytes:
    """A small valid grey-scale PNG with a barcode-like stripe pattern."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(0 if (x // 3) % 2 else 255 for x in range(width)) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


IMAGES = {"PDF": "application/pdf", "PNG": "image/png", "ZPL203DPI": "application/octet-stream"}


@dataclass
class SoldLabel:
    tracking_number: str
    key: str | None
    body: str  # canonical JSON of the request, for the idempotency comparison
    metadata: dict[str, Any]
    image: bytes
    image_type: str
    created_at: datetime
    origin: tuple[str, str, str]  # city, state, ZIP
    destination: tuple[str, str, str]
    cancelled: bool = False
    reprints: int = 0
    answers: int = field(default=1)  # times the purchase was answered (replays included)


class UspsSandbox(Sandbox):
    name = "usps"

    def __init__(
        self,
        *,
        seed: int = 0,
        faults: Faults | None = None,
        clock: SandboxClock | None = None,
        client_id: str = "usps-sandbox-consumer-key",
        client_secret: str = "usps-sandbox-consumer-secret",
        crid: str = "56982563",
        mid: str = "903123456",
        eps_account: str = "1000123456",
        stage_hours: float = 4.0,
    ) -> None:
        super().__init__(seed=seed, faults=faults)
        self.clock = clock or SandboxClock()
        self.client_id, self.client_secret = client_id, client_secret
        self.crid, self.mid, self.eps_account = crid, mid, eps_account
        self.stage = timedelta(hours=stage_hours)
        self.access_tokens: set[str] = set()
        self.payment_tokens: set[str] = set()
        self.token_requests = 0
        self.payment_token_requests = 0
        self.labels: dict[str, SoldLabel] = {}
        self.by_key: dict[str, str] = {}
        self.sold_by_key: Counter[str] = Counter()
        self.voids = 0
        self._serial = 0

    # -- what tests and the control endpoints read ------------------------------------------
    @property
    def labels_sold(self) -> int:
        with self.lock:
            return len(self.labels)

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "labels_sold": len(self.labels),
                "sold_by_key": dict(self.sold_by_key),
                "voids": self.voids,
                "token_requests": self.token_requests,
                "payment_token_requests": self.payment_token_requests,
            }

    def revoke_tokens(self) -> None:
        """Every OAuth token issued so far is refused from now on (a 401)."""
        with self.lock:
            self.access_tokens.clear()

    def connection_values(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "crid": self.crid,
            "mid": self.mid,
            "eps_account": self.eps_account,
            "environment": "sandbox",
            "hourly_quota": 100_000,
            "url": self.url,
        }

    def tick(self) -> None:
        """An hour of postal activity per tick, so ``make run`` sees parcels move."""
        self.clock.advance(timedelta(hours=1))

    def rate_limited_response(self) -> flask.Response:
        response = usps_error(429, "Too Many Requests", "Quota exceeded: too many requests this hour.")
        response.headers["Retry-After"] = "1"
        return response

    def error_response(self, status: int) -> flask.Response:
        title = "Internal Server Error" if status == 500 else "Service Unavailable"
        return usps_error(status, title, "The service could not process the request.")

    # -- routes -----------------------------------------------------------------------------
    def routes(self, app: flask.Flask) -> None:
        app.add_url_rule("/oauth2/v3/token", view_func=self._token, methods=["POST"])
        app.add_url_rule("/payments/v3/payment-authorization", view_func=self._payment, methods=["POST"])
        app.add_url_rule("/shipments/v3/options/search", view_func=self._options, methods=["POST"])
        app.add_url_rule("/labels/v3/label", view_func=self._label, methods=["POST"])
        app.add_url_rule("/labels/v3/label-reprint", view_func=self._reprint, methods=["POST"])
        app.add_url_rule("/labels/v3/label/<number>", view_func=self._cancel, methods=["DELETE"])
        app.add_url_rule("/tracking/v3/tracking/<number>", view_func=self._tracking, methods=["GET"])
        app.add_url_rule("/_sandbox/usps", view_func=lambda: self.state(), methods=["GET"])
        app.add_url_rule("/_sandbox/usps/revoke-tokens", view_func=self._revoke, methods=["POST"])
        app.add_url_rule("/_sandbox/usps/advance", view_func=self._advance, methods=["POST"])

    def _revoke(self) -> ResponseReturnValue:
        self.revoke_tokens()
        return self.state()

    def _advance(self) -> ResponseReturnValue:
        hours = (flask.request.get_json(silent=True) or {}).get("hours", 1)
        if isinstance(hours, bool) or not isinstance(hours, int | float) or hours < 0:
            return usps_error(400, "Bad Request", "hours must be a number >= 0", "hours")
        return {"now": self.clock.advance(timedelta(hours=hours)).isoformat()}

    def _token(self) -> ResponseReturnValue:
        data = flask.request.get_json(silent=True) if flask.request.is_json else flask.request.form
        data = data or {}
        with self.lock:
            self.token_requests += 1
            if data.get("grant_type") != "client_credentials":
                return self._oauth_error(
                    "unsupported_grant_type", "Only client_credentials is supported.", 400
                )
            if (data.get("client_id"), data.get("client_secret")) != (self.client_id, self.client_secret):
                return self._oauth_error("invalid_client", "Client authentication failed.", 401)
            token = secrets.token_urlsafe(24)
            self.access_tokens.add(token)
        issued = int(self.clock.now().timestamp() * 1000)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": TOKEN_SECONDS,
            "scope": "prices shipments labels tracking payments",
            "issued_at": issued,
            "status": "approved",
            "issuer": "api.usps.com",
            "client_id": self.client_id,
            "application_name": "Hub sandbox",
            "api_products": "[Shipping]",
        }

    @staticmethod
    def _oauth_error(code: str, text: str, status: int) -> flask.Response:
        response = flask.jsonify(
            error=code, error_description=text, error_uri="https://datatracker.ietf.org/doc/html/rfc6749"
        )
        response.status_code = status
        return response

    def _unauthorized(self) -> flask.Response | None:
        header = flask.request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        with self.lock:
            if scheme.lower() == "bearer" and token in self.access_tokens:
                return None
        response = usps_error(401, "Unauthorized", "The access token is missing, expired or invalid.")
        response.headers["WWW-Authenticate"] = 'Bearer realm="https://api.usps.com"'
        return response

    def _unpaid(self) -> flask.Response | None:
        if (refused := self._unauthorized()) is not None:
            return refused
        token = flask.request.headers.get("X-Payment-Authorization-Token", "")
        with self.lock:
            if token in self.payment_tokens:
                return None
        return usps_error(
            401,
            "Unauthorized",
            "Invalid or missing payment authorization token.",
            "X-Payment-Authorization-Token",
        )

    def _payment(self) -> ResponseReturnValue:
        if (refused := self._unauthorized()) is not None:
            return refused
        roles = (flask.request.get_json(silent=True) or {}).get("roles") or []
        by_name = {r.get("roleName"): r for r in roles if isinstance(r, dict)}
        payer, owner = by_name.get("PAYER") or {}, by_name.get("LABEL_OWNER") or {}
        if (payer.get("CRID"), payer.get("accountNumber"), payer.get("accountType")) != (
            self.crid,
            self.eps_account,
            "EPS",
        ):
            return usps_error(400, "Bad Request", "The PAYER CRID or EPS account is not valid.", "roles")
        if (owner.get("CRID"), owner.get("MID")) != (self.crid, self.mid):
            return usps_error(400, "Bad Request", "The LABEL_OWNER CRID or MID is not enrolled.", "roles")
        with self.lock:
            self.payment_token_requests += 1
            token = secrets.token_urlsafe(32)
            self.payment_tokens.add(token)
        return {"paymentAuthorizationToken": token, "roles": roles}

    # -- rates ------------------------------------------------------------------------------
    @staticmethod
    def _zone(origin: str, destination: str) -> int:
        return min(9, 1 + abs(int(origin[:3]) - int(destination[:3])) // 110)

    @staticmethod
    def _price(mail_class: str, pounds: Decimal, zone: int, price_type: str) -> Decimal:
        _, base, per_lb, per_zone, *_ = SERVICES[mail_class]
        price = (
            Decimal(base)
            + Decimal(per_lb) * pounds.to_integral_value(ROUND_HALF_UP)
            + Decimal(per_zone) * zone
        )
        if price_type != "RETAIL":
            price *= Decimal("0.88")
        return price.quantize(CENT, ROUND_HALF_UP)

    @staticmethod
    def _deliver_by(mailing: date, days: int) -> date:
        day = mailing
        while days > 0:
            day += timedelta(days=1)
            days -= day.weekday() < 6  # USPS delivers Monday to Saturday
        return day

    def _options(self) -> ResponseReturnValue:
        if (refused := self._unauthorized()) is not None:
            return refused
        body = flask.request.get_json(silent=True) or {}
        origin, destination = str(body.get("originZIPCode") or ""), str(body.get("destinationZIPCode") or "")
        for name, value in (("originZIPCode", origin), ("destinationZIPCode", destination)):
            if not (len(value) == 5 and value.isdigit()):
                return usps_error(400, "Bad Request", f"{name} must be a 5-digit ZIP Code.", name)
        package = body.get("packageDescription") or {}
        weight = package.get("weight")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
            return usps_error(400, "Bad Request", "packageDescription.weight must be > 0.", "weight")
        mailing = date.fromisoformat(str(package.get("mailingDate") or self.clock.now().date().isoformat()))
        price_type = str((body.get("pricingOptions") or [{}])[0].get("priceType") or "RETAIL")
        zone = self._zone(origin, destination)
        shipping = []
        for mail_class, (indicator, *_, days, divisor, guaranteed) in SERVICES.items():
            price = float(self._price(mail_class, Decimal(str(weight)), zone, price_type))
            transit = days + zone // divisor
            rate = {
                "description": f"{mail_class.replace('_', ' ').title()} Single-piece",
                "price": price,
                "zone": f"{zone:02d}",
                "weight": weight,
                "dimWeight": 0,
                "fees": [],
                "priceType": price_type,
                "mailClass": mail_class,
                "productName": "",
                "processingCategory": "MACHINABLE",
                "rateIndicator": indicator,
                "destinationEntryFacilityType": "NONE",
                "SKU": "DSANDBOX0000",
            }
            commitment = {
                "name": f"{transit} Days",
                "guaranteedDelivery": guaranteed,
                "scheduleDeliveryDate": self._deliver_by(mailing, transit).isoformat(),
            }
            option = {
                "commitment": commitment,
                "totalPrice": price,
                "totalBasePrice": price,
                "rates": [rate],
                "extraServices": [{"name": "USPS Tracking", "price": 0, "extraService": "920"}],
            }
            shipping.append({"mailClass": mail_class, "rateOptions": [option]})
        return {
            "originZIPCode": origin,
            "destinationZIPCode": destination,
            "pricingOptions": [{"shippingOptions": shipping, "priceType": price_type}],
        }

    # -- labels -----------------------------------------------------------------------------
    def _label(self) -> ResponseReturnValue:
        if (refused := self._unpaid()) is not None:
            return refused
        key = flask.request.headers.get("X-Idempotency-Key")
        if key is not None:
            try:
                key = str(uuid.UUID(key))
            except ValueError:
                return usps_error(
                    400, "Bad Request", "X-Idempotency-Key must be a UUID.", "X-Idempotency-Key"
                )
        body = flask.request.get_json(silent=True)
        if not isinstance(body, dict):
            return usps_error(400, "Bad Request", "The body must be a label request object.")
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        with self.lock:
            if key is not None and key in self.by_key:
                label = self.labels[self.by_key[key]]
                if label.body != canonical:
                    return usps_error(
                        400,
                        "Bad Request",
                        "X-Idempotency-Key was already used for a different label request.",
                        "X-Idempotency-Key",
                    )
                label.answers += 1
                return self._label_response(label)
            problem = self._label_problem(body)
            if problem is not None:
                return usps_error(400, "Bad Request", *problem)
            label = self._sell(key, body, canonical)
            return self._label_response(label)

    def _label_problem(self, body: dict[str, Any]) -> tuple[str, str] | None:
        package = body.get("packageDescription") or {}
        if package.get("mailClass") not in SERVICES:
            return f"mailClass {package.get('mailClass')!r} is not available.", "mailClass"
        weight = package.get("weight")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
            return "packageDescription.weight must be > 0.", "weight"
        for side in ("toAddress", "fromAddress"):
            address = body.get(side) or {}
            missing = [f for f in ("streetAddress", "city", "state", "ZIPCode") if not address.get(f)]
            if missing:
                return f"{side} is missing {', '.join(missing)}.", f"{side}.{missing[0]}"
            if not (address.get("firm") or (address.get("firstName") and address.get("lastName"))):
                return f"{side} needs firstName and lastName, or firm.", f"{side}.firm"
        image_type = (body.get("imageInfo") or {}).get("imageType", "PDF")
        if image_type not in IMAGES:
            return f"imageType {image_type} is not available in the sandbox.", "imageType"
        return None

    def _sell(self, key: str | None, body: dict[str, Any], canonical: str) -> SoldLabel:
        self._serial += 1
        number = f"9234690361{self.seed % 100:02d}{self._serial:010d}"
        package, to, frm = body["packageDescription"], body["toAddress"], body["fromAddress"]
        zone = self._zone(frm["ZIPCode"], to["ZIPCode"])
        price = self._price(package["mailClass"], Decimal(str(package["weight"])), zone, "COMMERCIAL")
        days, divisor = SERVICES[package["mailClass"]][4:6]
        now = self.clock.now()
        transit = days + zone // divisor
        metadata = {
            "labelAddress": {
                k: to.get(k) for k in ("streetAddress", "city", "state", "ZIPCode", "firstName", "firm")
            },
            "routingInformation": f"420{to['ZIPCode']}",
            "trackingNumber": number,
            "postage": float(price),
            "extraServices": [{"name": "USPS Tracking", "price": 0.0, "SKU": "DXTU0EXXXCX0000"}],
            "zone": f"{zone:02d}",
            "fees": [],
            "weightUOM": "LB",
            "weight": package["weight"],
            "commitment": {
                "name": f"{transit} Days",
                "scheduleDeliveryDate": self._deliver_by(now.date(), transit).isoformat(),
            },
            "SKU": "DSANDBOX0000",
        }
        image_type = (body.get("imageInfo") or {}).get("imageType", "PDF")
        lines = [
            f"USPS {package['mailClass'].replace('_', ' ')}",
            f"TO: {to['city']} {to['state']} {to['ZIPCode']}",
            f"USPS TRACKING # {number}",
            "SANDBOX - NOT FOR MAILING",
        ]
        image = {"PDF": lambda: pdf_label(lines), "PNG": png_label}.get(
            image_type, lambda: b"^XA^FDSANDBOX^FS^XZ"
        )()
        label = SoldLabel(
            number,
            key,
            canonical,
            metadata,
            image,
            image_type,
            now,
            (frm["city"], frm["state"], frm["ZIPCode"]),
            (to["city"], to["state"], to["ZIPCode"]),
        )
        self.labels[number] = label
        if key is not None:
            self.by_key[key] = number
            self.sold_by_key[key] += 1
        return label

    def _label_response(self, label: SoldLabel, extra: dict[str, Any] | None = None) -> flask.Response:
        image = base64.b64encode(label.image).decode("ascii")
        if "application/vnd.usps.labels+json" in flask.request.headers.get("Accept", ""):
            return flask.jsonify({"labelMetadata": label.metadata, "labelImage": image, **(extra or {})})
        suffix = {"PDF": "pdf", "PNG": "png"}.get(label.image_type, "zpl")
        parts = [("labelMetadata", "application/json", None, json.dumps(label.metadata))]
        parts.append(("labelImage", IMAGES[label.image_type], f"labelImage.{suffix}", image))
        parts += [
            (name, "application/json", None, json.dumps(value)) for name, value in (extra or {}).items()
        ]
        body = "".join(
            f"--{BOUNDARY}\r\nContent-Type: {ctype}\r\nContent-Disposition: form-data; "
            + (f'filename="{filename}"; ' if filename else "")
            + f'name="{name}"\r\n\r\n{content}\r\n'
            for name, ctype, filename, content in parts
        )
        response = flask.Response(body + f"--{BOUNDARY}--\r\n")
        response.headers["Content-Type"] = f"multipart/form-data; boundary={BOUNDARY}"
        if label.key:
            response.headers["X-Idempotency-Key"] = label.key
        return response

    def _reprint(self) -> ResponseReturnValue:
        if (refused := self._unpaid()) is not None:
            return refused
        key = flask.request.headers.get("X-Idempotency-Key", "")
        with self.lock:
            number = self.by_key.get(key)
            if number is None:
                return usps_error(400, "Bad Request", "Order not found", "X-Idempotency-Key")
            label = self.labels[number]
            if label.cancelled:
                return usps_error(400, "Bad Request", "Canceled labels are not eligible for reprint.")
            if label.reprints >= 3:
                return usps_error(400, "Bad Request", "The label has reached its reprint limit.")
            label.reprints += 1
            return self._label_response(
                label, {"reprintInfo": {"reprintNumber": label.reprints, "reprintLimit": 3}}
            )

    def _cancel(self, number: str) -> ResponseReturnValue:
        if (refused := self._unpaid()) is not None:
            return refused
        with self.lock:
            label = self.labels.get(number)
            if label is None:
                return usps_error(400, "Bad Request", "Order not found", "trackingNumber")
            if not label.cancelled:
                label.cancelled = True
                self.voids += 1
        return {"trackingNumber": number, "status": "CANCELED"}

    # -- tracking ---------------------------------------------------------------------------
    def _tracking(self, number: str) -> ResponseReturnValue:
        if (refused := self._unauthorized()) is not None:
            return refused
        with self.lock:
            label = self.labels.get(number)
            if label is None:
                return usps_error(
                    404, "Not Found", f"The tracking number {number} was not found.", "trackingNumber"
                )
            now = self.clock.now()
            last = 0 if label.cancelled else len(STAGES) - 1
            reached = [s for s in STAGES[: last + 1] if label.created_at + self.stage * s[0] <= now]
        events = [self._event(label, stage) for stage in reversed(reached)]
        _, _, text, category, _ = reached[-1]
        expected = label.metadata["commitment"]["scheduleDeliveryDate"]
        mail_class = str(json.loads(label.body)["packageDescription"]["mailClass"])
        return {
            "trackingNumber": number,
            "mailClass": f"{mail_class.replace('_', ' ').title()}<SUP>&#153;</SUP>",  # USPS sends HTML here
            "mailType": "DM",
            "originCity": label.origin[0],
            "originState": label.origin[1],
            "originZIP": label.origin[2],
            "destinationCity": label.destination[0],
            "destinationState": label.destination[1],
            "destinationZIP": label.destination[2],
            "status": text,
            "statusCategory": category,
            "statusSummary": f"{text}.",
            "expectedDeliveryDate": expected,
            "trackingEvents": events,
        }

    def _event(self, label: SoldLabel, stage: tuple[int, str, str, str, bool]) -> dict[str, Any]:
        step, code, text, _, at_destination = stage
        when = (label.created_at + self.stage * step).replace(microsecond=0)
        city, state, zip_code = label.destination if at_destination else label.origin
        local = when.astimezone(LOCAL)
        return {
            "eventType": text,
            "eventTimestamp": local.replace(tzinfo=None).isoformat(),
            "GMTTimestamp": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "GMTOffset": "-05:00",
            "eventCountry": None,
            "eventCity": city.upper(),
            "eventState": state,
            "eventZIP": zip_code,
            "firm": None,
            "name": None,
            "authorizedAgent": "false",
            "eventCode": code,
        }
