"""Shopify: the connector's declaration and the methods the core calls."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

from connectors.shopify import fulfilment, inventory, webhooks
from connectors.shopify.client import GRAPHQL_BUCKET, ShopifyClient, track_call_limit
from hub.connectors import (
    Capability,
    ConnectionContext,
    Connector,
    FieldSpec,
    OrderPage,
    PushResult,
    ShipmentPush,
    StockLevel,
    StockWrite,
    StockWriteResult,
    TestResult,
    WebhookAction,
    WebhookDelivery,
    notify_customer_field,
)
from hub.http import HttpError
from hub.ratelimit import TokenBucket, limiters

#: the one pinned Admin API version; a connection may override it
API_VERSION = "2026-07"
#: REST bucket: 40 requests, leaking 2 per second (standard plans)
REST_BUCKET = (40.0, 2.0)


def check_store_url(value: str) -> str | None:
    parts = urlsplit(value)
    host = parts.hostname or ""
    if parts.scheme == "https" and host.endswith(".myshopify.com"):
        return None
    if host in ("127.0.0.1", "localhost"):
        return None  # a sandbox on this machine
    return "must be https://your-store.myshopify.com"


class ShopifyConnector(Connector):
    name = "shopify"
    display_name = "Shopify"
    kind = "channel"
    mapping_module = "mappings.shopify"
    sandbox = "connectors.shopify.sandbox:ShopifySandbox"
    capabilities = frozenset(
        {
            Capability.ORDERS_POLL,
            Capability.ORDERS_WEBHOOK,
            Capability.INVENTORY_READ,
            Capability.INVENTORY_WRITE,
            Capability.FULFILMENT_PUSH,
        }
    )
    fields: ClassVar[tuple[FieldSpec, ...]] = (
        FieldSpec(
            "store_url",
            "Store address",
            type="url",
            help="https://your-store.myshopify.com",
            check=check_store_url,
        ),
        FieldSpec(
            "access_token",
            "Admin API access token",
            type="secret",
            help="From the custom app's API credentials (starts with shpat_).",
        ),
        FieldSpec(
            "api_secret",
            "API secret key",
            type="secret",
            help="Signs the webhooks Shopify sends; from the same page.",
        ),
        FieldSpec(
            "api_version",
            "Admin API version",
            group="settings",
            required=False,
            default=API_VERSION,
            pattern=r"\d{4}-\d{2}|unstable",
            pattern_message="must look like 2026-07",
        ),
        FieldSpec(
            "backfill_since",
            "Import orders since",
            type="date",
            group="settings",
            required=False,
            help="The first sync fetches orders updated since this date.",
        ),
        notify_customer_field("Shopify's shipping confirmation, sent with notify_customer"),
    )

    @classmethod
    def base_url(cls, credentials: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
        version = settings.get("api_version") or API_VERSION
        return f"{str(credentials['store_url']).rstrip('/')}/admin/api/{version}/"

    @classmethod
    def rate_limit(cls, settings: Mapping[str, Any]) -> tuple[float, float]:
        return REST_BUCKET

    def __init__(self, ctx: ConnectionContext) -> None:
        super().__init__(ctx)
        ctx.http.session.headers["X-Shopify-Access-Token"] = str(ctx.credentials["access_token"])
        ctx.http.on_response.append(track_call_limit(ctx.http.limiter))
        # GraphQL has its own bucket of cost points, kept in step with the shop's throttleStatus
        if ctx.connection_id is None:
            graphql_bucket = TokenBucket(*GRAPHQL_BUCKET)
        else:
            graphql_bucket = limiters.get(f"connection:{ctx.connection_id}:graphql", *GRAPHQL_BUCKET)
        version = ctx.settings.get("api_version") or API_VERSION
        self.client = ShopifyClient(ctx.http, api_version=version, graphql_bucket=graphql_bucket)
        #: SKU → inventory item, shared by every instance of this connection
        self.items = inventory.item_map((ctx.connection_id, ctx.http.base_url))

    def test_connection(self) -> TestResult:
        try:
            shop = self.client.shop()
        except HttpError as exc:
            if exc.status in (401, 403):
                return TestResult(False, f"Shopify refused the access token ({exc.status}).")
            return TestResult(False, str(exc))
        return TestResult(True, f"connected to {shop.get('name')} ({shop.get('myshopify_domain')})")

    def count_orders(self, since: datetime) -> int | None:
        return self.client.count_orders(since)

    def fetch_orders(self, since: datetime, page: str | None) -> OrderPage:
        orders, next_url = self.client.orders_page(since, page)
        return OrderPage(orders, next_url)

    @classmethod
    def verify_webhook(cls, credentials: Mapping[str, Any], headers: Mapping[str, str], body: bytes) -> bool:
        return webhooks.signature_ok(str(credentials.get("api_secret") or ""), headers, body)

    @classmethod
    def webhook_delivery(cls, headers: Mapping[str, str], body: bytes) -> WebhookDelivery:
        return webhooks.delivery(headers, body)

    def handle_webhook(self, topic: str, payload: Any) -> list[WebhookAction]:
        def sku_of(item_id: str) -> str | None:
            return inventory.sku_of_item(self.client, self.items, item_id)

        return webhooks.interpret(topic, payload, self.client.order, sku_of)

    def register_webhooks(self) -> list[str]:
        address = self.ctx.webhook_url
        if not address:
            raise ValueError("the hub's public URL is not known")
        existing = {(w["topic"], w["address"]) for w in self.client.webhooks()}
        created = []
        for topic in webhooks.TOPICS:
            if (topic, address) not in existing:
                self.client.create_webhook(topic, address)
                created.append(topic)
        return created

    def read_stock(self, skus: list[str] | None = None) -> list[StockLevel]:
        return inventory.read_stock(self.client, self.items, skus)

    def write_stock(self, writes: list[StockWrite]) -> list[StockWriteResult]:
        return inventory.write_stock(self.client, self.items, writes)

    def push_fulfilment(self, shipment: ShipmentPush) -> PushResult:
        return fulfilment.push(self.client, shipment)
