"""WooCommerce transport (``wp-json/wc/v3``): auth by scheme, ``X-WP-*`` page headers, batches
and the optional Shipment Tracking routes. (The cap on requests in flight is the core's:
``WooCommerceConnector.concurrency``.)"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth1

from hub.http import HttpClient, json_body

PAGE = 100  # WordPress refuses per_page > 100
BATCH = 100  # woocommerce_rest_batch_items_limit: create + update + delete of one call
TRACKING = "wc-shipment-tracking/v3"


def gmt(moment: datetime) -> str:
    """UTC without an offset: sent with ``dates_are_gmt=true`` it is compared with the GMT columns
    as is, where WordPress would first move a time with an offset into the shop's zone."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


class WooClient:
    def __init__(self, http: HttpClient, key: str, secret: str) -> None:
        self.http = http
        if http.base_url.startswith("https://"):
            http.session.auth = HTTPBasicAuth(key, secret)
        else:  # over plain HTTP WooCommerce takes OAuth 1.0a (one-legged) only
            http.session.auth = OAuth1(key, secret, signature_method="HMAC-SHA256", signature_type="query")
        self.root = http.base_url.rsplit("wc/v3", 1)[0]  # .../wp-json/
        self._tracking: bool | None = None

    def page(self, path: str, **params: Any) -> tuple[list[Any], int, int]:
        """One page with ``X-WP-Total`` and ``X-WP-TotalPages``."""
        response = self.http.get(path, params={"per_page": PAGE, **params})
        pages = response.headers.get("X-WP-TotalPages", "1")
        return json_body(response), int(response.headers.get("X-WP-Total", "0")), int(pages)

    def every(self, path: str, **params: Any) -> list[Any]:
        found: list[Any] = []
        page = pages = 1
        while page <= pages:
            items, _, pages = self.page(path, **params, page=page)
            found += items
            page += 1
        return found

    def orders(self, modified_after: str, page: int, per_page: int = PAGE) -> tuple[list[Any], int, int]:
        query = {
            "modified_after": modified_after,
            "dates_are_gmt": "true",
            "orderby": "modified",
            "order": "asc",
        }
        return self.page("orders", **query, page=page, per_page=per_page)

    def order(self, order_id: Any) -> dict[str, Any] | None:
        response = self.http.get(f"orders/{order_id}", ok=(200, 404))
        return response.json() if response.status_code == 200 else None

    def catalog(self) -> dict[str, dict[str, Any]]:
        """SKU → simple product or variation (with its ``parent_id``), over the whole store."""
        fields = "id,sku,type,manage_stock,stock_quantity"
        found: dict[str, dict[str, Any]] = {}
        for product in self.every("products", _fields=fields):
            items = [product]
            if product.get("type") == "variable":
                variations = self.every(f"products/{product['id']}/variations", _fields=fields)
                items += [v | {"parent_id": product["id"]} for v in variations]
            for item in items:
                if item.get("sku"):
                    found.setdefault(item["sku"], item)
        return found

    def batch_update(self, path: str, updates: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``POST .../batch`` by 100: absolute values, so a repeat is harmless and may be retried."""
        answers = []
        for start in range(0, len(updates), BATCH):
            body = {"update": updates[start : start + BATCH]}
            answers += self.http.post(path, json=body, idempotent=True).json().get("update", [])
        return answers

    def tracking_path(self, order_id: Any) -> str | None:
        """The Shipment Tracking extension's route for the order, if the store has it."""
        if self._tracking is None:
            self._tracking = self.http.get(self.root + TRACKING, ok=(200, 404)).status_code == 200
        return f"{self.root}{TRACKING}/orders/{order_id}/shipment-trackings" if self._tracking else None
