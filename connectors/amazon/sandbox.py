"""Simulated Amazon Selling Partner API (one seller, one marketplace) for the Amazon connector.

Served on one host: the Login with Amazon token endpoint (``POST /auth/o2/token``), the Orders
API v2026-01-01 (``searchOrders``, ``getOrder``) and v0 (``getOrders``, ``getOrder``,
``getOrderItems``, ``confirmShipment``), Listings ``patchListingsItem``, the Feeds API
2021-06-30 (documents, feeds, processing reports) with a stand-in for the pre-signed S3 URLs
(``/s3/feeds/<id>``), and Sellers ``getMarketplaceParticipations``.

Wire rules kept (project reference ``channels/amazon.md`` and Amazon's models):

* Auth: every SP-API call needs ``x-amz-access-token`` holding an unexpired token from the token
  endpoint (refresh-token grant; ``expires_in`` 3600 by default); else 403 ``Unauthorized``.
  Token requests are counted (``token_requests``).
* Limits: a token bucket per operation with its published rate and burst (``LIMITS``); a throttled
  request is not counted and gets 429 with Amazon's body and no ``Retry-After``; 2xx, 400 and
  404 answers carry ``x-amzn-RateLimit-Limit``; every answer carries ``x-amzn-RequestId``.
  ``speed``: the buckets refill ``speed`` times faster than real time (the limits' clock sped
  up, for benchmarks and tests) and the header says the rate per real second that results.
  The limit is checked before the token, so a refused request still spends one (the sandbox's
  choice; Amazon's order of checks is not documented).
* The 2-minute rule: a ``lastUpdatedBefore``/``createdBefore`` (v0: ``LastUpdatedBefore``,
  ``CreatedBefore``) later than two minutes before the request is refused (400); exactly one of
  created/lastUpdated filters; ``*Before`` not before ``*After``.
* Paging: orders come oldest first by the filtered time (ties by order id); a page token is a
  keyset cursor (no order is skipped or repeated however orders change meanwhile: a changed
  order leaves a window that ends in the past), valid 24 hours, and v2026 refuses one sent with
  other filters than the first page's.
* Shipment confirmation: the model's required fields, ISO 8601 ``shipDate`` (else the sandbox's
  own 400 ``Invalid Input`` of the samples), items of the order, MFN only; the order becomes
  partially shipped or shipped and gets the package; the same ``packageReferenceId`` again edits
  that package. An order with nothing left to ship answers 400 "already been shipped" (the exact
  text of Amazon's refusal is unconfirmed).
* Feeds: ``JSON_LISTINGS_FEED`` only; the document must be uploaded with the content type it was
  created with; the feed is ``IN_QUEUE``, ``IN_PROGRESS`` then ``DONE`` ``feed_seconds`` after
  creation (sandbox clock), and its gzip processing report lists an ``ERROR`` issue per message
  the sandbox refuses (a SKU that is not a listing, one of ``rejected_skus``, a bad quantity).

Data: ``orders`` generated orders (v2026 shape inside; v0 shape derived), updated over the last
30 days up to 5 minutes ago; a catalogue of ``skus`` listings with quantities. Order items page
at ``items_page_size`` per getOrderItems page.
"""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import hmac
import json
import secrets
import time
import uuid
from bisect import bisect_left, insort
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from random import Random
from typing import Any

import flask
from flask.typing import ResponseReturnValue

from hub.sandbox import Faults, Sandbox, SandboxClock

__all__ = ["LIMITS", "AmazonSandbox"]

#: endpoint -> (rate per second, burst): Amazon's published default usage plans
LIMITS: dict[str, tuple[float, float]] = {
    "searchOrders": (0.0056, 20),
    "getOrder": (0.5, 30),
    "v0_getOrders": (0.0167, 20),
    "v0_getOrder": (0.5, 30),
    "v0_getOrderItems": (0.5, 30),
    "confirmShipment": (2.0, 10),
    "patchListingsItem": (5.0, 5),
    "createFeedDocument": (0.5, 15),
    "createFeed": (0.0083, 15),
    "getFeed": (2.0, 15),
    "getFeedDocument": (0.0222, 10),
    "getMarketplaceParticipations": (0.016, 15),
}
CENT = Decimal("0.01")
SETTLE = timedelta(minutes=2)
TOKEN_TTL = timedelta(hours=24)
QUOTA_EXCEEDED = {
    "code": "QuotaExceeded",
    "message": "You exceeded your quota for the requested resource.",
    "details": "",
}
STATUSES_V0 = {
    "PENDING_AVAILABILITY": "PendingAvailability",
    "PENDING": "Pending",
    "UNSHIPPED": "Unshipped",
    "PARTIALLY_SHIPPED": "PartiallyShipped",
    "SHIPPED": "Shipped",
    "CANCELLED": "Canceled",
    "UNFULFILLABLE": "Unfulfillable",
}
INCLUDED = ("BUYER", "RECIPIENT", "PROCEEDS", "EXPENSE", "PROMOTION", "CANCELLATION", "FULFILLMENT",
            "PACKAGES", "TAX", "PAYMENT", "FULFILLMENT_ORDERS")  # fmt: skip
PRODUCTS = ("Trail Mug", "Canvas Tote", "Wool Beanie", "Field Notebook", "Desk Lamp", "Linen Apron")
NAMES = ("Ada Brooks", "Ben Carter", "Chen Wei", "Dana Ortiz", "Emeka Obi", "Fatima Khan", "Gus Lund")
CITIES = (("Seattle", "WA", "98101"), ("Austin", "TX", "78701"), ("Columbus", "OH", "43215"),
          ("Portland", "OR", "97205"))  # fmt: skip
SERVICE_LEVELS = ("STANDARD", "EXPEDITED", "NEXT_DAY")
TAX_RATE = Decimal("0.08")
SHIPPING = (Decimal("0.00"), Decimal("4.99"), Decimal("7.99"))
MARKETPLACE_NAMES = {"ATVPDKIKX0DER": ("US", "Amazon.com", "USD", "www.amazon.com")}


def _m(value: Decimal) -> str:
    return str(value.quantize(CENT, ROUND_HALF_UP))


def _money(value: Decimal, currency: str) -> dict[str, str]:
    return {"amount": _m(value), "currencyCode": currency}


def _fmt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _errors(status: int, code: str, message: str, details: str = "") -> flask.Response:
    response = flask.jsonify(errors=[{"code": code, "message": message, "details": details}])
    response.status_code = status
    return response


class _Invalid(ValueError):
    """A request Amazon would refuse with 400 InvalidInput."""


def _encode(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(token: str) -> dict[str, Any]:
    try:
        return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError as exc:
        raise _Invalid("Invalid pagination token") from exc


class AmazonSandbox(Sandbox):
    """One seller's Amazon with generated orders and listings; see the module docstring."""

    name = "amazon"

    def __init__(
        self,
        *,
        seed: int = 0,
        faults: Faults | None = None,
        orders: int = 50,
        skus: int = 50,
        speed: float = 1.0,
        limits: bool = True,
        clock: SandboxClock | None = None,
        client_id: str | None = None,
        client_secret: str = "sandbox-lwa-client-secret",
        refresh_token: str = "Atzr|sandbox-refresh-token-0001",
        seller_id: str = "A3TH9S8BH6GOGM",
        marketplace_id: str = "ATVPDKIKX0DER",
        token_seconds: int = 3600,
        feed_seconds: float = 1.0,
        items_page_size: int = 20,
        rejected_skus: dict[str, str] | None = None,
    ) -> None:
        super().__init__(seed=seed, faults=faults)
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.clock = clock or SandboxClock()
        self.speed = float(speed)
        self.limits = limits
        #: a new app per sandbox unless given: clients' caches (tokens, buckets) never mix two sandboxes
        self.client_id = client_id or f"amzn1.application-oa2-client.{uuid.uuid4().hex}"
        self.client_secret, self.refresh_token = client_secret, refresh_token
        self.seller_id, self.marketplace_id = seller_id, marketplace_id
        self.token_seconds = token_seconds
        self.feed_seconds = feed_seconds
        self.items_page_size = items_page_size
        self.rejected_skus = dict(rejected_skus or {})
        self.currency = "USD"
        #: the limits' time source (real seconds; ``speed`` scales the refill)
        self.timer = time.monotonic
        self._buckets: dict[str, tuple[float, float]] = {}
        self._tokens: dict[str, datetime] = {}
        self.token_requests = 0
        #: requests answered per operation, and 429s per operation
        self.calls: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self._orders: dict[str, dict[str, Any]] = {}
        self._index: list[tuple[float, str]] = []  # (lastUpdatedTime, orderId), sorted
        self._n = 0
        self.catalog: dict[str, dict[str, Any]] = {}
        stock_rng = Random(f"{seed}:stock")
        for i in range(skus):
            sku = f"SBX-{i + 1:05d}"
            self.catalog[sku] = {
                "sku": sku,
                "asin": f"B0{i + 1:08d}",
                "title": f"{PRODUCTS[i % len(PRODUCTS)]} {i + 1}",
                "price": Decimal(stock_rng.choice((9, 14, 19, 24, 39, 59))) - Decimal("0.01"),
                "quantity": stock_rng.randint(0, 50),
            }
        self._documents: dict[str, dict[str, Any]] = {}
        self.feeds: dict[str, dict[str, Any]] = {}
        #: every confirmShipment accepted: {"orderId", "packageDetail", "marketplaceId"}
        self.shipments: list[dict[str, Any]] = []
        #: every accepted listings patch: (sku, quantity)
        self.patches: list[tuple[str, int]] = []
        now = self.clock.now().replace(microsecond=0)
        self.seed_orders(orders, start=now - timedelta(days=30), end=now - timedelta(minutes=5))

    # -- data for tests ------------------------------------------------------------------------

    def seed_orders(self, n: int, *, start: datetime | None = None, end: datetime | None = None) -> list[str]:
        """Add ``n`` orders created (and last updated) between ``start`` and ``end`` (default:
        the last 30 days up to 5 minutes ago), in time order; returns their ids."""
        with self.lock:
            now = self.clock.now().replace(microsecond=0)
            end = end or now - timedelta(minutes=5)
            start = start or end - timedelta(days=30)
            span = max(0.0, (end - start).total_seconds())
            moments = sorted(start + timedelta(seconds=int(self.rng.uniform(0, span))) for _ in range(n))
            ids = []
            for moment in moments:
                order = self._new_order(moment)
                self._store(order)
                ids.append(order["orderId"])
            return ids

    def change_orders(self, n: int, *, at: datetime | None = None, ids: list[str] | None = None) -> list[str]:
        """Move ``n`` random orders (or ``ids``) one status on (pending -> unshipped -> shipped);
        their ``lastUpdatedTime`` becomes ``at`` (default now; never earlier than it was)."""
        with self.lock:
            if ids is None:
                ids = sorted(self.rng.sample(sorted(self._orders), min(n, len(self._orders))))
            moment = (at or self.clock.now()).replace(microsecond=0)
            for order_id in ids:
                order = copy.deepcopy(self._orders[order_id])
                self._advance(order, moment)
                self._touch(order, moment)
            return list(ids)

    def order(self, order_id: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self._orders[order_id])

    def order_ids(self) -> list[str]:
        with self.lock:
            return sorted(self._orders)

    def quantity(self, sku: str) -> int | None:
        with self.lock:
            listing = self.catalog.get(sku)
            return None if listing is None else int(listing["quantity"])

    def expire_tokens(self) -> None:
        """Every access token issued so far stops working (the next call gets 403)."""
        with self.lock:
            self._tokens.clear()

    def drain(self, operation: str, available: float = 0.0) -> None:
        """Set an operation's bucket (e.g. 0: the next request is throttled)."""
        with self.lock:
            self._buckets[operation] = (float(available), self.timer())

    def notification(
        self, order_id: str, *, notification_id: str | None = None, change_type: str = "OrderStatusChange"
    ) -> dict[str, Any]:
        """The ORDER_CHANGE notification Amazon would put in the seller's SQS queue for the order
        as it is now (shape of Amazon's OrderChangeNotification example)."""
        with self.lock:
            order = self._orders[order_id]
            fulfillment = order["fulfillment"]
            now = self.clock.now()
            items = [
                {
                    "OrderItemId": i["orderItemId"],
                    "SellerSKU": i["product"]["sellerSku"],
                    "SupplySourceId": None,
                    "OrderItemStatus": STATUSES_V0[fulfillment["fulfillmentStatus"]],
                    "Quantity": i["quantityOrdered"],
                    "QuantityShipped": i["fulfillment"]["quantityFulfilled"],
                    "IsBuyerRequestedCancel": False,
                }
                for i in order["orderItems"]
            ]
            return {
                "NotificationVersion": "1.0",
                "NotificationType": "ORDER_CHANGE",
                "PayloadVersion": "1.0",
                "EventTime": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "Payload": {
                    "OrderChangeNotification": {
                        "NotificationLevel": "OrderLevel",
                        "SellerId": self.seller_id,
                        "AmazonOrderId": order_id,
                        "OrderChangeType": change_type,
                        "OrderChangeTrigger": {
                            "TimeOfOrderChange": order["lastUpdatedTime"],
                            "ChangeReason": "Order status changed",
                        },
                        "Summary": {
                            "MarketplaceId": self.marketplace_id,
                            "OrderStatus": STATUSES_V0[fulfillment["fulfillmentStatus"]],
                            "PurchaseDate": order["createdTime"],
                            "FulfillmentType": "MFN" if fulfillment["fulfilledBy"] == "MERCHANT" else "AFN",
                            "OrderType": "StandardOrder",
                            "NumberOfItemsShipped": sum(x["QuantityShipped"] for x in items),
                            "NumberOfItemsUnshipped": sum(
                                x["Quantity"] - x["QuantityShipped"] for x in items
                            ),
                            "OrderItems": items,
                        },
                    }
                },
                "NotificationMetadata": {
                    "ApplicationId": f"app-id-{uuid.UUID(int=self.rng.getrandbits(128))}",
                    "SubscriptionId": f"subscription-id-{self.seed}",
                    "PublishTime": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                    "NotificationId": notification_id or str(uuid.UUID(int=self.rng.getrandbits(128))),
                },
            }

    # -- Sandbox hooks -------------------------------------------------------------------------

    def tick(self) -> None:
        """Seller activity for ``make run``: a new order and two orders moving on."""
        now = self.clock.now()
        self.seed_orders(1, start=now - timedelta(seconds=30), end=now)
        self.change_orders(2)

    def connection_values(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
            "seller_id": self.seller_id,
            "marketplace_ids": self.marketplace_id,
            "api_endpoint": self.url,
            "lwa_endpoint": f"{self.url}/auth/o2/token",
        }

    def rate_limited_response(self) -> flask.Response:
        response = flask.jsonify(errors=[QUOTA_EXCEEDED])
        response.status_code = 429
        return response

    def error_response(self, status: int) -> flask.Response:
        if status == 503:
            return _errors(503, "ServiceUnavailable", "Service temporarily unavailable. Please try again.")
        return _errors(500, "InternalFailure", "We encountered an internal error. Please try again.")

    def check_rate_limit(self) -> flask.Response | None:
        operation = flask.request.endpoint
        if operation not in LIMITS or not self.limits:
            return None
        rate, burst = LIMITS[operation]
        with self.lock:
            now = self.timer()
            tokens, last = self._buckets.get(operation, (burst, now))
            tokens = min(burst, tokens + (now - last) * rate * self.speed)
            if tokens < 1.0:
                self._buckets[operation] = (tokens, now)
                self.throttled[operation] += 1
                return self.rate_limited_response()
            self._buckets[operation] = (tokens - 1.0, now)
        return None

    def routes(self, app: flask.Flask) -> None:
        app.before_request(self._authenticate)
        app.after_request(self._amazon_headers)
        app.register_error_handler(404, lambda _: _errors(404, "NotFound", "Resource not found."))
        app.register_error_handler(405, lambda _: _errors(404, "NotFound", "Resource not found."))
        rules: tuple[tuple[str, str, Any, list[str]], ...] = (
            ("/auth/o2/token", "lwa_token", self._token_view, ["POST"]),
            (
                "/sellers/v1/marketplaceParticipations",
                "getMarketplaceParticipations",
                self._participations,
                ["GET"],
            ),
            ("/orders/2026-01-01/orders", "searchOrders", self._search_orders, ["GET"]),
            ("/orders/2026-01-01/orders/<order_id>", "getOrder", self._get_order, ["GET"]),
            ("/orders/v0/orders", "v0_getOrders", self._v0_orders, ["GET"]),
            ("/orders/v0/orders/<order_id>", "v0_getOrder", self._v0_order, ["GET"]),
            ("/orders/v0/orders/<order_id>/orderItems", "v0_getOrderItems", self._v0_items, ["GET"]),
            ("/orders/v0/orders/<order_id>/shipmentConfirmation", "confirmShipment", self._confirm, ["POST"]),
            (
                "/listings/2021-08-01/items/<seller_id>/<path:sku>",
                "patchListingsItem",
                self._patch,
                ["PATCH"],
            ),
            ("/feeds/2021-06-30/documents", "createFeedDocument", self._create_document, ["POST"]),
            ("/feeds/2021-06-30/documents/<doc_id>", "getFeedDocument", self._get_document, ["GET"]),
            ("/feeds/2021-06-30/feeds", "createFeed", self._create_feed, ["POST"]),
            ("/feeds/2021-06-30/feeds/<feed_id>", "getFeed", self._get_feed, ["GET"]),
            ("/s3/feeds/<doc_id>", "s3_object", self._s3_object, ["GET", "PUT"]),
        )
        for rule, endpoint, view, methods in rules:
            app.add_url_rule(rule, endpoint, view, methods=methods)

    # -- HTTP plumbing -------------------------------------------------------------------------

    def _authenticate(self) -> flask.Response | None:
        endpoint = flask.request.endpoint
        if endpoint not in LIMITS:
            return None  # the token endpoint, S3 and control routes
        token = flask.request.headers.get("x-amz-access-token", "")
        with self.lock:
            expires = self._tokens.get(token)
        if expires is None:
            return _errors(403, "Unauthorized", "Access to requested resource is denied.", "")
        if expires <= self.clock.now():
            return _errors(
                403,
                "Unauthorized",
                "Access to requested resource is denied.",
                "The access token you provided has expired.",
            )
        return None

    def _amazon_headers(self, response: flask.Response) -> flask.Response:
        request = flask.request
        if request.path.startswith("/_sandbox"):
            return response
        response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
        endpoint = request.endpoint
        if endpoint in LIMITS:
            with self.lock:
                self.calls[endpoint] += 1
            if response.status_code < 300 or response.status_code in (400, 404):
                rate = LIMITS[endpoint][0] * self.speed
                response.headers["x-amzn-RateLimit-Limit"] = f"{rate:.6g}"
        return response

    def _json_body(self) -> dict[str, Any]:
        body = flask.request.get_json(silent=True)
        if not isinstance(body, dict):
            raise _Invalid("The request body must be a JSON object.")
        return body

    # -- Login with Amazon ---------------------------------------------------------------------

    def _token_view(self) -> ResponseReturnValue:
        form = flask.request.form
        with self.lock:
            self.token_requests += 1
        if not (
            hmac.compare_digest(form.get("client_id", ""), self.client_id)
            and hmac.compare_digest(form.get("client_secret", ""), self.client_secret)
        ):
            return {"error_description": "Client authentication failed", "error": "invalid_client"}, 401
        grant = form.get("grant_type")
        if grant == "refresh_token":
            if form.get("scope"):
                return {
                    "error_description": "scope and refresh_token are exclusive",
                    "error": "invalid_request",
                }, 400
            if not hmac.compare_digest(form.get("refresh_token", ""), self.refresh_token):
                return {
                    "error_description": "The request has an invalid grant parameter : refresh_token",
                    "error": "invalid_grant",
                }, 400
        elif grant != "client_credentials" or not form.get("scope"):
            return {
                "error_description": "The grant type is not supported",
                "error": "unsupported_grant_type",
            }, 400
        token = "Atza|" + secrets.token_urlsafe(48)
        with self.lock:
            self._tokens[token] = self.clock.now() + timedelta(seconds=self.token_seconds)
        answer: dict[str, Any] = {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": self.token_seconds,
        }
        if grant == "refresh_token":
            answer["refresh_token"] = self.refresh_token
        return answer

    def _participations(self) -> ResponseReturnValue:
        country, name, currency, domain = MARKETPLACE_NAMES.get(
            self.marketplace_id, ("US", "Amazon", "USD", "")
        )
        marketplace = {
            "id": self.marketplace_id,
            "countryCode": country,
            "name": name,
            "defaultCurrencyCode": currency,
            "defaultLanguageCode": "en_US",
            "domainName": domain,
        }
        return {
            "payload": [
                {
                    "marketplace": marketplace,
                    "participation": {"isParticipating": True, "hasSuspendedListings": False},
                }
            ]
        }

    # -- orders: search --------------------------------------------------------------------------

    def _window(
        self, args: dict[str, str], names: tuple[str, str, str, str]
    ) -> tuple[str, datetime, datetime]:
        """(the time field filtered on, after, before) of created/lastUpdated filters; the rules."""
        created_after, created_before, updated_after, updated_before = names
        has_created = bool(args.get(created_after) or args.get(created_before))
        has_updated = bool(args.get(updated_after) or args.get(updated_before))
        if has_created and has_updated:
            raise _Invalid(f"{created_after} and {updated_after} cannot both be specified.")
        if not (args.get(created_after) or args.get(updated_after)):
            raise _Invalid(f"Exactly one of {created_after} and {updated_after} must be specified.")
        after_name, before_name = (
            (created_after, created_before) if has_created else (updated_after, updated_before)
        )
        after = _parse(args.get(after_name))
        if after is None:
            raise _Invalid(f"{after_name} is not a valid ISO 8601 date-time.")
        latest = self.clock.now() - SETTLE
        before = latest
        if args.get(before_name):
            given = _parse(args.get(before_name))
            if given is None:
                raise _Invalid(f"{before_name} is not a valid ISO 8601 date-time.")
            if given > latest:
                raise _Invalid(f"{before_name} must be at least two minutes before the time of the request.")
            if given < after:
                raise _Invalid(f"{before_name} must be equal to or after {after_name}.")
            before = given
        return ("created" if has_created else "updated"), after, before

    def _select(
        self,
        field: str,
        after: datetime,
        before: datetime,
        last: tuple[float, str] | None,
        size: int,
        keep: Any,
    ) -> tuple[list[dict[str, Any]], tuple[float, str] | None]:
        """Up to ``size`` orders with ``after <= time <= before`` after the keyset ``last``, oldest
        first; and the keyset of the last one when more follow."""
        lo, hi = after.timestamp(), before.timestamp()
        if field == "updated":
            keys = self._index
        else:
            keys = sorted((_parse(o["createdTime"]).timestamp(), oid) for oid, o in self._orders.items())  # type: ignore[union-attr]
        start = bisect_left(keys, last) if last else bisect_left(keys, (lo, ""))
        if last and start < len(keys) and keys[start] == last:
            start += 1
        found: list[dict[str, Any]] = []
        position = start
        while position < len(keys) and keys[position][0] <= hi:
            order = self._orders[keys[position][1]]
            if keep(order):
                if len(found) == size:
                    previous = found[-1]
                    stamp = previous["lastUpdatedTime"] if field == "updated" else previous["createdTime"]
                    return found, (_parse(stamp).timestamp(), previous["orderId"])  # type: ignore[union-attr]
                found.append(order)
            position += 1
        return found, None

    def _search_orders(self) -> ResponseReturnValue:
        args = flask.request.args.to_dict()
        try:
            size = int(args.get("maxResultsPerPage") or 100)
            if not 1 <= size <= 100:
                raise _Invalid("maxResultsPerPage must be between 1 and 100.")
            included = [v for v in (args.get("includedData") or "").split(",") if v]
            if any(v not in INCLUDED for v in included):
                raise _Invalid(f"includedData must be among {', '.join(INCLUDED)}.")
            filters = {
                k: v
                for k, v in args.items()
                if k not in ("paginationToken", "maxResultsPerPage", "includedData")
            }
            token = args.get("paginationToken")
            with self.lock:
                if token:
                    state = _decode(token)
                    if state.get("filters") != filters:
                        raise _Invalid(
                            "With paginationToken, every other parameter must have its first value."
                        )
                    if self.clock.now().timestamp() - state.get("issued", 0) > TOKEN_TTL.total_seconds():
                        raise _Invalid("The pagination token has expired.")
                    field, after, before = state["field"], _parse(state["after"]), _parse(state["before"])
                    last = (state["last"][0], state["last"][1])
                else:
                    field, after, before = self._window(
                        args, ("createdAfter", "createdBefore", "lastUpdatedAfter", "lastUpdatedBefore")
                    )
                    last = None
                keep = self._filter_v2026(args)
                orders, more = self._select(field, after, before, last, size, keep)  # type: ignore[arg-type]
                rendered = [self._render(o, included) for o in orders]
        except _Invalid as exc:
            return _errors(400, "InvalidInput", str(exc))
        answer: dict[str, Any] = {"orders": rendered}
        if more is not None:
            answer["pagination"] = {
                "nextToken": _encode(
                    {
                        "field": field,
                        "after": _fmt(after),  # type: ignore[arg-type]
                        "before": _fmt(before),  # type: ignore[arg-type]
                        "last": list(more),
                        "filters": filters,
                        "issued": self.clock.now().timestamp(),
                    }
                )
            }
        answer["createdBefore" if field == "created" else "lastUpdatedBefore"] = _fmt(before)  # type: ignore[arg-type]
        return answer

    def _filter_v2026(self, args: dict[str, str]) -> Any:
        markets = {m for m in (args.get("marketplaceIds") or "").split(",") if m}
        if len(markets) > 50:
            raise _Invalid("marketplaceIds: at most 50.")
        statuses = {s for s in (args.get("fulfillmentStatuses") or "").split(",") if s}
        by = {s for s in (args.get("fulfilledBy") or "").split(",") if s}

        def keep(order: dict[str, Any]) -> bool:
            return (
                (not markets or order["salesChannel"]["marketplaceId"] in markets)
                and (not statuses or order["fulfillment"]["fulfillmentStatus"] in statuses)
                and (not by or order["fulfillment"]["fulfilledBy"] in by)
            )

        return keep

    def _get_order(self, order_id: str) -> ResponseReturnValue:
        included = [v for v in (flask.request.args.get("includedData") or "").split(",") if v]
        if any(v not in INCLUDED for v in included):
            return _errors(400, "InvalidInput", f"includedData must be among {', '.join(INCLUDED)}.")
        with self.lock:
            order = self._orders.get(order_id)
            if order is None:
                return _errors(404, "NotFound", f"Order {order_id} was not found.")
            return {"order": self._render(order, included)}

    def _render(self, order: dict[str, Any], included: list[str]) -> dict[str, Any]:
        """The v2026 order with the sections ``includedData`` asked for (items always)."""
        out = {
            k: order[k]
            for k in ("orderId", "orderAliases", "createdTime", "lastUpdatedTime", "programs", "salesChannel")
            if k in order
        }
        if "BUYER" in included:
            out["buyer"] = order["buyer"]
        if "RECIPIENT" in included and order.get("recipient"):
            out["recipient"] = order["recipient"]
        if "PROCEEDS" in included and order.get("proceeds"):
            out["proceeds"] = order["proceeds"]
        if "FULFILLMENT" in included:
            out["fulfillment"] = order["fulfillment"]
        items = []
        for item in order["orderItems"]:
            shown = {k: item[k] for k in ("orderItemId", "quantityOrdered", "programs", "product")}
            if "PROCEEDS" in included and item.get("proceeds"):
                shown["proceeds"] = item["proceeds"]
            if "FULFILLMENT" in included:
                shown["fulfillment"] = item["fulfillment"]
            items.append(shown)
        out["orderItems"] = items
        if "PACKAGES" in included and order["packages"]:
            out["packages"] = order["packages"]
        return out

    # -- orders: v0 ------------------------------------------------------------------------------

    def _v0_orders(self) -> ResponseReturnValue:
        args = flask.request.args.to_dict()
        try:
            markets = {m for m in (args.get("MarketplaceIds") or "").split(",") if m}
            if not markets:
                raise _Invalid("MarketplaceIds is required.")
            with self.lock:
                if args.get("NextToken"):
                    state = _decode(args["NextToken"])
                    if self.clock.now().timestamp() - state.get("issued", 0) > TOKEN_TTL.total_seconds():
                        raise _Invalid("The NextToken has expired.")
                    field, after, before = state["field"], _parse(state["after"]), _parse(state["before"])
                    last, size, statuses = (
                        (state["last"][0], state["last"][1]),
                        state["size"],
                        state["statuses"],
                    )
                else:
                    field, after, before = self._window(
                        args, ("CreatedAfter", "CreatedBefore", "LastUpdatedAfter", "LastUpdatedBefore")
                    )
                    last = None
                    size = int(args.get("MaxResultsPerPage") or 100)
                    if not 1 <= size <= 100:
                        raise _Invalid("MaxResultsPerPage must be between 1 and 100.")
                    statuses = [s for s in (args.get("OrderStatuses") or "").split(",") if s]

                def keep(order: dict[str, Any]) -> bool:
                    status = STATUSES_V0[order["fulfillment"]["fulfillmentStatus"]]
                    return order["salesChannel"]["marketplaceId"] in markets and (
                        not statuses or status in statuses
                    )

                orders, more = self._select(field, after, before, last, size, keep)  # type: ignore[arg-type]
                rendered = [self._v0(o) for o in orders]
        except _Invalid as exc:
            return _errors(400, "InvalidInput", str(exc))
        payload: dict[str, Any] = {"Orders": rendered}
        if more is not None:
            payload["NextToken"] = _encode(
                {
                    "field": field,
                    "after": _fmt(after),  # type: ignore[arg-type]
                    "before": _fmt(before),  # type: ignore[arg-type]
                    "last": list(more),
                    "size": size,
                    "statuses": statuses,
                    "issued": self.clock.now().timestamp(),
                }
            )
        payload["CreatedBefore" if field == "created" else "LastUpdatedBefore"] = _fmt(before)  # type: ignore[arg-type]
        return {"payload": payload}

    def _v0_order(self, order_id: str) -> ResponseReturnValue:
        with self.lock:
            order = self._orders.get(order_id)
            if order is None:
                return _errors(404, "NotFound", f"Order {order_id} was not found.")
            return {"payload": self._v0(order)}

    def _v0_items(self, order_id: str) -> ResponseReturnValue:
        with self.lock:
            order = self._orders.get(order_id)
            if order is None:
                return _errors(404, "NotFound", f"Order {order_id} was not found.")
            items = [self._v0_item(order, i) for i in order["orderItems"]]
        start = 0
        if flask.request.args.get("NextToken"):
            try:
                state = _decode(flask.request.args["NextToken"])
                if state.get("order") != order_id:
                    raise _Invalid("The NextToken is not for this order.")
                start = int(state["start"])
            except (_Invalid, KeyError, ValueError) as exc:
                return _errors(400, "InvalidInput", str(exc))
        end = start + self.items_page_size
        payload: dict[str, Any] = {"AmazonOrderId": order_id, "OrderItems": items[start:end]}
        if end < len(items):
            payload["NextToken"] = _encode({"order": order_id, "start": end})
        return {"payload": payload}

    def _v0(self, order: dict[str, Any]) -> dict[str, Any]:
        fulfillment = order["fulfillment"]
        status = fulfillment["fulfillmentStatus"]
        shipped = sum(i["fulfillment"]["quantityFulfilled"] for i in order["orderItems"])
        ordered = sum(i["quantityOrdered"] for i in order["orderItems"])
        out: dict[str, Any] = {
            "AmazonOrderId": order["orderId"],
            "PurchaseDate": order["createdTime"],
            "LastUpdateDate": order["lastUpdatedTime"],
            "OrderStatus": STATUSES_V0[status],
            "FulfillmentChannel": "MFN" if fulfillment["fulfilledBy"] == "MERCHANT" else "AFN",
            "SalesChannel": order["salesChannel"]["marketplaceName"],
            "ShipServiceLevel": f"Std {fulfillment['fulfillmentServiceLevel'].title()}",
        }
        if order.get("proceeds"):
            grand = order["proceeds"]["grandTotal"]
            out["OrderTotal"] = {"CurrencyCode": grand["currencyCode"], "Amount": grand["amount"]}
        out |= {
            "NumberOfItemsShipped": shipped,
            "NumberOfItemsUnshipped": ordered - shipped,
            "PaymentMethod": "Other",
            "PaymentMethodDetails": ["Standard"],
            "MarketplaceId": order["salesChannel"]["marketplaceId"],
            "ShipmentServiceLevelCategory": fulfillment["fulfillmentServiceLevel"].title(),
            "OrderType": "StandardOrder",
            "EarliestShipDate": fulfillment["shipByWindow"]["earliestDateTime"],
            "LatestShipDate": fulfillment["shipByWindow"]["latestDateTime"],
            "EarliestDeliveryDate": fulfillment["deliverByWindow"]["earliestDateTime"],
            "LatestDeliveryDate": fulfillment["deliverByWindow"]["latestDateTime"],
            "IsBusinessOrder": False,
            "IsPrime": "PRIME" in order.get("programs", []),
            "IsPremiumOrder": False,
            "IsGlobalExpressEnabled": False,
            "IsReplacementOrder": False,
            "IsSoldByAB": False,
            "IsIBA": False,
            "IsISPU": False,
            "IsAccessPointOrder": False,
        }
        address = (order.get("recipient") or {}).get("deliveryAddress")
        if address:  # without a Restricted Data Token: no name, lines or phone
            out["ShippingAddress"] = {
                "City": address["city"],
                "StateOrRegion": address["stateOrRegion"],
                "PostalCode": address["postalCode"],
                "CountryCode": address["countryCode"],
            }
        out["BuyerInfo"] = {"BuyerEmail": order["buyer"]["buyerEmail"]}
        return out

    def _v0_item(self, order: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
        product = item["product"]
        out: dict[str, Any] = {
            "ASIN": product["asin"],
            "OrderItemId": item["orderItemId"],
            "SellerSKU": product["sellerSku"],
            "Title": product["title"],
            "QuantityOrdered": item["quantityOrdered"],
            "QuantityShipped": item["fulfillment"]["quantityFulfilled"],
        }
        if item.get("proceeds"):  # v0 hides prices while the order is Pending
            parts = {b["type"]: Decimal(b["subtotal"]["amount"]) for b in item["proceeds"]["breakdowns"]}
            currency = item["proceeds"]["proceedsTotal"]["currencyCode"]
            shipping = parts.get("SHIPPING", Decimal(0))
            item_tax = (parts.get("ITEM", Decimal(0)) * TAX_RATE).quantize(CENT, ROUND_HALF_UP)
            out |= {
                "ItemPrice": {"CurrencyCode": currency, "Amount": _m(parts.get("ITEM", Decimal(0)))},
                "ItemTax": {"CurrencyCode": currency, "Amount": _m(item_tax)},
                "ShippingPrice": {"CurrencyCode": currency, "Amount": _m(shipping)},
                "ShippingTax": {
                    "CurrencyCode": currency,
                    "Amount": _m(parts.get("TAX", Decimal(0)) - item_tax),
                },
                "PromotionDiscount": {"CurrencyCode": currency, "Amount": "0.00"},
            }
        out |= {"IsGift": "false", "ConditionId": "New", "ConditionSubtypeId": "New", "IsTransparency": False}
        return out

    # -- shipment confirmation -----------------------------------------------------------------------

    def _confirm(self, order_id: str) -> ResponseReturnValue:
        try:
            body = self._json_body()
            detail = body.get("packageDetail")
            if not body.get("marketplaceId") or not isinstance(detail, dict):
                raise _Invalid("marketplaceId and packageDetail are required.")
            for name in ("packageReferenceId", "carrierCode", "trackingNumber", "shipDate", "orderItems"):
                if not detail.get(name):
                    raise _Invalid(f"packageDetail.{name} is required.")
            reference = str(detail["packageReferenceId"])
            if not reference.isdigit() or int(reference) <= 0:
                raise _Invalid("packageReferenceId must be a positive number.")
            if detail["carrierCode"] == "Other" and not detail.get("carrierName"):
                raise _Invalid("carrierName is required when carrierCode is Other.")
            shipped_at = _parse(str(detail["shipDate"])) if "T" in str(detail["shipDate"]) else None
            if shipped_at is None:
                return flask.jsonify(errors=[{"code": "Invalid Input", "message": "Invalid Input"}]), 400
        except _Invalid as exc:
            return _errors(400, "InvalidInput", str(exc))
        with self.lock:
            order = self._orders.get(order_id)
            if order is None:
                return _errors(404, "NotFound", f"Order {order_id} was not found.")
            order = copy.deepcopy(order)
            fulfillment = order["fulfillment"]
            if body["marketplaceId"] != order["salesChannel"]["marketplaceId"]:
                return _errors(400, "InvalidInput", "marketplaceId is not the order's marketplace.")
            if fulfillment["fulfilledBy"] != "MERCHANT":
                return _errors(400, "InvalidInput", "The order is fulfilled by Amazon.")
            if fulfillment["fulfillmentStatus"] in (
                "PENDING",
                "PENDING_AVAILABILITY",
                "CANCELLED",
                "UNFULFILLABLE",
            ):
                return _errors(
                    400, "InvalidInput", f"The order is {fulfillment['fulfillmentStatus']} and cannot ship."
                )
            items = {i["orderItemId"]: i for i in order["orderItems"]}
            existing = next((p for p in order["packages"] if p["packageReferenceId"] == reference), None)
            if existing is None and fulfillment["fulfillmentStatus"] == "SHIPPED":
                return _errors(400, "InvalidInput", "The order has already been shipped.")
            lines = []
            for line in detail["orderItems"]:
                item = items.get(str(line.get("orderItemId")))
                quantity = line.get("quantity")
                if item is None:
                    return _errors(
                        400, "InvalidInput", f"orderItemId {line.get('orderItemId')} is not in the order."
                    )
                if not isinstance(quantity, int) or quantity < 1:
                    return _errors(400, "InvalidInput", "quantity must be a positive integer.")
                left = item["quantityOrdered"] - item["fulfillment"]["quantityFulfilled"]
                if existing is None and quantity > left:
                    return _errors(
                        400, "InvalidInput", f"orderItemId {item['orderItemId']}: only {left} left to ship."
                    )
                lines.append((item, quantity))
            package = {
                "packageReferenceId": reference,
                "createdTime": _fmt(self.clock.now()),
                "packageStatus": {"status": "IN_TRANSIT", "detailedStatus": "IN_TRANSIT"},
                "carrier": detail.get("carrierName")
                if detail["carrierCode"] == "Other"
                else detail["carrierCode"],
                "shipTime": _fmt(shipped_at),
                "shippingService": detail.get("shippingMethod") or "Standard",
                "trackingNumber": detail["trackingNumber"],
                "packageItems": [{"orderItemId": i["orderItemId"], "quantity": q} for i, q in lines],
            }
            if existing is not None:  # the same package again: its details are edited
                existing.update(
                    {k: package[k] for k in ("carrier", "shipTime", "shippingService", "trackingNumber")}
                )
            else:
                order["packages"].append(package)
                for item, quantity in lines:
                    item["fulfillment"]["quantityFulfilled"] += quantity
                    item["fulfillment"]["quantityUnfulfilled"] -= quantity
                left = sum(i["fulfillment"]["quantityUnfulfilled"] for i in order["orderItems"])
                fulfillment["fulfillmentStatus"] = "SHIPPED" if left == 0 else "PARTIALLY_SHIPPED"
            self._touch(order, self.clock.now().replace(microsecond=0))
            self.shipments.append(
                {"orderId": order_id, "marketplaceId": body["marketplaceId"], "packageDetail": detail}
            )
        return flask.Response(status=204)

    # -- listings ------------------------------------------------------------------------------------

    def _patch(self, seller_id: str, sku: str) -> ResponseReturnValue:
        if seller_id != self.seller_id:
            return _errors(403, "Unauthorized", "Access to requested resource is denied.")
        if not flask.request.args.get("marketplaceIds"):
            return _errors(400, "InvalidInput", "marketplaceIds is required.")
        try:
            body = self._json_body()
            if (
                not body.get("productType")
                or not isinstance(body.get("patches"), list)
                or not body["patches"]
            ):
                raise _Invalid("productType and patches are required.")
            quantity = self._quantity_of(body["patches"])
        except _Invalid as exc:
            return _errors(400, "InvalidInput", str(exc))
        submission = uuid.uuid4().hex
        with self.lock:
            problem = self._refusal(sku, quantity)
            if problem is not None:
                code, message = problem
                issue = {
                    "code": code,
                    "message": message,
                    "severity": "ERROR",
                    "attributeNames": ["fulfillment_availability"],
                }
                return {"sku": sku, "status": "INVALID", "submissionId": submission, "issues": [issue]}
            if quantity is not None:
                self.catalog[sku]["quantity"] = quantity
                self.patches.append((sku, quantity))
        return {"sku": sku, "status": "ACCEPTED", "submissionId": submission, "issues": []}

    @staticmethod
    def _quantity_of(patches: list[Any]) -> int | None:
        """The DEFAULT channel's quantity a list of patches sets (None: it sets none)."""
        quantity = None
        for patch in patches:
            if not isinstance(patch, dict) or patch.get("op") not in ("add", "replace", "merge", "delete"):
                raise _Invalid("Each patch needs op add, replace, merge or delete.")
            if patch.get("path") != "/attributes/fulfillment_availability":
                continue
            for value in patch.get("value") or []:
                if isinstance(value, dict) and value.get("fulfillment_channel_code") == "DEFAULT":
                    quantity = value.get("quantity")
        return quantity

    def _refusal(self, sku: str, quantity: Any) -> tuple[str, str] | None:
        if sku not in self.catalog:
            return (
                "NOT_FOUND",
                f"SKU '{sku}' is not a listing of seller {self.seller_id} in this marketplace.",
            )
        if sku in self.rejected_skus:
            return "LISTING_REJECTED", self.rejected_skus[sku]
        if quantity is not None and (
            not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0
        ):
            return "INVALID_VALUE", "fulfillment_availability.quantity must be an integer of 0 or more."
        return None

    # -- feeds ------------------------------------------------------------------------------------

    def _create_document(self) -> ResponseReturnValue:
        try:
            content_type = self._json_body().get("contentType")
            if not content_type:
                raise _Invalid("contentType is required.")
        except _Invalid as exc:
            return _errors(400, "InvalidInput", str(exc))
        doc_id = f"amzn1.tortuga.4.na.{uuid.uuid4()}"
        signature = secrets.token_hex(32)
        with self.lock:
            self._documents[doc_id] = {"contentType": content_type, "signature": signature, "content": None}
            url = self._s3_url(doc_id)
        return {"feedDocumentId": doc_id, "url": url}, 201

    def _s3_object(self, doc_id: str) -> ResponseReturnValue:
        with self.lock:
            document = self._documents.get(doc_id)
        signature = flask.request.args.get("X-Amz-Signature", "")
        if document is None or not hmac.compare_digest(signature, document["signature"]):
            return flask.Response(
                "<Error><Code>SignatureDoesNotMatch</Code></Error>", 403, mimetype="application/xml"
            )
        if flask.request.method == "PUT":
            if document.get("report"):
                return flask.Response(
                    "<Error><Code>AccessDenied</Code></Error>", 403, mimetype="application/xml"
                )
            if flask.request.content_type != document["contentType"]:
                return flask.Response(
                    "<Error><Code>SignatureDoesNotMatch</Code></Error>", 403, mimetype="application/xml"
                )
            with self.lock:
                document["content"] = flask.request.get_data()
            return flask.Response(status=200)
        if document["content"] is None:
            return flask.Response("<Error><Code>NoSuchKey</Code></Error>", 404, mimetype="application/xml")
        return flask.Response(document["content"], 200, mimetype="application/octet-stream")

    def _create_feed(self) -> ResponseReturnValue:
        try:
            body = self._json_body()
            if body.get("feedType") != "JSON_LISTINGS_FEED":
                raise _Invalid(f"feedType {body.get('feedType')!r} is not supported (JSON_LISTINGS_FEED is).")
            markets = body.get("marketplaceIds")
            if not isinstance(markets, list) or not 1 <= len(markets) <= 25:
                raise _Invalid("marketplaceIds: 1 to 25 marketplace ids.")
            with self.lock:
                document = self._documents.get(str(body.get("inputFeedDocumentId")))
            if document is None or document["content"] is None:
                raise _Invalid("inputFeedDocumentId is not an uploaded feed document.")
        except _Invalid as exc:
            return _errors(400, "InvalidInput", str(exc))
        with self.lock:
            feed_id = str(50_000_000_000 + len(self.feeds) + 1)
            self.feeds[feed_id] = {
                "feedId": feed_id,
                "feedType": "JSON_LISTINGS_FEED",
                "marketplaceIds": markets,
                "createdTime": _fmt(self.clock.now()),
                "processingStatus": "IN_QUEUE",
                "_document": body["inputFeedDocumentId"],
                "_created": self.clock.now(),
            }
        return {"feedId": feed_id}, 202

    def _get_feed(self, feed_id: str) -> ResponseReturnValue:
        with self.lock:
            feed = self.feeds.get(feed_id)
            if feed is None:
                return _errors(404, "NotFound", f"Feed {feed_id} was not found.")
            elapsed = (self.clock.now() - feed["_created"]).total_seconds()
            if feed["processingStatus"] == "IN_QUEUE" and elapsed >= self.feed_seconds / 2:
                feed["processingStatus"] = "IN_PROGRESS"
                feed["processingStartTime"] = _fmt(self.clock.now())
            if feed["processingStatus"] == "IN_PROGRESS" and elapsed >= self.feed_seconds:
                self._process(feed)
            return {k: v for k, v in feed.items() if not k.startswith("_")}

    def _get_document(self, doc_id: str) -> ResponseReturnValue:
        with self.lock:
            document = self._documents.get(doc_id)
            if document is None or not document.get("report"):
                return _errors(404, "NotFound", f"Feed document {doc_id} was not found.")
        return {"feedDocumentId": doc_id, "url": self._s3_url(doc_id), "compressionAlgorithm": "GZIP"}

    def _s3_url(self, doc_id: str) -> str:
        """A pre-signed URL of a document (its signature is the document's own)."""
        signature = self._documents[doc_id]["signature"]
        return (
            f"{self.url}/s3/feeds/{doc_id}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=300"
            f"&X-Amz-Signature={signature}"
        )

    def _process(self, feed: dict[str, Any]) -> None:
        """Apply a feed's messages and write its processing report (under ``self.lock``)."""
        raw = self._documents[feed["_document"]]["content"]
        issues: list[dict[str, Any]] = []
        processed = accepted = 0
        status = "DONE"
        try:
            document = json.loads(raw)
            header = document["header"]
            if header.get("sellerId") != self.seller_id or header.get("version") != "2.0":
                raise ValueError("header: sellerId must be the seller's and version 2.0")
            messages = document["messages"]
            if not isinstance(messages, list) or not 1 <= len(messages) <= 25_000:
                raise ValueError("messages: 1 to 25,000 messages")
        except (ValueError, KeyError, TypeError) as exc:
            status = "FATAL"
            issues.append(
                {
                    "code": "4000001",
                    "severity": "ERROR",
                    "message": f"The feed is not valid JSON_LISTINGS_FEED: {exc}",
                }
            )
            messages = []
        seen: set[int] = set()
        for message in messages:
            processed += 1
            message_id = message.get("messageId") if isinstance(message, dict) else None
            problem: tuple[str, str] | None = None
            if not isinstance(message_id, int) or message_id in seen or not 1 <= message_id <= 2_147_483_647:
                problem = ("4000002", "messageId must be a unique integer from 1 to 2147483647.")
            else:
                problem = self._apply_message(message)
            if isinstance(message_id, int):
                seen.add(message_id)
            if problem is None:
                accepted += 1
                continue
            issue: dict[str, Any] = {"code": problem[0], "severity": "ERROR", "message": problem[1]}
            if isinstance(message_id, int):
                issue = {"messageId": message_id, **issue, "attributeName": "fulfillment_availability"}
            issues.append(issue)
        report = {
            "header": {"sellerId": self.seller_id, "version": "2.0", "feedId": feed["feedId"]},
            "issues": issues,
            "summary": {
                "errors": len(issues),
                "warnings": 0,
                "messagesProcessed": processed,
                "messagesAccepted": accepted,
                "messagesInvalid": processed - accepted,
            },
        }
        result_id = f"amzn1.tortuga.4.na.{uuid.uuid4()}"
        self._documents[result_id] = {
            "contentType": "application/json",
            "signature": secrets.token_hex(32),
            "content": gzip.compress(json.dumps(report).encode()),
            "report": True,
        }
        feed |= {
            "processingStatus": status,
            "processingEndTime": _fmt(self.clock.now()),
            "resultFeedDocumentId": result_id,
        }

    def _apply_message(self, message: dict[str, Any]) -> tuple[str, str] | None:
        """Check one feed message against the schema's rules and apply it (under ``self.lock``);
        the refusal (code, message), if any. PATCH patches, UPDATE/PARTIAL_UPDATE set attributes
        (only the DEFAULT channel's quantity is kept), DELETE removes the listing."""
        operation, sku = message.get("operationType"), str(message.get("sku") or "")
        if not sku:
            return "4000003", "sku is required."
        if operation == "DELETE":
            problem = self._refusal(sku, None)
            if problem is None:
                del self.catalog[sku]
            return problem
        if operation == "PATCH":
            if not message.get("productType") or not message.get("patches") or "attributes" in message:
                return "4000003", "PATCH needs productType and patches, and takes no attributes."
            try:
                quantity = self._quantity_of(message["patches"])
            except _Invalid as exc:
                return "4000003", str(exc)
        elif operation in ("UPDATE", "PARTIAL_UPDATE"):
            attributes = message.get("attributes")
            if not message.get("productType") or not isinstance(attributes, dict) or "patches" in message:
                return "4000003", f"{operation} needs productType and attributes, and takes no patches."
            values = attributes.get("fulfillment_availability") or []
            quantity = next(
                (
                    v.get("quantity")
                    for v in values
                    if isinstance(v, dict) and v.get("fulfillment_channel_code") == "DEFAULT"
                ),
                None,
            )
        else:
            return "4000003", f"operationType {operation!r} is not UPDATE, PARTIAL_UPDATE, PATCH or DELETE."
        problem = self._refusal(sku, quantity)
        if problem is None and quantity is not None:
            self.catalog[sku]["quantity"] = quantity
        return problem

    # -- data ------------------------------------------------------------------------------------

    def _store(self, order: dict[str, Any]) -> None:
        self._orders[order["orderId"]] = order
        insort(self._index, (_parse(order["lastUpdatedTime"]).timestamp(), order["orderId"]))  # type: ignore[union-attr]

    def _touch(self, order: dict[str, Any], moment: datetime) -> None:
        """Store a changed order with ``lastUpdatedTime`` = ``moment`` (never going back)."""
        old = self._orders[order["orderId"]]
        key = (_parse(old["lastUpdatedTime"]).timestamp(), old["orderId"])  # type: ignore[union-attr]
        position = bisect_left(self._index, key)
        if position < len(self._index) and self._index[position] == key:
            self._index.pop(position)
        previous = _parse(old["lastUpdatedTime"])
        stamp = max(moment, previous + timedelta(seconds=1))  # type: ignore[operator]
        order["lastUpdatedTime"] = _fmt(stamp)
        self._store(order)

    def _advance(self, order: dict[str, Any], moment: datetime) -> None:
        fulfillment = order["fulfillment"]
        status = fulfillment["fulfillmentStatus"]
        if status in ("PENDING", "PENDING_AVAILABILITY"):
            fulfillment["fulfillmentStatus"] = "UNSHIPPED"
            self._price(order)
        elif status in ("UNSHIPPED", "PARTIALLY_SHIPPED") and fulfillment["fulfilledBy"] == "MERCHANT":
            self._ship(order, moment)
        elif status == "UNSHIPPED":
            fulfillment["fulfillmentStatus"] = "SHIPPED"

    def _ship(self, order: dict[str, Any], moment: datetime) -> None:
        lines = []
        for item in order["orderItems"]:
            left = item["quantityOrdered"] - item["fulfillment"]["quantityFulfilled"]
            if left:
                item["fulfillment"] = {"quantityFulfilled": item["quantityOrdered"], "quantityUnfulfilled": 0}
                lines.append({"orderItemId": item["orderItemId"], "quantity": left})
        order["fulfillment"]["fulfillmentStatus"] = "SHIPPED"
        if lines:
            order["packages"].append(
                {
                    "packageReferenceId": str(len(order["packages"]) + 1),
                    "createdTime": _fmt(moment),
                    "packageStatus": {"status": "IN_TRANSIT", "detailedStatus": "IN_TRANSIT"},
                    "carrier": "UPS",
                    "shipTime": _fmt(moment),
                    "shippingService": "UPS Ground",
                    "trackingNumber": f"1Z{hashlib.sha1(order['orderId'].encode()).hexdigest()[:16].upper()}",
                    "packageItems": lines,
                }
            )

    def _new_order(self, created: datetime) -> dict[str, Any]:
        rng = self.rng
        self._n += 1
        n = self._n
        order_id = f"{rng.randint(111, 114)}-{n:07d}-{rng.randint(0, 9_999_999):07d}"
        roll = rng.random()
        status = (
            "PENDING"
            if roll < 0.08
            else "UNSHIPPED"
            if roll < 0.55
            else "SHIPPED"
            if roll < 0.95
            else "CANCELLED"
        )
        by = "AMAZON" if rng.random() < 0.05 else "MERCHANT"
        name = rng.choice(NAMES)
        city, state, postal = rng.choice(CITIES)
        skus = rng.sample(sorted(self.catalog), min(len(self.catalog), rng.choice((1, 1, 1, 2, 2, 3))))
        items = []
        for k, sku in enumerate(skus):
            listing = self.catalog[sku]
            quantity = rng.choice((1, 1, 1, 2, 3))
            items.append(
                {
                    "orderItemId": f"{10_000_000_000_000 + n * 10 + k}",
                    "quantityOrdered": quantity,
                    "programs": [],
                    "product": {
                        "asin": listing["asin"],
                        "title": listing["title"],
                        "sellerSku": sku,
                        "condition": {"conditionType": "NEW", "conditionSubtype": "NEW"},
                    },
                    "fulfillment": {"quantityFulfilled": 0, "quantityUnfulfilled": quantity},
                    "_unit": _m(listing["price"]),
                }
            )
        level = rng.choice(SERVICE_LEVELS)
        order: dict[str, Any] = {
            "orderId": order_id,
            "orderAliases": [],
            "createdTime": _fmt(created),
            "lastUpdatedTime": _fmt(created + timedelta(seconds=rng.randint(0, 120))),
            "programs": ["PRIME"] if rng.random() < 0.3 else [],
            "salesChannel": {
                "channelName": "AMAZON",
                "marketplaceId": self.marketplace_id,
                "marketplaceName": MARKETPLACE_NAMES.get(self.marketplace_id, ("", "Amazon.com"))[1],
            },
            "buyer": {
                "buyerName": name,
                "buyerEmail": f"{hashlib.sha1(order_id.encode()).hexdigest()[:14]}@marketplace.amazon.com",
            },
            "recipient": None,
            "proceeds": None,
            "fulfillment": {
                "fulfillmentStatus": status,
                "fulfilledBy": by,
                "fulfillmentServiceLevel": level,
                "shipByWindow": {
                    "earliestDateTime": _fmt(created + timedelta(hours=1)),
                    "latestDateTime": _fmt(created + timedelta(days=2)),
                },
                "deliverByWindow": {
                    "earliestDateTime": _fmt(created + timedelta(days=3)),
                    "latestDateTime": _fmt(created + timedelta(days=6)),
                },
            },
            "orderItems": items,
            "packages": [],
            "_address": {
                "name": name,
                "addressLine1": f"{rng.randint(1, 999)} Main Street",
                "city": city,
                "stateOrRegion": state,
                "postalCode": postal,
                "countryCode": "US",
                "phone": f"+1 206-555-{rng.randint(0, 9999):04d}",
                "addressType": "RESIDENTIAL",
            },
            "_shipping": str(rng.choice(SHIPPING)),
        }
        if status != "PENDING":
            self._price(order)
        if status == "SHIPPED" and by == "MERCHANT":
            self._ship(order, created + timedelta(hours=6))
        elif status == "SHIPPED":
            for item in items:
                item["fulfillment"] = {"quantityFulfilled": item["quantityOrdered"], "quantityUnfulfilled": 0}
        return order

    def _price(self, order: dict[str, Any]) -> None:
        """Prices, proceeds and the address appear once an order is no longer pending."""
        currency = self.currency
        shipping_total = Decimal(order["_shipping"])
        items = order["orderItems"]
        item_total = tax_total = Decimal(0)
        for k, item in enumerate(items):
            unit = Decimal(item["_unit"])
            line = unit * item["quantityOrdered"]
            shipping = shipping_total if k == 0 else Decimal(0)
            tax = ((line + shipping) * TAX_RATE).quantize(CENT, ROUND_HALF_UP)
            item["product"]["price"] = {"unitPrice": _money(unit, currency)}
            breakdowns = [{"type": "ITEM", "subtotal": _money(line, currency)}]
            if shipping:
                breakdowns.append({"type": "SHIPPING", "subtotal": _money(shipping, currency)})
            breakdowns.append({"type": "TAX", "subtotal": _money(tax, currency)})
            item["proceeds"] = {
                "proceedsTotal": _money(line + shipping + tax, currency),
                "breakdowns": breakdowns,
            }
            item_total += line
            tax_total += tax
        breakdowns = [{"type": "ITEM", "subtotal": _money(item_total, currency)}]
        if shipping_total:
            breakdowns.append({"type": "SHIPPING", "subtotal": _money(shipping_total, currency)})
        breakdowns.append({"type": "TAX", "subtotal": _money(tax_total, currency)})
        order["proceeds"] = {
            "grandTotal": _money(item_total + shipping_total + tax_total, currency),
            "breakdowns": breakdowns,
        }
        order["recipient"] = {"deliveryAddress": dict(order["_address"])}
