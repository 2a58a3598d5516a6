"""Simulated WooCommerce store (REST API ``wp-json/wc/v3`` on plain HTTP) for the WooCommerce connector.

Follows the project's WooCommerce reference and WooCommerce core where the reference is silent:

* Auth: plain HTTP, so OAuth 1.0a one-legged only (query string or ``Authorization: OAuth``),
  verified as ``WC_REST_Authentication`` does (base string of the URL without query and every
  GET/form parameter, key ``consumer_secret&``, HMAC-SHA1/256, timestamp no older than 15 minutes,
  nonces single use). Basic auth is ignored on plain HTTP, so it gets the 401 of no auth at all.
* Paths: ``/wp-json/`` (route index), ``/wp-json/wc/v3`` (namespace index), orders (list, one,
  update, notes), products and variations (list, one, update, ``batch`` of at most 100 items,
  413 beyond), webhooks (CRUD), and with ``shipment_tracking=True`` the Shipment Tracking
  extension's ``wc-shipment-tracking/v3`` routes (404 ``rest_no_route`` otherwise).
* Paging: ``page``/``per_page`` (1..100, else 400 ``rest_invalid_param``), ``X-WP-Total``,
  ``X-WP-TotalPages``, ``Link``. Queries are live (no snapshot): a change while a client pages
  shifts the pages as MySQL offsets do. ``orderby=modified`` ties come out by id.
* Dates: ``date_*`` are shop-local (``utc_offset_hours``, default +10), ``date_*_gmt`` UTC, both
  without offset. ``after``/``before``/``modified_after``/``modified_before`` are exclusive and
  compared with the local columns unless ``dates_are_gmt=true``; a bound carrying an offset is
  first moved into the shop's zone (``WP_Date_Query``), so only a bare UTC time with
  ``dates_are_gmt=true`` means UTC.
* Stock: ``manage_stock``/``stock_quantity`` on simple products and variations; a variation not
  managing its own stock under a parent that does shows ``manage_stock: "parent"`` and the parent's
  quantity, and a quantity written to it without ``manage_stock: true`` is silently not used.
  ``products/batch`` refuses variations per item, as core does.
* Webhooks: creating an active webhook (or updating one still pending its first delivery) sends
  the ping (form body ``webhook_id=<id>``, no ``X-WC-Webhook-*`` headers; only 200 counts).
  Changes queue deliveries (one per webhook and resource while pending, payload built when sent,
  as Action Scheduler does); ``deliver_pending()`` sends them signed, never retries, counts
  consecutive failures (a status outside 200..302, or none) and, as ``WC_Webhook::failed_delivery``,
  disables the webhook at a failure when the count already exceeds ``max_delivery_failures``
  (default 5, so the 7th failure in a row). ``X-WC-Webhook-Delivery-ID`` is a hash of the webhook
  id and the current second, so it repeats within a second. ``unreachable = True`` makes every
  delivery fail as if the hub could not be reached.
* Faults: the framework's (latency, 429 with ``Retry-After``, PHP-fatal HTML 500, maintenance 503,
  drops, lost responses, duplicate webhooks).
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
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import quote, unquote, urlencode

import flask
from flask.typing import ResponseReturnValue

from hub.sandbox import Faults, Sandbox, SandboxClock

__all__ = ["WooCommerceSandbox", "oauth_signature"]

API = "/wp-json/wc/v3"
TRACKING = "wc-shipment-tracking/v3"
WC_VERSION, WP_VERSION = "9.8.1", "6.8.1"
USER_AGENT = f"WooCommerce/{WC_VERSION} Hookshot (WordPress/{WP_VERSION})"
MAX_PER_PAGE = BATCH_LIMIT = 100
OAUTH_WINDOW = 15 * 60
OAUTH_PARAMS = (
    "oauth_consumer_key",
    "oauth_timestamp",
    "oauth_nonce",
    "oauth_signature",
    "oauth_signature_method",
)
ORDER_ID_BASE, PRODUCT_ID_BASE = 1000, 100
CENT = Decimal("0.01")
TOPIC_HOOKS = {
    "order.created": ["woocommerce_new_order"],
    "order.updated": ["woocommerce_update_order", "woocommerce_order_refunded"],
    "order.deleted": ["wp_trash_post"],
    "order.restored": ["untrashed_post"],
    "product.created": ["woocommerce_process_product_meta", "woocommerce_new_product"],
    "product.updated": ["woocommerce_process_product_meta", "woocommerce_update_product"],
    "product.deleted": ["wp_trash_post"],
    "product.restored": ["untrashed_post"],
}
PROVIDERS = {
    "Australia": {"Australia Post": "https://auspost.com.au/mypost/track/#/details/%1$s"},
    "United States": {
        "UPS": "https://www.ups.com/track?tracknum=%1$s",
        "USPS": "https://tools.usps.com/go/TrackConfirmAction_input?qtc_tLabels1=%1$s",
        "Fedex": "https://www.fedex.com/apps/fedextrack/?action=track&tracknumbers=%1$s",
    },
}
PRODUCTS = ("Canvas Tote", "Trail Mug", "Wool Beanie", "Field Notebook", "Desk Lamp", "Linen Apron")
SHIRTS = ("Merino Tee", "Flannel Shirt", "Rain Jacket", "Hoodie")
COLORS = ("Black", "Navy", "Green", "Red", "Sand", "Grey", "White", "Blue", "Olive", "Rust")
SIZES = ("XS", "S", "M", "L", "XL", "XXL", "3XL", "4XL", "5XL", "6XL")
FIRST = ("Olivia", "Jack", "Mia", "Noah", "Chloe", "Liam", "Ava", "Oscar", "Zoë", "Hiro")
LAST = ("Smith", "Nguyen", "Brown", "Wilson", "Taylor", "Müller", "Kelly", "Singh", "Rossi")
CITIES = (("Brisbane", "QLD", "4000"), ("Sydney", "NSW", "2000"), ("Melbourne", "VIC", "3000"))
STREETS = ("Queen Street", "George Street", "Collins Street", "Ann Street")
PAYMENTS = (("stripe", "Credit Card (Stripe)"), ("bacs", "Direct bank transfer"), ("cod", "Cash on delivery"))
SHIPPING = (("flat_rate", "Flat rate", "10.00"), ("free_shipping", "Free shipping", "0.00"))
TAX = (75, "GST", Decimal("0.10"))
COUPONS = (("winter10", Decimal("0.10")), ("vip15", Decimal("0.15")))
#: status at creation, cumulative probability
NEW_STATUSES = (
    ("processing", 0.55),
    ("completed", 0.75),
    ("on-hold", 0.83),
    ("pending", 0.90),
    ("cancelled", 0.95),
    ("refunded", 0.98),
    ("failed", 1.0),
)
PAID = ("processing", "completed", "refunded")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}(:?\d{2})?)?")
_OAUTH_HEADER = re.compile(r'(oauth_\w+)="([^"]*)"')
_FILTERS = (
    ("after", "created", 1),
    ("before", "created", -1),
    ("modified_after", "modified", 1),
    ("modified_before", "modified", -1),
)


def _m(value: Decimal | int | str) -> str:
    return str(Decimal(value).quantize(CENT, ROUND_HALF_UP))


def _php_json(payload: Any) -> bytes:
    """``wp_json_encode``: ASCII with ``\\uXXXX`` escapes and escaped slashes."""
    return json.dumps(payload, separators=(",", ":")).replace("/", "\\/").encode()


def _rfc3986(value: Any) -> str:
    return quote(str(value), safe="-._~")


def oauth_signature(method: str, url: str, params: dict[str, str], secret: str, algorithm: str) -> str:
    """``WC_REST_Authentication::check_oauth_signature``: every parameter but the signature, sorted by
    key, ``key=value`` encoded once, joined with ``%26``; key = consumer secret + ``&``."""
    pairs = sorted((k, v) for k, v in params.items() if k != "oauth_signature")
    query = "%26".join(_rfc3986(f"{_rfc3986(k)}={_rfc3986(v)}") for k, v in pairs)
    base = f"{method.upper()}&{_rfc3986(url)}&{query}"
    digest = hmac.new(f"{secret}&".encode(), base.encode(), algorithm.lower()).digest()
    return base64.b64encode(digest).decode()


class RestError(Exception):
    """A WP REST error: ``{"code", "message", "data": {"status", ...}}``."""

    def __init__(self, code: str, message: str, status: int = 400, **data: Any) -> None:
        super().__init__(message)
        self.code, self.message, self.status, self.data = code, message, status, data

    def response(self) -> flask.Response:
        response = flask.jsonify(
            code=self.code, message=self.message, data={"status": self.status} | self.data
        )
        response.status_code = self.status
        return response


def _invalid(param: str, why: str) -> RestError:
    return RestError("rest_invalid_param", f"Invalid parameter(s): {param}", 400, params={param: why})


NO_ROUTE = ("rest_no_route", "No route was found matching the URL and request method.", 404)


class WooCommerceSandbox(Sandbox):
    """A WooCommerce store with generated orders, products and webhooks; see the module docstring."""

    name = "woocommerce"

    def __init__(
        self,
        *,
        seed: int = 0,
        faults: Faults | None = None,
        orders: int = 50,
        simple_products: int = 12,
        variable_products: int = 4,
        variations: int = 6,
        inherit_rate: float = 0.25,
        utc_offset_hours: float = 10,
        shipment_tracking: bool = False,
        max_delivery_failures: int = 5,
        consumer_key: str = "ck_sandbox_0123456789abcdef0123456789abcdef",
        consumer_secret: str = "cs_sandbox_fedcba9876543210fedcba9876543210",
        clock: SandboxClock | None = None,
    ) -> None:
        super().__init__(seed=seed, faults=faults)
        if not (-12 <= utc_offset_hours <= 14 and float(utc_offset_hours * 4).is_integer()):
            raise ValueError(f"utc_offset_hours must be a quarter hour in -12..14: {utc_offset_hours}")
        if not 1 <= variations <= len(COLORS) * len(SIZES):
            raise ValueError(f"variations must be 1..{len(COLORS) * len(SIZES)}")
        self.clock = clock or SandboxClock()
        self.tz = timezone(timedelta(hours=utc_offset_hours))
        self.utc_offset_hours = utc_offset_hours
        self.consumer_key, self.consumer_secret = consumer_key, consumer_secret
        self.shipment_tracking = shipment_tracking
        self.max_delivery_failures = max_delivery_failures
        #: deliveries fail without being sent (the hub is unreachable)
        self.unreachable = False
        self.orders: dict[int, dict[str, Any]] = {}
        self.notes: dict[int, list[dict[str, Any]]] = {}
        self.trackings: dict[int, list[dict[str, Any]]] = {}
        self.products: dict[int, dict[str, Any]] = {}
        self.variations: dict[int, dict[str, Any]] = {}  # each with "_parent"
        self.hooks: dict[int, dict[str, Any]] = {}  # each with "_secret", "_failures", "_pending"
        #: every delivery and ping sent: {"webhook_id", "topic", "resource_id", "status"}
        self.deliveries: list[dict[str, Any]] = []
        self._times: dict[int, tuple[datetime, datetime]] = {}  # order id -> (created, modified), UTC
        self._queue: list[tuple[int, int]] = []
        self._nonces: set[str] = set()
        self._ids: dict[str, int] = {}
        self._salt = hashlib.sha256(f"{seed}:salt".encode()).hexdigest()
        self._build_catalog(simple_products, variable_products, variations, inherit_rate)
        self.seed_orders(orders)

    # -- public helpers for tests and ``make run`` -------------------------------------------------

    def connection_values(self) -> dict[str, Any]:
        return {
            "store_url": self.url,
            "consumer_key": self.consumer_key,
            "consumer_secret": self.consumer_secret,
        }

    def seed_orders(self, n: int, days: float = 30) -> list[int]:
        """``n`` orders created over the last ``days`` (oldest first), each last modified between its
        creation and now; no webhooks (they predate the subscriptions)."""
        with self.lock:
            now = self._now()
            offsets = sorted(self.rng.uniform(0, days * 86400) for _ in range(n))
            ids = []
            for offset in reversed(offsets):
                created = now - timedelta(seconds=int(offset))
                modified = min(now, created + timedelta(seconds=self.rng.randint(0, 2 * 86400)))
                ids.append(self._new_order(created, modified)["id"])
            return ids

    def create_orders(self, n: int = 1) -> list[int]:
        """``n`` new orders now (``order.created`` queued)."""
        with self.lock:
            ids = [self._new_order(self._now(), self._now())["id"] for _ in range(n)]
            for oid in ids:
                self._emit("order.created", oid)
            return ids

    def change_orders(self, n: int | Iterable[int] = 1) -> list[int]:
        """Move ``n`` random orders (or the given ids) on a step (payment, completion, refund, a
        note); ``date_modified`` becomes now and ``order.updated`` is queued."""
        with self.lock:
            live = sorted(i for i, o in self.orders.items() if o["status"] != "trash")
            ids = self.rng.sample(live, min(n, len(live))) if isinstance(n, int) else list(n)
            for oid in ids:
                self._change(self.orders[oid])
                self._touch(oid)
                self._emit("order.updated", oid)
            return sorted(ids)

    def trash_order(self, order_id: int) -> None:
        with self.lock:
            self.orders[order_id]["status"] = "trash"
            self._touch(order_id)
            self._emit("order.deleted", order_id)

    def order(self, order_id: int) -> dict[str, Any]:
        with self.lock:
            return self._order_json(order_id)

    def all_orders(self, *, include_trash: bool = False) -> list[dict[str, Any]]:
        with self.lock:
            return [
                self._order_json(i)
                for i in sorted(self.orders)
                if include_trash or self.orders[i]["status"] != "trash"
            ]

    def stock(self, sku: str) -> tuple[Any, int | None]:
        """(``manage_stock`` as the API shows it, ``stock_quantity``) of a SKU."""
        with self.lock:
            for product in self.products.values():
                if product["sku"] == sku:  # a product's own fields are what the API shows
                    return product["manage_stock"], product["stock_quantity"]
            for vid, variation in self.variations.items():
                if variation["sku"] == sku:
                    view = self._variation_json(vid)
                    return view["manage_stock"], view["stock_quantity"]
        raise KeyError(sku)

    def set_stock(self, sku: str, quantity: int) -> None:
        """A merchant's edit of a product's or variation's stock in the WordPress admin (it
        manages stock from then on); ``product.updated`` is queued."""
        with self.lock:
            for pid, product in self.products.items():
                if product["sku"] == sku:
                    self._apply_stock(product, {"manage_stock": True, "stock_quantity": quantity}, None)
                    self._emit("product.updated", pid)
                    return
            for vid, variation in self.variations.items():
                if variation["sku"] == sku:
                    parent = self.products[variation["_parent"]]
                    self._apply_stock(variation, {"manage_stock": True, "stock_quantity": quantity}, parent)
                    self._emit("product.updated", vid)
                    return
        raise KeyError(sku)

    def variation_skus(self) -> list[str]:
        with self.lock:
            return [v["sku"] for v in self.variations.values()]

    def deliver_pending(self) -> list[int | None]:
        """Send every queued delivery (the Action Scheduler run); the statuses, None when unsent."""
        with self.lock:
            queue, self._queue = self._queue, []
        return [self._deliver(wid, rid) for wid, rid in queue]

    def tick(self) -> None:
        """Shop activity for ``make run``: now and then a new order, a change or two, then the
        queued webhooks go out."""
        if self.rng.random() < 0.6:
            self.create_orders(1)
        self.change_orders(self.rng.randint(0, 2))
        self.deliver_pending()

    # -- Sandbox hooks ------------------------------------------------------------------------------

    def rate_limited_response(self) -> flask.Response:  # a host's WAF, WooCommerce has no limit
        body = "<html><head><title>429 Too Many Requests</title></head><body>Too Many Requests</body></html>"
        return flask.Response(body, 429, {"Retry-After": "1", "Content-Type": "text/html"})

    def error_response(self, status: int) -> flask.Response:
        text = (
            "<p>There has been a critical error on this website.</p>"
            if status == 500
            else "<h1>Briefly unavailable for scheduled maintenance. Check back in a minute.</h1>"
        )
        return flask.Response(
            f"<!DOCTYPE html><html><body>{text}</body></html>", status, mimetype="text/html"
        )

    def routes(self, app: flask.Flask) -> None:
        app.before_request(self._authenticate)
        app.register_error_handler(RestError, lambda exc: exc.response())
        for code in (404, 405):
            app.register_error_handler(code, lambda _: RestError(*NO_ROUTE).response())
        rules: list[tuple[str, Callable[..., ResponseReturnValue], tuple[str, ...]]] = [
            ("/wp-json/", self._index_view, ("GET",)),
            (API, self._namespace_view, ("GET",)),
            (f"{API}/orders", self._orders_view, ("GET",)),
            (f"{API}/orders/<int:order_id>", self._order_view, ("GET", "PUT", "POST", "PATCH")),
            (f"{API}/orders/<int:order_id>/notes", self._notes_view, ("GET", "POST")),
            (f"{API}/products", self._products_view, ("GET",)),
            (f"{API}/products/batch", self._products_batch_view, ("POST", "PUT", "PATCH")),
            (f"{API}/products/<int:product_id>", self._product_view, ("GET", "PUT", "POST", "PATCH")),
            (f"{API}/products/<int:product_id>/variations", self._variations_view, ("GET",)),
            (
                f"{API}/products/<int:product_id>/variations/batch",
                self._variations_batch_view,
                ("POST", "PUT"),
            ),
            (
                f"{API}/products/<int:product_id>/variations/<int:variation_id>",
                self._variation_view,
                ("GET", "PUT", "POST", "PATCH"),
            ),
            (f"{API}/webhooks", self._webhooks_view, ("GET", "POST")),
            (f"{API}/webhooks/<int:hook_id>", self._webhook_view, ("GET", "PUT", "POST", "PATCH", "DELETE")),
            (f"/wp-json/{TRACKING}", self._tracking_namespace_view, ("GET",)),
            (f"/wp-json/{TRACKING}/shipment-trackings/providers", self._providers_view, ("GET",)),
            (
                f"/wp-json/{TRACKING}/orders/<int:order_id>/shipment-trackings",
                self._trackings_view,
                ("GET", "POST"),
            ),
            (
                f"/wp-json/{TRACKING}/orders/<int:order_id>/shipment-trackings/<tracking_id>",
                self._tracking_view,
                ("GET", "DELETE"),
            ),
        ]
        for rule, view, methods in rules:
            app.add_url_rule(rule, view.__name__, view, methods=list(methods))

    # -- auth ---------------------------------------------------------------------------------------

    def _authenticate(self) -> flask.Response | None:
        request = flask.request
        if not request.path.startswith((f"{API}/", f"/wp-json/{TRACKING}/orders")):
            return None
        params = {**request.args.to_dict(), **request.form.to_dict()}
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("oauth "):
            params |= {k: unquote(v) for k, v in _OAUTH_HEADER.findall(header)}
        missing = [k for k in OAUTH_PARAMS if not params.get(k)]
        if len(missing) == len(OAUTH_PARAMS):  # no OAuth at all (Basic auth counts for nothing on HTTP)
            return RestError(
                "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.", 401
            ).response()
        if missing:
            message = f"Missing OAuth parameters {', '.join(missing)}"
            return RestError("woocommerce_rest_authentication_missing_parameter", message, 401).response()
        problem = self._oauth_problem(params)
        return (
            RestError("woocommerce_rest_authentication_error", problem, 401).response() if problem else None
        )

    def _oauth_problem(self, params: dict[str, str]) -> str | None:
        """``perform_oauth_authentication``: key, signature, then timestamp and nonce."""
        if not hmac.compare_digest(params["oauth_consumer_key"], self.consumer_key):
            return "Consumer key is invalid."
        method = params["oauth_signature_method"]
        if method not in ("HMAC-SHA1", "HMAC-SHA256"):
            return "Invalid signature - signature method is invalid."
        request = flask.request
        expected = oauth_signature(request.method, request.base_url, params, self.consumer_secret, method[5:])
        if not hmac.compare_digest(expected, params["oauth_signature"].replace(" ", "+")):
            return "Invalid signature - provided signature does not match."
        stamp = params["oauth_timestamp"]
        if not stamp.isdigit() or int(stamp) < time.time() - OAUTH_WINDOW:
            return "Invalid timestamp."
        with self.lock:
            if params["oauth_nonce"] in self._nonces:
                return "Invalid nonce - nonce has already been used."
            self._nonces.add(params["oauth_nonce"])
        return None

    # -- route index --------------------------------------------------------------------------------

    def _index_view(self) -> ResponseReturnValue:
        namespaces = ["oembed/1.0", "wc/v3", "wc/store/v1", "wp/v2"] + (
            [TRACKING] if self.shipment_tracking else []
        )
        return {
            "name": "Sandbox Store",
            "description": "Just another WooCommerce store",
            "url": self.url,
            "home": self.url,
            "gmt_offset": self.utc_offset_hours,
            "timezone_string": "",
            "namespaces": namespaces,
            "authentication": [],
            "routes": {},
        }

    def _namespace_view(self) -> ResponseReturnValue:
        return {"namespace": "wc/v3", "routes": {}}

    def _tracking_namespace_view(self) -> ResponseReturnValue:
        self._need_tracking()
        return {"namespace": TRACKING, "routes": {}}

    # -- orders -------------------------------------------------------------------------------------

    def _orders_view(self) -> ResponseReturnValue:
        args = flask.request.args
        per_page, page = self._paging(args)
        use_gmt = args.get("dates_are_gmt", "false").lower() in ("1", "true")
        tests: list[Callable[[int], bool]] = []
        for param, column, sign in _FILTERS:
            if param in args:
                tests.append(self._date_test(param, args[param], column, sign, use_gmt))
        statuses = {s.strip() for s in args.get("status", "any").split(",") if s.strip()}
        orderby, descending = args.get("orderby", "date"), args.get("order", "desc") == "desc"
        if orderby not in ("date", "id", "include", "title", "slug", "modified"):
            raise _invalid("orderby", "orderby is not one of date, id, include, title, slug, and modified.")
        with self.lock:
            matched = [
                oid
                for oid, o in self.orders.items()
                if (o["status"] in statuses or ("any" in statuses and o["status"] != "trash"))
                and all(test(oid) for test in tests)
            ]
            column = {"date": 0, "modified": 1}.get(orderby)
            matched.sort(
                key=lambda i: (self._times[i][column], i) if column is not None else (i,), reverse=descending
            )
            return self._page(
                [self._order_json(i) for i in matched[(page - 1) * per_page : page * per_page]],
                len(matched),
                per_page,
                page,
            )

    def _order_view(self, order_id: int) -> ResponseReturnValue:
        with self.lock:
            if order_id not in self.orders:
                raise RestError("woocommerce_rest_shop_order_invalid_id", "Invalid ID.", 404)
            if flask.request.method != "GET":
                body = self._json_body()
                order = self.orders[order_id]
                if "status" in body and body["status"] != order["status"]:
                    self._set_status(order, str(body["status"]), self._now())
                for meta in body.get("meta_data") or []:
                    self._set_meta(order, meta["key"], meta.get("value"))
                if "customer_note" in body:
                    order["customer_note"] = str(body["customer_note"])
                self._touch(order_id)
                self._emit("order.updated", order_id)
            return self._fields(self._order_json(order_id))

    def _notes_view(self, order_id: int) -> ResponseReturnValue:
        with self.lock:
            if order_id not in self.orders:
                raise RestError("woocommerce_rest_order_invalid_id", "Invalid order ID.", 404)
            notes = self.notes.setdefault(order_id, [])
            if flask.request.method == "GET":
                kind = flask.request.args.get("type", "any")
                wanted = [n for n in notes if kind == "any" or n["customer_note"] == (kind == "customer")]
                return flask.jsonify(
                    [self._with_links(n, f"orders/{order_id}/notes") for n in reversed(wanted)]
                )
            body = self._json_body()
            if not body.get("note"):
                raise RestError(
                    "woocommerce_rest_invalid_order_note", "Cannot create order note, please provide a note."
                )
            note = {
                "id": self._next("note", 5000),
                "author": "Hub API",
                **self._dates("date_created", self._now()),
            }
            note |= {"note": str(body["note"]), "customer_note": bool(body.get("customer_note"))}
            notes.append(note)
            return self._with_links(note, f"orders/{order_id}/notes"), 201

    # -- products and stock -------------------------------------------------------------------------

    def _products_view(self) -> ResponseReturnValue:
        args = flask.request.args
        per_page, page = self._paging(args)
        with self.lock:
            items = [self._product_json(i) for i in sorted(self.products)]
        if "type" in args:
            items = [p for p in items if p["type"] == args["type"]]
        if "sku" in args:
            items = [p for p in items if p["sku"] in args["sku"].split(",")]
        return self._page(items[(page - 1) * per_page : page * per_page], len(items), per_page, page)

    def _product_view(self, product_id: int) -> ResponseReturnValue:
        with self.lock:
            if flask.request.method != "GET":
                return self._fields(self._update_product(product_id, self._json_body()))
            if product_id not in self.products:
                raise RestError("woocommerce_rest_product_invalid_id", "Invalid ID.", 404)
            return self._fields(self._product_json(product_id))

    def _variations_view(self, product_id: int) -> ResponseReturnValue:
        args = flask.request.args
        per_page, page = self._paging(args)
        with self.lock:
            if product_id not in self.products:
                raise RestError("woocommerce_rest_product_invalid_id", "Invalid ID.", 404)
            items = [self._variation_json(i) for i in self.products[product_id]["variations"]]
        return self._page(items[(page - 1) * per_page : page * per_page], len(items), per_page, page)

    def _variation_view(self, product_id: int, variation_id: int) -> ResponseReturnValue:
        with self.lock:
            if flask.request.method != "GET":
                return self._fields(self._update_variation(product_id, variation_id, self._json_body()))
            if self.variations.get(variation_id, {}).get("_parent") != product_id:
                raise RestError("woocommerce_rest_product_variation_invalid_id", "Invalid ID.", 404)
            return self._fields(self._variation_json(variation_id))

    def _products_batch_view(self) -> ResponseReturnValue:
        return self._batch(self._update_product)

    def _variations_batch_view(self, product_id: int) -> ResponseReturnValue:
        if product_id not in self.products:
            raise RestError("woocommerce_rest_product_invalid_id", "Invalid ID.", 404)
        return self._batch(lambda vid, body: self._update_variation(product_id, vid, body))

    def _batch(self, update: Callable[[int, dict[str, Any]], dict[str, Any]]) -> ResponseReturnValue:
        body = self._json_body()
        total = sum(len(body.get(k) or []) for k in ("create", "update", "delete"))
        if total > BATCH_LIMIT:
            raise RestError(
                "woocommerce_rest_request_entity_too_large",
                f"Unable to accept more than {BATCH_LIMIT} items for this request.",
                413,
            )
        answer: dict[str, list[Any]] = {}
        with self.lock:
            for item in body.get("update") or []:
                try:
                    answer.setdefault("update", []).append(update(int(item.get("id") or 0), item))
                except RestError as exc:
                    error = {"code": exc.code, "message": exc.message, "data": {"status": exc.status}}
                    answer.setdefault("update", []).append({"id": item.get("id"), "error": error})
            for kind in ("create", "delete"):
                if body.get(kind):
                    error = {
                        "code": "woocommerce_rest_cannot_batch",
                        "message": f"The sandbox does not {kind}.",
                    }
                    answer[kind] = [{"id": 0, "error": error | {"data": {"status": 501}}} for _ in body[kind]]
        return answer

    def _update_product(self, product_id: int, body: dict[str, Any]) -> dict[str, Any]:
        if product_id in self.variations:
            raise RestError(
                "woocommerce_rest_invalid_product_id",
                "To manipulate product variations you should use the "
                "/products/&lt;product_id&gt;/variations/&lt;id&gt; endpoint.",
                404,
            )
        if product_id not in self.products:
            raise RestError("woocommerce_rest_product_invalid_id", "Invalid ID.", 400)
        self._apply_stock(self.products[product_id], body, None)
        self._emit("product.updated", product_id)
        return self._product_json(product_id)

    def _update_variation(self, product_id: int, variation_id: int, body: dict[str, Any]) -> dict[str, Any]:
        if self.variations.get(variation_id, {}).get("_parent") != product_id:
            raise RestError("woocommerce_rest_product_variation_invalid_id", "Invalid ID.", 400)
        self._apply_stock(self.variations[variation_id], body, self.products[product_id])
        self._emit("product.updated", variation_id)
        return self._variation_json(variation_id)

    def _apply_stock(self, item: dict[str, Any], body: dict[str, Any], parent: dict[str, Any] | None) -> None:
        """Core's ``prepare_object_for_database``: the quantity is only taken while the item manages
        stock; ``get_manage_stock()`` of an inheriting variation is ``"parent"`` (truthy), so its own,
        unused quantity is set instead."""
        if "manage_stock" in body:
            item["manage_stock"] = bool(body["manage_stock"])
        if item["manage_stock"] or (parent is not None and parent["manage_stock"]):
            if body.get("stock_quantity") is not None:
                item["stock_quantity"] = int(body["stock_quantity"])
        else:
            item["stock_quantity"], item["backorders"] = None, "no"
        item.update(self._dates("date_modified", self._now()))

    def _product_json(self, product_id: int) -> dict[str, Any]:
        product = copy.deepcopy(self.products[product_id])
        product["stock_status"] = self._stock_status(product["manage_stock"], product["stock_quantity"])
        return self._with_links(product, "products")

    def _variation_json(self, variation_id: int) -> dict[str, Any]:
        variation = {k: v for k, v in copy.deepcopy(self.variations[variation_id]).items() if k != "_parent"}
        parent = self.products[self.variations[variation_id]["_parent"]]
        if not variation["manage_stock"] and parent["manage_stock"]:
            variation["manage_stock"], variation["stock_quantity"] = "parent", parent["stock_quantity"]
        variation["stock_status"] = self._stock_status(variation["manage_stock"], variation["stock_quantity"])
        return self._with_links(variation, f"products/{parent['id']}/variations")

    @staticmethod
    def _stock_status(managed: Any, quantity: int | None) -> str:
        return "outofstock" if managed and (quantity or 0) <= 0 else "instock"

    # -- webhooks -----------------------------------------------------------------------------------

    def _webhooks_view(self) -> ResponseReturnValue:
        if flask.request.method == "GET":
            args = flask.request.args
            per_page, page = self._paging(args)
            status = args.get("status", "all")
            with self.lock:
                hooks = [self._hook_json(h) for h in self.hooks.values() if status in ("all", h["status"])]
            return self._page(hooks[(page - 1) * per_page : page * per_page], len(hooks), per_page, page)
        body = self._json_body()
        topic = str(body.get("topic") or "").lower()
        if topic not in TOPIC_HOOKS and not topic.startswith(("action.woocommerce_", "action.wc_")):
            raise RestError(
                "woocommerce_rest_webhook_invalid_topic", "Webhook topic is required and must be valid."
            )
        url = str(body.get("delivery_url") or "")
        if not url.startswith(("http://", "https://")):
            raise RestError(
                "woocommerce_rest_webhook_invalid_delivery_url",
                "Webhook delivery URL must be a valid URL starting with http:// or https://.",
            )
        with self.lock:
            now, hook_id = self._now(), self._next("webhook", 10)
            resource, _, event = topic.partition(".")
            secret = str(body.get("secret") or hashlib.sha256(f"{hook_id}:user:1".encode()).hexdigest())
            hook = {"id": hook_id, "name": str(body.get("name") or f"Webhook created on {now:%b %d, %Y}")}
            hook |= {"status": self._webhook_status(body.get("status", "active")), "topic": topic}
            hook |= {"resource": resource, "event": event, "hooks": TOPIC_HOOKS.get(topic, [event])}
            hook |= {
                "delivery_url": url,
                **self._dates("date_created", now),
                **self._dates("date_modified", now),
            }
            hook |= {"_secret": secret, "_failures": 0, "_pending": True}
            self.hooks[hook_id] = hook
        if hook["status"] == "active":
            self._ping(hook_id)
        location = f"{self.url}{API}/webhooks/{hook_id}"
        with self.lock:
            return self._hook_json(self.hooks[hook_id]), 201, {"Location": location}

    def _webhook_view(self, hook_id: int) -> ResponseReturnValue:
        method = flask.request.method
        with self.lock:
            if hook_id not in self.hooks:
                raise RestError("woocommerce_rest_shop_webhook_invalid_id", "Invalid ID.", 404)
            hook = self.hooks[hook_id]
            if method == "DELETE":
                if flask.request.args.get("force", "false").lower() not in ("1", "true"):
                    raise RestError(
                        "woocommerce_rest_trash_not_supported", "Webhooks do not support trashing.", 501
                    )
                return self._hook_json(self.hooks.pop(hook_id))
            ping = False
            if method != "GET":
                body = self._json_body()
                moved = "delivery_url" in body and body["delivery_url"] != hook["delivery_url"]
                for key in ("name", "delivery_url"):
                    if key in body:
                        hook[key] = str(body[key])
                if "secret" in body:
                    hook["_secret"] = str(body["secret"])
                if "status" in body:
                    hook["status"] = self._webhook_status(body["status"])
                hook.update(self._dates("date_modified", self._now()))
                ping = hook["status"] == "active" and (moved or hook["_pending"])
        if ping:
            self._ping(hook_id)
        with self.lock:
            return self._hook_json(self.hooks[hook_id])

    @staticmethod
    def _webhook_status(value: Any) -> str:
        return value if value in ("active", "paused", "disabled") else "disabled"

    def _hook_json(self, hook: dict[str, Any]) -> dict[str, Any]:
        return self._with_links({k: v for k, v in hook.items() if not k.startswith("_")}, "webhooks")

    def _emit(self, topic: str, resource_id: int) -> None:
        """Queue a delivery to every active webhook of the topic (once while one is pending)."""
        for hook in self.hooks.values():
            pending = (hook["id"], resource_id)
            if hook["status"] == "active" and hook["topic"] == topic and pending not in self._queue:
                self._queue.append(pending)

    def _ping(self, hook_id: int) -> int | None:
        with self.lock:
            hook = self.hooks[hook_id]
            url, headers = hook["delivery_url"], {"User-Agent": USER_AGENT}
        body = f"webhook_id={hook_id}".encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        status = None if self.unreachable else self.deliver_webhook(url, body, headers, times=1)[0]
        with self.lock:
            if status == 200:
                hook["_pending"] = False
            self.deliveries.append(
                {"webhook_id": hook_id, "topic": "ping", "resource_id": None, "status": status}
            )
        return status

    def _deliver(self, hook_id: int, resource_id: int) -> int | None:
        with self.lock:
            hook = self.hooks.get(hook_id)
            if hook is None:
                return None
            if hook["event"] == "deleted":
                payload: Any = {"id": resource_id}
            elif hook["resource"] == "order":
                payload = self._order_json(resource_id)
            else:
                payload = (
                    self._product_json(resource_id)
                    if resource_id in self.products
                    else self._variation_json(resource_id)
                )
            body = _php_json(payload)
            signature = base64.b64encode(hmac.new(hook["_secret"].encode(), body, hashlib.sha256).digest())
            delivery_id = hmac.new(
                self._salt.encode(), f"{hook_id}{int(time.time())}".encode(), "md5"
            ).hexdigest()
            url = hook["delivery_url"]
            headers = {"User-Agent": USER_AGENT, "Content-Type": "application/json"}
            headers |= {"X-WC-Webhook-Source": f"{self.url}/", "X-WC-Webhook-Topic": hook["topic"]}
            headers |= {"X-WC-Webhook-Resource": hook["resource"], "X-WC-Webhook-Event": hook["event"]}
            headers |= {"X-WC-Webhook-Signature": signature.decode(), "X-WC-Webhook-ID": str(hook_id)}
            headers["X-WC-Webhook-Delivery-ID"] = delivery_id
        status = None if self.unreachable else self.deliver_webhook(url, body, headers)[0]
        with self.lock:
            if status is not None and 200 <= status < 303:
                hook["_failures"] = 0
            elif hook["_failures"] > self.max_delivery_failures:
                hook["status"] = "disabled"
            else:
                hook["_failures"] += 1
            self.deliveries.append(
                {"webhook_id": hook_id, "topic": hook["topic"], "resource_id": resource_id, "status": status}
            )
        return status

    # -- Shipment Tracking --------------------------------------------------------------------------

    def _need_tracking(self) -> None:
        if not self.shipment_tracking:
            raise RestError(*NO_ROUTE)

    def _providers_view(self) -> ResponseReturnValue:
        self._need_tracking()
        return PROVIDERS

    def _trackings_view(self, order_id: int) -> ResponseReturnValue:
        self._need_tracking()
        with self.lock:
            if order_id not in self.orders:
                raise RestError("woocommerce_rest_order_invalid_id", "Invalid order ID.", 404)
            items = self.trackings.setdefault(order_id, [])
            if flask.request.method == "GET":
                return flask.jsonify([self._tracking_json(order_id, t) for t in items])
            body = self._json_body()
            number = str(body.get("tracking_number") or "")
            provider = str(body.get("tracking_provider") or "")
            known = {name: link for region in PROVIDERS.values() for name, link in region.items()}
            if not number or not (provider or body.get("custom_tracking_provider")):
                raise RestError(
                    "woocommerce_rest_missing_tracking_fields", "Tracking number and provider are required."
                )
            link = known.get(provider, str(body.get("custom_tracking_link") or "")).replace("%1$s", number)
            tracking_id = hashlib.md5(f"{order_id}:{number}:{len(items)}".encode()).hexdigest()
            item = {
                "tracking_id": tracking_id,
                "tracking_provider": provider or body["custom_tracking_provider"],
            }
            item |= {"tracking_link": link, "tracking_number": number}
            item["date_shipped"] = str(body.get("date_shipped") or self._now().astimezone(self.tz).date())
            items.append(item)
            location = f"{self.url}/wp-json/{TRACKING}/orders/{order_id}/shipment-trackings/{tracking_id}"
            return self._tracking_json(order_id, item), 201, {"Location": location}

    def _tracking_view(self, order_id: int, tracking_id: str) -> ResponseReturnValue:
        self._need_tracking()
        with self.lock:
            items = self.trackings.get(order_id, [])
            found = [t for t in items if t["tracking_id"] == tracking_id]
            if not found:
                raise RestError("woocommerce_rest_order_invalid_tracking_id", "Invalid tracking ID.", 404)
            if flask.request.method == "DELETE":
                items.remove(found[0])
            return self._tracking_json(order_id, found[0])

    def _tracking_json(self, order_id: int, item: dict[str, Any]) -> dict[str, Any]:
        base = f"{self.url}/wp-json/{TRACKING}/orders/{order_id}/shipment-trackings"
        links = {"self": [{"href": f"{base}/{item['tracking_id']}"}], "collection": [{"href": base}]}
        return item | {"_links": links}

    # -- request helpers ----------------------------------------------------------------------------

    @staticmethod
    def _paging(args: Any) -> tuple[int, int]:
        per_page, page = args.get("per_page", "10"), args.get("page", "1")
        if not per_page.isdigit() or not 1 <= int(per_page) <= MAX_PER_PAGE:
            raise _invalid(
                "per_page", f"per_page must be between 1 (inclusive) and {MAX_PER_PAGE} (inclusive)"
            )
        if not page.isdigit() or int(page) < 1:
            raise _invalid("page", "page must be greater than or equal to 1")
        return int(per_page), int(page)

    def _page(self, items: list[dict[str, Any]], total: int, per_page: int, page: int) -> flask.Response:
        pages = math.ceil(total / per_page)
        response = flask.jsonify([self._fields(i) for i in items])
        response.headers["X-WP-Total"], response.headers["X-WP-TotalPages"] = str(total), str(pages)
        args = {k: v for k, v in flask.request.args.items() if not k.startswith("oauth_")}
        links = [(rel, n) for rel, n in (("prev", page - 1), ("next", page + 1)) if 1 <= n <= pages]
        if links:
            base = flask.request.base_url
            response.headers["Link"] = ", ".join(
                f'<{base}?{urlencode(args | {"page": n})}>; rel="{rel}"' for rel, n in links
            )
        return response

    @staticmethod
    def _fields(item: dict[str, Any]) -> dict[str, Any]:
        wanted = flask.request.args.get("_fields")
        return {k: v for k, v in item.items() if k in wanted.split(",")} if wanted else item

    @staticmethod
    def _json_body() -> dict[str, Any]:
        body = flask.request.get_json(silent=True)
        if not isinstance(body, dict):
            raise RestError("rest_invalid_json", "Invalid JSON body passed.", 400)
        return body

    def _date_test(
        self, param: str, value: str, column: str, sign: int, use_gmt: bool
    ) -> Callable[[int], bool]:
        if not _DATE.fullmatch(value.strip()):
            raise _invalid(param, "Invalid date.")
        bound = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        if bound.tzinfo is not None:  # WP_Date_Query: date_create(), then setTimezone(site zone)
            bound = bound.astimezone(self.tz)
        bound = bound.replace(tzinfo=None, microsecond=0)
        index = 0 if column == "created" else 1
        zone = UTC if use_gmt else self.tz

        def test(oid: int) -> bool:
            moment = self._times[oid][index].astimezone(zone).replace(tzinfo=None)
            return moment > bound if sign > 0 else moment < bound

        return test

    def _with_links(self, item: dict[str, Any], collection: str) -> dict[str, Any]:
        base = f"{self.url if self.running else 'http://localhost'}{API}/{collection}"
        return item | {"_links": {"self": [{"href": f"{base}/{item['id']}"}], "collection": [{"href": base}]}}

    # -- data ---------------------------------------------------------------------------------------

    def _now(self) -> datetime:
        return self.clock.now().replace(microsecond=0)

    def _dates(self, key: str, moment: datetime | None) -> dict[str, str | None]:
        if moment is None:
            return {key: None, f"{key}_gmt": None}
        local = moment.astimezone(self.tz).replace(tzinfo=None)
        utc = moment.astimezone(UTC).replace(tzinfo=None)
        return {key: local.isoformat(timespec="seconds"), f"{key}_gmt": utc.isoformat(timespec="seconds")}

    def _next(self, kind: str, base: int) -> int:
        self._ids[kind] = self._ids.get(kind, base) + 1
        return self._ids[kind]

    def _touch(self, order_id: int) -> None:
        now = self._now()
        self._times[order_id] = (self._times[order_id][0], now)
        self.orders[order_id].update(self._dates("date_modified", now))

    def _set_meta(self, order: dict[str, Any], key: str, value: Any) -> None:
        for meta in order["meta_data"]:
            if meta["key"] == key:
                meta["value"] = value
                return
        order["meta_data"].append({"id": self._next("meta", 20000), "key": key, "value": value})

    def _order_json(self, order_id: int) -> dict[str, Any]:
        return self._with_links(copy.deepcopy(self.orders[order_id]), "orders")

    def _build_catalog(self, simple: int, variable: int, per_product: int, inherit_rate: float) -> None:
        now = self._now() - timedelta(days=400)
        rng = self.rng
        self.sellable: list[dict[str, Any]] = []
        for i in range(simple + variable):
            pid = self._next("product", PRODUCT_ID_BASE)
            kind = "simple" if i < simple else "variable"
            name = PRODUCTS[i % len(PRODUCTS)] if kind == "simple" else SHIRTS[i % len(SHIRTS)]
            price = _m(rng.choice((9, 14, 19, 24, 39, 59, 89)) + Decimal("0.95"))
            manage = rng.random() < (0.85 if kind == "simple" else min(1.0, inherit_rate * 2))
            product = {
                "id": pid,
                "name": name,
                "slug": f"{name.lower().replace(' ', '-')}-{pid}",
                "type": kind,
            }
            product |= {"status": "publish", "sku": f"WOO-{pid}", "price": price, "regular_price": price}
            product |= {
                "sale_price": "",
                **self._dates("date_created", now),
                **self._dates("date_modified", now),
            }
            product |= {"manage_stock": manage, "stock_quantity": rng.randint(0, 80) if manage else None}
            product |= {"backorders": "no", "parent_id": 0, "variations": [], "meta_data": []}
            self.products[pid] = product
            if kind == "simple":
                self.sellable.append(
                    {"product_id": pid, "variation_id": 0, "name": name, "sku": product["sku"]}
                )
                self.sellable[-1] |= {"price": price, "meta_data": []}
                continue
            product["attributes"] = [{"id": 1, "name": "Color", "variation": True}, {"id": 2, "name": "Size"}]
            for j in range(per_product):
                vid = self._next("variation", 100000)
                color, size = COLORS[j // len(SIZES)], SIZES[j % len(SIZES)]
                inherits = manage and rng.random() < inherit_rate
                variation = {"id": vid, "sku": f"WOO-{pid}-{color.upper()}-{size}", "price": price}
                variation |= {"regular_price": price, "sale_price": "", "status": "publish"}
                variation |= {**self._dates("date_created", now), **self._dates("date_modified", now)}
                variation |= {
                    "manage_stock": not inherits,
                    "stock_quantity": None if inherits else rng.randint(0, 40),
                }
                variation |= {"backorders": "no", "attributes": [{"id": 1, "name": "Color", "option": color}]}
                variation["attributes"].append({"id": 2, "name": "Size", "option": size})
                variation |= {"meta_data": [], "_parent": pid}
                self.variations[vid] = variation
                product["variations"].append(vid)
                meta = [
                    {"id": 0, "key": "pa_color", "value": color.lower()},
                    {"id": 0, "key": "size", "value": size},
                ]
                item = {"product_id": pid, "variation_id": vid, "name": f"{name} - {color}, {size}"}
                self.sellable.append(item | {"sku": variation["sku"], "price": price, "meta_data": meta})

    def _new_order(self, created: datetime, modified: datetime) -> dict[str, Any]:
        rng, oid = self.rng, self._next("order", ORDER_ID_BASE)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        city, state, postcode = rng.choice(CITIES)
        address = {
            "first_name": first,
            "last_name": last,
            "company": "" if rng.random() < 0.8 else "Acme Pty Ltd",
        }
        address |= {"address_1": f"{rng.randint(1, 400)} {rng.choice(STREETS)}", "address_2": ""}
        address |= {"city": city, "state": state, "postcode": postcode, "country": "AU"}
        email = f"{first}.{last}{oid % 97}@mail.example.com".lower().replace("ü", "u").replace("ë", "e")
        billing = address | {"email": email, "phone": f"04{rng.randint(10000000, 99999999)}"}
        coupon = rng.choice(COUPONS) if rng.random() < 0.25 else None
        lines = [
            self._line(item, rng.randint(1, 3), coupon)
            for item in rng.sample(self.sellable, rng.randint(1, 3))
        ]
        method, title, cost = rng.choice(SHIPPING)
        shipping_line = {"id": self._next("item", 300), "method_title": title, "method_id": method}
        shipping_line |= {
            "instance_id": "1",
            "total": cost,
            "total_tax": "0.00",
            "taxes": [],
            "meta_data": [],
        }
        cart_tax = sum((Decimal(li["total_tax"]) for li in lines), Decimal(0))
        discount = sum((Decimal(li["subtotal"]) - Decimal(li["total"]) for li in lines), Decimal(0))
        net = sum((Decimal(li["total"]) for li in lines), Decimal(0))
        payment, payment_title = rng.choice(PAYMENTS)
        order: dict[str, Any] = {"id": oid, "parent_id": 0, "number": str(oid)}
        order |= {"order_key": f"wc_order_{rng.getrandbits(52):013x}", "created_via": "checkout"}
        order |= {"version": WC_VERSION, "status": "pending", "currency": "AUD"}
        order |= {**self._dates("date_created", created), **self._dates("date_modified", modified)}
        order |= {"discount_total": _m(discount), "discount_tax": "0.00", "shipping_total": cost}
        order |= {
            "shipping_tax": "0.00",
            "cart_tax": _m(cart_tax),
            "total": _m(net + Decimal(cost) + cart_tax),
        }
        order |= {
            "total_tax": _m(cart_tax),
            "prices_include_tax": False,
            "customer_id": rng.choice((0, 0, oid % 50)),
        }
        order |= {"customer_ip_address": f"203.0.113.{oid % 250}", "customer_user_agent": "Mozilla/5.0"}
        order |= {
            "customer_note": "Leave at the door, please." if rng.random() < 0.1 else "",
            "billing": billing,
        }
        order |= {"shipping": dict(address), "payment_method": payment, "payment_method_title": payment_title}
        order |= {
            "transaction_id": "",
            **self._dates("date_paid", None),
            **self._dates("date_completed", None),
        }
        order |= {
            "cart_hash": hashlib.md5(str(oid).encode()).hexdigest(),
            "meta_data": [],
            "line_items": lines,
        }
        tax_line = {
            "id": self._next("item", 300),
            "rate_code": "AU-GST-1",
            "rate_id": TAX[0],
            "label": TAX[1],
        }
        tax_line |= {
            "compound": False,
            "tax_total": _m(cart_tax),
            "shipping_tax_total": "0.00",
            "meta_data": [],
        }
        coupons = (
            [{"id": self._next("item", 300), "code": coupon[0], "discount": _m(discount)}] if coupon else []
        )
        order |= {"tax_lines": [tax_line], "shipping_lines": [shipping_line], "fee_lines": []}
        order |= {"coupon_lines": [c | {"discount_tax": "0.00"} for c in coupons], "refunds": []}
        roll = rng.random()
        status = next(s for s, p in NEW_STATUSES if roll < p)
        at = created + (modified - created) / 2
        if status != "pending":
            self._set_status(order, "processing" if status in PAID else status, created)
        if status in ("completed", "refunded"):
            self._set_status(order, status, at)
        self.orders[oid] = order
        self._times[oid] = (created, modified)
        return order

    def _line(
        self, item: dict[str, Any], quantity: int, coupon: tuple[str, Decimal] | None
    ) -> dict[str, Any]:
        subtotal = Decimal(item["price"]) * quantity
        total = (subtotal * (1 - coupon[1])).quantize(CENT, ROUND_HALF_UP) if coupon else subtotal
        sub_tax, tax = (subtotal * TAX[2]).quantize(CENT), (total * TAX[2]).quantize(CENT, ROUND_HALF_UP)
        unit = total / quantity
        line = {"id": self._next("item", 300), "name": item["name"], "product_id": item["product_id"]}
        line |= {"variation_id": item["variation_id"], "quantity": quantity, "tax_class": ""}
        line |= {
            "subtotal": _m(subtotal),
            "subtotal_tax": _m(sub_tax),
            "total": _m(total),
            "total_tax": _m(tax),
        }
        line |= {"taxes": [{"id": TAX[0], "total": _m(tax), "subtotal": _m(sub_tax)}]}
        line |= {"meta_data": copy.deepcopy(item["meta_data"]), "sku": item["sku"]}
        return line | {"price": int(unit) if unit == unit.to_integral_value() else float(round(unit, 6))}

    def _set_status(self, order: dict[str, Any], status: str, at: datetime) -> None:
        order["status"] = status
        if status in PAID and order["date_paid_gmt"] is None:
            order.update(self._dates("date_paid", at))
            if order["payment_method"] == "stripe":
                order["transaction_id"] = f"ch_{hashlib.sha1(order['order_key'].encode()).hexdigest()[:24]}"
        if status == "completed":
            order.update(self._dates("date_completed", at))
        if status == "refunded" and not order["refunds"]:
            reason = self.rng.choice(("", "Customer changed their mind", "Damaged in transit"))
            order["refunds"].append(
                {"id": self._next("refund", 9000), "reason": reason, "total": f"-{order['total']}"}
            )

    def _change(self, order: dict[str, Any]) -> None:
        now, status = self._now(), order["status"]
        steps = {
            "pending": ("processing", "processing", "cancelled", "failed"),
            "on-hold": ("processing",),
            "processing": ("completed", "completed", "completed", "refunded", None),
            "completed": ("refunded", None, None),
        }.get(status, (None,))
        step = self.rng.choice(steps)
        if step is None:  # a change that leaves the status: a note of the customer's, say
            order["customer_note"] = self.rng.choice(("", "Please ring the bell.", "Gift wrap, please."))
            self._set_meta(order, "_sandbox_touched", now.isoformat())
        else:
            self._set_status(order, step, now)
