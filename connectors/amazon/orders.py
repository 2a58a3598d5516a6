"""Amazon orders: the poll window, paging through v2026-01-01 ``searchOrders`` (items inside)
or v0 ``getOrders`` + ``getOrderItems`` (for sellers not moved yet), one order by id (for
ORDER_CHANGE notifications and shipment checks), and the backfill's progress estimate.

The window. Amazon refuses a ``lastUpdatedBefore`` less than two minutes before the time of
the request, so a poll asks for ``[since, now - 2 min - MARGIN]``; the first page fixes the
window and the page token carries it (with Amazon's token), so every page of one poll re-sends
the same filters, as Amazon requires. Times go at whole seconds, rounded down.

Progress. Amazon gives no count. Pages come oldest change first, so the share of the window a
page reached estimates the share of the orders fetched; the time left is what the operation
buckets need for the pages (and, in v0, the item calls) still to come.
"""

from __future__ import annotations

import base64
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.amazon.client import AmazonClient, marketplace_ids
from hub.connectors import OrderPage
from hub.http import json_body

log = logging.getLogger("connectors.amazon")

PAGE_SIZE = 100
#: Amazon's rule: ``*Before`` at least two minutes before the time of the request
SETTLE = timedelta(minutes=2)
#: our clock may run ahead of Amazon's
MARGIN = timedelta(seconds=30)
#: what a poll and a notification ask v2026 for (the mapping needs FULFILLMENT; PROCEEDS for prices)
INCLUDED_DATA = ("BUYER", "RECIPIENT", "PROCEEDS", "FULFILLMENT")
V2026, V0 = "v2026", "v0"


def iso(moment: datetime) -> str:
    """An aware datetime as ``YYYY-MM-DDTHH:MM:SSZ``, rounded down to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Progress:
    """Where a poll is: orders fetched so far, the estimated number in the whole window, the
    share of the window covered and the estimated seconds left at the operations' rates."""

    done: int
    estimated_total: int | None
    fraction: float
    seconds_left: float | None


@dataclass(frozen=True)
class AmazonOrderPage(OrderPage):
    """An ``OrderPage`` that also says how far the poll is (the core may show it) and, on the
    last page, the end of the window: every change up to it was in this poll's pages (Amazon's
    ``lastUpdatedBefore``; a core that keeps it may move the cursor there, not only to the
    newest order's ``updated_at``)."""

    progress: Progress | None = None
    complete_until: datetime | None = None


@dataclass(frozen=True)
class PollState:
    """What the page token carries: the window, Amazon's own token, and counts so far."""

    after: str
    before: str
    token: str | None = None
    pages: int = 0
    seen: int = 0

    def encode(self) -> str:
        data = {"a": self.after, "b": self.before, "t": self.token, "p": self.pages, "s": self.seen}
        return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()

    @classmethod
    def decode(cls, text: str) -> PollState:
        try:
            data = json.loads(base64.urlsafe_b64decode(text.encode()))
            return cls(data["a"], data["b"], data.get("t"), int(data.get("p", 0)), int(data.get("s", 0)))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not an Amazon page token: {text[:40]!r}") from exc


def window(since: datetime, now: datetime) -> PollState | None:
    """The first page's state; None when the window is empty (``since`` too recent)."""
    after, before = iso(since), iso(now - SETTLE - MARGIN)
    return PollState(after, before) if before > after else None


class Orders:
    """Order reads of one connection, through ``v2026`` or ``v0`` (the ``orders_api`` setting)."""

    def __init__(self, client: AmazonClient, settings: Mapping[str, Any]) -> None:
        self.client = client
        self.api = V0 if settings.get("orders_api") == V0 else V2026
        self.marketplaces = marketplace_ids(settings.get("marketplace_ids"))

    # -- polling ------------------------------------------------------------------------------

    def page(self, since: datetime, token: str | None, now: datetime | None = None) -> AmazonOrderPage:
        if token is None:
            state = window(since, now or datetime.now(UTC))
            if state is None:
                return AmazonOrderPage([], None)
        else:
            state = PollState.decode(token)
        if self.api == V0:
            orders, next_token = self._v0_page(state)
        else:
            orders, next_token = self._v2026_page(state)
        orders.sort(key=lambda o: (self.updated(o) or datetime.min.replace(tzinfo=UTC), self.order_id(o)))
        done = state.seen + len(orders)
        following = None
        if next_token:
            following = PollState(state.after, state.before, next_token, state.pages + 1, done)
        progress = self._progress(state, orders, done, following is not None)
        if following is not None and progress.estimated_total:
            log.info(
                "orders: %d fetched, about %d in the window (%.0f %%), about %s left",
                done,
                progress.estimated_total,
                progress.fraction * 100,
                _duration(progress.seconds_left),
            )
        if following is not None:
            return AmazonOrderPage(
                orders, following.encode(), progress.estimated_total, progress.seconds_left, progress
            )
        return AmazonOrderPage(orders, None, progress=progress, complete_until=parse_time(state.before))

    def _v2026_page(self, state: PollState) -> tuple[list[dict[str, Any]], str | None]:
        params: dict[str, Any] = {
            "lastUpdatedAfter": state.after,
            "lastUpdatedBefore": state.before,
            "marketplaceIds": ",".join(self.marketplaces),
            "maxResultsPerPage": PAGE_SIZE,
            "includedData": ",".join(INCLUDED_DATA),
        }
        if state.token:
            params["paginationToken"] = state.token
        data = json_body(self.client.call("searchOrders", params=params))
        orders = [o for o in data.get("orders") or [] if isinstance(o, dict)]
        return orders, (data.get("pagination") or {}).get("nextToken") or None

    def _v0_page(self, state: PollState) -> tuple[list[dict[str, Any]], str | None]:
        params: dict[str, Any] = {"MarketplaceIds": ",".join(self.marketplaces)}
        if state.token:
            params["NextToken"] = state.token  # the token carries the other filters
        else:
            params |= {
                "LastUpdatedAfter": state.after,
                "LastUpdatedBefore": state.before,
                "MaxResultsPerPage": PAGE_SIZE,
            }
        payload = json_body(self.client.call("v0.getOrders", params=params)).get("payload") or {}
        pairs = [
            {"Order": order, "OrderItems": self.v0_items(order["AmazonOrderId"])}
            for order in payload.get("Orders") or []
            if isinstance(order, dict)
        ]
        return pairs, payload.get("NextToken") or None

    # -- one order ------------------------------------------------------------------------------

    def get(self, order_id: str, *, included: tuple[str, ...] = INCLUDED_DATA) -> dict[str, Any]:
        """The order as the mapping takes it: the v2026 order, or the v0 pair with its items."""
        if self.api == V0:
            payload = self.client.call("v0.getOrder", path={"orderId": order_id}).json()["payload"]
            return {"Order": payload, "OrderItems": self.v0_items(order_id)}
        params = {"includedData": ",".join(included)}
        return self.client.call("getOrder", path={"orderId": order_id}, params=params).json()["order"]

    def v0_items(self, order_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            params = {"NextToken": token} if token else None
            payload = self.client.call("v0.getOrderItems", path={"orderId": order_id}, params=params).json()
            body = payload.get("payload") or {}
            items += [i for i in body.get("OrderItems") or [] if isinstance(i, dict)]
            token = body.get("NextToken") or None
            if not token:
                return items

    # -- helpers ---------------------------------------------------------------------------------

    def updated(self, document: dict[str, Any]) -> datetime | None:
        if "Order" in document:
            return parse_time((document.get("Order") or {}).get("LastUpdateDate"))
        return parse_time(document.get("lastUpdatedTime"))

    def order_id(self, document: dict[str, Any]) -> str:
        if "Order" in document:
            return str((document.get("Order") or {}).get("AmazonOrderId") or "")
        return str(document.get("orderId") or "")

    def _progress(self, state: PollState, orders: list[dict[str, Any]], done: int, more: bool) -> Progress:
        if not more:
            return Progress(done, done, 1.0, 0.0)
        start, end = parse_time(state.after), parse_time(state.before)
        reached = self.updated(orders[-1]) if orders else None
        if start is None or end is None or reached is None or end <= start:
            return Progress(done, None, 0.0, None)
        fraction = min(max((reached - start) / (end - start), 0.0), 1.0)
        if fraction <= 0:
            return Progress(done, None, 0.0, None)
        total = max(done + 1, round(done / fraction))
        return Progress(done, total, fraction, self.seconds_for(total - done))

    def seconds_for(self, orders: int) -> float:
        """What the operation buckets need (as they are now) to fetch ``orders`` more orders."""
        pages = math.ceil(orders / PAGE_SIZE)
        needs = (
            [("v0.getOrders", pages), ("v0.getOrderItems", orders)]
            if self.api == V0
            else [("searchOrders", pages)]
        )
        seconds = 0.0
        for operation, calls in needs:
            bucket = self.client.bucket(operation)
            seconds = max(seconds, max(0.0, calls - bucket.available) / bucket.refill_per_s)
        return seconds


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "an unknown time"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
