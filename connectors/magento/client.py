"""Magento 2 REST transport: authentication, ``searchCriteria`` queries and paging, and the
endpoints the connector calls. Everything Magento-HTTP lives here; callers get plain dicts.

Query strings are encoded here, not by ``requests``: Magento checks an OAuth signature over
the query as it splits it itself (``rawurldecode`` of each ``name=value``), so a space sent as
``+`` (what ``requests`` does) signs differently on the two sides and the store answers 401.
Spaces go as ``%20``, brackets as ``%5B``/``%5D``. Magento orders the signed parameters with
``strnatcmp``, which agrees with OAuth's byte order as long as every index stays below 10.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from requests_oauthlib import OAuth1

from hub.http import HttpClient, HttpError, json_body

log = logging.getLogger("connectors.magento")

SIGNATURE_METHOD = "HMAC-SHA256"  # the only method Magento 2.4.4+ accepts
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # Magento's timestamps: UTC, no zone, no "T"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 300  # when the store turns on its Web API input limits
#: SKUs per ``in`` filter (the query string stays well under URL limits)
SKU_CHUNK = 50

Filter = tuple[str, Any, str]  # field, value, condition_type


def magento_time(moment: datetime) -> str:
    """An aware datetime as Magento's UTC ``YYYY-MM-DD HH:MM:SS``, rounded down to the second."""
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)


def search_pairs(
    groups: Sequence[Sequence[Filter]] = (),
    sort: Sequence[tuple[str, str]] = (),
    page_size: int | None = None,
    current_page: int | None = None,
) -> list[tuple[str, str]]:
    """``searchCriteria`` parameters: filters in one group are OR-ed, groups AND-ed."""
    if len(groups) > 9 or any(len(g) > 9 for g in groups) or len(sort) > 9:
        raise ValueError("at most 9 filter groups, filters per group and sort orders")
    pairs: list[tuple[str, str]] = []
    for g, group in enumerate(groups):
        for f, (field, value, condition) in enumerate(group):
            prefix = f"searchCriteria[filter_groups][{g}][filters][{f}]"
            pairs += [(f"{prefix}[field]", field), (f"{prefix}[value]", str(value))]
            pairs.append((f"{prefix}[condition_type]", condition))
    for i, (field, direction) in enumerate(sort):
        pairs += [(f"searchCriteria[sortOrders][{i}][field]", field)]
        pairs += [(f"searchCriteria[sortOrders][{i}][direction]", direction)]
    if page_size is not None:
        pairs.append(("searchCriteria[pageSize]", str(page_size)))
    if current_page is not None:
        pairs.append(("searchCriteria[currentPage]", str(current_page)))
    return pairs


def with_query(path: str, pairs: Iterable[tuple[str, str]]) -> str:
    """``path?query`` with every reserved character percent-encoded (``%20`` for a space)."""
    query = urlencode(list(pairs), quote_via=quote)
    return f"{path}?{query}" if query else path


def segment(value: Any) -> str:
    """One path segment (a SKU may hold ``/`` or spaces)."""
    return quote(str(value), safe="")


def error_message(error: HttpError) -> str:
    """Magento's ``{"message": "... %1 ...", "parameters": [...]}`` with the parameters put in."""
    try:
        body = json.loads(error.body)
    except (TypeError, ValueError):
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("message"), str):
        return str(error)
    text = body["message"]
    params = body.get("parameters")
    if isinstance(params, list):
        for i, value in reversed(list(enumerate(params, start=1))):
            text = text.replace(f"%{i}", str(value))
    elif isinstance(params, dict):
        for key in sorted(params, key=len, reverse=True):
            text = text.replace(f"%{key}", str(params[key]))
    details = [e.get("message") for e in body.get("errors") or [] if isinstance(e, dict)]
    if details:
        text += ": " + "; ".join(str(d) for d in details if d)
    return f"{error.status} {text}" if error.status else text


def configure_auth(http: HttpClient, credentials: Mapping[str, Any], mode: str) -> None:
    """OAuth 1.0a (HMAC-SHA256, signing key ``consumer_secret&token_secret``) with the
    integration's four values, or the access token as a Bearer token when the store allows it."""
    http.session.headers["Accept"] = "application/json"
    if mode == "bearer":
        token = str(credentials["access_token"])
        http.session.headers["Authorization"] = f"Bearer {token}"
        http.add_secret(token)
        return
    http.session.auth = OAuth1(
        str(credentials["consumer_key"]),
        client_secret=str(credentials["consumer_secret"]),
        resource_owner_key=str(credentials["access_token"]),
        resource_owner_secret=str(credentials["access_token_secret"]),
        signature_method=SIGNATURE_METHOD,
        signature_type="AUTH_HEADER",
    )


class MagentoClient:
    def __init__(self, http: HttpClient, *, page_size: int = DEFAULT_PAGE_SIZE) -> None:
        self.http = http
        self.page_size = max(1, min(int(page_size), MAX_PAGE_SIZE))

    # -- searchCriteria ---------------------------------------------------------------------

    def search_page(
        self,
        path: str,
        groups: Sequence[Sequence[Filter]] = (),
        sort: Sequence[tuple[str, str]] = (),
        *,
        page_size: int | None = None,
        current_page: int = 1,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page: its items and the ``total_count`` of all matches."""
        size = page_size or self.page_size
        url = with_query(path, search_pairs(groups, sort, size, current_page))
        body = json_body(self.http.get(url))
        return list(body.get("items") or []), int(body.get("total_count") or 0)

    def search(
        self,
        path: str,
        groups: Sequence[Sequence[Filter]] = (),
        sort: Sequence[tuple[str, str]] = (),
        *,
        page_size: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every match, page by page, stopping at ``currentPage * pageSize >= total_count``:
        past its last page Magento answers with the last page again, never with nothing."""
        size = page_size or self.page_size
        page = 1
        while True:
            items, total = self.search_page(path, groups, sort, page_size=size, current_page=page)
            yield from items
            if not items or page * size >= total:
                return
            page += 1

    # -- orders -------------------------------------------------------------------------------

    def count_orders(self, since: datetime) -> int:
        _, total = self.search_page("orders", [[("updated_at", magento_time(since), "gteq")]], page_size=1)
        return total

    def orders_page(self, since: datetime, token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """A page of orders changed at or after ``since``, oldest change first, and the token of
        the next page. Paged by key, not by ``currentPage``; see ``OrderKeyset``."""
        step = OrderKeyset.decode(token) if token else OrderKeyset("ge", magento_time(since), 0)
        items, total = self.search_page("orders", step.groups(), step.sort(), current_page=1)
        return step.keep(items), step.next(items, total, self.page_size)

    def order(self, entity_id: int | str) -> dict[str, Any]:
        return json_body(self.http.get(f"orders/{segment(entity_id)}"))

    def order_by_number(self, increment_id: str) -> dict[str, Any] | None:
        items, _ = self.search_page("orders", [[("increment_id", increment_id, "eq")]], page_size=1)
        return items[0] if items else None

    # -- shipments ----------------------------------------------------------------------------

    def shipments(self, order_id: int | str) -> list[dict[str, Any]]:
        return list(self.search("shipments", [[("order_id", order_id, "eq")]], page_size=50))

    def ship(self, order_id: int | str, body: dict[str, Any]) -> str:
        """The new shipment's id. Never repeated by the HTTP layer (a lost answer may hide a
        shipment that exists): the caller looks before trying again."""
        answer = self.http.post(f"order/{segment(order_id)}/ship", json=body, idempotent=False).json()
        return str(answer)  # the schema says integer; real stores send "5"

    def add_track(self, track: dict[str, Any]) -> dict[str, Any]:
        return self.http.post("shipment/track", json={"entity": track}, idempotent=False).json()

    def email_shipment(self, shipment_id: int | str) -> None:
        self.http.post(f"shipment/{segment(shipment_id)}/emails", idempotent=True)

    # -- inventory ----------------------------------------------------------------------------

    def sources(self) -> list[dict[str, Any]] | None:
        """MSI sources; None when the store has no MSI (the route does not exist: 404)."""
        try:
            return list(self.search("inventory/sources"))
        except HttpError as exc:
            if exc.status == 404:
                return None
            raise

    def source_items(self, skus: Sequence[str] | None) -> Iterator[dict[str, Any]]:
        if skus is None:
            yield from self.search("inventory/source-items")
            return
        plain = [s for s in dict.fromkeys(skus) if "," not in s]
        for i in range(0, len(plain), SKU_CHUNK):
            chunk = ",".join(plain[i : i + SKU_CHUNK])
            yield from self.search("inventory/source-items", [[("sku", chunk, "in")]])
        for sku in (s for s in dict.fromkeys(skus) if "," in s):  # "in" splits on commas
            yield from self.search("inventory/source-items", [[("sku", sku, "eq")]])

    def save_source_items(self, items: list[dict[str, Any]]) -> None:
        """Absolute quantities (an upsert): safe to repeat, so a lost answer is retried."""
        self.http.post("inventory/source-items", json={"sourceItems": items}, idempotent=True)

    def stock_item(self, sku: str) -> dict[str, Any]:
        return self.http.get(f"stockItems/{segment(sku)}").json()

    def update_stock_item(self, sku: str, item_id: int | str, qty: int) -> None:
        body = {"stockItem": {"qty": qty, "is_in_stock": 1 if qty > 0 else 0}}
        self.http.put(f"products/{segment(sku)}/stockItems/{segment(item_id)}", json=body)

    def product_skus(self) -> Iterator[str]:
        """SKUs of the products that hold stock themselves (not configurable/bundle/grouped)."""
        groups = [[("type_id", "simple,virtual,downloadable", "in")]]
        for product in self.search("products", groups, [("entity_id", "ASC")]):
            if product.get("sku"):
                yield str(product["sku"])


class OrderKeyset:
    """Paging orders by key: ``(updated_at, entity_id)`` of the last order read.

    ``currentPage`` paging over a set that changes while it is read loses orders: when an
    order on an earlier page is updated it moves to the end, everything after it moves one
    place up, and the order at the page boundary is never read. So every request asks for
    page 1 of what comes after the last order read, sorted by ``updated_at`` then
    ``entity_id``; ``total_count`` tells whether more remain. Modes:

    * ``ge``: ``updated_at >= at``; orders at ``at`` with id <= ``after`` were read already
      and are dropped here;
    * ``eq``: ``updated_at = at AND entity_id > after``, when more orders share one second
      than a page holds;
    * ``gt``: ``updated_at > at``, once that second is exhausted.
    """

    SORT = (("updated_at", "ASC"), ("entity_id", "ASC"))

    def __init__(self, mode: str, at: str, after: int) -> None:
        if mode not in ("ge", "eq", "gt"):
            raise ValueError(f"unknown page mode {mode!r}")
        self.mode, self.at, self.after = mode, at, after

    def encode(self) -> str:
        return f"{self.mode}|{self.at}|{self.after}"

    @classmethod
    def decode(cls, token: str) -> OrderKeyset:
        mode, at, after = token.split("|")
        return cls(mode, at, int(after))

    def groups(self) -> list[list[Filter]]:
        if self.mode == "eq":
            return [[("updated_at", self.at, "eq")], [("entity_id", self.after, "gt")]]
        return [[("updated_at", self.at, "gteq" if self.mode == "ge" else "gt")]]

    def sort(self) -> list[tuple[str, str]]:
        return [("entity_id", "ASC")] if self.mode == "eq" else list(self.SORT)

    def keep(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.mode != "ge":
            return items
        return [o for o in items if not (o["updated_at"] == self.at and int(o["entity_id"]) <= self.after)]

    def next(self, items: list[dict[str, Any]], total: int, size: int) -> str | None:
        if not items or total <= len(items):
            if self.mode == "eq":  # this second is done; what comes after it may remain
                return OrderKeyset("gt", self.at, 0).encode()
            return None
        last = items[-1]
        at, last_id = str(last["updated_at"]), int(last["entity_id"])
        if self.mode == "eq":
            return OrderKeyset("eq", self.at, max(self.after, last_id)).encode()
        if items[0]["updated_at"] == at:  # a whole page within one second: go by id in it
            after = max(self.after, last_id) if at == self.at else last_id
            return OrderKeyset("eq", at, after).encode()
        return OrderKeyset("ge", at, last_id).encode()
