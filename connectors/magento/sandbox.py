"""Simulated Magento 2.4 REST API (``/rest/<store code>/V1/...`` and ``/rest/V1/...``) for the
Magento connector: orders, shipments and tracks, MSI sources and source items, legacy
``stockItems``, products, and a webhook module's signed deliveries.

Wire rules follow the project's Magento reference and the recorded responses in
``tests/fixtures/magento``:

* Auth: integration credentials as OAuth 1.0a. The signature is checked the way Magento 2.4
  does it: the query string split on ``&`` and ``=`` and ``rawurldecode``-d (so a ``+`` stays a
  plus), the protocol parameters of the ``Authorization`` header, sorted by name, encoded
  RFC 3986, signing key ``consumer_secret&token_secret``, HMAC-SHA256 only (any other method:
  400). A wrong signature is 401 ``The signature is invalid. Verify and try again.``; a nonce is
  accepted once, a timestamp within 600 s. ``Bearer <access token>`` passes only when
  ``bearer_allowed`` (the store option, off by default since 2.4.4).
* ``searchCriteria``: filter groups AND-ed, filters in a group OR-ed, ``condition_type`` eq, neq,
  gt, gteq, lt, lteq, in, nin, like, nlike, null, notnull, from, to; several ``sortOrders``;
  ``pageSize``/``currentPage`` (1-based); no ``pageSize``: everything; ``currentPage`` past the
  end: the last page again. With ``input_limits`` on: ``pageSize`` at most 300 (default 20) and
  at most 20 source items per write. Data is live: a page reflects the store at that moment.
* Orders: generated in the shape of the recorded orders (floats, ``base_*`` twins, shipping
  address under ``extension_attributes.shipping_assignments``); a share of lines are
  configurable parent + simple child rows. ``changes_per_list`` changes that many orders before
  each order list request (a store busy while it is read).
* ``POST /V1/order/{id}/ship``: items (children of configurable rows ship with their parent),
  tracks (``track_number``, ``title``, ``carrier_code`` required), comment, notify, MSI
  ``arguments.extension_attributes.source_code`` (the source is deducted); answers the new id
  as a JSON string. ``POST /V1/shipment/track`` adds a track.
* MSI (``msi=True``): ``/V1/inventory/sources``, ``/V1/inventory/source-items`` (GET search, POST
  upsert of a batch, all or nothing); without MSI those routes are 404. ``stockItems`` reads and
  writes the legacy stock (source ``default`` on an MSI store).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from random import Random
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

import flask
from flask.typing import ResponseReturnValue

from hub.sandbox import Faults, Sandbox, SandboxClock

__all__ = ["MagentoSandbox"]

TIME = "%Y-%m-%d %H:%M:%S"
CURRENCY = "USD"
STORE_NAME = "Main Website\nMain Website Store\nDefault Store View"
NO_ROUTE = "Request does not match any route."
BAD_SIGNATURE = "The signature is invalid. Verify and try again."
NOT_AUTHORIZED = "The consumer isn't authorized to access %resources."
NOT_FOUND = "The entity that was requested doesn't exist. Verify the entity and try again."
CANNOT_SHIP = "Shipment Document Validation Error(s):\nThe order does not allow a shipment to be created."
NO_PRODUCTS = "Shipment Document Validation Error(s):\nYou can't create a shipment without products."
REQUIRED = '"%fieldName" is required. Enter and try again.'
TIMESTAMP_WINDOW = 600
MAX_PAGE_SIZE, DEFAULT_LIMITED_PAGE_SIZE, MAX_INPUT_ARRAY = 300, 20, 20
NONCES_KEPT = 200_000
#: ACL resource named in a 401, by the first path segment after V1/
ACL = {
    "orders": "Magento_Sales::actions_view",
    "order": "Magento_Sales::ship",
    "shipments": "Magento_Sales::shipment",
    "shipment": "Magento_Sales::shipment",
    "inventory": "Magento_InventoryApi::source",
    "stockItems": "Magento_CatalogInventory::cataloginventory",
    "products": "Magento_Catalog::products",
}
PRODUCTS = (
    ("Abominable Hoodie", 69),
    ("Racer Back Maxi Dress", 224),
    ("Strike Endurance Tee", 39),
    ("Fusion Backpack", 59),
    ("Sprite Yoga Strap", 14),
    ("Argus All-Weather Tank", 22),
)
SIZES, COLORS = ("XS", "S", "M", "L"), ("Blue", "Black", "Green", "Purple")
FIRST = ("Veronica", "John", "Ana", "Kenji", "Priya", "Lars", "Chloé", "Mateo", "Amara", "Tomás")
LAST = ("Costello", "Smith", "García", "Tanaka", "Patel", "Nielsen", "Dubois", "Rossi", "Okafor")
ADDRESSES = (
    ("6146 Honey Bluff Parkway", "Calder", "Michigan", "MI", 33, "49628-7978"),
    ("4 Congress Ave", "Austin", "Texas", "TX", 57, "78701"),
    ("88 Pearl St", "Portland", "Oregon", "OR", 49, "97205"),
    ("12 Elm St", "Columbus", "Ohio", "OH", 47, "43215"),
)
SHIPPING = (
    ("flatrate_flatrate", "Flat Rate - Fixed", 5),
    ("tablerate_bestway", "Best Way - Table Rate", 10),
    ("freeshipping_freeshipping", "Free Shipping - Free", 0),
)
PAYMENTS = (("checkmo", "Check / Money order"), ("banktransfer", "Bank Transfer Payment"))
TAX_RATES = (Decimal("8.25"), Decimal("0"), Decimal("6"))
CENT = Decimal("0.01")
_SEARCH_KEY = re.compile(r"^searchCriteria((?:\[[^\]]*\])+)$")
#: item amounts that start at zero (the child row of a configurable has all its money at zero)
ITEM_ZEROS = (
    "amount_refunded", "base_amount_refunded", "base_discount_invoiced", "base_row_invoiced",
    "base_tax_invoiced", "discount_invoiced", "discount_tax_compensation_amount",
    "base_discount_tax_compensation_amount", "free_shipping", "is_qty_decimal", "is_virtual",
    "no_discount", "qty_canceled", "qty_invoiced", "qty_refunded", "qty_shipped", "row_invoiced",
    "tax_invoiced",
)  # fmt: skip
CHILD_ZEROS = (
    "base_discount_amount", "base_price", "base_row_total", "base_row_total_incl_tax", "base_tax_amount",
    "discount_amount", "discount_percent", "original_price", "row_total", "row_total_incl_tax",
    "row_weight", "tax_amount", "tax_percent",
)  # fmt: skip
_OAUTH_PARAM = re.compile(r"oauth_[a-z_-]+")
_NUMERIC = re.compile(r"-?\d+(\.\d+)?")


def _money(value: Decimal | float | int) -> float:
    number = float(Decimal(str(value)).quantize(CENT, ROUND_HALF_UP))
    return int(number) if number.is_integer() else number


def _error(message: str, status: int = 400, parameters: Any = None, **extra: Any) -> flask.Response:
    body: dict[str, Any] = {"message": message}
    if parameters is not None:
        body["parameters"] = parameters
    response = flask.jsonify(body | extra)
    response.status_code = status
    return response


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _natural(key: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", key))


class _BadRequest(Exception):
    def __init__(self, message: str, parameters: Any = None, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.parameters, self.status = message, parameters, status


class MagentoSandbox(Sandbox):
    """A Magento 2.4 store with generated orders; see the module docstring for the wire rules."""

    name = "magento"

    def __init__(
        self,
        *,
        seed: int = 0,
        faults: Faults | None = None,
        orders: int = 50,
        skus: int = 24,
        msi: bool = True,
        sources: tuple[str, ...] = ("default", "east_wh", "west_wh"),
        configurable_share: float = 0.3,
        bearer_allowed: bool = False,
        input_limits: bool = False,
        store_codes: tuple[str, ...] = ("default",),
        consumer_key: str = "sbxconsumerkey000000000000000001",
        consumer_secret: str = "sbxconsumersecret00000000000001",
        access_token: str = "sbxaccesstoken000000000000000001",
        access_token_secret: str = "sbxtokensecret0000000000000001",
        webhook_secret: str = "sandbox_webhook_secret",
        clock: SandboxClock | None = None,
    ) -> None:
        super().__init__(seed=seed, faults=faults)
        if skus < 1:
            raise ValueError("skus must be >= 1")
        if not 0 <= configurable_share <= 1:
            raise ValueError("configurable_share must be between 0 and 1")
        if msi and "default" not in sources:
            raise ValueError("an MSI store always has the source 'default'")
        self.clock = clock or SandboxClock()
        self.msi, self.bearer_allowed, self.input_limits = msi, bearer_allowed, input_limits
        self.configurable_share = configurable_share
        self.store_codes = tuple(store_codes)
        self.consumer_key, self.consumer_secret = consumer_key, consumer_secret
        self.access_token, self.access_token_secret = access_token, access_token_secret
        self.webhook_secret = webhook_secret
        #: orders changed before each order list request (a store that is busy while read)
        self.changes_per_list = 0
        #: request time source for OAuth timestamps (the client signs with real time)
        self.timer: Callable[[], float] = time.time
        self._nonces: OrderedDict[str, None] = OrderedDict()
        self._hook_rng = Random(f"{seed}:webhooks")
        self._ids: dict[str, int] = {}
        self.orders: dict[int, dict[str, Any]] = {}
        self.shipments: dict[int, dict[str, Any]] = {}
        self._last_created = self.clock.now() - timedelta(days=30)
        self.catalog, self.parents = self._catalog(skus)
        self.sources = [self._source(code) for code in (sources if msi else ())]
        self.source_items: dict[tuple[str, str], dict[str, Any]] = {}
        self.stock_items: dict[str, dict[str, Any]] = {}
        for product in self.catalog:
            for source in self.sources:
                qty = self.rng.randint(0, 100)
                key = (product["sku"], source["source_code"])
                self.source_items[key] = {"sku": key[0], "source_code": key[1], "quantity": qty}
                self.source_items[key]["status"] = 1 if qty > 0 else 0
            qty = self.rng.randint(0, 100)
            self.stock_items[product["sku"]] = self._stock_item(product, qty)
        self.seed_orders(orders)

    # -- public helpers for tests -------------------------------------------------------------

    def seed_orders(self, n: int) -> list[int]:
        """Add ``n`` orders created between the newest order (or 30 days ago) and now."""
        with self.lock:
            now = self.clock.now().replace(microsecond=0)
            start = max(self._last_created, now - timedelta(days=30))
            span = max(0.0, (now - start).total_seconds())
            created = sorted(start + timedelta(seconds=int(self.rng.uniform(0, span))) for _ in range(n))
            ids = []
            for moment in created:
                order = self._new_order(moment, now)
                self.orders[order["entity_id"]] = order
                ids.append(order["entity_id"])
                self._last_created = max(self._last_created, moment)
            return ids

    def change_orders(self, n: int | None = None, ids: Iterable[int] | None = None) -> list[int]:
        """Change ``n`` random orders (or those of ``ids``): invoice, ship, hold, unhold, cancel
        or comment, as the state allows; ``updated_at`` becomes now."""
        with self.lock:
            if ids is None:
                ids = self.rng.sample(sorted(self.orders), min(n or 0, len(self.orders)))
            changed = sorted(set(ids))
            for entity_id in changed:
                self._change(self.orders[entity_id])
            return changed

    def order(self, entity_id: int) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.orders[entity_id])

    def all_orders(self) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(self.orders[i]) for i in sorted(self.orders)]

    def shipments_of(self, entity_id: int) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(s) for s in self.shipments.values() if s["order_id"] == entity_id]

    def quantity(self, sku: str, source: str = "default") -> float | None:
        """A source's quantity (MSI), or the legacy stock item's ``qty``."""
        with self.lock:
            if self.msi:
                item = self.source_items.get((sku, source))
                return None if item is None else item["quantity"]
            stock = self.stock_items.get(sku)
            return None if stock is None else stock["qty"]

    def set_quantity(self, sku: str, quantity: int, source: str = "default") -> None:
        """A merchant's edit of a quantity in the Magento admin: a source's (MSI, in stock when
        above 0), or the legacy stock item's."""
        with self.lock:
            if self.msi:
                item = self.source_items.get((sku, source))
                if item is None:
                    raise KeyError(f"{sku!r} has no source item at {source!r}")
                item["quantity"], item["status"] = quantity, 1 if quantity > 0 else 0
                return
            stock = self.stock_items.get(sku)
            if stock is None:
                raise KeyError(sku)
            stock["qty"], stock["is_in_stock"] = quantity, quantity > 0

    def send_webhook(
        self,
        url: str,
        entity_id: int,
        event: str = "sales_order_save_after",
        *,
        secret: str | None = None,
        header: str = "X-Magento-Hmac-Sha256",
        tamper: bool = False,
        times: int | None = None,
    ) -> list[int | None]:
        """POST what a webhook module sends for an order event: the event name, an event id
        and the order's ids, signed with hex HMAC-SHA256 of the body; ``tamper`` changes the body
        after signing."""
        with self.lock:
            order = self.orders[entity_id]
            event_id = str(uuid.UUID(int=self._hook_rng.getrandbits(128), version=4))
            payload = {"event": event, "event_id": event_id, "order_id": order["entity_id"]}
            payload |= {"increment_id": order["increment_id"], "updated_at": order["updated_at"]}
        body = json.dumps(payload, separators=(",", ":")).encode()
        key = (self.webhook_secret if secret is None else secret).encode()
        signature = hmac.new(key, body, hashlib.sha256).hexdigest()
        if tamper:
            body = json.dumps(payload | {"order_id": entity_id + 1}, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", header: signature, "X-Magento-Event": event}
        return self.deliver_webhook(url, body, headers, times=times)

    def tick(self) -> None:
        """A few new orders and a few changes (``make run``'s store activity)."""
        self.seed_orders(self.rng.randint(0, 2))
        self.change_orders(self.rng.randint(1, 3))

    def connection_values(self) -> dict[str, Any]:
        return {
            "store_url": self.url,
            "consumer_key": self.consumer_key,
            "consumer_secret": self.consumer_secret,
            "access_token": self.access_token,
            "access_token_secret": self.access_token_secret,
            "store_code": self.store_codes[0],
            "auth_mode": "oauth1",
            "inventory_mode": "auto",
            "webhook_secret": self.webhook_secret,
        }

    # -- Sandbox hooks ------------------------------------------------------------------------------

    def error_response(self, status: int) -> flask.Response:
        if status == 503:
            return _error("Service Unavailable", 503)
        report = f"webapi-{uuid.uuid4().hex[:13]}"
        return _error(f"Internal Error. Details are available in Magento log file. Report ID: {report}", 500)

    def routes(self, app: flask.Flask) -> None:
        app.before_request(self._authenticate)
        app.register_error_handler(404, lambda _: _error(NO_ROUTE, 404))
        app.register_error_handler(405, lambda _: _error(NO_ROUTE, 404))

        def add(rule: str, view: Callable[..., ResponseReturnValue], *methods: str) -> None:
            name = f"{view.__name__}_{'_'.join(methods)}"
            verbs = list(methods or ("GET",))
            app.add_url_rule(f"/rest/<store>/V1/{rule}", name, view, methods=verbs)
            app.add_url_rule(
                f"/rest/V1/{rule}", f"{name}_default", view, methods=verbs, defaults={"store": None}
            )

        add("orders", self._orders_view)
        add("orders/<int:entity_id>", self._order_view)
        add("order/<int:entity_id>/ship", self._ship_view, "POST")
        add("shipments", self._shipments_view)
        add("shipment/<int:shipment_id>", self._shipment_view)
        add("shipment/track", self._track_view, "POST")
        add("shipment/<int:shipment_id>/emails", self._emails_view, "POST")
        add("products", self._products_view)
        add("stockItems/<path:sku>", self._stock_item_view)
        add("products/<path:sku>/stockItems/<item_id>", self._update_stock_item_view, "PUT")
        if self.msi:
            add("inventory/sources", self._sources_view)
            add("inventory/source-items", self._source_items_view, "GET", "POST")

    # -- auth ---------------------------------------------------------------------------------------

    def _authenticate(self) -> flask.Response | None:
        request = flask.request
        if not request.path.startswith("/rest/") or request.url_rule is None:
            return None  # no such route: 404 before any authentication, as Magento routes first
        store = (request.view_args or {}).get("store")
        if store is not None and store not in (*self.store_codes, "all"):
            return _error("The specified request cannot be processed.", 400)
        segment = request.path.split("/V1/", 1)[-1].split("/", 1)[0]
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            token = header[7:].strip().encode()
            if self.bearer_allowed and hmac.compare_digest(token, self.access_token.encode()):
                return None
            return _error(NOT_AUTHORIZED, 401, {"resources": ACL.get(segment, "Magento_Backend::admin")})
        try:
            self._check_oauth(header)
        except _BadRequest as exc:
            return _error(exc.message, exc.status, exc.parameters)
        return None

    def _check_oauth(self, header: str) -> None:
        position = header.lower().find("oauth ")
        if position < 0:
            raise _BadRequest(NOT_AUTHORIZED, {"resources": "Magento_Backend::admin"}, 401)
        params: dict[str, str] = {}
        for part in header[position + 6 :].split(","):
            name, sep, value = part.strip().partition("=")
            if sep and _OAUTH_PARAM.search(name):
                params[unquote(name)] = unquote(value.strip('"'))
        required = ("oauth_consumer_key", "oauth_signature", "oauth_signature_method", "oauth_nonce")
        missing = [p for p in (*required, "oauth_timestamp") if p not in params]
        if missing:
            raise _BadRequest(REQUIRED, {"fieldName": missing[0]})
        if params.get("oauth_version", "1.0") != "1.0":
            raise _BadRequest('The "%1" Oauth version isn\'t supported.', [params["oauth_version"]])
        if params["oauth_signature_method"] != "HMAC-SHA256":
            raise _BadRequest("Signature method %1 is not supported", [params["oauth_signature_method"]])
        if not hmac.compare_digest(params["oauth_consumer_key"].encode(), self.consumer_key.encode()):
            raise _BadRequest("A consumer with the specified key does not exist.", status=401)
        if not hmac.compare_digest(params.get("oauth_token", "").encode(), self.access_token.encode()):
            raise _BadRequest("Specified token does not exist", status=401)
        try:
            stamp = int(params["oauth_timestamp"])
        except ValueError:
            stamp = -1
        if stamp <= 0 or abs(self.timer() - stamp) > TIMESTAMP_WINDOW:
            raise _BadRequest("The timestamp is outside the allowed range.", status=401)
        expected = self.signature(flask.request, params)
        if not hmac.compare_digest(expected.encode(), params["oauth_signature"].encode()):
            raise _BadRequest(BAD_SIGNATURE, status=401)
        with self.lock:
            if params["oauth_nonce"] in self._nonces:
                raise _BadRequest(
                    "The nonce is already being used by the consumer with ID %1", [1], status=401
                )
            self._nonces[params["oauth_nonce"]] = None
            while len(self._nonces) > NONCES_KEPT:
                self._nonces.popitem(last=False)

    def signature(self, request: flask.Request, protocol: dict[str, str]) -> str:
        """HMAC-SHA256 over Magento's base string of ``request`` with ``protocol``'s parameters."""
        params = dict(protocol)
        params.pop("oauth_signature", None)
        raw_uri = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.full_path
        path, _, query = raw_uri.partition("?")
        for piece in query.split("&") if query else ():
            data = piece.split("=")  # Magento: explode('='), exactly two parts, rawurldecode
            if len(data) == 2 and not _OAUTH_PARAM.search(data[0]):
                params[unquote(data[0])] = unquote(data[1])
        if (request.content_type or "").startswith("application/x-www-form-urlencoded"):
            for name, value in parse_qsl(request.get_data(as_text=True), keep_blank_values=True):
                params.setdefault(name, value)
        ordered = sorted(params.items(), key=lambda kv: kv[0].encode())
        normalized = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in ordered)
        url = f"{request.scheme}://{request.host.lower()}{path}"
        base = "&".join((request.method.upper(), quote(url, safe=""), quote(normalized, safe="")))
        key = f"{quote(self.consumer_secret, safe='')}&{quote(self.access_token_secret, safe='')}"
        return base64.b64encode(hmac.new(key.encode(), base.encode(), hashlib.sha256).digest()).decode()

    # -- searchCriteria -----------------------------------------------------------------------------

    def _criteria(self) -> dict[str, Any]:
        """``searchCriteria[...]`` of the query (decoded as PHP does: ``+`` is a space) as nested
        dicts; numeric keys become lists."""
        tree: dict[str, Any] = {}
        for name, value in flask.request.args.items(multi=True):
            match = _SEARCH_KEY.match(name)
            if not match:
                continue
            keys = re.findall(r"\[([^\]]*)\]", match.group(1))
            node = tree
            for key in keys[:-1]:
                node = node.setdefault(key, {})
                if not isinstance(node, dict):
                    raise _BadRequest('"%fieldName" is not valid.', {"fieldName": name})
            node[keys[-1]] = value
        return tree

    @staticmethod
    def _listed(node: Any) -> list[Any]:
        if isinstance(node, dict):
            return [node[k] for k in sorted(node, key=_natural)]
        return []

    def _search(self, records: list[dict[str, Any]], default_sort: str | None = None) -> flask.Response:
        """Filter, sort and page ``records`` by the request's searchCriteria."""
        try:
            tree = self._criteria()
            groups = [
                [
                    (
                        str(f.get("field") or ""),
                        f.get("value"),
                        f.get("condition_type") or f.get("conditionType"),
                    )
                    for f in self._listed(g.get("filters") if isinstance(g, dict) else None)
                    if isinstance(f, dict)
                ]
                for g in self._listed(tree.get("filter_groups", tree.get("filterGroups")))
            ]
            sorts = [
                (str(s.get("field") or ""), str(s.get("direction") or "ASC").upper())
                for s in self._listed(tree.get("sortOrders", tree.get("sort_orders")))
                if isinstance(s, dict)
            ]
            size = self._int(tree.get("pageSize"), "pageSize")
            page = self._int(tree.get("currentPage"), "currentPage") or 1
        except _BadRequest as exc:
            return _error(exc.message, exc.status, exc.parameters)
        if self.input_limits:
            if size is not None and size > MAX_PAGE_SIZE:
                return _error("Maximum SearchCriteria pageSize is %max", 400, {"max": MAX_PAGE_SIZE})
            size = size or DEFAULT_LIMITED_PAGE_SIZE
        matched = [r for r in records if all(any(self._test(r, *f) for f in g) for g in groups if g)]
        if default_sort and not sorts:
            sorts = [(default_sort, "ASC")]
        for field, direction in reversed(sorts):
            matched.sort(key=lambda r, f=field: self._sort_key(r.get(f)), reverse=direction == "DESC")
        total = len(matched)
        if size:
            last = max(1, -(-total // size))
            page = min(max(1, page), last)  # past the end: the last page again
            matched = matched[(page - 1) * size : page * size]
        echo: dict[str, Any] = {
            "filter_groups": [
                {"filters": [{"field": f, "value": v, "condition_type": c or "eq"} for f, v, c in g]}
                for g in groups
            ]
        }
        if sorts:
            echo["sort_orders"] = [{"field": f, "direction": d} for f, d in sorts]
        if size:
            echo |= {"page_size": size, "current_page": page}
        return flask.jsonify(items=matched, search_criteria=echo, total_count=total)

    @staticmethod
    def _int(value: Any, name: str) -> int | None:
        if value is None or value == "":
            return None
        if not str(value).strip().isdigit():
            raise _BadRequest('"%fieldName" is not valid.', {"fieldName": name})
        return int(value)

    @staticmethod
    def _sort_key(value: Any) -> tuple[int, float, str]:
        if value is None:
            return (0, 0.0, "")
        if _numeric(value):
            return (1, float(value), "")
        return (2, 0.0, str(value))

    @staticmethod
    def _test(record: dict[str, Any], field: str, value: Any, condition: str | None) -> bool:
        actual = record.get(field)
        condition = (condition or "eq").lower()
        if condition == "null":
            return actual is None
        if condition == "notnull":
            return actual is not None
        if condition in ("in", "nin"):
            found = any(_same(actual, v.strip()) for v in str(value).split(","))
            return found if condition == "in" else not found
        if condition in ("like", "nlike"):
            pattern = "^" + ".*".join(re.escape(p) for p in str(value).split("%")) + "$"
            found = actual is not None and re.match(pattern, str(actual), re.IGNORECASE) is not None
            return found if condition == "like" else not found
        if actual is None:
            return False
        if condition in ("eq", "finset"):
            return _same(actual, value)
        if condition == "neq":
            return not _same(actual, value)
        order = _compare(actual, value)
        return {
            "gt": order > 0,
            "gteq": order >= 0,
            "from": order >= 0,
            "moreq": order >= 0,
            "lt": order < 0,
            "lteq": order <= 0,
            "to": order <= 0,
        }.get(condition, False)

    # -- views: orders ------------------------------------------------------------------------------

    def _orders_view(self, store: str | None) -> ResponseReturnValue:
        with self.lock:
            if self.changes_per_list:
                self.change_orders(self.changes_per_list)
            records = list(self.orders.values())
            return self._search(records, default_sort="entity_id")

    def _order_view(self, store: str | None, entity_id: int) -> ResponseReturnValue:
        with self.lock:
            order = self.orders.get(entity_id)
            return flask.jsonify(order) if order else _error(NOT_FOUND, 404)

    # -- views: shipments -----------------------------------------------------------------------------

    def _shipments_view(self, store: str | None) -> ResponseReturnValue:
        with self.lock:
            return self._search(list(self.shipments.values()), default_sort="entity_id")

    def _shipment_view(self, store: str | None, shipment_id: int) -> ResponseReturnValue:
        with self.lock:
            found = self.shipments.get(shipment_id)
            return flask.jsonify(found) if found else _error(NOT_FOUND, 404)

    def _emails_view(self, store: str | None, shipment_id: int) -> ResponseReturnValue:
        with self.lock:
            found = self.shipments.get(shipment_id)
            if found is None:
                return _error(NOT_FOUND, 404)
            found["email_sent"] = 1
        return flask.jsonify(True)

    def _ship_view(self, store: str | None, entity_id: int) -> ResponseReturnValue:
        body = flask.request.get_json(silent=True)
        if not isinstance(body, dict):
            return _error("Decoding error.", 400)
        with self.lock:
            order = self.orders.get(entity_id)
            if order is None:
                return _error(NOT_FOUND, 404)
            try:
                shipment = self._ship(order, body)
            except _BadRequest as exc:
                return _error(exc.message, exc.status, exc.parameters)
        return flask.jsonify(str(shipment["entity_id"]))

    def _track_view(self, store: str | None) -> ResponseReturnValue:
        body = flask.request.get_json(silent=True)
        entity = body.get("entity") if isinstance(body, dict) else None
        if not isinstance(entity, dict):
            return _error(REQUIRED, 400, {"fieldName": "entity"})
        for name in ("order_id", "parent_id", "track_number", "carrier_code"):
            if entity.get(name) in (None, ""):
                return _error(REQUIRED, 400, {"fieldName": name})
        with self.lock:
            shipment = self.shipments.get(int(entity["parent_id"]))
            if shipment is None or shipment["order_id"] != int(entity["order_id"]):
                return _error("Could not save the shipment tracking.", 400)
            track = self._track(shipment, entity)
            for key in ("qty", "weight", "description"):
                if key in entity:
                    track[key] = entity[key]
            self._touch(self.orders[shipment["order_id"]])
        return flask.jsonify(track)

    # -- views: inventory -----------------------------------------------------------------------------

    def _sources_view(self, store: str | None) -> ResponseReturnValue:
        with self.lock:
            return self._search(copy.deepcopy(self.sources))

    def _source_items_view(self, store: str | None) -> ResponseReturnValue:
        if flask.request.method == "GET":
            with self.lock:
                return self._search([dict(i) for i in self.source_items.values()])
        body = flask.request.get_json(silent=True)
        items = body.get("sourceItems") if isinstance(body, dict) else None
        if not isinstance(items, list):
            return _error(REQUIRED, 400, {"fieldName": "sourceItems"})
        if self.input_limits and len(items) > MAX_INPUT_ARRAY:
            parameters = {
                "type": "\\Magento\\InventoryApi\\Api\\Data\\SourceItemInterface",
                "max": MAX_INPUT_ARRAY,
            }
            return _error('Maximum items of type "%type" is %max', 400, parameters)
        errors = []
        for item in items:
            if not isinstance(item, dict):
                errors.append({"message": "Invalid source item", "parameters": []})
                continue
            if not str(item.get("sku") or "").strip():
                errors.append({"message": '"%field" can not be empty.', "parameters": {"field": "sku"}})
            if not str(item.get("source_code") or "").strip():
                errors.append(
                    {"message": '"%field" can not be empty.', "parameters": {"field": "source_code"}}
                )
            if _number(item.get("quantity")) is None:
                errors.append({"message": '"%field" should be numeric.', "parameters": {"field": "quantity"}})
            if item.get("status") not in (0, 1, "0", "1"):
                errors.append({"message": '"%field" should be numeric.', "parameters": {"field": "status"}})
        if errors:
            return _error("Validation Failed", 400, errors=errors)
        with self.lock:
            known = {s["source_code"] for s in self.sources}
            if any(item["source_code"] not in known for item in items):
                return _error("Could not save Source Item", 400)
            for item in items:  # all or nothing: validated above
                key = (str(item["sku"]), str(item["source_code"]))
                quantity = _number(item["quantity"]) or 0.0
                self.source_items[key] = {
                    "sku": key[0],
                    "source_code": key[1],
                    "quantity": int(quantity) if quantity.is_integer() else quantity,
                    "status": int(item["status"]),
                }
        return flask.jsonify([])

    def _stock_item_view(self, store: str | None, sku: str) -> ResponseReturnValue:
        with self.lock:
            stock = self._current_stock(sku)
            if stock is None:
                return _error(
                    "The product that was requested doesn't exist. Verify the product and try again.", 404
                )
            return flask.jsonify(stock)

    def _update_stock_item_view(self, store: str | None, sku: str, item_id: str) -> ResponseReturnValue:
        body = flask.request.get_json(silent=True)
        change = body.get("stockItem") if isinstance(body, dict) else None
        if not isinstance(change, dict):
            return _error(REQUIRED, 400, {"fieldName": "stockItem"})
        with self.lock:
            stock = self.stock_items.get(sku)
            if stock is None:
                return _error(
                    "The product that was requested doesn't exist. Verify the product and try again.", 404
                )
            for key in ("manage_stock", "use_config_manage_stock", "backorders", "use_config_backorders"):
                if key in change:
                    stock[key] = change[key]
            if "is_in_stock" in change:
                stock["is_in_stock"] = bool(int(change["is_in_stock"]))
            if "qty" in change:
                stock["qty"] = _number(change["qty"]) or 0
                if self.msi and (sku, "default") in self.source_items:  # legacy API → source default
                    item = self.source_items[(sku, "default")]
                    item["quantity"] = stock["qty"]
                    item["status"] = 1 if stock.get("is_in_stock") else 0
            return flask.jsonify(str(stock["item_id"]))

    def _products_view(self, store: str | None) -> ResponseReturnValue:
        with self.lock:
            products = [self._product_record(p) for p in self.catalog + self.parents]
        return self._search(products, default_sort="id")

    # -- data ---------------------------------------------------------------------------------------

    def _next_id(self, kind: str) -> int:
        self._ids[kind] = self._ids.get(kind, 0) + 1
        return self._ids[kind]

    def _now(self) -> str:
        return self.clock.now().strftime(TIME)

    def _catalog(self, n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        simple, parents = [], []
        for i in range(n):
            name, price = PRODUCTS[i // 4 % len(PRODUCTS)]
            size, color = SIZES[i % 4], COLORS[i // (4 * len(PRODUCTS)) % len(COLORS)]
            product = {"id": i + 1, "sku": f"SBX-{i + 1:05d}", "name": f"{name}-{size}-{color}"}
            product |= {"price": price, "weight": 1, "type_id": "simple", "parent": None}
            simple.append(product)
        for group in range(0, n, 4):
            name, price = PRODUCTS[group // 4 % len(PRODUCTS)]
            parent = {"id": n + group // 4 + 1, "sku": f"SBX-C{group // 4 + 1:04d}", "name": name}
            parent |= {"price": price, "weight": 1, "type_id": "configurable", "parent": None}
            parents.append(parent)
            for child in simple[group : group + 4]:
                child["parent"] = parent
        return simple, parents

    def _product_record(self, product: dict[str, Any]) -> dict[str, Any]:
        record = {"id": product["id"], "sku": product["sku"], "name": product["name"]}
        record |= {"attribute_set_id": 4, "price": product["price"], "status": 1, "visibility": 4}
        record |= {"type_id": product["type_id"], "weight": product["weight"]}
        return record | {"extension_attributes": {"website_ids": [1]}}

    def _source(self, code: str) -> dict[str, Any]:
        name = "Default Source" if code == "default" else code.replace("_", " ").title()
        return {"source_code": code, "name": name, "enabled": True, "country_id": "US", "postcode": "00000"}

    @staticmethod
    def _stock_item(product: dict[str, Any], qty: int) -> dict[str, Any]:
        stock = {"item_id": product["id"], "product_id": product["id"], "stock_id": 1, "qty": qty}
        stock |= {"is_in_stock": qty > 0, "is_qty_decimal": False, "use_config_min_qty": True}
        stock |= {"min_qty": 0, "use_config_min_sale_qty": 1, "min_sale_qty": 1, "max_sale_qty": 10000}
        stock |= {"use_config_backorders": True, "backorders": 0, "use_config_manage_stock": True}
        return stock | {"manage_stock": True, "low_stock_date": None, "stock_status_changed_auto": 0}

    def _current_stock(self, sku: str) -> dict[str, Any] | None:
        stock = self.stock_items.get(sku)
        if stock is None:
            return None
        shown = dict(stock)
        if self.msi and (sku, "default") in self.source_items:
            item = self.source_items[(sku, "default")]
            shown["qty"], shown["is_in_stock"] = item["quantity"], bool(item["status"])
        return shown

    def _new_order(self, created: datetime, now: datetime) -> dict[str, Any]:
        rng = self.rng
        entity_id = self._next_id("order")
        at = created.strftime(TIME)
        k = rng.randrange(len(FIRST) * len(LAST))
        first, last = FIRST[k % len(FIRST)], LAST[k // len(FIRST) % len(LAST)]
        email = f"customer{k + 1}@mail.example.com"
        guest = rng.random() < 0.2
        rate = rng.choice(TAX_RATES)
        discount = rng.choice((Decimal(0), Decimal(0), Decimal("0.1"), Decimal("0.2")))
        items: list[dict[str, Any]] = []
        for product in rng.sample(self.catalog, rng.randint(1, min(3, len(self.catalog)))):
            qty = rng.randint(1, 3)
            configurable = product["parent"] is not None and rng.random() < self.configurable_share
            items += self._item_rows(entity_id, product, qty, rate, discount, at, configurable)
        method, description, per_item = rng.choice(SHIPPING)
        street, city, region, region_code, region_id, postcode = ADDRESSES[k % len(ADDRESSES)]
        address = {"address_type": "billing", "city": city, "country_id": "US", "email": email}
        address |= {"entity_id": self._next_id("address"), "firstname": first, "lastname": last}
        address |= {"parent_id": entity_id, "postcode": postcode, "region": region}
        address |= {"region_code": region_code, "region_id": region_id, "street": [street]}
        address |= {"telephone": f"(555) {200 + k:03d}-{1000 + entity_id % 9000:04d}"}
        shipping_address = address | {"address_type": "shipping", "entity_id": self._next_id("address")}
        payment_method, payment_title = rng.choice(PAYMENTS)
        order: dict[str, Any] = {"base_currency_code": CURRENCY, "created_at": at}
        order |= {"customer_email": email, "customer_firstname": first, "customer_lastname": last}
        order |= {"customer_group_id": 0 if guest else 1, "customer_is_guest": 1 if guest else 0}
        if not guest:
            order["customer_id"] = k + 1
        order |= {"customer_note_notify": 1, "entity_id": entity_id, "global_currency_code": CURRENCY}
        order |= {"increment_id": f"{entity_id:09d}", "is_virtual": 0, "order_currency_code": CURRENCY}
        order |= {"protect_code": f"{rng.getrandbits(128):032x}", "quote_id": entity_id + 3}
        order |= {"shipping_description": description, "state": "new", "status": "pending"}
        order |= {"store_currency_code": CURRENCY, "store_id": 1, "store_name": STORE_NAME}
        order |= {"updated_at": at, "billing_address_id": address["entity_id"], "items": items}
        order |= {"billing_address": address, "status_histories": []}
        order["payment"] = {"account_status": None, "additional_information": [payment_title]}
        order["payment"] |= {"entity_id": entity_id, "method": payment_method, "parent_id": entity_id}
        order["extension_attributes"] = {
            "shipping_assignments": [
                {"shipping": {"address": shipping_address, "method": method, "total": {}}, "items": []}
            ],
            "payment_additional_info": [{"key": "method_title", "value": payment_title}],
            "converting_from_quote": True,
        }
        self._totals(order, Decimal(per_item), rate)
        later = min(now, created + timedelta(seconds=rng.randint(0, 2 * 86400)))
        roll = rng.random()
        if roll < 0.45:
            self._invoice(order, later)
        elif roll < 0.55:
            self._invoice(order, later)
            self._ship(order, {}, at=later)
        elif roll < 0.62:
            self._set_state(order, "canceled", "canceled", later)
        elif roll < 0.65:
            self._set_state(order, "holded", "holded", later)
        return order

    def _item_rows(
        self,
        order_id: int,
        product: dict[str, Any],
        qty: int,
        rate: Decimal,
        discount: Decimal,
        at: str,
        configurable: bool,
    ) -> list[dict[str, Any]]:
        """One row, or a configurable parent row (money, options) and its simple child row."""
        price = Decimal(product["price"])
        row_total = price * qty
        off = (row_total * discount).quantize(CENT, ROUND_HALF_UP)
        tax = ((row_total - off) * rate / 100).quantize(CENT, ROUND_HALF_UP)
        gross = price * (1 + rate / 100)
        parent = product["parent"] if configurable else None
        money = {"discount_amount": off, "price": price, "price_incl_tax": gross, "row_total": row_total}
        money |= {"row_total_incl_tax": row_total + tax, "tax_amount": tax, "original_price": price}
        row = dict.fromkeys(ITEM_ZEROS, 0) | {key: _money(value) for key, value in money.items()}
        row |= {f"base_{key}": _money(value) for key, value in money.items()}
        row |= {"discount_percent": _money(discount * 100), "tax_percent": _money(rate), "created_at": at}
        row |= {"item_id": self._next_id("item"), "name": (parent or product)["name"], "order_id": order_id}
        row |= {"product_id": (parent or product)["id"], "qty_ordered": qty, "sku": product["sku"]}
        row |= {"product_type": "configurable" if parent else "simple", "row_weight": product["weight"] * qty}
        row |= {"quote_item_id": row["item_id"] + 10, "store_id": 1, "updated_at": at}
        row = dict(sorted(row.items())) | {"weight": product["weight"]}
        if not parent:
            return [row]
        options = [{"option_id": "93", "option_value": 5000 + product["id"]}]
        options.append({"option_id": "152", "option_value": 6000 + product["id"]})
        row["product_option"] = {"extension_attributes": {"configurable_item_options": options}}
        child = dict.fromkeys(ITEM_ZEROS + CHILD_ZEROS, 0) | {"created_at": at, "name": product["name"]}
        child |= {"item_id": self._next_id("item"), "order_id": order_id, "parent_item_id": row["item_id"]}
        child |= {"price": _money(price), "product_id": product["id"], "product_type": "simple"}
        child |= {"qty_ordered": qty, "quote_item_id": row["item_id"] + 11, "sku": product["sku"]}
        child |= {"store_id": 1, "updated_at": at, "weight": product["weight"]}
        return [row, dict(sorted(child.items())) | {"parent_item": row}]

    def _totals(self, order: dict[str, Any], per_item: Decimal, rate: Decimal) -> None:
        rows = [i for i in order["items"] if not i.get("parent_item_id")]
        subtotal = sum((Decimal(str(i["row_total"])) for i in rows), Decimal(0))
        discount = sum((Decimal(str(i["discount_amount"])) for i in rows), Decimal(0))
        tax = sum((Decimal(str(i["tax_amount"])) for i in rows), Decimal(0))
        qty = sum(i["qty_ordered"] for i in rows)
        shipping = per_item * qty
        grand = subtotal - discount + shipping + tax
        values = {
            "discount_amount": -discount,
            "grand_total": grand,
            "shipping_amount": shipping,
            "shipping_incl_tax": shipping,
            "shipping_tax_amount": 0,
            "shipping_discount_amount": 0,
            "subtotal": subtotal,
            "subtotal_incl_tax": subtotal + tax,
            "tax_amount": tax,
            "total_due": grand,
            "discount_tax_compensation_amount": 0,
        }
        for key, value in values.items():
            order[key] = order[f"base_{key}"] = _money(value)
        order |= {"shipping_discount_tax_compensation_amount": 0}
        order["base_shipping_discount_tax_compensation_amnt"] = 0  # sic: Magento's column name
        order |= {"base_to_global_rate": 1, "base_to_order_rate": 1, "store_to_base_rate": 0}
        order |= {"store_to_order_rate": 0, "total_item_count": len(rows), "total_qty_ordered": qty}
        order["weight"] = sum(i["row_weight"] for i in rows)
        if discount:
            order |= {"applied_rule_ids": "2", "discount_description": "Spring sale"}
        order["payment"] |= {"amount_ordered": _money(grand), "base_amount_ordered": _money(grand)}
        order["payment"] |= {"shipping_amount": _money(shipping), "base_shipping_amount": _money(shipping)}
        extension = order["extension_attributes"]
        total = {
            f"{p}{k}": _money(values[k])
            for k in ("shipping_amount", "shipping_incl_tax")
            for p in ("", "base_")
        }
        total |= {"shipping_tax_amount": 0, "base_shipping_tax_amount": 0, "shipping_discount_amount": 0}
        extension["shipping_assignments"][0]["shipping"]["total"] = total
        if tax:
            applied = {"code": "US-*-Rate 1", "title": "US-*-Rate 1", "percent": _money(rate)}
            extension["applied_taxes"] = [applied | {"amount": _money(tax), "base_amount": _money(tax)}]
            extension["item_applied_taxes"] = [
                {
                    "type": "product",
                    "item_id": i["item_id"],
                    "applied_taxes": [applied | {"amount": i["tax_amount"]}],
                }
                for i in rows
                if i["tax_amount"]
            ]
        self._assignments(order)

    @staticmethod
    def _assignments(order: dict[str, Any]) -> None:
        """The shipping assignment repeats the order's items, as real responses do."""
        order["extension_attributes"]["shipping_assignments"][0]["items"] = copy.deepcopy(order["items"])

    def _touch(self, order: dict[str, Any], at: datetime | None = None) -> None:
        stamp = (at or self.clock.now()).strftime(TIME)
        order["updated_at"] = max(order["updated_at"], stamp)

    def _set_state(self, order: dict[str, Any], state: str, status: str, at: datetime | None = None) -> None:
        order["state"], order["status"] = state, status
        self._history(order, None, at)
        self._touch(order, at)

    def _history(self, order: dict[str, Any], comment: str | None, at: datetime | None = None) -> None:
        entry = {"comment": comment, "created_at": (at or self.clock.now()).strftime(TIME)}
        entry |= {"entity_id": self._next_id("history"), "entity_name": "order", "is_customer_notified": 0}
        entry |= {"is_visible_on_front": 0, "parent_id": order["entity_id"], "status": order["status"]}
        order["status_histories"].insert(0, entry)

    def _invoice(self, order: dict[str, Any], at: datetime | None = None) -> None:
        for item in order["items"]:
            item["qty_invoiced"] = item["qty_ordered"]
            if not item.get("parent_item_id"):
                item["row_invoiced"] = item["base_row_invoiced"] = item["row_total"]
                item["tax_invoiced"] = item["base_tax_invoiced"] = item["tax_amount"]
        grand = order["grand_total"]
        order |= {"total_paid": grand, "base_total_paid": grand, "total_invoiced": grand}
        order |= {"base_total_invoiced": grand, "total_due": 0, "base_total_due": 0}
        order["payment"] |= {"amount_paid": grand, "base_amount_paid": grand}
        order["state"], order["status"] = "processing", "processing"
        self._history(order, f"Captured amount of ${grand:.2f}.", at)
        self._assignments(order)
        self._touch(order, at)

    def _change(self, order: dict[str, Any]) -> None:
        state = order["state"]
        options = {
            "new": ("invoice", "invoice", "cancel", "comment"),
            "processing": ("ship", "hold", "comment"),
            "holded": ("unhold", "comment"),
        }.get(state, ("comment",))
        kind = self.rng.choice(options)
        if kind == "invoice":
            self._invoice(order)
        elif kind == "cancel":
            self._set_state(order, "canceled", "canceled")
        elif kind == "hold":
            self._set_state(order, "holded", "holded")
        elif kind == "unhold":
            self._set_state(order, "processing", "processing")
        elif kind == "ship":
            try:
                self._ship(order, {})
            except _BadRequest:
                self._history(order, "Could not ship.")
        else:
            self._history(
                order, self.rng.choice(("Customer called.", "Gift wrap requested.", "Address checked."))
            )
        self._touch(order)

    def _ship(
        self, order: dict[str, Any], body: dict[str, Any], at: datetime | None = None
    ) -> dict[str, Any]:
        """Create a shipment as ``POST /V1/order/{id}/ship`` does; raises _BadRequest."""
        if order["state"] in ("canceled", "holded", "closed", "complete", "payment_review"):
            raise _BadRequest(CANNOT_SHIP)
        rows = {i["item_id"]: i for i in order["items"]}
        children = {i["parent_item_id"]: i for i in order["items"] if i.get("parent_item_id")}

        def open_qty(item: dict[str, Any]) -> float:
            return item["qty_ordered"] - item["qty_shipped"] - item["qty_refunded"] - item["qty_canceled"]

        wanted: dict[int, float] = {}
        if body.get("items"):
            for entry in body["items"]:
                if (
                    not isinstance(entry, dict)
                    or entry.get("order_item_id") in (None, "")
                    or "qty" not in entry
                ):
                    raise _BadRequest(
                        REQUIRED, {"fieldName": "order_item_id" if isinstance(entry, dict) else "items"}
                    )
                item = rows.get(int(entry["order_item_id"]))
                qty = _number(entry["qty"]) or 0
                if item is None:
                    raise _BadRequest(CANNOT_SHIP)
                if item.get("parent_item_id"):
                    continue  # a configurable's child row is shipped through its parent
                if qty > open_qty(item):
                    raise _BadRequest(
                        "Shipment Document Validation Error(s):\n"
                        "The quantity to ship must not be greater than the unshipped quantity."
                    )
                if qty > 0:
                    wanted[item["item_id"]] = wanted.get(item["item_id"], 0) + qty
        else:
            wanted = {
                i["item_id"]: open_qty(i)
                for i in order["items"]
                if not i.get("parent_item_id") and open_qty(i) > 0
            }
        if not wanted:
            raise _BadRequest(NO_PRODUCTS)
        tracks = body.get("tracks") or []
        for track in tracks:
            for name in ("track_number", "title", "carrier_code"):
                if not isinstance(track, dict) or track.get(name) in (None, ""):
                    raise _BadRequest(REQUIRED, {"fieldName": name})
        comment = body.get("comment")
        if comment is not None and (
            not isinstance(comment, dict) or "comment" not in comment or "is_visible_on_front" not in comment
        ):
            raise _BadRequest(REQUIRED, {"fieldName": "comment"})
        source = ((body.get("arguments") or {}).get("extension_attributes") or {}).get("source_code")
        if self.msi:
            source = source or "default"
            if source not in {s["source_code"] for s in self.sources}:
                raise _BadRequest("Source item not found by source code: %1", [source], 404)
        moment = at or self.clock.now()
        stamp = moment.strftime(TIME)
        shipment_id = self._next_id("shipment")
        shipment: dict[str, Any] = {"billing_address_id": order["billing_address_id"], "created_at": stamp}
        shipment |= {"customer_id": order.get("customer_id"), "email_sent": 1 if body.get("notify") else 0}
        shipment |= {
            "entity_id": shipment_id,
            "increment_id": f"{shipment_id:09d}",
            "order_id": order["entity_id"],
        }
        shipment |= {"packages": [], "shipping_address_id": order["billing_address_id"] + 1, "store_id": 1}
        shipment |= {"total_qty": sum(wanted.values()), "updated_at": stamp, "items": [], "tracks": []}
        shipment["comments"] = []
        for item_id, qty in wanted.items():
            item = rows[item_id]
            item["qty_shipped"] += qty
            stocked = children.get(item_id, item)
            if stocked is not item:
                stocked["qty_shipped"] += qty
            line = {
                "entity_id": self._next_id("shipment_item"),
                "name": item["name"],
                "parent_id": shipment_id,
            }
            line |= {"price": item["price"], "product_id": stocked["product_id"], "sku": stocked["sku"]}
            shipment["items"].append(
                line | {"weight": item.get("weight", 0), "qty": qty, "order_item_id": item_id}
            )
            if self.msi and (stocked["sku"], source) in self.source_items:
                entry = self.source_items[(stocked["sku"], source)]
                entry["quantity"] = max(0, entry["quantity"] - qty)
        for track in tracks:
            self._track(shipment, track | {"order_id": order["entity_id"]}, moment)
        if comment:
            entry = {
                "comment": comment["comment"],
                "created_at": stamp,
                "entity_id": self._next_id("comment"),
            }
            entry |= {"is_customer_notified": 1 if body.get("notify") and body.get("appendComment") else 0}
            entry |= {"is_visible_on_front": comment["is_visible_on_front"], "parent_id": shipment_id}
            shipment["comments"].append(entry)
        if self.msi:
            shipment["extension_attributes"] = {"source_code": source}
        self.shipments[shipment_id] = shipment
        shipped = all(open_qty(i) <= 0 for i in order["items"])
        invoiced = all(i["qty_invoiced"] >= i["qty_ordered"] for i in order["items"])
        order["state"] = order["status"] = "complete" if shipped and invoiced else "processing"
        self._assignments(order)
        self._touch(order, moment)
        return shipment

    def _track(
        self, shipment: dict[str, Any], entity: dict[str, Any], at: datetime | None = None
    ) -> dict[str, Any]:
        stamp = (at or self.clock.now()).strftime(TIME)
        track = {
            "order_id": int(entity["order_id"]),
            "created_at": stamp,
            "entity_id": self._next_id("track"),
        }
        track |= {"parent_id": shipment["entity_id"], "updated_at": stamp, "weight": None, "qty": None}
        track |= {"description": None, "track_number": str(entity["track_number"])}
        track |= {"title": str(entity.get("title") or ""), "carrier_code": str(entity["carrier_code"])}
        shipment["tracks"].append(track)
        shipment["updated_at"] = stamp
        return track


def _numeric(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    return isinstance(value, str) and _NUMERIC.fullmatch(value.strip()) is not None


def _same(actual: Any, expected: Any) -> bool:
    if _numeric(actual) and _numeric(expected):
        return float(actual) == float(expected)
    return str(actual) == str(expected)


def _compare(actual: Any, expected: Any) -> int:
    """As MySQL compares a column with a quoted value: numbers as numbers, the rest as text."""
    if _numeric(actual) and _numeric(expected):
        a, b = float(actual), float(expected)
        return (a > b) - (a < b)
    left, right = str(actual), str(expected)
    return (left > right) - (left < right)
