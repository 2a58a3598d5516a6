"""Simulated Shopify Admin REST API (shop, orders, order webhooks) for the Shopify connector.

Wire behaviour follows the project's Shopify reference: ``X-Shopify-Access-Token`` auth,
``/admin/api/{YYYY-MM|unstable}/`` paths echoed in ``X-Shopify-API-Version``, ``orders.json``
filters with ``status=open`` by default, ``limit`` 50 (max 250), cursor paging through the
``Link`` header (with ``page_info`` only ``limit`` and ``fields`` may be sent), the REST leaky
bucket (40 calls, leaking 2/s; ``X-Shopify-Shop-Api-Call-Limit`` on every response; 429 with
``Retry-After: 2.0``) and signed webhooks.

Sort order: an explicit ``order=<id|created_at|updated_at|processed_at> [asc|desc]`` is honoured;
with ``since_id`` and no ``order`` results are ``id asc`` (Shopify changelog, 2017); otherwise
``created_at desc`` (newest first, as Shopify answers; not in the reference). Ties break on id.

Paging is a consistent snapshot: the cursor carries the filters, the sort, the last (sort value,
id) position and the data version of the first page. Every change keeps the previous version of
the order, so later pages see the orders as they were at the first page: an order changed or
created mid-traversal is neither skipped nor repeated (its new version shows in the next poll).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import math
import re
import time
import uuid
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from random import Random
from typing import Any
from urllib.parse import urlencode

import flask
from flask.typing import ResponseReturnValue

from hub.sandbox import Faults, Sandbox, SandboxClock

__all__ = ["API_VERSION", "ShopifySandbox"]

API_VERSION = "2026-07"
SHOP_DOMAIN = "sandbox-shop.myshopify.com"
CURRENCY = "USD"
BUCKET_SIZE, LEAK_PER_SECOND = 40, 2.0
DEFAULT_LIMIT, MAX_LIMIT = 50, 250
ORDER_ID_BASE = 450789469000
UNAUTHORIZED = "[API] Invalid API key or access token (unrecognized login or wrong password)"
THROTTLED = "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."

CENT = Decimal("0.01")
_VERSION_PATH = re.compile(r"^/admin/api/([^/]+)/")
_VERSION = re.compile(r"\d{4}-\d{2}|unstable")
_TIME_FILTERS = tuple(f"{f}_at_{m}" for f in ("created", "updated", "processed") for m in ("min", "max"))
_FILTERS = ("status", "financial_status", "fulfillment_status", "since_id", "ids", "order", *_TIME_FILTERS)
_SORT_FIELDS = ("id", "created_at", "updated_at", "processed_at")
_STATUS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "open": lambda o: o["closed_at"] is None and o["cancelled_at"] is None,
    "closed": lambda o: o["closed_at"] is not None,
    "cancelled": lambda o: o["cancelled_at"] is not None,
    "any": lambda o: True,
}
_PAID = ("authorized", "pending", "paid", "partially_paid", "refunded", "voided", "partially_refunded")
_FINANCIAL = {"any": None, "unpaid": {"pending", "authorized", "partially_paid"}} | {s: {s} for s in _PAID}
_FULFILLMENT = {"any": None, "shipped": {"fulfilled"}, "partial": {"partial"}, "unshipped": {None}}
_FULFILLMENT["unfulfilled"] = {None, "partial"}

# keys of the real sample order (tests/fixtures/shopify/order.json), in its order
_ORDER_KEYS = (
    "id admin_graphql_api_id app_id browser_ip buyer_accepts_marketing cancel_reason cancelled_at "
    "cart_token checkout_id checkout_token client_details closed_at confirmation_number confirmed "
    "contact_email created_at currency current_subtotal_price current_subtotal_price_set "
    "current_total_additional_fees_set current_total_discounts current_total_discounts_set "
    "current_total_duties_set current_total_price current_total_price_set current_total_tax "
    "current_total_tax_set customer_locale device_id discount_codes duties_included email "
    "estimated_taxes financial_status fulfillment_status landing_site landing_site_ref location_id "
    "merchant_business_entity_id merchant_of_record_app_id name note note_attributes number "
    "order_number order_status_url original_total_additional_fees_set original_total_duties_set "
    "payment_gateway_names phone po_number presentment_currency processed_at reference referring_site "
    "source_identifier source_name source_url subtotal_price subtotal_price_set tags tax_exempt "
    "tax_lines taxes_included test token total_cash_rounding_payment_adjustment_set "
    "total_cash_rounding_refund_adjustment_set total_discounts total_discounts_set "
    "total_line_items_price total_line_items_price_set total_outstanding total_price total_price_set "
    "total_shipping_price_set total_tax total_tax_set total_tip_received total_weight updated_at user_id "
    "billing_address customer discount_applications fulfillments line_items payment_terms refunds "
    "shipping_address shipping_lines"
).split()
_MONEY_KEYS = (
    "current_subtotal_price current_total_discounts current_total_price current_total_tax subtotal_price "
    "total_discounts total_line_items_price total_price total_tax"
).split()

PRODUCTS = ("Canvas Tote", "Trail Mug", "Wool Beanie", "Field Notebook", "Desk Lamp", "Linen Apron")
COLORS = ("black", "navy", "green", "red", "sand", "grey")
VENDORS = ("Northwind", "Acme Goods", "Harbor Supply")
FIRST_NAMES = ("Bob", "Alice", "Chen", "Dana", "Emeka", "Fatima", "Gus", "Hana", "Ivan", "Léa")
LAST_NAMES = ("Norman", "Smith", "Garcia", "Okafor", "Müller", "Tanaka", "Rossi", "Kowalski")
CITIES = (
    ("Louisville", "Kentucky", "KY", "40202", 38.2527, -85.7585),
    ("Portland", "Oregon", "OR", "97205", 45.5152, -122.6784),
    ("Austin", "Texas", "TX", "78701", 30.2672, -97.7431),
    ("Columbus", "Ohio", "OH", "43215", 39.9612, -82.9988),
)
DISCOUNTS = (("TENOFF", "fixed_amount", Decimal(10)), ("SAVE15", "percentage", Decimal(15)))
SHIPPING = (("Free Shipping", "0.00"), ("Standard", "4.99"), ("Expedited", "9.99"), ("Overnight", "24.99"))
TAX_RATES = (Decimal("0.06"), Decimal("0.07"), Decimal("0.0825"), Decimal(0))
CARRIERS = ("UPS", "USPS", "FedEx", "DHL Express")
TAGS = ("vip", "wholesale", "gift", "priority", "repeat-customer")
_FRACTIONAL_ZONES = {5.5: "Asia/Kolkata", 5.75: "Asia/Kathmandu", 9.5: "Australia/Darwin", -9.5: "Pacific/Marquesas"}


def _m(value: Decimal | int | str) -> str:
    return str(Decimal(value).quantize(CENT, ROUND_HALF_UP))


def _set(amount: str) -> dict[str, dict[str, str]]:
    money = {"amount": amount, "currency_code": CURRENCY}
    return {"shop_money": money, "presentment_money": dict(money)}


def _allocation(amount: Decimal, index: int) -> dict[str, Any]:
    return {"amount": _m(amount), "amount_set": _set(_m(amount)), "discount_application_index": index}


def _sum(items: list[dict[str, Any]], key: str) -> Decimal:
    return sum((Decimal(i[key]) for i in items), Decimal(0))


def _gid(kind: str, ident: int) -> str:
    return f"gid://shopify/{kind}/{ident}"


def _errors(errors: Any, status: int) -> flask.Response:
    response = flask.jsonify(errors=errors)
    response.status_code = status
    return response


class _BadParam(ValueError):
    def __init__(self, param: str, message: str = "is invalid") -> None:
        super().__init__(param)
        self.response = _errors({param: [message]}, 400)


class ShopifySandbox(Sandbox):
    """A Shopify store with generated orders; see the module docstring for the wire rules."""

    name = "shopify"

    def __init__(
        self,
        *,
        seed: int = 0,
        faults: Faults | None = None,
        orders: int = 50,
        skus: int = 20,
        limits: bool = True,
        shop_utc_offset_hours: float = -5,
        access_token: str = "shpat_sandbox_token",
        api_secret: str = "sandbox_api_secret",
        clock: SandboxClock | None = None,
    ) -> None:
        super().__init__(seed=seed, faults=faults)
        if not (-12 <= shop_utc_offset_hours <= 14 and (shop_utc_offset_hours * 4).is_integer()):
            raise ValueError(f"shop_utc_offset_hours must be a quarter hour in -12..14: {shop_utc_offset_hours}")
        if skus < 1:
            raise ValueError("skus must be >= 1")
        self.clock = clock or SandboxClock()
        self.tz = timezone(timedelta(hours=shop_utc_offset_hours))
        self.utc_offset_hours = shop_utc_offset_hours
        self.access_token, self.api_secret, self.api_version = access_token, api_secret, API_VERSION
        self.limits = limits
        #: the bucket's time source: real time, because clients pace their calls in real time
        self.timer: Callable[[], float] = time.monotonic
        self._bucket, self._bucket_at = 0.0, self.timer()
        self._hook_rng = Random(f"{seed}:webhooks")
        self._ids: dict[str, int] = {}
        #: order id -> [(data version, order)], oldest first; versions are never mutated
        self._history: dict[int, list[tuple[int, dict[str, Any]]]] = {}
        self._version = 0
        self._last_created = self.clock.now() - timedelta(days=30)
        self.catalog = [
            {
                "sku": f"SBX-{i + 1:04d}",
                "title": PRODUCTS[i % len(PRODUCTS)],
                "variant_title": COLORS[i // len(PRODUCTS) % len(COLORS)],
                "product_id": 632910392000 + i % len(PRODUCTS),
                "variant_id": 39072856000 + i,
                "price": _m(self.rng.choice((9, 14, 19, 24, 39, 59, 89, 129)) - Decimal("0.01")),
                "grams": self.rng.choice((100, 200, 350, 800)),
                "vendor": self.rng.choice(VENDORS),
            }
            for i in range(skus)
        ]
        self.seed_orders(orders)

    # -- public helpers for tests ---------------------------------------------------------------

    def seed_orders(self, n: int) -> list[int]:
        """Add ``n`` orders created between the newest order (or 30 days ago) and now."""
        with self.lock:
            now = self.clock.now().replace(microsecond=0)
            start = max(self._last_created, now - timedelta(days=30))
            span = max(0.0, (now - start).total_seconds())
            offsets = sorted(self.rng.uniform(0, span) for _ in range(n))
            ids = []
            for offset in offsets:
                created = start + timedelta(seconds=int(offset))
                order = self._new_order(len(self._history) + 1, created, now)
                self._store(order)
                ids.append(order["id"])
            self._last_created = max(self._last_created, now if not offsets else created)
            return ids

    def change_orders(self, n: int) -> list[int]:
        """Change ``n`` random orders (capture, refund, fulfil, tag); updated_at becomes now."""
        with self.lock:
            ids = sorted(self.rng.sample(sorted(self._history), min(n, len(self._history))))
            for oid in ids:
                order = copy.deepcopy(self._history[oid][-1][1])
                now = max(self.clock.now(), self._time(order["updated_at"]))
                self._change(order, now)
                self._store(order)
            return ids

    def order(self, order_id: int) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self._history[order_id][-1][1])

    def all_orders(self) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(self._history[i][-1][1]) for i in sorted(self._history)]

    def send_webhook(
        self,
        url: str,
        topic: str,
        payload: dict[str, Any],
        *,
        times: int | None = None,
        secret: str | None = None,
        tamper: bool = False,
    ) -> list[int | None]:
        """POST ``payload`` as Shopify does (signed with ``secret`` or the API secret); ``tamper``
        changes the body after signing. Duplicates carry the same webhook and event ids."""
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        key = (self.api_secret if secret is None else secret).encode()
        signature = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()
        if tamper:
            body = json.dumps({**payload, "note": "tampered"}, separators=(",", ":")).encode()
        with self.lock:
            webhook_id, event_id = (uuid.UUID(int=self._hook_rng.getrandbits(128), version=4) for _ in "ab")
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": signature,
            "X-Shopify-Shop-Domain": SHOP_DOMAIN,
            "X-Shopify-API-Version": self.api_version,
            "X-Shopify-Webhook-Id": str(webhook_id),
            "X-Shopify-Event-Id": str(event_id),
            "X-Shopify-Triggered-At": self.clock.now().isoformat().replace("+00:00", "Z"),
        }
        if topic.startswith("orders/") and "id" in payload:
            headers["X-Shopify-Order-Id"] = str(payload["id"])
        return self.deliver_webhook(url, body, headers, times=times)

    def connection_values(self) -> dict[str, Any]:
        return {
            "store_url": self.url,
            "access_token": self.access_token,
            "api_secret": self.api_secret,
            "api_version": API_VERSION,
        }

    # -- Sandbox hooks --------------------------------------------------------------------------

    def rate_limited_response(self) -> flask.Response:
        response = _errors(THROTTLED, 429)
        response.headers["Retry-After"] = "2.0"
        return response

    def check_rate_limit(self) -> flask.Response | None:
        with self.lock:
            level = self._level()
            if self.limits and level + 1 > BUCKET_SIZE:
                return self.rate_limited_response()
            self._bucket = min(float(BUCKET_SIZE), level + 1)
        return None

    def _level(self) -> float:
        now = self.timer()
        self._bucket = max(0.0, self._bucket - (now - self._bucket_at) * LEAK_PER_SECOND)
        self._bucket_at = now
        return self._bucket

    def routes(self, app: flask.Flask) -> None:
        app.before_request(self._authenticate)
        app.after_request(self._shopify_headers)
        app.register_error_handler(404, lambda _: _errors("Not Found", 404))
        app.register_error_handler(405, lambda _: _errors("Not Found", 404))
        base = "/admin/api/<version>"
        app.add_url_rule(f"{base}/shop.json", "shop", self._shop_view)
        app.add_url_rule(f"{base}/orders.json", "orders", self._orders_view)
        app.add_url_rule(f"{base}/orders/count.json", "orders_count", self._count_view)
        app.add_url_rule(f"{base}/orders/<int:order_id>.json", "order", self._order_view)
        app.add_url_rule("/_sandbox/limits", "limits", self._limits_view, methods=["GET", "PUT"])

    # -- HTTP -----------------------------------------------------------------------------------

    def _authenticate(self) -> flask.Response | None:
        match = _VERSION_PATH.match(flask.request.path)
        if match is None:
            return None
        if not _VERSION.fullmatch(match.group(1)):
            return _errors("Not Found", 404)
        token = flask.request.headers.get("X-Shopify-Access-Token", "")
        if not hmac.compare_digest(token.encode(), self.access_token.encode()):
            return _errors(UNAUTHORIZED, 401)
        return None

    def _shopify_headers(self, response: flask.Response) -> flask.Response:
        path = flask.request.path
        if path.startswith("/_sandbox"):
            return response
        with self.lock:
            used = math.ceil(round(self._level(), 6))
        response.headers["X-Shopify-Shop-Api-Call-Limit"] = f"{used}/{BUCKET_SIZE}"
        match = _VERSION_PATH.match(path)
        if match and _VERSION.fullmatch(match.group(1)):
            response.headers["X-Shopify-API-Version"] = match.group(1)
        return response

    def _limits_view(self) -> ResponseReturnValue:
        if flask.request.method == "PUT":
            data = flask.request.get_json(silent=True)
            if not isinstance(data, dict) or not isinstance(data.get("enabled"), bool):
                return {"error": 'body must be {"enabled": true|false}'}, 400
            self.limits = data["enabled"]
        return {"enabled": self.limits, "bucket_size": BUCKET_SIZE, "leak_per_second": LEAK_PER_SECOND}

    def _shop_view(self, version: str) -> ResponseReturnValue:
        hours = self.utc_offset_hours
        zone = _FRACTIONAL_ZONES.get(hours, "Etc/UTC") if not float(hours).is_integer() else None
        zone = zone or ("Etc/UTC" if hours == 0 else f"Etc/GMT{-int(hours):+d}")
        offset = datetime.now(self.tz).strftime("%z")
        created = self._fmt(self.clock.now() - timedelta(days=400))
        shop = {"id": 548380009, "name": "Sandbox Shop", "email": "owner@sandbox-shop.example.com"}
        shop |= {"domain": SHOP_DOMAIN, "province": "Kentucky", "country": "US", "address1": "1 Main St"}
        shop |= {"zip": "40202", "city": "Louisville", "phone": "+15025550100", "created_at": created}
        shop |= {"updated_at": created, "country_code": "US", "country_name": "United States"}
        shop |= {"currency": CURRENCY, "customer_email": "help@sandbox-shop.example.com"}
        shop |= {"timezone": f"(GMT{offset[:3]}:{offset[3:]}) {zone}", "iana_timezone": zone}
        shop |= {"shop_owner": "Sandbox Owner", "money_format": "${{amount}}", "weight_unit": "kg"}
        shop |= {"province_code": "KY", "taxes_included": False, "plan_name": "basic"}
        shop |= {"plan_display_name": "Basic", "myshopify_domain": SHOP_DOMAIN, "primary_locale": "en"}
        shop |= {"enabled_presentment_currencies": [CURRENCY], "password_enabled": False}
        return {"shop": shop}

    def _order_view(self, version: str, order_id: int) -> ResponseReturnValue:
        with self.lock:
            versions = self._history.get(order_id)
            order = versions[-1][1] if versions else None
        if order is None:
            return _errors("Not Found", 404)
        return {"order": self._project(order, flask.request.args.get("fields"))}

    def _count_view(self, version: str) -> ResponseReturnValue:
        args = flask.request.args
        try:
            tests = self._filters({k: v for k, v in args.items() if k in _FILTERS})
        except _BadParam as exc:
            return exc.response
        with self.lock:
            return {"count": sum(all(t(o) for t in tests) for o in self._as_of(self._version))}

    def _orders_view(self, version: str) -> ResponseReturnValue:
        args = flask.request.args
        try:
            limit = self._limit(args.get("limit"))
            if "page_info" in args:
                extra = sorted(set(args) - {"page_info", "limit", "fields"})
                if extra:
                    raise _BadParam("page_info", f"cannot be combined with {', '.join(extra)}")
                cursor = self._decode(args["page_info"])
            else:
                filters = {k: v for k, v in args.items() if k in _FILTERS}
                cursor = {"filters": filters, "snapshot": self._version, "direction": "next", "last": None}
            tests = self._filters(cursor["filters"])
            sort_field, descending = self._sort(cursor["filters"])
        except _BadParam as exc:
            return exc.response
        with self.lock:
            matched = [o for o in self._as_of(cursor["snapshot"]) if all(t(o) for t in tests)]
        sign = -1 if descending else 1

        def key(o: dict[str, Any]) -> tuple[float, int]:
            value = o["id"] if sort_field == "id" else self._time(o[sort_field]).timestamp()
            return sign * value, sign * o["id"]

        matched.sort(key=key)
        keys = [key(o) for o in matched]
        last = tuple(cursor["last"]) if cursor["last"] is not None else None
        if last is None:
            start, end = 0, min(limit, len(matched))
        elif cursor["direction"] == "next":
            start = bisect_right(keys, last)
            end = min(start + limit, len(matched))
        else:
            end = bisect_left(keys, last)
            start = max(0, end - limit)
        page = matched[start:end]
        links = []
        base = flask.request.base_url
        query = {"limit": limit} | ({"fields": args["fields"]} if "fields" in args else {})
        for rel, direction, edge, more in (("next", "next", -1, end < len(matched)), ("previous", "prev", 0, start > 0)):
            if page and more:
                token = self._encode(cursor | {"direction": direction, "last": list(keys[start:end][edge])})
                links.append(f'<{base}?{urlencode(query | {"page_info": token})}>; rel="{rel}"')
        response = flask.jsonify(orders=[self._project(o, args.get("fields")) for o in page])
        if links:
            response.headers["Link"] = ", ".join(links)
        return response

    # -- query helpers --------------------------------------------------------------------------

    @staticmethod
    def _limit(value: str | None) -> int:
        if value is None:
            return DEFAULT_LIMIT
        if not value.strip().isdigit() or int(value) < 1:
            raise _BadParam("limit")
        if int(value) > MAX_LIMIT:
            raise _BadParam("limit", f"must be less than or equal to {MAX_LIMIT}")
        return int(value)

    @staticmethod
    def _sort(filters: dict[str, str]) -> tuple[str, bool]:
        if "order" not in filters:
            return ("id", False) if "since_id" in filters else ("created_at", True)
        parts = filters["order"].split()
        if not 1 <= len(parts) <= 2 or parts[0] not in _SORT_FIELDS or parts[1:] not in ([], ["asc"], ["desc"]):
            raise _BadParam("order")
        return parts[0], parts[1:] == ["desc"]

    def _filters(self, filters: dict[str, str]) -> list[Callable[[dict[str, Any]], bool]]:
        """Predicates for the query's filters; _BadParam on an invalid value."""
        tests: list[Callable[[dict[str, Any]], bool]] = [_STATUS.get(filters.get("status", "open"), None)]
        if tests[0] is None:
            raise _BadParam("status")
        for param, table, field in (
            ("financial_status", _FINANCIAL, "financial_status"),
            ("fulfillment_status", _FULFILLMENT, "fulfillment_status"),
        ):
            if param in filters:
                if filters[param] not in table:
                    raise _BadParam(param)
                allowed = table[filters[param]]
                if allowed is not None:
                    tests.append(lambda o, f=field, a=allowed: o[f] in a)  # type: ignore[misc]
        for param in _TIME_FILTERS:
            if param in filters:
                bound, field = self._parse_time(param, filters[param]), param[:-4]
                if param.endswith("_min"):
                    tests.append(lambda o, f=field, b=bound: self._time(o[f]) >= b)  # type: ignore[misc]
                else:
                    tests.append(lambda o, f=field, b=bound: self._time(o[f]) <= b)  # type: ignore[misc]
        if "since_id" in filters:
            since = self._int(filters["since_id"], "since_id")
            tests.append(lambda o: o["id"] > since)
        if "ids" in filters:
            ids = {self._int(i, "ids") for i in filters["ids"].split(",") if i.strip()}
            tests.append(lambda o: o["id"] in ids)
        return tests

    @staticmethod
    def _int(value: str, param: str) -> int:
        if not value.strip().isdigit():
            raise _BadParam(param)
        return int(value)

    def _parse_time(self, param: str, value: str) -> datetime:
        try:  # a "+" sent unencoded arrives as a space
            parsed = datetime.fromisoformat(value.strip().replace(" ", "+"))
        except ValueError:
            raise _BadParam(param) from None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=self.tz)

    def _project(self, order: dict[str, Any], fields: str | None) -> dict[str, Any]:
        if not fields:
            return order
        wanted = {f.strip() for f in fields.split(",")}
        return {k: v for k, v in order.items() if k in wanted}

    @staticmethod
    def _encode(cursor: dict[str, Any]) -> str:
        raw = json.dumps(cursor, separators=(",", ":"), sort_keys=True).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    @staticmethod
    def _decode(token: str) -> dict[str, Any]:
        try:
            cursor = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            if cursor["direction"] in ("next", "prev") and isinstance(cursor["filters"], dict):
                return {k: cursor[k] for k in ("filters", "snapshot", "direction", "last")}
        except (ValueError, KeyError, TypeError):
            pass
        raise _BadParam("page_info", "Invalid value.")

    def _as_of(self, snapshot: int) -> list[dict[str, Any]]:
        found = []
        with self.lock:
            for versions in self._history.values():
                for version, order in reversed(versions):
                    if version <= snapshot:
                        found.append(order)
                        break
        return found

    # -- data -----------------------------------------------------------------------------------

    def _fmt(self, moment: datetime) -> str:
        return moment.astimezone(self.tz).replace(microsecond=0).isoformat()

    @staticmethod
    def _time(text: str) -> datetime:
        return datetime.fromisoformat(text)

    def _next_id(self, kind: str, base: int) -> int:
        self._ids[kind] = self._ids.get(kind, base) + 1
        return self._ids[kind]

    def _store(self, order: dict[str, Any]) -> None:
        self._version += 1
        self._history.setdefault(order["id"], []).append((self._version, order))
