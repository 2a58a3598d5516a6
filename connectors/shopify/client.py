"""Shopify transport: REST paging by the Link header and throttling driven by the shop's
own numbers, GraphQL with its cost bucket. Everything Shopify-HTTP lives here, so moving a
call from REST to GraphQL touches this module only: callers get plain records (REST-shaped
dicts for fulfilments, ``VariantStock`` for inventory) whichever API answered."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests

from hub.http import HttpClient, json_body
from hub.ratelimit import TokenBucket

log = logging.getLogger("connectors.shopify")

CALL_LIMIT_HEADER = "X-Shopify-Shop-Api-Call-Limit"
PAGE_SIZE = 250

#: GraphQL cost bucket (points, restored per second) until the shop reports its own numbers:
#: the Standard restore rate; 1,000 is the smaller of the documented bucket sizes
GRAPHQL_BUCKET = (1000.0, 100.0)
#: no single query may ask for more than this many points
MAX_QUERY_COST = 1000
#: THROTTLED answers in a row before giving up
MAX_THROTTLED = 5
#: Shopify refuses input arrays longer than this (all APIs)
MAX_INPUT = 250
#: variants per page with their levels, levels per variant on that page, levels per follow-up page
STOCK_PAGE, LEVELS_PAGE, MORE_LEVELS_PAGE = 25, 10, 50
#: variants per page of the SKU → inventory item map
MAP_PAGE = 250
#: SKUs OR-ed into one search query
SKU_CHUNK = 50

_GID = re.compile(r"^gid://shopify/(\w+)/(\d+)")

LEVELS = """
          pageInfo { hasNextPage endCursor }
          nodes {
            location { id }
            quantities(names: ["available"]) { name quantity }
          }"""

VARIANT_STOCK = (
    """query HubVariantStock($first: Int!, $after: String, $query: String, $levels: Int!) {
  productVariants(first: $first, after: $after, query: $query) {
    pageInfo { hasNextPage endCursor }
    nodes {
      sku
      inventoryItem {
        id
        tracked
        inventoryLevels(first: $levels) {"""
    + LEVELS
    + """
        }
      }
    }
  }
}"""
)

VARIANT_ITEMS = """query HubVariantItems($first: Int!, $after: String, $query: String) {
  productVariants(first: $first, after: $after, query: $query) {
    pageInfo { hasNextPage endCursor }
    nodes { sku inventoryItem { id tracked } }
  }
}"""

ITEM_LEVELS = (
    """query HubItemLevels($id: ID!, $first: Int!, $after: String) {
  inventoryItem(id: $id) {
    inventoryLevels(first: $first, after: $after) {"""
    + LEVELS
    + """
    }
  }
}"""
)

#: ``{directive}`` is ``@idempotent(key: "<uuid>")`` from 2026-01 on, empty before
SET_QUANTITIES = """mutation HubSetStock($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) {directive} {
    inventoryAdjustmentGroup { id }
    userErrors { code field message }
  }
}"""


def connection_cost(first: int, node_cost: float) -> float:
    """Requested cost of a connection: 2 + ``first`` * the cost of one node (objects cost 1)."""
    return 2 + first * node_cost


LEVEL_NODE = 3  # the level, its location, its quantities
STOCK_COST = connection_cost(STOCK_PAGE, 2 + connection_cost(LEVELS_PAGE, LEVEL_NODE))
MAP_COST = connection_cost(MAP_PAGE, 2)
MORE_LEVELS_COST = 1 + connection_cost(MORE_LEVELS_PAGE, LEVEL_NODE)
MUTATION_COST = 10


def next_link(response: requests.Response) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header, to follow verbatim."""
    return response.links.get("next", {}).get("url")


def track_call_limit(bucket: TokenBucket | None) -> Any:
    """A response hook that keeps the local bucket in step with the shop's ``used/size``
    header, so normal load never meets a 429 even when other apps share the bucket."""

    def hook(response: requests.Response) -> None:
        value = response.headers.get(CALL_LIMIT_HEADER)
        if bucket is None or not value or "/" not in value:
            return
        used, _, size = value.partition("/")
        try:
            used_n, size_n = float(used), float(size)
        except ValueError:
            return
        bucket.update(capacity=size_n, available=max(0.0, size_n - used_n - 1))

    return hook


def iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


def gid(kind: str, legacy_id: str | int) -> str:
    """``gid://shopify/<kind>/<id>`` for a numeric id (a gid is passed through)."""
    text = str(legacy_id)
    return text if text.startswith("gid://") else f"gid://shopify/{kind}/{text}"


def legacy_id(global_id: str) -> str:
    """The numeric id of a ``gid://shopify/<kind>/<id>`` (REST's id)."""
    match = _GID.match(global_id)
    if match is None:
        raise ValueError(f"not a Shopify global id: {global_id!r}")
    return match.group(2)


def sku_query(skus: Sequence[str]) -> str:
    """A search query matching any of ``skus`` (quoted; the caller still filters exact matches)."""
    quoted = ('"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"' for s in skus)
    return " OR ".join(f"sku:{q}" for q in quoted)


def new_mutation_shape(version: str | None) -> bool:
    """2026-01 on: ``@idempotent`` and ``changeFromQuantity`` (mandatory from 2026-04);
    before: ``ignoreCompareQuantity``."""
    return version is None or version == "unstable" or version >= "2026-01"


class ShopifyGraphQLError(Exception):
    """Top-level ``errors`` of a GraphQL answer (a query error, or throttled for too long)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        self.codes = [str((e.get("extensions") or {}).get("code") or "") for e in errors]
        super().__init__("; ".join(str(e.get("message", e)) for e in errors) or "GraphQL error")


@dataclass(frozen=True)
class VariantStock:
    """A variant's SKU, its inventory item (global id) and, when asked, its levels as
    (numeric location id, available)."""

    sku: str
    item_id: str
    tracked: bool
    levels: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class QuantityError:
    """A ``userErrors`` entry; ``index`` is the quantity it names (None: the whole input)."""

    index: int | None
    code: str | None
    message: str


@dataclass(frozen=True)
class SetResult:
    applied: bool  # Shopify made an adjustment group
    errors: tuple[QuantityError, ...]


class ShopifyClient:
    def __init__(
        self,
        http: HttpClient,
        *,
        api_version: str | None = None,
        graphql_bucket: TokenBucket | None = None,
    ) -> None:
        self.http = http
        self.api_version = api_version
        self.graphql_bucket = graphql_bucket or TokenBucket(*GRAPHQL_BUCKET)

    # -- orders, shop, webhooks (REST) -------------------------------------------------------

    def count_orders(self, updated_at_min: datetime) -> int:
        params = {"status": "any", "updated_at_min": iso(updated_at_min)}
        return int(self.http.get("orders/count.json", params=params).json()["count"])

    def orders_page(
        self, updated_at_min: datetime, page_url: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        if page_url:  # the cursor carries the filters; only limit may ride along
            response = self.http.get(page_url)
        else:
            params = {
                "status": "any",
                "updated_at_min": iso(updated_at_min),
                "order": "updated_at asc",
                "limit": PAGE_SIZE,
            }
            response = self.http.get("orders.json", params=params)
        return json_body(response)["orders"], next_link(response)

    def order(self, order_id: int | str) -> dict[str, Any]:
        return self.http.get(f"orders/{order_id}.json").json()["order"]

    def shop(self) -> dict[str, Any]:
        return self.http.get("shop.json").json()["shop"]

    def webhooks(self) -> list[dict[str, Any]]:
        return self.http.get("webhooks.json", params={"limit": PAGE_SIZE}).json()["webhooks"]

    def create_webhook(self, topic: str, address: str) -> dict[str, Any]:
        body = {"webhook": {"topic": topic, "address": address, "format": "json"}}
        return self.http.post("webhooks.json", json=body).json()["webhook"]

    # -- fulfilments (REST, fulfillment-order model) ---------------------------------------------

    def fulfillment_orders(self, order_id: str | int) -> list[dict[str, Any]]:
        return self.http.get(f"orders/{order_id}/fulfillment_orders.json").json()["fulfillment_orders"]

    def fulfillments(self, order_id: str | int) -> list[dict[str, Any]]:
        params = {"limit": PAGE_SIZE}
        return self.http.get(f"orders/{order_id}/fulfillments.json", params=params).json()["fulfillments"]

    def create_fulfillment(self, fulfillment: dict[str, Any]) -> dict[str, Any]:
        """Never repeated by the HTTP layer: a lost answer may hide a fulfillment that exists."""
        body = {"fulfillment": fulfillment}
        return self.http.post("fulfillments.json", json=body, idempotent=False).json()["fulfillment"]

    def update_tracking(
        self, fulfillment_id: str | int, tracking_info: dict[str, Any], notify_customer: bool
    ) -> dict[str, Any]:
        """Absolute values: safe to repeat."""
        body = {"fulfillment": {"notify_customer": notify_customer, "tracking_info": tracking_info}}
        path = f"fulfillments/{fulfillment_id}/update_tracking.json"
        return self.http.post(path, json=body, idempotent=True).json()["fulfillment"]

    # -- inventory (GraphQL) --------------------------------------------------------------------

    def variants(self, skus: Sequence[str] | None, *, levels: bool) -> Iterator[VariantStock]:
        """Every variant with a SKU (``skus`` None) or those whose SKU is one of ``skus``
        (exact match), with their levels at every location when ``levels``."""
        if skus is None:
            searches: list[str | None] = [None]
        else:
            unique = list(dict.fromkeys(skus))
            searches = [sku_query(unique[i : i + SKU_CHUNK]) for i in range(0, len(unique), SKU_CHUNK)]
        wanted = None if skus is None else set(skus)
        for search in searches:
            after = None
            while True:
                if levels:
                    variables = {"first": STOCK_PAGE, "after": after, "query": search, "levels": LEVELS_PAGE}
                    data = self.graphql(VARIANT_STOCK, variables, cost=STOCK_COST, idempotent=True)
                else:
                    variables = {"first": MAP_PAGE, "after": after, "query": search}
                    data = self.graphql(VARIANT_ITEMS, variables, cost=MAP_COST, idempotent=True)
                page = data["productVariants"]
                for node in page["nodes"]:
                    item, sku = node.get("inventoryItem"), node.get("sku")
                    if not sku or not item or (wanted is not None and sku not in wanted):
                        continue
                    found = self._levels(item) if levels else ()
                    yield VariantStock(sku, item["id"], bool(item.get("tracked", True)), found)
                if not page["pageInfo"]["hasNextPage"]:
                    break
                after = page["pageInfo"]["endCursor"]

    def _levels(self, item: dict[str, Any]) -> tuple[tuple[str, int], ...]:
        """The levels on the variant's page, then the item's further pages of levels."""
        page = item["inventoryLevels"]
        found = [*_parse_levels(page["nodes"])]
        while page["pageInfo"]["hasNextPage"]:
            variables = {"id": item["id"], "first": MORE_LEVELS_PAGE, "after": page["pageInfo"]["endCursor"]}
            data = self.graphql(ITEM_LEVELS, variables, cost=MORE_LEVELS_COST, idempotent=True)
            page = data["inventoryItem"]["inventoryLevels"]
            found += _parse_levels(page["nodes"])
        return tuple(found)

    def inventory_item(self, item_id: str) -> VariantStock | None:
        """The SKU of an inventory item (global id) and whether it is tracked; None when the
        shop has no such item or it has no SKU."""
        document = "query HubItemSku($id: ID!) { inventoryItem(id: $id) { id sku tracked } }"
        data = self.graphql(document, {"id": item_id}, cost=1, idempotent=True)  # one object: 1 point
        item = data.get("inventoryItem")
        if not item or not item.get("sku"):
            return None
        return VariantStock(item["sku"], item["id"], bool(item.get("tracked", True)))

    def set_available(self, quantities: Sequence[tuple[str, str, int]]) -> SetResult:
        """Set ``available`` to absolute values: (inventory item gid, location gid, quantity),
        at most 250. Safe to repeat (absolute values, one idempotency key per call), so the
        HTTP layer may retry a lost answer."""
        if len(quantities) > MAX_INPUT:
            raise ValueError(f"at most {MAX_INPUT} quantities per call, got {len(quantities)}")
        new = new_mutation_shape(self.api_version)
        rows = [{"inventoryItemId": i, "locationId": loc, "quantity": q} for i, loc, q in quantities]
        payload: dict[str, Any] = {"name": "available", "reason": "correction"}
        if new:  # an explicit null skips the compare-and-swap: the hub is the source of truth
            payload["quantities"] = [row | {"changeFromQuantity": None} for row in rows]
            directive = f'@idempotent(key: "{uuid.uuid4()}")'
        else:
            payload |= {"ignoreCompareQuantity": True, "quantities": rows}
            directive = ""
        document = SET_QUANTITIES.replace("{directive}", directive)
        data = self.graphql(document, {"input": payload}, cost=MUTATION_COST, idempotent=True)
        result = data["inventorySetQuantities"]
        errors = tuple(
            QuantityError(_quantity_index(e.get("field")), e.get("code"), str(e.get("message") or e))
            for e in result.get("userErrors") or []
        )
        return SetResult(applied=result.get("inventoryAdjustmentGroup") is not None, errors=errors)

    # -- GraphQL transport --------------------------------------------------------------------------

    def graphql(
        self, document: str, variables: dict[str, Any], *, cost: float, idempotent: bool
    ) -> dict[str, Any]:
        """POST one document; the ``data`` of its answer. ``idempotent``: whether the HTTP layer
        may send it again after a lost answer (queries; mutations that are safe to repeat).

        Takes ``cost`` points from the local cost bucket first, adopts the shop's
        ``throttleStatus`` after every answer and, when THROTTLED, waits (requested - available)
        / restoreRate (through the bucket) and sends again, at most ``MAX_THROTTLED`` times.
        Raises ``ShopifyGraphQLError`` on top-level errors, ``HttpError`` from the HTTP layer."""
        body = {"query": document, "variables": variables}
        errors: list[dict[str, Any]] = []
        for attempt in range(1, MAX_THROTTLED + 1):
            # GraphQL pays in cost points, from its own bucket (the REST one is not touched)
            response = self.http.post(
                "graphql.json", json=body, idempotent=idempotent, cost=cost, limiter=self.graphql_bucket
            )
            answer = json_body(response)
            spent = (answer.get("extensions") or {}).get("cost") or {}
            status = spent.get("throttleStatus") or {}
            self._adopt(status)
            errors = answer.get("errors") or []
            if not errors:
                return answer["data"]
            if not any((e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors):
                raise ShopifyGraphQLError(errors)
            cost = float(spent.get("requestedQueryCost") or cost)
            available, rate = status.get("currentlyAvailable"), status.get("restoreRate")
            if available is not None and rate:
                log.info("GraphQL throttled: waiting %.2f s", max(0.0, (cost - float(available)) / rate))
            else:  # no numbers to go by: back off
                self.graphql_bucket.pause_for(float(attempt))
        raise ShopifyGraphQLError(errors)

    def _adopt(self, status: dict[str, Any]) -> None:
        try:
            capacity = float(status["maximumAvailable"])
            available = float(status["currentlyAvailable"])
            rate = float(status["restoreRate"])
        except (KeyError, TypeError, ValueError):
            return
        if capacity > 0 and rate > 0:
            self.graphql_bucket.update(capacity=capacity, refill_per_s=rate, available=available)


def _parse_levels(nodes: list[dict[str, Any]]) -> Iterator[tuple[str, int]]:
    for node in nodes:
        available = next((q["quantity"] for q in node["quantities"] if q["name"] == "available"), None)
        if available is not None:
            yield legacy_id(node["location"]["id"]), int(available)


def _quantity_index(field: Any) -> int | None:
    """The quantity a ``userErrors[].field`` path names: ``["input", "quantities", "3", ...]``."""
    if isinstance(field, list) and len(field) >= 3 and field[:2] == ["input", "quantities"]:
        text = str(field[2])
        return int(text) if text.isdigit() else None
    return None
