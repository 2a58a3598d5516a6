"""Amazon (Selling Partner API): the connector's declaration and the methods the core calls.
Orders by poll (v2026-01-01 ``searchOrders``, or v0 ``getOrders`` + ``getOrderItems``) and by
ORDER_CHANGE notifications from the seller's SQS queue (``connectors.amazon.notifications``),
quantity push (Listings patch or a JSON_LISTINGS_FEED), shipment confirmation (v0).

Amazon sends no webhooks: notifications go to an SQS queue in the seller's (or the hub's) AWS
account, which the hub drains; the poll stays on as reconciliation.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from connectors.amazon import feeds, shipping
from connectors.amazon.client import (
    DEFAULT_LWA_ENDPOINT,
    MARKETPLACES,
    REGIONS,
    REQUEST_ID_HEADER,
    USER_AGENT,
    AmazonAuthError,
    AmazonClient,
    check_marketplaces,
    endpoint_for,
    error_messages,
    lwa_tokens,
    marketplace_ids,
)
from connectors.amazon.orders import V0, V2026, Orders
from hub.connectors import (
    Capability,
    ConnectionContext,
    Connector,
    FieldSpec,
    Ignored,
    OrderChanged,
    OrderPage,
    PushResult,
    ShipmentPush,
    StockWrite,
    StockWriteResult,
    TestResult,
    WebhookAction,
)
from hub.http import HttpClient, HttpError

SELLER_ID_PATTERN = r"A[0-9A-Z]{6,20}"


class AmazonConnector(Connector):
    name = "amazon"
    display_name = "Amazon"
    kind = "channel"
    mapping_module = "mappings.amazon"
    sandbox = "connectors.amazon.sandbox:AmazonSandbox"
    capabilities = frozenset({Capability.ORDERS_POLL, Capability.INVENTORY_WRITE, Capability.FULFILMENT_PUSH})
    default_stock_location = "DEFAULT"  #: merchant-fulfilled quantity (hub.inventory.sender)
    manages_webhooks = False
    #: searchOrders refills one call per 3 minutes: a poll every 5 minutes keeps its burst for backfills
    schedule_defaults: ClassVar[dict[str, int]] = {"poll_orders": 300, "drain_notifications": 30}
    #: getOrders restores one request a minute (burst 20): polling more often than every two
    #: minutes would keep the burst spent and leave no room for a backfill's pages
    schedule_minimums: ClassVar[dict[str, int]] = {"poll_orders": 120}
    #: ``module:callable`` the scheduler runs as ``(db, box, public_url, connection_id)`` for a
    #: connection with a queue (``wants_notifications``): ORDER_CHANGE from SQS
    notifications: ClassVar[str | None] = "connectors.amazon.notifications:drain_queue"
    notes = (
        "Amazon sends no webhooks. Order changes arrive as ORDER_CHANGE notifications in an SQS "
        "queue (Amazon's Notifications API destination); give the queue URL and AWS keys allowed to "
        "receive and delete its messages, and the hub reads each changed order at once. Without a "
        "queue the hub polls every few minutes; with one it still polls, as reconciliation.",
        "Amazon's rate limits are tight (searchOrders: one request per 3 minutes after a burst of "
        "20): a large backfill is paced to them and shows how long it has left.",
        "Quantities go to the merchant-fulfilled channel (DEFAULT) only; FBA stock is Amazon's.",
    )
    fields: ClassVar[tuple[FieldSpec, ...]] = (
        FieldSpec(
            "client_id",
            "LWA client identifier",
            help="Developer Central > your app > LWA credentials (amzn1.application-oa2-client...).",
        ),
        FieldSpec("client_secret", "LWA client secret", type="secret"),
        FieldSpec(
            "refresh_token",
            "Refresh token",
            type="secret",
            help="From the seller's authorisation of the app (Atzr|...).",
        ),
        FieldSpec(
            "seller_id",
            "Seller ID (merchant token)",
            group="settings",
            pattern=SELLER_ID_PATTERN,
            pattern_message="must look like A3TH9S8BH6GOGM",
            help="Seller Central > Settings > Account Info > Merchant Token.",
        ),
        FieldSpec(
            "marketplace_ids",
            "Marketplace IDs",
            group="settings",
            check=check_marketplaces,
            help="Comma-separated, all in one region: ATVPDKIKX0DER (US), A1PA6795UKMFR9 (DE), ...",
        ),
        FieldSpec(
            "region",
            "Region",
            type="choice",
            group="settings",
            required=False,
            choices=tuple((code, f"{r.name} ({r.endpoint})") for code, r in REGIONS.items()),
            help="Leave blank to take it from the marketplaces.",
        ),
        FieldSpec(
            "orders_api",
            "Orders API",
            type="choice",
            group="settings",
            required=False,
            default=V2026,
            choices=(
                (V2026, "v2026-01-01 searchOrders (items in the same call)"),
                (V0, "v0 getOrders + getOrderItems (sellers not moved yet; deprecated by Amazon)"),
            ),
        ),
        FieldSpec(
            "product_type",
            "Product type for quantity updates",
            group="settings",
            required=False,
            default="PRODUCT",
            pattern=r"[A-Z0-9_]+",
            pattern_message="must be an Amazon product type such as PRODUCT or LUGGAGE",
        ),
        FieldSpec(
            "sqs_queue_url",
            "SQS queue URL (notifications)",
            type="url",
            group="settings",
            required=False,
            help="https://sqs.us-east-1.amazonaws.com/123456789012/hub-orders",
        ),
        FieldSpec("aws_access_key_id", "AWS access key ID (SQS)", required=False),
        FieldSpec("aws_secret_access_key", "AWS secret access key (SQS)", type="secret", required=False),
        FieldSpec(
            "sqs_region",
            "SQS region",
            group="settings",
            required=False,
            pattern=r"[a-z]{2}(-[a-z]+)+-\d",
            pattern_message="must be an AWS region such as us-east-1",
            help="Leave blank to take it from the queue URL.",
        ),
        FieldSpec(
            "backfill_since",
            "Import orders since",
            type="date",
            group="settings",
            required=False,
            help="The first sync fetches orders updated since this date (Amazon keeps two years).",
        ),
        FieldSpec(
            "api_endpoint",
            "SP-API endpoint (override)",
            type="url",
            group="settings",
            required=False,
            help="Leave blank: the region's endpoint. For a sandbox only.",
        ),
        FieldSpec(
            "lwa_endpoint",
            "Login with Amazon token URL",
            type="url",
            group="settings",
            required=False,
            default=DEFAULT_LWA_ENDPOINT,
        ),
        FieldSpec("sqs_endpoint", "SQS endpoint (override)", type="url", group="settings", required=False),
    )

    @classmethod
    def base_url(cls, credentials: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
        return endpoint_for(settings)

    @classmethod
    def wants_notifications(cls, settings: Mapping[str, Any]) -> bool:
        """Whether the connection has an SQS queue to drain."""
        return bool(settings.get("sqs_queue_url"))

    def __init__(self, ctx: ConnectionContext) -> None:
        super().__init__(ctx)
        creds, settings = ctx.credentials, ctx.settings
        secrets = type(self).secret_values(creds)
        base = ctx.http.base_url

        def http(url: str) -> HttpClient:
            """Its own client, for the request id and per-operation limits; the core's sink and masking."""
            return HttpClient(
                url,
                connection_id=ctx.connection_id,
                sink=ctx.http.sink,
                secrets=secrets,
                request_id_header=REQUEST_ID_HEADER,
                max_attempts=ctx.http.max_attempts,
                timeout=ctx.http.timeout,
                headers={"User-Agent": USER_AGENT},
                gate=ctx.http.gate,
            )

        lwa = str(settings.get("lwa_endpoint") or DEFAULT_LWA_ENDPOINT)
        tokens = lwa_tokens(
            lwa, str(creds["client_id"]), str(creds["client_secret"]), str(creds["refresh_token"])
        )
        self.seller_id = str(settings["seller_id"])
        self.marketplaces = tuple(marketplace_ids(settings.get("marketplace_ids")))
        scope = f"amazon:{creds['client_id']}:{self.seller_id}:{base}"
        self.client = AmazonClient(http(base), tokens, scope=scope, lwa_http=http(lwa))
        self.orders = Orders(self.client, settings)
        self.listings = feeds.Listings(
            self.client, self.seller_id, self.marketplaces, str(settings.get("product_type") or "PRODUCT")
        )

    def test_connection(self) -> TestResult:
        try:
            data = self.client.call("getMarketplaceParticipations").json()
        except AmazonAuthError as exc:
            return TestResult(False, str(exc))
        except HttpError as exc:
            if exc.status == 403:
                return TestResult(
                    False,
                    "Amazon refused access (403): check that the seller authorised the app and that "
                    f"the region is the seller's ({'; '.join(error_messages(exc.body))}).",
                )
            return TestResult(False, str(exc))
        joined = {
            str((p.get("marketplace") or {}).get("id")): p
            for p in data.get("payload") or []
            if (p.get("participation") or {}).get("isParticipating", True)
        }
        missing = [m for m in self.marketplaces if m not in joined]
        if missing:
            return TestResult(False, f"the seller does not sell in {', '.join(missing)}")
        names = ", ".join(
            str((joined[m].get("marketplace") or {}).get("domainName") or MARKETPLACES.get(m, (m,))[0])
            for m in self.marketplaces
        )
        return TestResult(True, f"connected to seller {self.seller_id} on {names}")

    def fetch_orders(self, since: datetime, page: str | None) -> OrderPage:
        return self.orders.page(since, page)

    def get_order(self, order_id: str) -> dict[str, Any]:
        """One order as the mapping takes it (a notification's targeted read)."""
        return self.orders.get(order_id)

    def handle_webhook(self, topic: str, payload: Any) -> list[WebhookAction]:
        """A parked ORDER_CHANGE notification, replayed: the order it names, read again."""
        change = ((payload or {}).get("Payload") or {}).get("OrderChangeNotification") or {}
        order_id = change.get("AmazonOrderId") if isinstance(payload, dict) else None
        if topic != "ORDER_CHANGE" or not order_id:
            return [Ignored(f"{topic}: not an ORDER_CHANGE notification with an order id")]
        try:
            return [OrderChanged(self.get_order(str(order_id)))]
        except HttpError as exc:
            if exc.status == 404:
                return [Ignored(f"order {order_id} is not found (404)")]
            raise

    def write_stock(self, writes: list[StockWrite]) -> list[StockWriteResult]:
        return feeds.write_stock(self.listings, writes)

    def push_fulfilment(self, shipment: ShipmentPush) -> PushResult:
        return shipping.confirm(self.client, self.orders, shipment, self.marketplaces[0])
