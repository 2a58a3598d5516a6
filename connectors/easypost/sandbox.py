"""Simulated EasyPost (``/v2`` on plain HTTP) for the EasyPost connector.

Follows ``reference/carriers/aggregators.md`` and the samples in ``tests/fixtures/carriers/easypost``:

* Auth: the API key as the Basic user name (``-u "KEY":``) or ``Bearer KEY`` (the client
  libraries); anything else is 401 ``APIKEY.REQUIRED`` (counted in ``auth_failures``).
* ``POST /v2/shipments`` ({"shipment": {...}}, ounces and inches) answers a Shipment with rates from
  three carrier accounts (USPS, UPS, FedEx; ``carrier_accounts`` narrows them), priced from weight
  and distance, with ``delivery_days``; ``GET /v2/shipments/{id}``.
* ``POST /v2/shipments/{id}/buy`` ({"rate": {"id"}}) sells one label per Shipment: a second buy is
  422 ``SHIPMENT.POSTAGE.EXISTS``, as the real API answers. ``postage_label.label_url`` is always
  a PNG; ``label_pdf_url``/``label_zpl_url`` are filled when the Shipment's ``options.label_format``
  asked for them or through ``GET /v2/shipments/{id}/label?file_format=``. Files (valid PNG and
  PDF, ZPL text) are served at ``/files/postage_label/...`` without auth, like EasyPost's file store.
* ``POST /v2/shipments/{id}/refund``: ``refund_status`` ``submitted``, ``refunded`` a sandbox day
  later; asking again is 422 ``SHIPMENT.REFUND.UNAVAILABLE`` (sandbox's code).
* Trackers: one per bought label, ``POST /v2/trackers`` (the existing tracker for a code already
  followed), ``GET /v2/trackers/{id}``, ``GET /v2/trackers?tracking_codes[]=..``. A parcel moves
  pre_transit -> in_transit (received at origin) -> in_transit -> out_for_delivery -> delivered as
  the sandbox clock advances; EasyPost's test codes ``EZ1000000001``..``EZ7000000007`` sit in their
  documented states.
* Webhooks: ``POST/GET/PATCH/DELETE /v2/webhooks``; every tracker change queues a
  ``tracker.created``/``tracker.updated`` Event, sent by :meth:`deliver_pending` (``tick`` and
  ``advance`` call it) to each enabled webhook, signed ``X-Hmac-Signature: hmac-sha256-hex=...``
  with the webhook's secret (NFKD, UTF-8), retried up to 7 times, the webhook disabled after 7
  failures in a row.
* Control: ``GET /_sandbox/labels`` (sold, per shipment), ``GET /_sandbox/refunds``,
  ``GET /_sandbox/deliveries``, ``GET /_sandbox/auth``, ``POST /_sandbox/clock/advance``
  ``{"seconds"}``, ``POST /_sandbox/deliver``; the framework's faults (latency, 429, 500, 503,
  drop, lost_response).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import unicodedata
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import flask
import orjson
from flask.typing import ResponseReturnValue

from hub.sandbox import Faults, Sandbox, SandboxClock

__all__ = ["EasyPostSandbox"]

MAX_ATTEMPTS = 7
CENT = Decimal("0.01")
#: carrier -> (service, base price, per ounce, delivery days, guaranteed)
SERVICES: dict[str, tuple[tuple[str, str, str, int, bool], ...]] = {
    "USPS": (("Express", "26.35", "0.45", 1, False), ("Priority", "7.15", "0.18", 2, False),
             ("GroundAdvantage", "5.40", "0.12", 3, False)),
    "UPS": (("NextDayAir", "38.20", "0.60", 1, True), ("2ndDayAir", "19.75", "0.38", 2, False),
            ("Ground", "9.85", "0.15", 4, False)),
    "FedEx": (("PRIORITY_OVERNIGHT", "41.10", "0.62", 1, True), ("FEDEX_2_DAY", "21.30", "0.40", 2, False),
              ("FEDEX_GROUND", "9.60", "0.16", 4, False)),
}  # fmt: skip
#: (hours after the label, status, status_detail, message, carrier code)
JOURNEY: tuple[tuple[float, str, str, str, str], ...] = (
    (0, "pre_transit", "label_created", "Shipping Label Created", "MP"),
    (3, "in_transit", "received_at_origin_facility", "Accepted at origin facility", "PU"),
    (10, "in_transit", "arrived_at_facility", "Arrived at sort facility", "AR"),
    (18, "in_transit", "departed_facility", "Departed sort facility", "DP"),
    (30, "out_for_delivery", "out_for_delivery", "Out for delivery", "OD"),
    (34, "delivered", "arrived_at_destination", "Delivered", "DL"),
)
#: EasyPost's test tracking codes (test key only) and the journey step / status they show
TEST_CODES: dict[str, tuple[int, str, str]] = {
    "EZ1000000001": (1, "pre_transit", "status_update"),
    "EZ2000000002": (3, "in_transit", "arrived_at_facility"),
    "EZ3000000003": (5, "out_for_delivery", "out_for_delivery"),
    "EZ4000000004": (6, "delivered", "arrived_at_destination"),
    "EZ5000000005": (2, "return_to_sender", "return"),
    "EZ6000000006": (2, "failure", "lost"),
    "EZ7000000007": (0, "unknown", "unknown"),
}
FILE_TYPES = {"PNG": "image/png", "PDF": "application/pdf", "ZPL": "application/zpl"}
ADDRESS_FIELDS = ("name", "company", "street1", "street2", "city", "state", "zip", "country", "phone",
                  "email")  # fmt: skip
URL_FIELDS = {"PDF": "label_pdf_url", "ZPL": "label_zpl_url", "EPL2": "label_epl2_url"}


class ApiError(Exception):
    """An EasyPost error answer: ``{"error": {"code", "message", "errors"}}``."""

    def __init__(self, status: int, code: str, message: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.errors = status, code, message, errors or []

    def response(self) -> flask.Response:
        body = {"error": {"code": self.code, "message": self.message, "errors": self.errors}}
        response = flask.jsonify(body)
        response.status_code = self.status
        return response


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _money(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def png_label(seed: str, width: int = 200, height: int = 300) -> bytes:
    """A valid 8-bit greyscale PNG: a frame and bars drawn from ``seed`` (the tracking number)."""
    bits = "".join(f"{b:08b}" for b in hashlib.sha256(seed.encode()).digest())
    rows = []
    for y in range(height):
        row = bytearray(b"\xff" * width)
        for x in range(width):
            frame = x < 4 or y < 4 or x >= width - 4 or y >= height - 4
            bar = 180 <= y < 260 and 20 <= x < 180 and bits[(x - 20) // 2 % len(bits)] == "1"
            if frame or bar:
                row[x] = 0
        rows.append(b"\x00" + bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + (chunk(b"IEND", b""))
    )


def pdf_label(lines: list[str]) -> bytes:
    """A valid one-page 4x6 in PDF with the lines in Helvetica (byte-exact cross-reference table)."""
    text = "".join(
        f"BT /F1 14 Tf 24 {380 - 24 * i} Td ({line.replace('(', '[').replace(')', ']')}) Tj ET\n"
        for i, line in enumerate(lines)
    ).encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 288 432] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(text)).encode() + b" >>\nstream\n" + text + b"endstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def zpl_label(lines: list[str], number: str) -> bytes:
    fields = "".join(f"^FO40,{40 + 50 * i}^A0N,36,36^FD{line}^FS" for i, line in enumerate(lines))
    return f"^XA{fields}^FO40,400^BCN,160,Y,N,N^FD{number}^FS^XZ".encode()


def signature(secret: str, body: bytes) -> str:
    """How EasyPost signs an Event: HMAC-SHA256 over the raw body, key = NFKD(secret) in UTF-8."""
    key = unicodedata.normalize("NFKD", secret).encode("utf-8")
    return "hmac-sha256-hex=" + hmac.new(key, body, hashlib.sha256).hexdigest()


@dataclass
class _Tracker:
    id: str
    code: str
    carrier: str
    created: datetime  # the journey's start
    shipment_id: str | None = None
    test_state: tuple[int, str, str] | None = None  # a fixed state (EasyPost's test codes)
    reported: tuple[int, str] | None = None  # (details, status) last sent in an Event


@dataclass
class _Delivery:
    event: dict[str, Any]
    hook_id: str
    attempts: int = 0


@dataclass
class _Hook:
    id: str
    url: str
    secret: str | None
    headers: list[dict[str, str]]
    created: datetime
    disabled_at: datetime | None = None
    failures: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class EasyPostSandbox(Sandbox):
    name = "easypost"

    def __init__(
        self,
        *,
        seed: int = 0,
        faults: Faults | None = None,
        api_key: str = "EZTKsandbox0123456789abcdef0123456789",
        webhook_secret: str = "sandbox-webhook-secret-0123456789",
        clock: SandboxClock | None = None,
        tick_hours: float = 2.0,
    ) -> None:
        super().__init__(seed=seed, faults=faults)
        self.api_key, self.webhook_secret = api_key, webhook_secret
        self.clock = clock or SandboxClock()
        self.tick_hours = tick_hours
        self.accounts = {c: "ca_" + hashlib.sha256(f"{seed}:{c}".encode()).hexdigest()[:32] for c in SERVICES}
        self.shipments: dict[str, dict[str, Any]] = {}
        self.trackers: dict[str, _Tracker] = {}
        self.hooks: dict[str, _Hook] = {}
        self.files: dict[str, tuple[bytes, str]] = {}
        self.sold: Counter[str] = Counter()  # shipment id -> labels bought
        self.refunds: list[str] = []  # shipment ids, in order of the requests
        self.deliveries: list[dict[str, Any]] = []  # {"event", "description", "hook", "status"}
        self.auth_failures = 0
        self._outbox: list[_Delivery] = []
        self._serial = 0

    # -- for tests and ``make run`` ---------------------------------------------------------------

    def connection_values(self) -> dict[str, Any]:
        return {
            "api_key": self.api_key,
            "webhook_secret": self.webhook_secret,
            "environment": "test",
            "url": f"{self.url}/v2",
            "label_format": "PDF",
        }

    @property
    def labels_sold(self) -> int:
        with self.lock:
            return sum(self.sold.values())

    def advance(self, seconds: float) -> datetime:
        """Move the sandbox clock, queue an Event per tracker that moved, deliver what is queued."""
        now = self.clock.advance(seconds)
        self.deliver_pending()
        return now

    def tick(self) -> None:
        """``make run``: parcels move ``tick_hours`` of sandbox time a tick."""
        self.advance(self.tick_hours * 3600)

    def deliver_pending(self) -> list[int | None]:
        """Send queued Events to the webhooks (failed ones stay queued, up to 7 attempts)."""
        with self.lock:
            self._queue_changes()
            todo, self._outbox = self._outbox, []
        statuses = []
        for item in todo:
            status = self._send(item)
            statuses.append(status)
        return statuses

    def tracker_status(self, code: str) -> str:
        with self.lock:
            return next(self._tracker_json(t)["status"] for t in self.trackers.values() if t.code == code)

    # -- Sandbox hooks ----------------------------------------------------------------------------

    def rate_limited_response(self) -> flask.Response:
        return ApiError(429, "RATE_LIMITED", "You have exceeded your rate limit.").response()

    def error_response(self, status: int) -> flask.Response:
        code = "INTERNAL_SERVER_ERROR" if status == 500 else "SERVICE.UNAVAILABLE"
        return ApiError(status, code, "We're sorry, something went wrong.").response()

    def routes(self, app: flask.Flask) -> None:
        app.register_error_handler(ApiError, lambda exc: exc.response())
        api = flask.Blueprint("easypost_v2", __name__, url_prefix="/v2")
        api.before_request(self._authenticate)
        for rule, view, methods in (
            ("/shipments", self._create_shipment, ["POST"]),
            ("/shipments/<sid>", self._get_shipment, ["GET"]),
            ("/shipments/<sid>/buy", self._buy, ["POST"]),
            ("/shipments/<sid>/label", self._convert, ["GET"]),
            ("/shipments/<sid>/refund", self._refund, ["POST"]),
            ("/trackers", self._create_tracker, ["POST"]),
            ("/trackers", self._list_trackers, ["GET"]),
            ("/trackers/<tid>", self._get_tracker, ["GET"]),
            ("/webhooks", self._create_hook, ["POST"]),
            ("/webhooks", self._list_hooks, ["GET"]),
            ("/webhooks/<hid>", self._hook, ["GET", "PATCH", "DELETE"]),
        ):
            api.add_url_rule(rule, view.__name__.lstrip("_"), view, methods=methods)
        app.register_blueprint(api)
        app.add_url_rule("/files/postage_label/<name>", "label_file", self._file)
        self._control(app)

    # -- views ------------------------------------------------------------------------------------

    def _authenticate(self) -> ResponseReturnValue | None:
        given = flask.request.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        key = value
        if scheme.lower() == "basic":
            try:
                key = base64.b64decode(value, validate=True).decode().partition(":")[0]
            except ValueError:
                key = ""
        if scheme.lower() in ("basic", "bearer") and hmac.compare_digest(key.encode(), self.api_key.encode()):
            return None
        with self.lock:
            self.auth_failures += 1
        return ApiError(401, "APIKEY.REQUIRED", "Missing or invalid API key.").response()

    def _get_shipment(self, sid: str) -> ResponseReturnValue:
        with self.lock:
            return self._shipment_json(self._shipment(sid))

    def _list_hooks(self) -> ResponseReturnValue:
        with self.lock:
            return {"webhooks": [self._hook_json(h) for h in self.hooks.values()]}

    def _create_shipment(self) -> ResponseReturnValue:
        body = self._body("shipment")
        errors = [
            {"field": f"{side}.{name}", "message": "cannot be blank"}
            for side in ("from_address", "to_address")
            for name in ("street1", "city", "country")
            if not str((body.get(side) or {}).get(name) or "").strip()
        ]
        weight = (body.get("parcel") or {}).get("weight")
        if not isinstance(weight, int | float) or isinstance(weight, bool) or weight <= 0:
            errors.append({"field": "parcel.weight", "message": "must be greater than 0"})
        if errors:
            raise ApiError(422, "SHIPMENT.INVALID_PARAMS", "Unable to create shipment.", errors)
        wanted = set(body.get("carrier_accounts") or self.accounts.values())
        with self.lock:
            sid = self._id("shp")
            now = self.clock.now()
            shipment = {
                "id": sid,
                "created": now,
                "request": body,
                "options": {"label_format": "PNG", "currency": "USD", **(body.get("options") or {})},
                "rates": self._rates(sid, body, now, wanted),
            }
            self.shipments[sid] = shipment
            return self._shipment_json(shipment), 201

    def _buy(self, sid: str) -> ResponseReturnValue:
        rate_id = str((self._body("rate") or {}).get("id") or "")
        with self.lock:
            shipment = self._shipment(sid)
            if shipment.get("bought"):
                raise ApiError(422, "SHIPMENT.POSTAGE.EXISTS", "Postage already exists for this shipment.")
            rate = next((r for r in shipment["rates"] if r["id"] == rate_id), None)
            if rate is None:
                errors = [{"field": "rate.id", "message": f"{rate_id or 'blank'} is not a rate of {sid}"}]
                raise ApiError(422, "SHIPMENT.INVALID_PARAMS", "Invalid rate.", errors)
            now = self.clock.now()
            code = self._tracking_code(rate["carrier"])
            tracker = self._new_tracker(code, rate["carrier"], now, shipment=sid)
            shipment.update(bought=now, rate=rate, tracking_code=code, tracker=tracker.id, formats=set())
            self._render(shipment, "PNG")
            if shipment["options"].get("label_format") in ("PDF", "ZPL"):
                self._render(shipment, shipment["options"]["label_format"])
            self.sold[sid] += 1
            return self._shipment_json(shipment)

    def _convert(self, sid: str) -> ResponseReturnValue:
        fmt = str(flask.request.args.get("file_format") or "").upper()
        with self.lock:
            shipment = self._shipment(sid)
            if not shipment.get("bought"):
                raise ApiError(422, "SHIPMENT.POSTAGE.REQUIRED", "The shipment has no label yet.")
            if fmt not in FILE_TYPES:
                message = f"file_format {fmt or 'blank'} is not supported."
                raise ApiError(422, "SHIPMENT.INVALID_PARAMS", message)
            self._render(shipment, fmt)
            return self._shipment_json(shipment)

    def _refund(self, sid: str) -> ResponseReturnValue:
        with self.lock:
            shipment = self._shipment(sid)
            if not shipment.get("bought") or shipment.get("refund_requested"):
                raise ApiError(422, "SHIPMENT.REFUND.UNAVAILABLE", "This shipment cannot be refunded.")
            shipment["refund_requested"] = self.clock.now()
            self.refunds.append(sid)
            return self._shipment_json(shipment)

    def _create_tracker(self) -> ResponseReturnValue:
        body = self._body("tracker")
        code = str(body.get("tracking_code") or "").strip()
        if not code:
            errors = [{"field": "tracking_code", "message": "cannot be blank"}]
            raise ApiError(422, "TRACKER.INVALID_PARAMS", "Unable to create tracker.", errors)
        carrier = body.get("carrier")
        with self.lock:
            for found in self.trackers.values():
                if found.code == code and (not carrier or found.carrier == carrier):
                    return self._tracker_json(found)
            tracker = self._new_tracker(code, str(carrier or self._guess_carrier(code)), self.clock.now())
            return self._tracker_json(tracker), 201

    def _list_trackers(self) -> ResponseReturnValue:
        args = flask.request.args
        codes = set(args.getlist("tracking_codes[]")) | set(args.getlist("tracking_code"))
        carrier = args.get("carrier")
        try:
            size = min(max(int(args.get("page_size", 20)), 1), 100)
        except ValueError:
            raise ApiError(422, "PARAMETER.INVALID", "page_size must be an integer.") from None
        with self.lock:
            found = [
                t for t in reversed(self.trackers.values())
                if (not codes or t.code in codes) and (not carrier or t.carrier == carrier)
            ]  # fmt: skip
            return {"trackers": [self._tracker_json(t) for t in found[:size]], "has_more": len(found) > size}

    def _get_tracker(self, tid: str) -> ResponseReturnValue:
        with self.lock:
            if tid not in self.trackers:
                raise ApiError(404, "NOT_FOUND", "The requested resource could not be found.")
            return self._tracker_json(self.trackers[tid])

    def _create_hook(self) -> ResponseReturnValue:
        body = self._body("webhook")
        url = str(body.get("url") or "")
        if not url.startswith(("http://", "https://")):
            errors = [{"field": "url", "message": "must be a valid URL"}]
            raise ApiError(422, "WEBHOOK.INVALID_PARAMS", "Unable to create webhook.", errors)
        with self.lock:
            headers = list(body.get("custom_headers") or [])
            hook = _Hook(self._id("hook"), url, body.get("webhook_secret"), headers, self.clock.now())
            self.hooks[hook.id] = hook
            return self._hook_json(hook), 201

    def _hook(self, hid: str) -> ResponseReturnValue:
        with self.lock:
            hook = self.hooks.get(hid)
            if hook is None:
                raise ApiError(404, "NOT_FOUND", "The requested resource could not be found.")
            if flask.request.method == "DELETE":
                del self.hooks[hid]
                return {}
            if flask.request.method == "PATCH":
                data = flask.request.get_json(silent=True) or {}
                data = data.get("webhook", data) if isinstance(data, dict) else {}
                if "webhook_secret" in data:
                    hook.secret = data["webhook_secret"]
                if "custom_headers" in data:
                    hook.headers = list(data["custom_headers"] or [])
                hook.disabled_at, hook.failures = None, 0
            return self._hook_json(hook)

    def _file(self, name: str) -> ResponseReturnValue:
        with self.lock:
            if name not in self.files:
                flask.abort(404)
            data, mimetype = self.files[name]
        return flask.Response(data, mimetype=mimetype)

    def _control(self, app: flask.Flask) -> None:
        @app.get("/_sandbox/labels")
        def labels() -> ResponseReturnValue:
            with self.lock:
                return {"total": sum(self.sold.values()), "by_shipment": dict(self.sold)}

        @app.get("/_sandbox/refunds")
        def refunds() -> ResponseReturnValue:
            with self.lock:
                return {"total": len(self.refunds), "shipments": list(self.refunds)}

        @app.get("/_sandbox/deliveries")
        def deliveries() -> ResponseReturnValue:
            with self.lock:
                return {"deliveries": list(self.deliveries), "pending": len(self._outbox)}

        @app.get("/_sandbox/auth")
        def auth() -> ResponseReturnValue:
            with self.lock:
                return {"failures": self.auth_failures}

        @app.post("/_sandbox/clock/advance")
        def advance() -> ResponseReturnValue:
            seconds = (flask.request.get_json(silent=True) or {}).get("seconds")
            if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
                return {"error": 'body must be {"seconds": <number >= 0>}'}, 400
            return {"now": _iso(self.advance(seconds))}

        @app.post("/_sandbox/deliver")
        def deliver() -> ResponseReturnValue:
            return {"statuses": self.deliver_pending()}

    # -- state ------------------------------------------------------------------------------------

    def _body(self, wrapper: str) -> dict[str, Any]:
        data = flask.request.get_json(silent=True)
        inner = data.get(wrapper) if isinstance(data, dict) else None
        if not isinstance(inner, dict):
            errors = [{"field": wrapper, "message": "must be a JSON object"}]
            raise ApiError(400, "PARAMETER.REQUIRED", f"Missing required parameter: {wrapper}.", errors)
        return inner

    def _id(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}_" + hashlib.sha256(f"{self.seed}:{prefix}:{self._serial}".encode()).hexdigest()[:32]

    def _shipment(self, sid: str) -> dict[str, Any]:
        shipment = self.shipments.get(sid)
        if shipment is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource could not be found.")
        return shipment

    def _rates(self, sid: str, body: dict[str, Any], now: datetime, wanted: set[str]) -> list[dict[str, Any]]:
        ounces = Decimal(str(body["parcel"]["weight"]))
        zips = f"{(body.get('from_address') or {}).get('zip')}>{(body.get('to_address') or {}).get('zip')}"
        zone = 1 + int(hashlib.sha256(zips.encode()).hexdigest(), 16) % 8  # the same zone for the same pair
        rates = []
        for carrier, services in SERVICES.items():
            if self.accounts[carrier] not in wanted:
                continue
            for service, base, per_oz, days, guaranteed in services:
                price = (Decimal(base) + Decimal(per_oz) * ounces) * (1 + Decimal(zone) / 20)
                arrive = (now + timedelta(days=days)).replace(hour=23, minute=59, second=0, microsecond=0)
                rates.append({
                    "id": self._id("rate"), "object": "Rate", "created_at": _iso(now),
                    "updated_at": _iso(now), "mode": "test", "service": service, "carrier": carrier,
                    "rate": _money(price), "currency": "USD", "retail_rate": _money(price * Decimal("1.3")),
                    "retail_currency": "USD",
                    "list_rate": _money(price * Decimal("1.12")), "list_currency": "USD",
                    "billing_type": "easypost", "delivery_days": days,
                    "delivery_date": _iso(arrive) if carrier != "USPS" else None,
                    "delivery_date_guaranteed": guaranteed, "est_delivery_days": days,
                    "shipment_id": sid, "carrier_account_id": self.accounts[carrier],
                })  # fmt: skip
        return rates

    def _tracking_code(self, carrier: str) -> str:
        digits = "".join(str(self.rng.randrange(10)) for _ in range(22))
        if carrier == "UPS":
            return "1Z" + "".join(self.rng.choice("0123456789ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(16))
        return digits[:12] if carrier == "FedEx" else "9400" + digits[:18]

    @staticmethod
    def _guess_carrier(code: str) -> str:
        if code.startswith("1Z"):
            return "UPS"
        return "FedEx" if code.isdigit() and len(code) in (12, 15) else "USPS"

    def _new_tracker(self, code: str, carrier: str, now: datetime, shipment: str | None = None) -> _Tracker:
        tracker = _Tracker(self._id("trk"), code, carrier, now, shipment, TEST_CODES.get(code))
        self.trackers[tracker.id] = tracker
        self._queue_event("tracker.created", tracker, None)
        return tracker

    def _render(self, shipment: dict[str, Any], fmt: str) -> None:
        rate, code = shipment["rate"], shipment["tracking_code"]
        lines = [f"{rate['carrier']} {rate['service']}", f"Tracking {code}", "EasyPost sandbox - not postage"]
        data = {"PNG": lambda: png_label(code), "PDF": lambda: pdf_label(lines),
                "ZPL": lambda: zpl_label(lines, code)}[fmt]()  # fmt: skip
        self.files[f"{shipment['id']}.{fmt.lower()}"] = (data, FILE_TYPES[fmt])
        shipment["formats"].add(fmt)

    # -- JSON -------------------------------------------------------------------------------------

    def _address(self, data: Any) -> dict[str, Any]:
        values = {k: (data or {}).get(k) for k in ADDRESS_FIELDS}
        return {"id": self._hash_id("adr", data), "object": "Address", **values}

    def _hash_id(self, prefix: str, data: Any) -> str:
        return f"{prefix}_" + hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]

    def _label_json(self, shipment: dict[str, Any]) -> dict[str, Any] | None:
        if not shipment.get("bought"):
            return None
        host = self.url if self.running else flask.request.host_url.rstrip("/")  # Flask's test client
        sid, base = shipment["id"], f"{host}/files/postage_label/{shipment['id']}"
        label: dict[str, Any] = {
            "object": "PostageLabel", "id": self._hash_id("pl", sid), "created_at": _iso(shipment["bought"]),
            "label_date": _iso(shipment["bought"]), "label_resolution": 300, "label_size": "4x6",
            "label_type": "default", "label_file_type": "image/png", "label_url": f"{base}.png",
            "label_pdf_url": None, "label_zpl_url": None, "label_epl2_url": None, "label_file": None,
        }  # fmt: skip
        for fmt in shipment["formats"] - {"PNG"}:
            label[URL_FIELDS[fmt]] = f"{base}.{fmt.lower()}"
        return label

    def _refund_status(self, shipment: dict[str, Any]) -> str | None:
        asked = shipment.get("refund_requested")
        if asked is None:
            return None
        return "refunded" if self.clock.now() >= asked + timedelta(days=1) else "submitted"

    def _shipment_json(self, shipment: dict[str, Any]) -> dict[str, Any]:
        request, now = shipment["request"], _iso(shipment["created"])
        rate = shipment.get("rate")
        tracker = self.trackers.get(shipment.get("tracker") or "")
        fees = [] if rate is None else [
            {"object": "Fee", "type": "LabelFee", "amount": "0.00000", "charged": True, "refunded": False},
            {"object": "Fee", "type": "PostageFee", "amount": f"{Decimal(rate['rate']):.5f}", "charged": True,
             "refunded": False},
        ]  # fmt: skip
        return {
            "id": shipment["id"], "object": "Shipment", "created_at": now, "updated_at": now, "mode": "test",
            "is_return": False, "messages": [], "options": shipment["options"],
            "reference": request.get("reference"), "status": "unknown",
            "tracking_code": shipment.get("tracking_code"),
            "from_address": self._address(request.get("from_address")),
            "to_address": self._address(request.get("to_address")),
            "parcel": {"id": self._hash_id("prcl", request.get("parcel")), "object": "Parcel",
                       **{k: request["parcel"].get(k) for k in ("length", "width", "height", "weight")}},
            "postage_label": self._label_json(shipment), "rates": shipment["rates"],
            "refund_status": self._refund_status(shipment), "selected_rate": rate,
            "tracker": None if tracker is None else self._tracker_json(tracker),
            "fees": fees, "forms": [], "insurance": None, "customs_info": None,
        }  # fmt: skip

    def _details(self, tracker: _Tracker) -> tuple[list[dict[str, Any]], str, str]:
        """The tracking details visible now, and the tracker's status and status_detail."""
        if tracker.test_state is not None:
            steps, status, detail = tracker.test_state
            shown = [(tracker.created - timedelta(hours=40 - h), *rest) for h, *rest in JOURNEY[:steps]]
            if status != "unknown" and (not shown or shown[-1][1] != status):  # the state's own scan
                scan = (tracker.created - timedelta(hours=1), status, detail, status.replace("_", " "), "")
                shown.append(scan)
        else:
            now = self.clock.now()
            shown = [(tracker.created + timedelta(hours=h), *rest) for h, *rest in JOURNEY]
            shown = [s for s in shown if s[0] <= now]
            status, detail = (shown[-1][1], shown[-1][2]) if shown else ("unknown", "unknown")
        details = [
            {"object": "TrackingDetail", "message": message, "description": message, "status": st,
             "status_detail": sd, "datetime": _iso(at), "source": tracker.carrier, "carrier_code": cc,
             "tracking_location": {"object": "TrackingLocation", "city": "REDONDO BEACH" if st == "delivered"
                                   else "SAN FRANCISCO", "state": "CA", "country": "US", "zip": None}}
            for at, st, sd, message, cc in shown
        ]  # fmt: skip
        return details, status, detail

    def _tracker_json(self, tracker: _Tracker) -> dict[str, Any]:
        details, status, detail = self._details(tracker)
        eta = tracker.created + timedelta(hours=JOURNEY[-1][0])
        public = base64.b64encode(f"v1:{tracker.id}".encode()).decode().rstrip("=")
        return {
            "id": tracker.id, "object": "Tracker", "mode": "test", "tracking_code": tracker.code,
            "status": status, "status_detail": detail, "created_at": _iso(tracker.created),
            "updated_at": details[-1]["datetime"] if details else _iso(tracker.created),
            "signed_by": None, "weight": None, "est_delivery_date": _iso(eta),
            "shipment_id": tracker.shipment_id, "carrier": tracker.carrier, "tracking_details": details,
            "carrier_detail": {"object": "CarrierDetail", "service": None,
                               "est_delivery_date_local": eta.date().isoformat()},
            "finalized": status in ("delivered", "return_to_sender", "failure"), "is_return": False,
            "fees": [], "public_url": f"https://track.easypost.com/{public}",
        }  # fmt: skip

    def _hook_json(self, hook: _Hook) -> dict[str, Any]:
        return {
            "id": hook.id, "object": "Webhook", "mode": "test", "url": hook.url,
            "created_at": _iso(hook.created),
            "disabled_at": None if hook.disabled_at is None else _iso(hook.disabled_at),
            "custom_headers": hook.headers,
        }  # fmt: skip

    # -- events -----------------------------------------------------------------------------------

    def _queue_changes(self) -> None:
        for tracker in self.trackers.values():
            details, status, _ = self._details(tracker)
            if tracker.reported is not None and tracker.reported != (len(details), status):
                self._queue_event("tracker.updated", tracker, tracker.reported[1])

    def _queue_event(self, description: str, tracker: _Tracker, previous: str | None) -> None:
        result = self._tracker_json(tracker)
        tracker.reported = (len(result["tracking_details"]), result["status"])
        now = _iso(self.clock.now())
        event = {
            "object": "Event", "id": self._id("evt"), "mode": "test", "description": description,
            "previous_attributes": {} if previous is None else {"status": previous}, "result": result,
            "status": "pending", "created_at": now, "updated_at": now, "user_id": "user_sandbox",
            "pending_urls": [], "completed_urls": [],
        }  # fmt: skip
        for hook in self.hooks.values():
            if hook.disabled_at is None:
                event["pending_urls"].append(hook.url)
                self._outbox.append(_Delivery(event, hook.id))

    def _send(self, item: _Delivery) -> int | None:
        with self.lock:
            hook = self.hooks.get(item.hook_id)
            if hook is None or hook.disabled_at is not None:
                return None
            body = orjson.dumps(item.event)
            headers = {"Content-Type": "application/json", "User-Agent": "EasyPost WebHook Agent 1.0"}
            headers |= {h["name"]: h["value"] for h in hook.headers if isinstance(h, dict) and "name" in h}
            if hook.secret:
                headers["X-Hmac-Signature"] = signature(hook.secret, body)
            url = hook.url
        status = self.deliver_webhook(url, body, headers)[-1]
        with self.lock:
            item.attempts += 1
            ok = status is not None and 200 <= status < 300
            self.deliveries.append({"event": item.event["id"], "description": item.event["description"],
                                    "hook": hook.id, "status": status})  # fmt: skip
            hook.failures = 0 if ok else hook.failures + 1
            if not ok and hook.failures >= MAX_ATTEMPTS:
                hook.disabled_at = self.clock.now()
            elif not ok and item.attempts < MAX_ATTEMPTS:
                self._outbox.append(item)
        return status
