"""Shopify transport: REST paging by the Link header and throttling driven by the shop's
own numbers. Everything Shopify-HTTP lives here, so moving a call from REST to GraphQL
touches this module only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests

from hub.http import HttpClient
from hub.ratelimit import TokenBucket

CALL_LIMIT_HEADER = "X-Shopify-Shop-Api-Call-Limit"
PAGE_SIZE = 250


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


class ShopifyClient:
    def __init__(self, http: HttpClient) -> None:
        self.http = http

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
        return response.json()["orders"], next_link(response)

    def order(self, order_id: int | str) -> dict[str, Any]:
        return self.http.get(f"orders/{order_id}.json").json()["order"]

    def shop(self) -> dict[str, Any]:
        return self.http.get("shop.json").json()["shop"]

    def webhooks(self) -> list[dict[str, Any]]:
        return self.http.get("webhooks.json", params={"limit": PAGE_SIZE}).json()["webhooks"]

    def create_webhook(self, topic: str, address: str) -> dict[str, Any]:
        body = {"webhook": {"topic": topic, "address": address, "format": "json"}}
        return self.http.post("webhooks.json", json=body).json()["webhook"]
