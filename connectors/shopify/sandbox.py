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

Inventory and fulfilments. ``POST graphql.json`` answers the documents the connector sends,
dispatched on their root field (``productVariants``, ``inventoryItem``,
``inventorySetQuantities``; the arguments are read, the selection is not: answers carry a fixed
superset). Stock is ``available`` per SKU per location (``locations``, default 3), every
catalog SKU stocked everywhere; a merchant's edit (``set_stock``) is sent as
``inventory_levels/update`` (the REST InventoryLevel, ``updated_at`` in whole seconds) to the
subscriptions for it, and ``inventoryItem`` answers its ``sku`` and ``tracked`` too. GraphQL
has its own bucket of cost points (2,000, restoring 100 per second; requested cost checked
first, the unused part refunded, ``extensions.cost`` on every answer, ``THROTTLED`` in a 200
answer when the bucket cannot pay); it does not draw on the REST bucket.
``inventorySetQuantities`` is all or nothing (any ``userErrors``: nothing applied), from
2026-04 needs ``@idempotent(key:)`` and ``changeFromQuantity`` on every quantity, and answers a
repeated key with its first result. Fulfillment orders are derived from each order's lines (one
per location: the primary one, and the second for the last line of every fifth order with
several lines); ``POST fulfillments.json`` fulfils them, ``update_tracking.json`` changes
tracking, and both store a new version of the order (``fulfillment_status``, ``updated_at``).
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
from collections import Counter
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

SHOP_ID = 548380009
#: the first locations (ids from the reference samples); more are made up when asked for
LOCATIONS = ((655441491, "Main Warehouse"), (487838322, "Downtown Store"), (24826418, "East Depot"))
INVENTORY_ITEM_BASE = 808950000
GRAPHQL_BUCKET_SIZE, GRAPHQL_RESTORE_RATE = 2000.0, 100.0
MAX_QUERY_COST, MAX_INPUT_SIZE, MAX_FIRST, MUTATION_COST = 1000, 250, 250, 10
MAX_QUANTITY = 1_000_000_000
INVENTORY_REASONS = frozenset(
    {
        "correction", "cycle_count_available", "damaged", "movement_created", "movement_updated",
        "movement_received", "movement_canceled", "other", "promotion", "quality_control", "received",
        "reservation_created", "reservation_deleted", "reservation_updated", "restock", "safety_stock",
        "shrinkage",
    }
)  # fmt: skip
#: InventorySetQuantitiesUserErrorCode -> message (the enum's descriptions)
USER_ERRORS = {
    "INVALID_NAME": "The quantity name must be either 'available' or 'on_hand'.",
    "INVALID_REASON": "The specified reason is invalid.",
    "INVALID_INVENTORY_ITEM": "The specified inventory item could not be found.",
    "INVALID_LOCATION": "The specified location could not be found.",
    "ITEM_NOT_STOCKED_AT_LOCATION": "The specified inventory item is not stocked at the location.",
    "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR": "The combination of inventoryItemId and locationId "
    "must be unique.",
    "INVALID_QUANTITY_TOO_LOW": "The total quantity can't be lower than -1,000,000,000.",
    "INVALID_QUANTITY_TOO_HIGH": "The total quantity can't be higher than 1,000,000,000.",
    "CHANGE_FROM_QUANTITY_STALE": "The changeFromQuantity value does not match persisted value.",
    "COMPARE_QUANTITY_REQUIRED": "The compareQuantity argument must be given to each quantity or ignored "
    "using ignoreCompareQuantity.",
    "COMPARE_QUANTITY_STALE": "The compareQuantity value does not match persisted value.",
    "IDEMPOTENCY_KEY_PARAMETER_MISMATCH": "The same idempotency key cannot be used with different "
    "operation parameters.",
}
TRACKING_URLS = {
    "UPS": "https://www.ups.com/WebTracking?loc=en_US&requester=ST&trackNums={}",
    "USPS": "https://tools.usps.com/go/TrackConfirmAction?tLabels={}",
    "FedEx": "https://www.fedex.com/fedextrack/?trknbr={}",
    "DHL Express": "https://www.dhl.com/en/express/tracking.html?AWB={}&brand=DHL",
}
_ROOT_FIELD = re.compile(r"^\s*(?:(?:query|mutation)\b[^{]*)?\{\s*(\w+)")
_ARGUMENT = re.compile(r'(\w+)\s*:\s*(\$\w+|-?\d+|"(?:[^"\\]|\\.)*"|null|true|false)')
_IDEMPOTENT = re.compile(r'@idempotent\s*\(\s*key\s*:\s*"([^"]*)"\s*\)')
_SKU_TERM = re.compile(r'sku:("(?:[^"\\]|\\.)*"|[^\s()]+)')
_GID_OF = re.compile(r"^gid://shopify/(\w+)/(\d+)$")


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


class _GraphQLError(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error["message"])
        self.error = error


def _gql_error(message: str, code: str) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code}}


def _arguments(query: str, field: str, variables: dict[str, Any]) -> dict[str, Any]:
    """The arguments of ``field(...)`` in a document: ``$variables`` resolved, literals parsed."""
    match = re.search(rf"\b{field}\s*\(([^)]*)\)", query)
    found: dict[str, Any] = {}
    for name, raw in _ARGUMENT.findall(match.group(1) if match else ""):
        if raw.startswith("$"):
            found[name] = variables.get(raw[1:])
        else:
            found[name] = json.loads(raw)
    return found


def _first(args: dict[str, Any]) -> int:
    first = args.get("first")
    if isinstance(first, bool) or not isinstance(first, int) or not 1 <= first <= MAX_FIRST:
        raise _GraphQLError(
            _gql_error(f"first must be an integer in 1..{MAX_FIRST}, got {first!r}", "BAD_REQUEST")
        )
    return first


def _legacy(value: Any, kind: str) -> int | None:
    match = _GID_OF.match(value) if isinstance(value, str) else None
    return int(match.group(2)) if match and match.group(1) == kind else None


def _cursor(kind: str, index: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{index}".encode()).decode()


def _cursor_index(cursor: str, kind: str) -> int:
    try:
        found, _, index = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if found == kind:
            return int(index)
    except (ValueError, UnicodeDecodeError):
        pass
    raise _GraphQLError(_gql_error(f"Invalid cursor for this connection: {cursor}", "BAD_REQUEST"))


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
        locations: int = 3,
        graphql_restore_rate: float = GRAPHQL_RESTORE_RATE,
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
        if not 1 <= locations <= 50:
            raise ValueError("locations must be in 1..50")
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
        self._listing_cache: dict[tuple[int, str], tuple[list[dict[str, Any]], list[tuple[float, int]]]] = {}
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
        for i, product in enumerate(self.catalog):
            product["inventory_item_id"] = INVENTORY_ITEM_BASE + i
        self.locations = [
            {"id": LOCATIONS[i][0], "name": LOCATIONS[i][1]}
            if i < len(LOCATIONS)
            else {"id": 70_000_000_000 + i, "name": f"Location {i + 1}"}
            for i in range(locations)
        ]
        stock_rng = Random(f"{seed}:inventory")  # apart from self.rng: the orders stay the same
        #: (sku, location id) -> available; a missing pair is not stocked there
        self._stock = {
            (p["sku"], loc["id"]): stock_rng.randint(0, 100) for p in self.catalog for loc in self.locations
        }
        self._items = {p["inventory_item_id"]: p for p in self.catalog}
        #: GraphQL points restored per second (the plan: 100 Standard, 200 Advanced, 1,000 Plus)
        self.graphql_restore_rate = float(graphql_restore_rate)
        self._graphql_points, self._graphql_at = GRAPHQL_BUCKET_SIZE, self.timer()
        #: idempotency key -> (the mutation's variables, its answer)
        self._idempotent: dict[str, tuple[Any, dict[str, Any]]] = {}
        #: (order id, location id) -> fulfillment order id; (fulfillment order id, line id) -> its line id
        self._fo_ids: dict[tuple[int, int], int] = {}
        self._fo_line_ids: dict[tuple[int, int], int] = {}
        #: fulfillment ids whose customer was told (notify_customer)
        self.notified: list[int] = []
        #: GraphQL requests by root field (``inventorySetQuantities``, ``productVariants``, ...)
        self.graphql_calls: Counter[str] = Counter()
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

    def stock(self, sku: str, location_id: int | str) -> int | None:
        """``available`` of ``sku`` at a location; None where it is not stocked."""
        with self.lock:
            return self._stock.get((sku, int(location_id)))

    def set_stock(self, sku: str, location_id: int | str, available: int) -> list[int | None]:
        """A merchant's edit in the Shopify admin (stocks the SKU there if it was not): like
        Shopify, sends ``inventory_levels/update`` to every subscription for it. Returns the
        delivery statuses."""
        with self.lock:
            if sku not in {p["sku"] for p in self.catalog}:
                raise KeyError(f"unknown SKU {sku!r}")
            if int(location_id) not in {loc["id"] for loc in self.locations}:
                raise KeyError(f"unknown location {location_id!r}")
            self._stock[(sku, int(location_id))] = int(available)
            payload = self.inventory_level(sku, location_id)
            hooks = [w["address"] for w in self.webhooks if w["topic"] == "inventory_levels/update"]
        statuses: list[int | None] = []
        for address in hooks:  # delivered outside the lock: the hub may call back meanwhile
            statuses += self.send_webhook(address, "inventory_levels/update", payload)
        return statuses

    def inventory_level(self, sku: str, location_id: int | str) -> dict[str, Any]:
        """The REST InventoryLevel of ``sku`` at a location as it is now (the body of an
        ``inventory_levels/update`` webhook); ``updated_at`` is now, in whole seconds."""
        with self.lock:
            item = next(p["inventory_item_id"] for p in self.catalog if p["sku"] == sku)
            location = int(location_id)
            return {
                "inventory_item_id": item,
                "location_id": location,
                "available": self._stock.get((sku, location)),
                "updated_at": self._fmt(self.clock.now()),
                "admin_graphql_api_id": f"gid://shopify/InventoryLevel/{location}?inventory_item_id={item}",
            }

    def unstock(self, sku: str, location_id: int | str) -> None:
        """The SKU is no longer stocked at the location."""
        with self.lock:
            self._stock.pop((sku, int(location_id)), None)

    def fulfillments(self, order_id: int | str) -> list[dict[str, Any]]:
        """The order's fulfillments, as ``GET orders/{id}/fulfillments.json`` shows them."""
        return self.order(int(order_id))["fulfillments"]

    def fulfillment_orders(self, order_id: int | str) -> list[dict[str, Any]]:
        with self.lock:
            return self._fulfillment_orders(self._history[int(order_id)][-1][1])

    def set_graphql_points(self, available: float) -> None:
        """Set the GraphQL cost bucket's available points (e.g. 0: the next query is THROTTLED)."""
        with self.lock:
            self._graphql_points, self._graphql_at = float(available), self.timer()

    def tick(self) -> None:
        """Shop activity for ``make run``: a new order and two changed ones, each sent to
        the webhook subscriptions the hub registered."""
        self.notify(self.seed_orders(1), "orders/create")
        self.notify(self.change_orders(2), "orders/updated")

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
        if flask.request.path.endswith("/graphql.json"):
            return None  # GraphQL pays in cost points (see _graphql_view)
        with self.lock:
            level = self._level()
            if not self.limits:  # a shop without limits: the bucket never fills
                return None
            if level + 1 > BUCKET_SIZE:
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
        app.add_url_rule(f"{base}/graphql.json", "graphql", self._graphql_view, methods=["POST"])
        order_rule = f"{base}/orders/<int:order_id>"
        app.add_url_rule(
            f"{order_rule}/fulfillment_orders.json", "fulfillment_orders", self._fulfillment_orders_view
        )
        app.add_url_rule(
            f"{order_rule}/fulfillments.json", "order_fulfillments", self._order_fulfillments_view
        )
        app.add_url_rule(
            f"{base}/fulfillments.json", "fulfillments", self._create_fulfillment_view, methods=["POST"]
        )
        app.add_url_rule(
            f"{base}/fulfillments/<int:fulfillment_id>/update_tracking.json",
            "update_tracking",
            self._update_tracking_view,
            methods=["POST"],
        )

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
        if not path.endswith("/graphql.json"):  # GraphQL reports its cost in the body
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
        matched, keys = self._sorted_matches(cursor, tests, sort_field, descending)
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

    def _sorted_matches(
        self,
        cursor: dict[str, Any],
        tests: list[Callable[[dict[str, Any]], bool]],
        sort_field: str,
        descending: bool,
    ) -> tuple[list[dict[str, Any]], list[tuple[float, int]]]:
        """The snapshot's matching orders in page order, and their sort keys. A snapshot
        never changes, so the pages of one listing share one sort (the first page pays)."""
        cache_key = (cursor["snapshot"], json.dumps(cursor["filters"], sort_keys=True))
        with self.lock:
            cached = self._listing_cache.get(cache_key)
            if cached is not None:
                return cached
            matched = [o for o in self._as_of(cursor["snapshot"]) if all(t(o) for t in tests)]
        sign = -1 if descending else 1

        def key(o: dict[str, Any]) -> tuple[float, int]:
            value = o["id"] if sort_field == "id" else self._time(o[sort_field]).timestamp()
            return sign * value, sign * o["id"]

        keyed = sorted(((key(o), o) for o in matched), key=lambda pair: pair[0])
        result = ([o for _, o in keyed], [k for k, _ in keyed])
        with self.lock:
            if len(self._listing_cache) >= 8:
                self._listing_cache.pop(next(iter(self._listing_cache)))
            self._listing_cache[cache_key] = result
        return result

    # -- GraphQL: inventory -----------------------------------------------------------------------

    def _graphql_view(self, version: str) -> ResponseReturnValue:
        data = flask.request.get_json(silent=True)
        query = data.get("query") if isinstance(data, dict) else None
        if not isinstance(query, str):
            return _errors({"query": "Required parameter missing or invalid"}, 400)
        variables = data.get("variables") or {}
        root = _ROOT_FIELD.match(query)
        operations = {
            "productVariants": self._gql_variants,
            "inventoryItem": self._gql_item_levels,
            "inventorySetQuantities": self._gql_set_quantities,
        }
        if root is None or root.group(1) not in operations:
            field = root.group(1) if root else "?"
            return {
                "errors": [_gql_error(f"Field '{field}' doesn't exist on type 'QueryRoot'", "undefinedField")]
            }
        with self.lock:
            self.graphql_calls[root.group(1)] += 1
        try:
            requested, run = operations[root.group(1)](query, variables, version)
        except _GraphQLError as exc:
            return {"errors": [exc.error]}
        if requested > MAX_QUERY_COST:
            message = f"Query cost is {requested}, which exceeds the single query max cost limit "
            message += f"({MAX_QUERY_COST})."
            return {"errors": [_gql_error(message, "MAX_COST_EXCEEDED")], "extensions": self._cost(requested)}
        with self.lock:
            available = self._graphql_level()
            if self.limits and requested > available:
                self._count_fault("throttled")
                return {"errors": [_gql_error("Throttled", "THROTTLED")], "extensions": self._cost(requested)}
            self._graphql_points = available - requested
            try:
                answer, actual = run()
            except _GraphQLError as exc:
                self._graphql_points += requested
                return {"errors": [exc.error]}
            self._graphql_points = min(GRAPHQL_BUCKET_SIZE, self._graphql_points + requested - actual)
            return {"data": answer, "extensions": self._cost(requested, actual)}

    def _graphql_level(self) -> float:
        now = self.timer()
        restored = (now - self._graphql_at) * self.graphql_restore_rate
        self._graphql_points = min(GRAPHQL_BUCKET_SIZE, self._graphql_points + restored)
        self._graphql_at = now
        return self._graphql_points

    def _cost(self, requested: int, actual: int | None = None) -> dict[str, Any]:
        with self.lock:
            available = self._graphql_level()
        status = {"maximumAvailable": GRAPHQL_BUCKET_SIZE, "currentlyAvailable": math.floor(available)}
        cost = {"requestedQueryCost": requested, "actualQueryCost": actual}
        return {"cost": cost | {"throttleStatus": status | {"restoreRate": self.graphql_restore_rate}}}

    def _gql_variants(self, query: str, variables: dict[str, Any], version: str) -> tuple[int, Any]:
        args = _arguments(query, "productVariants", variables)
        first, after, search = _first(args), args.get("after"), args.get("query")
        levels = _first(_arguments(query, "inventoryLevels", variables)) if "inventoryLevels" in query else 0
        level_cost = 2 + levels * 3 if "inventoryLevels" in query else 0
        requested = 2 + first * (2 + level_cost)
        skus = {json.loads(t) if t.startswith('"') else t for t in _SKU_TERM.findall(search or "")}
        if search and not skus:
            raise _GraphQLError(
                _gql_error(f"Unsupported search query for this sandbox: {search}", "BAD_REQUEST")
            )

        def run() -> tuple[dict[str, Any], int]:
            wanted = {s.lower() for s in skus}
            matched = [p for p in self.catalog if not wanted or p["sku"].lower() in wanted]
            start = _cursor_index(after, "variant") + 1 if after else 0
            page = matched[start : start + first]
            nodes, actual = [], 2
            for p in page:
                item: dict[str, Any] = {"id": _gid("InventoryItem", p["inventory_item_id"]), "tracked": True}
                if "inventoryLevels" in query:
                    item["inventoryLevels"], count = self._levels_page(p, levels, None)
                    actual += 2 + count * 3
                nodes.append({"sku": p["sku"], "inventoryItem": item})
                actual += 2
            info = {
                "hasNextPage": start + len(page) < len(matched),
                "endCursor": _cursor("variant", start + len(page) - 1) if page else None,
            }
            return {"productVariants": {"pageInfo": info, "nodes": nodes}}, actual

        return requested, run

    def _gql_item_levels(self, query: str, variables: dict[str, Any], version: str) -> tuple[int, Any]:
        item_args = _arguments(query, "inventoryItem", variables)
        with_levels = "inventoryLevels" in query
        args = _arguments(query, "inventoryLevels", variables) if with_levels else {}
        first = _first(args) if with_levels else 0

        def run() -> tuple[dict[str, Any], int]:
            product = self._items.get(_legacy(item_args.get("id"), "InventoryItem") or -1)
            if product is None:
                return {"inventoryItem": None}, 1
            item = {"id": _gid("InventoryItem", product["inventory_item_id"]), "sku": product["sku"]}
            item["tracked"] = True
            if not with_levels:
                return {"inventoryItem": item}, 1
            levels, count = self._levels_page(product, first, args.get("after"))
            return {"inventoryItem": item | {"inventoryLevels": levels}}, 3 + count * 3

        return (3 + first * 3 if with_levels else 1), run

    def _levels_page(
        self, product: dict[str, Any], first: int, after: str | None
    ) -> tuple[dict[str, Any], int]:
        stocked = [
            (i, loc) for i, loc in enumerate(self.locations) if (product["sku"], loc["id"]) in self._stock
        ]
        start = _cursor_index(after, "level") + 1 if after else 0
        kept = [(i, loc) for i, loc in stocked if i >= start]
        page = kept[:first]
        nodes = [
            {
                "location": {"id": _gid("Location", loc["id"])},
                "quantities": [{"name": "available", "quantity": self._stock[(product["sku"], loc["id"])]}],
            }
            for _, loc in page
        ]
        info = {
            "hasNextPage": len(kept) > len(page),
            "endCursor": _cursor("level", page[-1][0]) if page else None,
        }
        return {"pageInfo": info, "nodes": nodes}, len(page)

    def _gql_set_quantities(self, query: str, variables: dict[str, Any], version: str) -> tuple[int, Any]:
        payload = _arguments(query, "inventorySetQuantities", variables).get("input")
        quantities = payload.get("quantities") if isinstance(payload, dict) else None
        if not isinstance(quantities, list):
            message = "Variable $input of type InventorySetQuantitiesInput! was provided invalid value"
            raise _GraphQLError(_gql_error(message, "INVALID_VARIABLE"))
        new = version == "unstable" or version >= "2026-04"
        key = _IDEMPOTENT.search(query)
        if new and key is None:
            message = "The @idempotent directive is required for this mutation."
            raise _GraphQLError(_gql_error(message, "BAD_REQUEST"))
        if len(quantities) > MAX_INPUT_SIZE:
            message = f"The input array size of {len(quantities)} is greater than the maximum allowed "
            raise _GraphQLError(_gql_error(f"{message}of {MAX_INPUT_SIZE}.", "MAX_INPUT_SIZE_EXCEEDED"))
        if new and any(not isinstance(q, dict) or "changeFromQuantity" not in q for q in quantities):
            message = "changeFromQuantity is required on every quantity (null to skip the check)."
            raise _GraphQLError(_gql_error(message, "BAD_REQUEST"))

        def run() -> tuple[dict[str, Any], int]:
            if key is not None and key.group(1) in self._idempotent:
                before, answer = self._idempotent[key.group(1)]
                if before != payload:
                    code = "IDEMPOTENCY_KEY_PARAMETER_MISMATCH"
                    mismatch = {"code": code, "field": None, "message": USER_ERRORS[code]}
                    answer = {
                        "inventorySetQuantities": {"inventoryAdjustmentGroup": None, "userErrors": [mismatch]}
                    }
                return copy.deepcopy(answer), MUTATION_COST  # the first answer; nothing applied again
            errors = self._quantity_errors(payload, new)
            group = None
            if not errors:  # all or nothing
                for q in quantities:
                    product = self._items[_legacy(q["inventoryItemId"], "InventoryItem")]
                    self._stock[(product["sku"], _legacy(q["locationId"], "Location"))] = q["quantity"]
                group = {"id": _gid("InventoryAdjustmentGroup", self._next_id("adjustment_group", 1000000))}
            answer = {"inventorySetQuantities": {"inventoryAdjustmentGroup": group, "userErrors": errors}}
            if key is not None:
                self._idempotent[key.group(1)] = (copy.deepcopy(payload), copy.deepcopy(answer))
            return answer, MUTATION_COST

        return MUTATION_COST, run

    def _quantity_errors(self, payload: dict[str, Any], new: bool) -> list[dict[str, Any]]:
        """``userErrors`` of an ``inventorySetQuantities`` input (the shop's own messages)."""
        found = []
        if payload.get("name") not in ("available", "on_hand"):
            found.append(("INVALID_NAME", ["name"]))
        if payload.get("reason") not in INVENTORY_REASONS:
            found.append(("INVALID_REASON", ["reason"]))
        seen: set[tuple[str, int]] = set()
        for i, q in enumerate(payload["quantities"]):
            problem = self._quantity_error(q, payload, new, seen)
            if problem is not None:
                found.append((problem[0], ["quantities", str(i), *problem[1:]]))
        return [{"code": c, "field": ["input", *f], "message": USER_ERRORS[c]} for c, f in found]

    def _quantity_error(
        self, q: Any, payload: dict[str, Any], new: bool, seen: set[tuple[str, int]]
    ) -> tuple[str, ...] | None:
        q = q if isinstance(q, dict) else {}
        product = self._items.get(_legacy(q.get("inventoryItemId"), "InventoryItem") or -1)
        location = _legacy(q.get("locationId"), "Location")
        quantity = q.get("quantity")
        if product is None:
            return "INVALID_INVENTORY_ITEM", "inventoryItemId"
        if location not in {loc["id"] for loc in self.locations}:
            return "INVALID_LOCATION", "locationId"
        pair = (product["sku"], location)
        if pair not in self._stock:
            return "ITEM_NOT_STOCKED_AT_LOCATION", "locationId"
        if pair in seen:
            return ("NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR",)
        seen.add(pair)
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < -MAX_QUANTITY:
            return "INVALID_QUANTITY_TOO_LOW", "quantity"
        if quantity > MAX_QUANTITY:
            return "INVALID_QUANTITY_TOO_HIGH", "quantity"
        stored = self._stock[pair]
        if new:
            stale = q["changeFromQuantity"] is not None and q["changeFromQuantity"] != stored
            return ("CHANGE_FROM_QUANTITY_STALE", "changeFromQuantity") if stale else None
        if payload.get("ignoreCompareQuantity"):
            return None
        if "compareQuantity" not in q:
            return "COMPARE_QUANTITY_REQUIRED", "compareQuantity"
        return ("COMPARE_QUANTITY_STALE", "compareQuantity") if q["compareQuantity"] != stored else None

    # -- REST: fulfillment orders and fulfillments ---------------------------------------------------

    def _latest(self, order_id: int) -> dict[str, Any] | None:
        versions = self._history.get(order_id)
        return versions[-1][1] if versions else None

    def _fulfillment_orders_view(self, version: str, order_id: int) -> ResponseReturnValue:
        with self.lock:
            order = self._latest(order_id)
            if order is None:
                return _errors("Not Found", 404)
            return {"fulfillment_orders": self._fulfillment_orders(order)}

    def _order_fulfillments_view(self, version: str, order_id: int) -> ResponseReturnValue:
        with self.lock:
            order = self._latest(order_id)
            if order is None:
                return _errors("Not Found", 404)
            return {"fulfillments": copy.deepcopy(order["fulfillments"])}

    def _line_location(self, order: dict[str, Any], index: int) -> int:
        lines = order["line_items"]
        split = len(self.locations) > 1 and len(lines) > 1 and order["number"] % 5 == 0
        return self.locations[1 if split and index == len(lines) - 1 else 0]["id"]

    def _fulfillment_orders(self, order: dict[str, Any]) -> list[dict[str, Any]]:
        """One fulfillment order per location of the order's lines, from the lines as they are."""
        by_location: dict[int, list[dict[str, Any]]] = {}
        for index, li in enumerate(order["line_items"]):
            by_location.setdefault(self._line_location(order, index), []).append(li)
        found = []
        for location_id, lines in by_location.items():
            key = (order["id"], location_id)
            if key not in self._fo_ids:
                self._fo_ids[key] = self._next_id("fulfillment_order", 1046000000)
            fo_id = self._fo_ids[key]
            fo_lines = []
            for li in lines:
                if (fo_id, li["id"]) not in self._fo_line_ids:
                    self._fo_line_ids[(fo_id, li["id"])] = self._next_id("fulfillment_order_line", 1072503000)
                product = next((p for p in self.catalog if p["sku"] == li["sku"]), None)
                fo_line = {"id": self._fo_line_ids[(fo_id, li["id"])], "shop_id": SHOP_ID}
                fo_line |= {"fulfillment_order_id": fo_id, "quantity": li["current_quantity"]}
                fo_line |= {"line_item_id": li["id"]}
                fo_line |= {"inventory_item_id": product["inventory_item_id"] if product else None}
                fo_line |= {
                    "fulfillable_quantity": li["fulfillable_quantity"],
                    "variant_id": li["variant_id"],
                }
                fo_lines.append(fo_line)
            remaining = sum(li["fulfillable_quantity"] for li in lines)
            if order["cancelled_at"] is not None or remaining == 0:
                status = "closed"
            elif any(li["fulfillable_quantity"] < li["current_quantity"] for li in lines):
                status = "in_progress"
            else:
                status = "open"
            location = next(loc for loc in self.locations if loc["id"] == location_id)
            address = order["shipping_address"] or {}
            fo = {"id": fo_id, "created_at": order["created_at"], "updated_at": order["updated_at"]}
            fo |= {"shop_id": SHOP_ID, "order_id": order["id"], "assigned_location_id": location_id}
            fo |= {"request_status": "unsubmitted", "status": status, "fulfill_at": None, "fulfill_by": None}
            fo["supported_actions"] = [] if status == "closed" else ["create_fulfillment", "move", "hold"]
            fo["destination"] = {key: address.get(key) for key in ("address1", "address2", "city", "company")}
            fo["destination"] |= {key: address.get(key) for key in ("country", "first_name", "last_name")}
            fo["destination"] |= {key: address.get(key) for key in ("phone", "province", "zip")}
            fo["destination"] |= {"id": fo_id + 1000, "email": order["email"]}
            fo |= {"line_items": fo_lines, "international_duties": None, "fulfillment_holds": []}
            fo |= {"delivery_method": None, "merchant_requests": []}
            fo["assigned_location"] = {"address1": None, "address2": None, "city": None}
            fo["assigned_location"] |= {
                "country_code": "US",
                "location_id": location_id,
                "name": location["name"],
            }
            fo["assigned_location"] |= {"phone": None, "province": None, "zip": None}
            found.append(fo)
        return found

    def _create_fulfillment_view(self, version: str) -> ResponseReturnValue:
        data = flask.request.get_json(silent=True)
        body = data.get("fulfillment") if isinstance(data, dict) else None
        if not isinstance(body, dict):
            return _errors({"fulfillment": "Required parameter missing or invalid"}, 400)
        groups = body.get("line_items_by_fulfillment_order")
        if not isinstance(groups, list) or not groups or not all(isinstance(g, dict) for g in groups):
            return _errors({"line_items_by_fulfillment_order": "Required parameter missing or invalid"}, 400)
        tracking = body.get("tracking_info") or {}
        if not isinstance(tracking, dict):
            return _errors({"tracking_info": "Required parameter missing or invalid"}, 400)
        with self.lock:
            owners = {fo_id: key for key, fo_id in self._fo_ids.items()}
            keys = []
            for group in groups:
                if group.get("fulfillment_order_id") not in owners:
                    return _errors(
                        [f"Fulfillment order {group.get('fulfillment_order_id')} does not exist."], 422
                    )
                keys.append(owners[group["fulfillment_order_id"]])
            if len({order_id for order_id, _ in keys}) > 1:
                return _errors(["All fulfillment orders must belong to the same order."], 422)
            if len({location_id for _, location_id in keys}) > 1:
                return _errors(["All fulfillment orders must be assigned to the same location."], 422)
            order = copy.deepcopy(self._latest(keys[0][0]))
            current = {fo["id"]: fo for fo in self._fulfillment_orders(order)}
            taken: dict[int, int] = {}  # order line id -> quantity
            for group in groups:
                fo = current[group["fulfillment_order_id"]]
                if "create_fulfillment" not in fo["supported_actions"]:
                    return _errors(
                        [f"Fulfillment order {fo['id']} has an unfulfillable status= {fo['status']}."], 422
                    )
                lines = {li["id"]: li for li in fo["line_items"]}
                wanted = group.get("fulfillment_order_line_items")
                if wanted is None:  # everything that remains on the fulfillment order
                    wanted = [
                        {"id": li["id"], "quantity": li["fulfillable_quantity"]} for li in fo["line_items"]
                    ]
                if not isinstance(wanted, list):
                    return _errors(
                        {"fulfillment_order_line_items": "Required parameter missing or invalid"}, 400
                    )
                for item in wanted:
                    line = lines.get(item.get("id")) if isinstance(item, dict) else None
                    if line is None:
                        return _errors([f"Fulfillment order line item {item} does not exist."], 422)
                    quantity = item.get("quantity")
                    already = taken.get(line["line_item_id"], 0)
                    if (
                        not isinstance(quantity, int)
                        or quantity < 0
                        or quantity + already > line["fulfillable_quantity"]
                    ):
                        return _errors(["Invalid fulfillment order line item quantity requested."], 422)
                    if quantity:
                        taken[line["line_item_id"]] = already + quantity
            if not taken:
                return _errors(["Fulfillment must have at least one line item."], 422)
            at = self._bump(order)
            fid = self._next_id("fulfillment", 255858046000)
            fulfilled = []
            for li in order["line_items"]:
                if li["id"] in taken:
                    li["fulfillable_quantity"] -= taken[li["id"]]
                    li["fulfillment_status"] = "fulfilled" if li["fulfillable_quantity"] == 0 else "partial"
                    fulfilled.append(copy.deepcopy(li) | {"quantity": taken[li["id"]]})
            fulfillment = {"id": fid, "order_id": order["id"], "status": "success", "created_at": at}
            fulfillment |= {"service": "manual", "updated_at": at, "tracking_company": None}
            fulfillment |= {"shipment_status": None, "location_id": keys[0][1], "origin_address": None}
            fulfillment |= {"line_items": fulfilled, "tracking_number": None, "tracking_numbers": []}
            fulfillment |= {"tracking_url": None, "tracking_urls": [], "receipt": {}}
            fulfillment |= {"name": f"{order['name']}.{len(order['fulfillments']) + 1}"}
            fulfillment["admin_graphql_api_id"] = _gid("Fulfillment", fid)
            self._set_tracking(fulfillment, tracking)
            order["fulfillments"].append(fulfillment)
            remaining = any(li["fulfillable_quantity"] for li in order["line_items"])
            order["fulfillment_status"] = "partial" if remaining else "fulfilled"
            if body.get("notify_customer"):
                self.notified.append(fid)
            self._store(order)
            return {"fulfillment": copy.deepcopy(fulfillment)}, 201

    def _update_tracking_view(self, version: str, fulfillment_id: int) -> ResponseReturnValue:
        data = flask.request.get_json(silent=True)
        body = data.get("fulfillment") if isinstance(data, dict) else None
        tracking = body.get("tracking_info") if isinstance(body, dict) else None
        if not isinstance(tracking, dict):
            return _errors({"fulfillment": "Required parameter missing or invalid"}, 400)
        with self.lock:
            owner = next(
                (versions[-1][1] for versions in self._history.values()
                 if any(f["id"] == fulfillment_id for f in versions[-1][1]["fulfillments"])),
                None,
            )  # fmt: skip
            if owner is None:
                return _errors("Not Found", 404)
            order = copy.deepcopy(owner)
            fulfillment = next(f for f in order["fulfillments"] if f["id"] == fulfillment_id)
            if fulfillment["status"] in ("cancelled", "error", "failure"):
                return _errors([f"Fulfillment {fulfillment_id} is {fulfillment['status']}."], 422)
            fulfillment["updated_at"] = self._bump(order)
            self._set_tracking(fulfillment, tracking)
            if body.get("notify_customer"):
                self.notified.append(fulfillment_id)
            self._store(order)
            return {"fulfillment": copy.deepcopy(fulfillment)}

    def _bump(self, order: dict[str, Any]) -> str:
        """The order changes now: its updated_at moves forward (by a second at least)."""
        now = max(self.clock.now(), self._time(order["updated_at"]) + timedelta(seconds=1))
        order["updated_at"] = self._fmt(now)
        return order["updated_at"]

    @staticmethod
    def _set_tracking(fulfillment: dict[str, Any], tracking: dict[str, Any]) -> None:
        """``tracking_info``: ``number``/``numbers``, ``url``/``urls``, ``company`` (kept when not given);
        a known company without URLs gets Shopify's tracking links."""
        numbers = list(tracking.get("numbers") or ([tracking["number"]] if tracking.get("number") else []))
        urls = list(tracking.get("urls") or ([tracking["url"]] if tracking.get("url") else []))
        company = tracking.get("company") or fulfillment["tracking_company"]
        if not urls and company in TRACKING_URLS:
            urls = [TRACKING_URLS[company].format(n) for n in numbers]
        fulfillment |= {"tracking_company": company, "tracking_numbers": numbers, "tracking_urls": urls}
        fulfillment["tracking_number"] = numbers[0] if numbers else None
        fulfillment["tracking_url"] = urls[0] if urls else None

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
