"""Simulated Shopify Admin REST API for the Shopify connector: ``shop.json``, ``orders.json``,
``orders/count.json``, ``orders/{id}.json``, ``webhooks.json`` subscriptions, signed deliveries.

Follows the project's Shopify reference (auth, versions, orders filters with ``status=open`` by
default, ``limit`` 50/250, ``Link`` cursor paging, the 40/2-per-second REST bucket, webhooks).
Sort: an explicit ``order=<id|created_at|updated_at|processed_at> [asc|desc]`` is honoured; with
``since_id`` and no ``order``, ``id asc`` (Shopify changelog 2017); otherwise ``created_at desc``
(newest first). Ties break on id. Paging is a consistent snapshot: the cursor carries the filters,
the sort, the last (sort value, id) and the data version of the first page, and every change keeps
the order's previous version, so a traversal sees each order matching at its first page exactly
once, as it was then, however orders change meanwhile (the new versions show in the next poll).
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
THROTTLED = (
    "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."
)

CENT = Decimal("0.01")
_VERSION_PATH = re.compile(r"^/admin/api/([^/]+)/")
_VERSION = re.compile(r"\d{4}-\d{2}|unstable")
_TIME_FILTERS = tuple(f"{f}_at_{m}" for f in ("created", "updated", "processed") for m in ("min", "max"))
_FILTERS = ("status", "since_id", "ids", "order", *_TIME_FILTERS)
_SORT_FIELDS = ("id", "created_at", "updated_at", "processed_at")
_STATUS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "open": lambda o: o["closed_at"] is None and o["cancelled_at"] is None,
    "closed": lambda o: o["closed_at"] is not None,
    "cancelled": lambda o: o["cancelled_at"] is not None,
    "any": lambda o: True,
}

# keys of the real sample order (tests/fixtures/shopify/order.json), in its order
_ORDER_KEYS = (  # noqa: SIM905
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
_FRACTIONAL_ZONES = {5.5: "Asia/Kolkata", 5.75: "Asia/Kathmandu", 9.5: "Australia/Darwin"}


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
    """A query parameter Shopify would refuse: 400 with ``{"errors": {param: [message]}}``."""

    def __init__(self, param: str, message: str = "is invalid") -> None:
        super().__init__(f"{param}: {message}")
        self.errors = {param: [message]}


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
        if not (-12 <= shop_utc_offset_hours <= 14 and float(shop_utc_offset_hours * 4).is_integer()):
            raise ValueError(
                f"shop_utc_offset_hours must be a quarter hour in -12..14: {shop_utc_offset_hours}"
            )
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
        #: subscriptions made through ``POST webhooks.json``
        self.webhooks: list[dict[str, Any]] = []
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
                self._last_created = max(self._last_created, created)
            return ids

    def change_orders(self, n: int) -> list[int]:
        """Change ``n`` random orders (capture, refund, fulfil, tag); updated_at becomes now."""
        with self.lock:
            ids = sorted(self.rng.sample(sorted(self._history), min(n, len(self._history))))
            for oid in ids:
                order = copy.deepcopy(self._history[oid][-1][1])
                now = max(self.clock.now(), self._time(order["updated_at"]) + timedelta(seconds=1))
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
            body = json.dumps(
                {**payload, "note": "tampered"}, ensure_ascii=False, separators=(",", ":")
            ).encode()
        with self.lock:
            webhook_id = uuid.UUID(int=self._hook_rng.getrandbits(128), version=4)
            event_id = uuid.UUID(int=self._hook_rng.getrandbits(128), version=4)
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

    def notify(self, order_ids: list[int], topic: str = "orders/updated") -> list[int | None]:
        """Send each order, as it is now, to every subscription for ``topic`` (its ``fields``
        only, when it has some); the delivery statuses in order."""
        with self.lock:
            hooks = [dict(w) for w in self.webhooks if w["topic"] == topic]
        statuses: list[int | None] = []
        for order_id in order_ids:
            order = self.order(order_id)
            for hook in hooks:
                payload = {k: v for k, v in order.items() if k in hook["fields"]} if hook["fields"] else order
                statuses += self.send_webhook(hook["address"], topic, payload)
        return statuses

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
        app.add_url_rule(f"{base}/webhooks.json", "webhooks", self._webhooks_view, methods=["GET", "POST"])
        hook_rule = f"{base}/webhooks/<int:hook_id>.json"
        app.add_url_rule(hook_rule, "webhook", self._webhook_view, methods=["GET", "DELETE"])
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

    def _webhooks_view(self, version: str) -> ResponseReturnValue:
        if flask.request.method == "GET":
            with self.lock:
                return {"webhooks": copy.deepcopy(self.webhooks)}
        data = flask.request.get_json(silent=True)
        hook = data.get("webhook") if isinstance(data, dict) else None
        if not isinstance(hook, dict):
            return _errors({"webhook": ["Required parameter missing or invalid"]}, 400)
        errors = {key: ["can't be blank"] for key in ("topic", "address") if not hook.get(key)}
        with self.lock:
            if not errors and any(
                (w["topic"], w["address"]) == (hook["topic"], hook["address"]) for w in self.webhooks
            ):
                errors = {"address": ["for this topic has already been taken"]}
            if errors:
                return _errors(errors, 422)
            now, hook_id = self._fmt(self.clock.now()), self._next_id("webhook", 6883828554000)
            webhook = {"id": hook_id, "address": hook["address"], "topic": hook["topic"]}
            webhook |= {"created_at": now, "updated_at": now, "format": hook.get("format", "json")}
            webhook |= {
                "fields": hook.get("fields") or [],
                "metafield_namespaces": [],
                "api_version": version,
            }
            webhook["private_metafield_namespaces"] = []
            self.webhooks.append(webhook)
        return {"webhook": webhook}, 201

    def _webhook_view(self, version: str, hook_id: int) -> ResponseReturnValue:
        with self.lock:
            found = [w for w in self.webhooks if w["id"] == hook_id]
            if not found:
                return _errors("Not Found", 404)
            if flask.request.method == "DELETE":
                self.webhooks.remove(found[0])
                return {}
            return {"webhook": dict(found[0])}

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
            return _errors(exc.errors, 400)
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
            return _errors(exc.errors, 400)
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
        for rel, direction, edge, more in (
            ("next", "next", -1, end < len(matched)),
            ("previous", "prev", 0, start > 0),
        ):
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
        field, _, direction = filters["order"].strip().partition(" ")
        if field not in _SORT_FIELDS or direction.strip() not in ("", "asc", "desc"):
            raise _BadParam("order")
        return field, direction.strip() == "desc"

    def _filters(self, filters: dict[str, str]) -> list[Callable[[dict[str, Any]], bool]]:
        """Predicates for the query's filters; _BadParam on an invalid value."""
        status = filters.get("status", "open")
        if status not in _STATUS:
            raise _BadParam("status")
        tests = [_STATUS[status]]
        tests += [self._time_test(param, filters[param]) for param in _TIME_FILTERS if param in filters]
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

    def _time_test(self, param: str, value: str) -> Callable[[dict[str, Any]], bool]:
        """``created_at_min=...`` & co (inclusive); a time without offset is in the shop's zone."""
        try:  # a "+" sent unencoded arrives as a space
            bound = datetime.fromisoformat(value.strip().replace(" ", "+"))
        except ValueError:
            raise _BadParam(param) from None
        bound = bound if bound.tzinfo is not None else bound.replace(tzinfo=self.tz)
        field = param[:-4]
        if param.endswith("_min"):
            return lambda o: self._time(o[field]) >= bound
        return lambda o: self._time(o[field]) <= bound

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

    def _new_order(self, n: int, created: datetime, now: datetime) -> dict[str, Any]:
        rng, oid = self.rng, ORDER_ID_BASE + n
        k = rng.randrange(40)  # the customer: same k, same person
        first, last = FIRST_NAMES[k % len(FIRST_NAMES)], LAST_NAMES[k // len(FIRST_NAMES) % len(LAST_NAMES)]
        email = f"customer{k + 1}@mail.example.com"
        products = rng.sample(self.catalog, rng.randint(1, min(4, len(self.catalog))))
        lines = [self._line_item(p, rng.randint(1, 3)) for p in products]
        gross = [Decimal(li["price"]) * li["quantity"] for li in lines]
        applications: list[dict[str, Any]] = []
        codes = []
        if rng.random() < 0.3:
            code, kind, value = rng.choice(DISCOUNTS)
            total = sum(gross, Decimal(0))
            amount = min(value, total) if kind == "fixed_amount" else (total * value / 100).quantize(CENT)
            shares = [(amount * g / total).quantize(CENT, ROUND_DOWN) for g in gross]
            for i in range(int((amount - sum(shares)) / CENT)):
                shares[i % len(shares)] += CENT
            for li, share in zip(lines, shares, strict=True):
                li["discount_allocations"] = [_allocation(share, 0)]
            applications.append(
                {"target_type": "line_item", "type": "discount_code", "value": f"{value:.1f}"}
                | {"value_type": kind, "allocation_method": "across", "target_selection": "all", "code": code}
            )
            codes.append({"code": code, "amount": _m(amount), "type": kind})
        rate = rng.choice(TAX_RATES)
        for li, g in zip(lines, gross, strict=True):
            if rate:
                tax = ((g - _sum(li["discount_allocations"], "amount")) * rate).quantize(CENT, ROUND_HALF_UP)
                li["tax_lines"] = [self._tax_line(tax, rate)]
            else:
                li["taxable"] = False
        title, price = rng.choice(SHIPPING)
        shipping = {"id": self._next_id("shipping", 369256396000), "carrier_identifier": None, "code": title}
        shipping |= {"discounted_price": price, "discounted_price_set": _set(price), "is_removed": False}
        shipping |= {"phone": None, "price": price, "price_set": _set(price)}
        shipping |= {"requested_fulfillment_service_id": None, "source": "shopify", "title": title}
        shipping |= {"tax_lines": [], "discount_allocations": []}
        if Decimal(price) > 0 and rng.random() < 0.2:
            shipping["discount_allocations"] = [_allocation(Decimal(price), len(applications))]
            shipping["discounted_price"], shipping["discounted_price_set"] = "0.00", _set("0.00")
            applications.append(
                {"target_type": "shipping_line", "type": "automatic", "value": "100.0"}
                | {"value_type": "percentage", "allocation_method": "each", "target_selection": "all"}
                | {"title": "Free shipping over $50"}
            )
        address = self._address(first, last, k)
        token = f"{rng.getrandbits(128):032x}"
        order: dict[str, Any] = dict.fromkeys(_ORDER_KEYS)
        client = {"accept_language": "en-US", "browser_height": None, "browser_ip": f"203.0.113.{k + 1}"}
        client |= {"browser_width": None, "session_hash": None, "user_agent": "Mozilla/5.0"}
        order: dict[str, Any] = dict.fromkeys(_ORDER_KEYS)  # the sample's keys, in its order; None
        order |= {"id": oid, "admin_graphql_api_id": _gid("Order", oid), "browser_ip": client["browser_ip"]}
        order |= {"buyer_accepts_marketing": rng.random() < 0.4, "cart_token": f"{rng.getrandbits(128):032x}"}
        order |= {"checkout_id": 901414060000 + n, "checkout_token": f"{rng.getrandbits(128):032x}"}
        order |= {"client_details": client, "confirmation_number": f"{rng.getrandbits(40):X}"[:9]}
        order |= {"confirmed": True, "contact_email": email, "created_at": self._fmt(created)}
        order |= {"currency": CURRENCY, "discount_codes": codes, "duties_included": False, "email": email}
        order |= {"estimated_taxes": False, "financial_status": "paid", "landing_site": "/"}
        order |= {"merchant_business_entity_id": "MTU0ODM4MDAwOQ", "name": f"#{1000 + n}"}
        order |= {"note_attributes": [], "number": n, "order_number": 1000 + n}
        order |= {"order_status_url": f"https://{SHOP_DOMAIN}/548380009/orders/{token}/authenticate"}
        order |= {"payment_gateway_names": ["bogus"], "presentment_currency": CURRENCY}
        order |= {"processed_at": self._fmt(created), "source_name": rng.choice(("web", "web", "web", "pos"))}
        order |= {"tags": "", "tax_exempt": False, "tax_lines": [], "taxes_included": False, "test": False}
        order |= {"token": token, "total_cash_rounding_payment_adjustment_set": _set("0.00")}
        order |= {"total_cash_rounding_refund_adjustment_set": _set("0.00"), "total_tip_received": "0.00"}
        order |= {"billing_address": address, "discount_applications": applications, "fulfillments": []}
        customer = self._customer(k, first, last, email, address) if rng.random() < 0.95 else None
        order |= {"customer": customer, "line_items": lines, "refunds": [], "shipping_address": dict(address)}
        order["shipping_lines"] = [shipping]
        at = self._fmt(min(now, created + timedelta(seconds=rng.randint(0, 3 * 86400))))
        roll = rng.random()
        if roll < 0.08:
            self._cancel(order, at)
        elif roll < 0.3:
            order["financial_status"] = "pending" if roll < 0.2 else "authorized"
        else:
            fulfil = rng.random()
            if fulfil < 0.45 or (fulfil < 0.55 and len(lines) > 1):
                self._fulfil(order, at, lines if fulfil < 0.45 else lines[:1])
                if fulfil < 0.2:
                    order["closed_at"] = at
            if rng.random() < 0.15:
                self._refund_some(order, at)
        if rng.random() < 0.4:
            order["tags"] = ", ".join(rng.sample(TAGS, rng.randint(1, 2)))
        order["updated_at"] = max(at, order["created_at"])
        self._recompute(order)
        return order

    def _line_item(self, product: dict[str, Any], quantity: int) -> dict[str, Any]:
        lid = self._next_id("line_item", 466157049000)
        item = {"id": lid, "admin_graphql_api_id": _gid("LineItem", lid), "attributed_staffs": []}
        item |= {"current_quantity": quantity, "fulfillable_quantity": quantity}
        item |= {"fulfillment_service": "manual", "fulfillment_status": None, "gift_card": False}
        item |= {"grams": product["grams"]}
        item |= {"name": f"{product['title']} - {product['variant_title']}", "price": product["price"]}
        item |= {"price_set": _set(product["price"]), "product_exists": True}
        item |= {"product_id": product["product_id"]}
        item |= {"properties": [], "quantity": quantity, "requires_shipping": True, "sku": product["sku"]}
        item |= {"taxable": True, "title": product["title"], "total_discount": "0.00"}
        item |= {"total_discount_set": _set("0.00"), "variant_id": product["variant_id"]}
        item |= {"variant_inventory_management": "shopify", "variant_title": product["variant_title"]}
        return item | {"vendor": product["vendor"], "tax_lines": [], "duties": [], "discount_allocations": []}

    @staticmethod
    def _tax_line(amount: Decimal, rate: Decimal) -> dict[str, Any]:
        price = _m(amount)
        return {"channel_liable": None, "price": price, "price_set": _set(price), "rate": float(rate)} | {
            "title": "State Tax"
        }

    def _address(self, first: str, last: str, k: int) -> dict[str, Any]:
        city, province, code, zip_code, lat, lon = CITIES[k % len(CITIES)]
        address = {"first_name": first, "address1": f"{100 + k} Market Street", "phone": f"+1502555{k:04d}"}
        address |= {"city": city, "zip": zip_code, "province": province, "country": "United States"}
        address |= {"last_name": last, "address2": "", "company": None, "latitude": lat, "longitude": lon}
        return address | {"name": f"{first} {last}", "country_code": "US", "province_code": code}

    def _customer(self, k: int, first: str, last: str, email: str, address: dict[str, Any]) -> dict[str, Any]:
        cid = 207119551000 + k
        since = self._fmt(self.clock.now() - timedelta(days=365))
        keys = ("first_name", "last_name", "company", "address1", "address2", "city", "province", "country")
        default = {"id": cid, "customer_id": cid} | {key: address[key] for key in keys}
        default |= {"zip": address["zip"], "phone": address["phone"], "name": address["name"]}
        default |= {"province_code": address["province_code"], "country_code": "US"}
        default |= {"country_name": "United States", "default": True}
        consent = {"state": "not_subscribed", "opt_in_level": None, "consent_updated_at": None}
        customer = {"id": cid, "email": email, "created_at": since, "updated_at": since}
        customer |= {"first_name": first, "last_name": last, "state": "enabled", "note": None}
        customer |= {"verified_email": True, "multipass_identifier": None, "tax_exempt": False}
        customer |= {"phone": address["phone"], "email_marketing_consent": consent}
        customer |= {"sms_marketing_consent": consent | {"consent_collected_from": "OTHER"}, "tags": ""}
        customer |= {
            "currency": CURRENCY,
            "tax_exemptions": [],
            "admin_graphql_api_id": _gid("Customer", cid),
        }
        return customer | {"default_address": default}

    def _fulfil(self, order: dict[str, Any], at: str, lines: list[dict[str, Any]]) -> None:
        fid = self._next_id("fulfillment", 255858046000)
        carrier, number = self.rng.choice(CARRIERS), f"1Z{self.rng.getrandbits(48):015d}"
        for li in lines:
            li["fulfillment_status"], li["fulfillable_quantity"] = "fulfilled", 0
        url = f"https://track.example.com/?number={number}"
        fulfillment = {"id": fid, "admin_graphql_api_id": _gid("Fulfillment", fid), "created_at": at}
        fulfillment |= {"location_id": 655441491, "name": f"{order['name']}.{len(order['fulfillments']) + 1}"}
        fulfillment |= {"order_id": order["id"], "origin_address": {}, "receipt": {}, "service": "manual"}
        fulfillment |= {"shipment_status": None, "status": "success", "tracking_company": carrier}
        fulfillment |= {"tracking_number": number, "tracking_numbers": [number], "tracking_url": url}
        fulfillment |= {"tracking_urls": [url], "updated_at": at, "line_items": copy.deepcopy(lines)}
        order["fulfillments"].append(fulfillment)
        done = all(li["fulfillment_status"] for li in order["line_items"])
        order["fulfillment_status"] = "fulfilled" if done else "partial"

    def _refund_some(self, order: dict[str, Any], at: str) -> None:
        """Refund one line of several (partially_refunded), else everything (refunded)."""
        current = [li for li in order["line_items"] if li["current_quantity"]]
        if len(current) > 1:
            self._refund(order, at, [self.rng.choice(current)], shipping=False)
        elif current:
            self._refund(order, at, current, shipping=True)

    def _refund(self, order: dict[str, Any], at: str, lines: list[dict[str, Any]], *, shipping: bool) -> None:
        rid = self._next_id("refund", 509562969000)
        items, amount = [], Decimal(0)
        for li in lines:
            net = Decimal(li["price"]) * li["quantity"] - _sum(li["discount_allocations"], "amount")
            tax = _sum(li["tax_lines"], "price")
            item = {"id": self._next_id("refund_line", 104689539000), "line_item_id": li["id"]}
            item |= {"location_id": 655441491, "quantity": li["quantity"]}
            item |= {"restock_type": "return" if li["fulfillment_status"] else "cancel"}
            item |= {"subtotal": float(net), "subtotal_set": _set(_m(net)), "total_tax": float(tax)}
            items.append(item | {"total_tax_set": _set(_m(tax)), "line_item": copy.deepcopy(li)})
            li["current_quantity"], li["fulfillable_quantity"] = 0, 0
            amount += net + tax
        adjustments = []
        ship = sum((Decimal(s["discounted_price"]) for s in order["shipping_lines"]), Decimal(0))
        if shipping and ship > 0:
            adjustment = {"id": self._next_id("adjustment", 1030976842000), "order_id": order["id"]}
            adjustment |= {"refund_id": rid, "amount": _m(-ship), "amount_set": _set(_m(-ship))}
            adjustment |= {"tax_amount": "0.00", "tax_amount_set": _set("0.00"), "kind": "shipping_refund"}
            adjustments.append(adjustment | {"reason": "Shipping refund"})
            amount += ship
        tid = self._next_id("transaction", 179259969000)
        txn = {"id": tid, "admin_graphql_api_id": _gid("OrderTransaction", tid), "amount": _m(amount)}
        txn |= {"authorization": None, "created_at": at, "currency": CURRENCY, "device_id": None}
        txn |= {"error_code": None, "gateway": "bogus", "kind": "refund", "location_id": None}
        txn |= {"message": None, "order_id": order["id"], "parent_id": None}
        txn |= {"payment_id": f"{order['name']}.{len(order['refunds']) + 1}", "processed_at": at}
        txn |= {"receipt": {}, "source_name": "web", "status": "success", "test": False, "user_id": None}
        refund = {"id": rid, "admin_graphql_api_id": _gid("Refund", rid), "created_at": at}
        refund |= {"note": self.rng.choice((None, "damaged in transit", "customer changed mind"))}
        refund |= {"order_id": order["id"], "processed_at": at, "restock": True}
        refund |= {"total_additional_fees_set": _set("0.00"), "total_duties_set": _set("0.00")}
        refund |= {"user_id": None, "order_adjustments": adjustments, "transactions": [txn]}
        order["refunds"].append(refund | {"refund_line_items": items, "duties": [], "additional_fees": []})
        everything = not any(li["current_quantity"] for li in order["line_items"]) and (shipping or ship == 0)
        order["financial_status"] = "refunded" if everything else "partially_refunded"

    def _cancel(self, order: dict[str, Any], at: str) -> None:
        order["cancelled_at"] = order["closed_at"] = at
        order["cancel_reason"] = self.rng.choice(("customer", "fraud", "inventory", "declined", "other"))
        if order["financial_status"] in ("paid", "partially_refunded") and self.rng.random() < 0.5:
            current = [li for li in order["line_items"] if li["current_quantity"]]
            self._refund(order, at, current, shipping=True)
        else:
            order["financial_status"] = "voided"
        for li in order["line_items"]:
            li["fulfillable_quantity"] = 0

    def _change(self, order: dict[str, Any], now: datetime) -> None:
        at, status = self._fmt(now), order["financial_status"]
        options = []
        if order["cancelled_at"] is None:
            if status in ("pending", "authorized"):
                options.append("capture")
            if status == "paid":
                options.append("refund")
            if status in ("paid", "partially_refunded") and any(
                li["fulfillable_quantity"] for li in order["line_items"]
            ):
                options.append("fulfil")
        kind = self.rng.choice(options) if options and self.rng.random() < 0.8 else "tags"
        if kind == "capture":
            order["financial_status"] = "paid"
        elif kind == "refund":
            self._refund_some(order, at)
        elif kind == "fulfil":
            self._fulfil(order, at, [li for li in order["line_items"] if li["fulfillable_quantity"]])
        else:
            tags = [t for t in order["tags"].split(", ") if t]
            missing = [t for t in TAGS if t not in tags]
            tags = [*tags, self.rng.choice(missing)] if missing else tags[1:]
            order["tags"] = ", ".join(tags)
        order["updated_at"] = at
        self._recompute(order)

    def _recompute(self, order: dict[str, Any]) -> None:
        """Every total from the lines, shipping lines and refunds (taxes not included)."""
        lines, ships = order["line_items"], order["shipping_lines"]
        refunded = {r["line_item_id"] for ref in order["refunds"] for r in ref["refund_line_items"]}
        kept = [li for li in lines if li["id"] not in refunded]

        def total(items: list[dict[str, Any]], what: str) -> Decimal:
            gross = sum((Decimal(li["price"]) * li["quantity"] for li in items), Decimal(0))
            discount = sum((_sum(li["discount_allocations"], "amount") for li in items), Decimal(0))
            tax = sum((_sum(li["tax_lines"], "price") for li in items), Decimal(0))
            return {"gross": gross, "discount": discount, "tax": tax, "net": gross - discount}[what]

        ship_price = _sum(ships, "price")
        ship_discount = sum((_sum(s["discount_allocations"], "amount") for s in ships), Decimal(0))
        ship_refund = -sum((_sum(ref["order_adjustments"], "amount") for ref in order["refunds"]), Decimal(0))
        shipping = ship_price - ship_discount
        values = {
            "total_line_items_price": total(lines, "gross"),
            "subtotal_price": total(lines, "net"),
            "total_discounts": total(lines, "discount") + ship_discount,
            "total_tax": total(lines, "tax"),
            "total_price": total(lines, "net") + shipping + total(lines, "tax"),
            "current_subtotal_price": total(kept, "net"),
            "current_total_discounts": total(kept, "discount") + ship_discount,
            "current_total_tax": total(kept, "tax"),
            "current_total_price": total(kept, "net") + shipping - ship_refund + total(kept, "tax"),
        }
        for key, value in values.items():
            order[key], order[f"{key}_set"] = _m(value), _set(_m(value))
        order["total_shipping_price_set"] = _set(_m(ship_price))
        unpaid = order["financial_status"] in ("pending", "authorized")
        order["total_outstanding"] = order["current_total_price"] if unpaid else "0.00"
        order["total_weight"] = sum(li["grams"] * li["quantity"] for li in lines)
        rates = [t["rate"] for li in lines for t in li["tax_lines"]]
        tax = values["total_tax"]
        order["tax_lines"] = [self._tax_line(tax, Decimal(str(rates[0])))] if rates else []
