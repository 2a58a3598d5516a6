"""Magento 2 (Open Source / Adobe Commerce 2.4, self-hosted): the connector's declaration and
the methods the core calls. Orders by poll (Magento Open Source sends no webhooks; an optional
signed inbound endpoint serves stores with a webhook module), stock per MSI source or on the
legacy single stock, shipments with tracking."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote

from connectors.magento import webhooks
from connectors.magento.client import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    MagentoClient,
    configure_auth,
    error_message,
)
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
    StockLevel,
    StockWrite,
    StockWriteResult,
    TestResult,
    WebhookAction,
    WebhookDelivery,
    notify_customer_field,
)
from hub.http import HttpError

#: the legacy CatalogInventory stock's one location (``StockWrite.location_id``)
LEGACY_LOCATION = "default"
DEFAULT_STOCK_BATCH = 100
#: polite pace for a self-hosted store (Magento itself sets no REST rate limit)
REQUESTS = (20.0, 10.0)
#: hub carrier → (Magento ``carrier_code``, default title); anything else is ``custom``
CARRIERS: dict[str, tuple[str, str]] = {
    "ups": ("ups", "United Parcel Service"),
    "fedex": ("fedex", "Federal Express"),
    "usps": ("usps", "United States Postal Service"),
    "dhl_express": ("dhl", "DHL"),
}
CUSTOM_CARRIER = "custom"

NO_WEBHOOKS_HELP = (
    "Magento Open Source sends no webhooks: the hub polls orders (every minute by default) and "
    "needs nothing here. Only if your store runs a webhook module (Adobe Commerce webhooks, a "
    "third-party or your own module), point it at this connection's webhook URL and sign each body "
    "with HMAC-SHA256 using this secret; the hub then re-reads the order at once. Leave blank to "
    "refuse every delivery."
)


def _between(low: int, high: int) -> Any:
    def check(value: int) -> str | None:
        return None if low <= value <= high else f"must be between {low} and {high}"

    return check


class MagentoConnector(Connector):
    name = "magento"
    display_name = "Magento 2"
    kind = "channel"
    mapping_module = "mappings.magento"
    sandbox = "connectors.magento.sandbox:MagentoSandbox"
    capabilities = frozenset(
        {
            Capability.ORDERS_POLL,
            Capability.ORDERS_WEBHOOK,
            Capability.INVENTORY_READ,
            Capability.INVENTORY_WRITE,
            Capability.FULFILMENT_PUSH,
        }
    )
    manages_webhooks = False
    notes = (
        "Magento Open Source sends no webhooks: the hub polls for orders on its schedule. A store "
        "with a webhook module can also send order events to the webhook URL below, signed with the "
        "secret and header set on this connection.",
    )
    fields: ClassVar[tuple[FieldSpec, ...]] = (
        FieldSpec(
            "store_url",
            "Store address",
            type="url",
            help="https://shop.example.com (add /index.php if the store's REST URLs need it).",
        ),
        FieldSpec(
            "consumer_key",
            "Consumer key",
            type="secret",
            help="System > Extensions > Integrations > your integration > Integration Details.",
        ),
        FieldSpec("consumer_secret", "Consumer secret", type="secret"),
        FieldSpec("access_token", "Access token", type="secret"),
        FieldSpec("access_token_secret", "Access token secret", type="secret"),
        FieldSpec(
            "store_code",
            "Store view code",
            group="settings",
            required=False,
            default="default",
            pattern=r"[A-Za-z][A-Za-z0-9_]*",
            pattern_message="must be a store view code such as default",
            help="Requests go to /rest/<code>/V1/. Orders are read from every store view.",
        ),
        FieldSpec(
            "auth_mode",
            "Authentication",
            type="choice",
            group="settings",
            required=False,
            default="oauth1",
            choices=(
                ("oauth1", "OAuth 1.0a signed requests (HMAC-SHA256)"),
                ("bearer", "Access token as Bearer token"),
            ),
            help="Bearer works only if the store allows it: Stores > Configuration > Services > "
            "OAuth > Consumer Settings > Allow OAuth Access Tokens to be used as standalone "
            "Bearer tokens (off by default since 2.4.4).",
        ),
        FieldSpec(
            "inventory_mode",
            "Stock model",
            type="choice",
            group="settings",
            required=False,
            default="auto",
            choices=(
                ("auto", "Detect (MSI when the store has inventory sources)"),
                ("msi", "Multi-Source Inventory: quantities per source"),
                ("legacy", "Legacy single stock (stockItems per SKU)"),
            ),
        ),
        FieldSpec(
            "shipment_source",
            "Ship from source",
            group="settings",
            required=False,
            default="default",
            help="MSI source code shipments deduct from (ignored on legacy stock).",
        ),
        notify_customer_field("Magento's shipment e-mail, sent with the shipment's notify flag"),
        FieldSpec(
            "page_size",
            "Orders per request",
            type="integer",
            group="settings",
            required=False,
            default=DEFAULT_PAGE_SIZE,
            check=_between(1, MAX_PAGE_SIZE),
        ),
        FieldSpec(
            "stock_batch_size",
            "Stock quantities per request (MSI)",
            type="integer",
            group="settings",
            required=False,
            default=DEFAULT_STOCK_BATCH,
            check=_between(1, 1000),
            help="At most 20 if the store turned on its Web API input limits.",
        ),
        FieldSpec(
            "backfill_since",
            "Import orders since",
            type="date",
            group="settings",
            required=False,
            help="The first sync fetches orders updated since this date.",
        ),
        FieldSpec("webhook_secret", "Webhook secret", type="secret", required=False, help=NO_WEBHOOKS_HELP),
        FieldSpec(
            "webhook_signature_header",
            "Webhook signature header",
            required=False,
            default=webhooks.DEFAULT_SIGNATURE_HEADER,
            pattern=r"[A-Za-z0-9-]+",
            pattern_message="must be an HTTP header name",
            help="The header your webhook module puts the signature in (hex or base64).",
        ),
    )

    @classmethod
    def base_url(cls, credentials: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
        code = settings.get("store_code") or "default"
        return f"{str(credentials['store_url']).rstrip('/')}/rest/{quote(str(code), safe='')}/V1/"

    @classmethod
    def rate_limit(cls, settings: Mapping[str, Any]) -> tuple[float, float]:
        return REQUESTS

    def __init__(self, ctx: ConnectionContext) -> None:
        super().__init__(ctx)
        configure_auth(ctx.http, ctx.credentials, str(ctx.settings.get("auth_mode") or "oauth1"))
        self.client = MagentoClient(
            ctx.http, page_size=int(ctx.settings.get("page_size") or DEFAULT_PAGE_SIZE)
        )
        self._inventory: tuple[str, list[str]] | None = None

    def test_connection(self) -> TestResult:
        try:
            _, total = self.client.search_page("orders", page_size=1)
            mode, sources = self.inventory()
        except HttpError as exc:
            return TestResult(False, self._explain(exc))
        except ValueError as exc:
            return TestResult(False, str(exc))
        stock = f"MSI, sources {', '.join(sources)}" if mode == "msi" else "legacy single stock"
        code = self.ctx.settings.get("store_code") or "default"
        return TestResult(True, f"connected to store view {code}: {total} orders; stock: {stock}")

    def _explain(self, exc: HttpError) -> str:
        text = error_message(exc)
        if exc.status != 401:
            return text
        if self.ctx.settings.get("auth_mode") == "bearer":
            return (
                f"Magento refused the access token as a Bearer token ({text}). Since 2.4.4 a store "
                "accepts it only with 'Allow OAuth Access Tokens to be used as standalone Bearer "
                "tokens' on; otherwise choose OAuth 1.0a."
            )
        return (
            f"Magento refused the signed request ({text}). Check the four integration values "
            "(re-activating an integration issues new ones) and the store address."
        )

    # -- orders ----------------------------------------------------------------------------

    def count_orders(self, since: datetime) -> int | None:
        return self.client.count_orders(since)

    def fetch_orders(self, since: datetime, page: str | None) -> OrderPage:
        orders, token = self.client.orders_page(since, page)
        return OrderPage(orders, token)

    def _order(self, external_id: str) -> dict[str, Any]:
        """The order by ``entity_id``; by ``increment_id`` when the id is not one (a
        customer-facing number such as ``000000013`` would read as entity 13)."""
        text = str(external_id).strip()
        if text.isdigit() and not text.startswith("0"):
            try:
                return self.client.order(text)
            except HttpError as exc:
                if exc.status != 404:
                    raise
        found = self.client.order_by_number(text)
        if found is None:
            raise LookupError(f"Magento has no order {external_id}")
        return found

    # -- optional inbound webhook ---------------------------------------------------------------

    @classmethod
    def verify_webhook(cls, credentials: Mapping[str, Any], headers: Mapping[str, str], body: bytes) -> bool:
        return webhooks.signature_ok(
            str(credentials.get("webhook_secret") or ""),
            str(credentials.get("webhook_signature_header") or webhooks.DEFAULT_SIGNATURE_HEADER),
            headers,
            body,
        )

    @classmethod
    def webhook_delivery(cls, headers: Mapping[str, str], body: bytes) -> WebhookDelivery:
        return webhooks.delivery(headers, body)

    def handle_webhook(self, topic: str, payload: Any) -> list[WebhookAction]:
        order_id = webhooks.order_id(payload)
        if order_id is None:
            return [Ignored(f"no order id in the {topic} delivery")]
        try:  # through _order: a module may send the customer-facing number "000000013"
            return [OrderChanged(self._order(order_id))]
        except LookupError:
            return [Ignored(f"order {order_id} does not exist in Magento")]

    def register_webhooks(self) -> list[str]:
        """Nothing to register: Magento has no webhook subscription API; a store's webhook
        module is pointed at the connection's webhook URL by hand."""
        return []

    # -- inventory ----------------------------------------------------------------------------------

    def inventory(self) -> tuple[str, list[str]]:
        """``("msi", source codes)`` or ``("legacy", ["default"])``: the setting, or detected
        by whether ``GET /V1/inventory/sources`` exists."""
        if self._inventory is None:
            setting = self.ctx.settings.get("inventory_mode") or "auto"
            sources = None if setting == "legacy" else self.client.sources()
            if sources is not None:
                self._inventory = ("msi", [str(s["source_code"]) for s in sources])
            elif setting == "msi":
                raise ValueError("the store has no Multi-Source Inventory (no /V1/inventory/sources)")
            else:
                self._inventory = ("legacy", [LEGACY_LOCATION])
        return self._inventory

    def read_stock(self, skus: list[str] | None = None) -> list[StockLevel]:
        """Source quantities (0 where the source item is out of stock); on legacy stock the
        stock item's ``qty`` (0 when not in stock) at ``default``."""
        mode, _ = self.inventory()
        levels = []
        if mode == "msi":
            wanted = None if skus is None else set(skus)
            for item in self.client.source_items(skus):
                if wanted is None or item["sku"] in wanted:
                    available = int(float(item.get("quantity") or 0)) if int(item.get("status") or 0) else 0
                    levels.append(StockLevel(str(item["sku"]), str(item["source_code"]), available))
            return levels
        for sku in dict.fromkeys(skus if skus is not None else self.client.product_skus()):
            try:
                item = self.client.stock_item(sku)
            except HttpError as exc:
                if exc.status == 404:
                    continue
                raise
            available = int(float(item.get("qty") or 0)) if item.get("is_in_stock") else 0
            levels.append(StockLevel(sku, LEGACY_LOCATION, available))
        return levels

    def write_stock(self, writes: list[StockWrite]) -> list[StockWriteResult]:
        """MSI: ``POST /V1/inventory/source-items`` in batches (a batch Magento refuses is sent
        again one item a call, so one bad item fails alone); legacy: ``stockItems`` per SKU,
        written only when it differs."""
        mode, locations = self.inventory()
        outcome: dict[tuple[str, str], str | None] = {}
        wanted: dict[tuple[str, str], int] = {}
        for w in writes:
            if w.location_id in locations:
                wanted[(w.sku, w.location_id)] = w.quantity  # the last write of a pair wins
            elif mode == "msi":
                outcome[(w.sku, w.location_id)] = f"Magento has no inventory source {w.location_id!r}"
            else:
                outcome[(w.sku, w.location_id)] = f"legacy stock has one location, {LEGACY_LOCATION!r}"
        if mode == "msi":
            outcome |= self._write_sources(wanted)
        else:
            outcome |= {key: self._write_stock_item(key[0], qty) for key, qty in wanted.items()}
        errors = [outcome[(w.sku, w.location_id)] for w in writes]
        return [
            StockWriteResult(w.sku, w.location_id, e is None, e) for w, e in zip(writes, errors, strict=True)
        ]

    def _write_sources(self, wanted: dict[tuple[str, str], int]) -> dict[tuple[str, str], str | None]:
        size = int(self.ctx.settings.get("stock_batch_size") or DEFAULT_STOCK_BATCH)
        keys = list(wanted)
        outcome: dict[tuple[str, str], str | None] = {}

        def item(key: tuple[str, str]) -> dict[str, Any]:
            qty = wanted[key]
            return {"sku": key[0], "source_code": key[1], "quantity": qty, "status": 1 if qty > 0 else 0}

        for start in range(0, len(keys), size):
            chunk = keys[start : start + size]
            try:
                self.client.save_source_items([item(k) for k in chunk])
            except HttpError as exc:
                if exc.status != 400 or len(chunk) == 1:
                    outcome |= dict.fromkeys(chunk, error_message(exc))
                    continue
                for key in chunk:  # find the item Magento refused
                    try:
                        self.client.save_source_items([item(key)])
                    except HttpError as one:
                        outcome[key] = error_message(one)
                    else:
                        outcome[key] = None
            else:
                outcome |= dict.fromkeys(chunk)
        return outcome

    def _write_stock_item(self, sku: str, qty: int) -> str | None:
        try:
            item = self.client.stock_item(sku)
            if float(item.get("qty") or 0) == qty and bool(item.get("is_in_stock")) == (qty > 0):
                return None
            self.client.update_stock_item(sku, item["item_id"], qty)
        except HttpError as exc:
            return error_message(exc)
        return None

    # -- shipments ----------------------------------------------------------------------------------

    def push_fulfilment(self, shipment: ShipmentPush) -> PushResult:
        """One Magento shipment per hub shipment. The shipment carries ``[hub shipment <key>]``
        in a (hidden) comment; before anything is created the order's shipments are listed and
        ours is found by that mark or by the tracking number. Found with other tracking: the new
        number is added as a track of that shipment."""
        order = self._order(shipment.order_external_id)
        order_id = int(order["entity_id"])
        mark = f"[hub shipment {shipment.key}]"
        notify = shipment.notify_customer
        code, default_title = CARRIERS.get(shipment.carrier, (CUSTOM_CARRIER, ""))
        track = {
            "track_number": shipment.tracking_number,
            "title": shipment.carrier_name or default_title or "Carrier",
            "carrier_code": code,
        }
        found = _ours(self.client.shipments(order_id), mark, shipment.tracking_number)
        if found is not None:
            numbers = {str(t.get("track_number")) for t in found.get("tracks") or []}
            if not shipment.tracking_number or shipment.tracking_number in numbers:
                return PushResult("unchanged", str(found["entity_id"]))
            parent = int(found["entity_id"])
            self.client.add_track(track | {"order_id": order_id, "parent_id": parent, "description": mark})
            if notify:
                self.client.email_shipment(parent)
            return PushResult("updated", str(parent))
        body: dict[str, Any] = {
            "items": _ship_items(order, shipment),
            "notify": notify,
            "appendComment": False,  # the mark stays out of the customer's email
            "comment": {"comment": f"Shipped by the hub {mark}", "is_visible_on_front": 0},
            "tracks": [track] if shipment.tracking_number else [],
        }
        if not body["items"]:
            del body["items"]  # Magento then ships everything
        mode, _ = self.inventory()
        if mode == "msi":
            source = str(self.ctx.settings.get("shipment_source") or "default")
            body["arguments"] = {"extension_attributes": {"source_code": source}}
        try:
            return PushResult("created", self.client.ship(order_id, body))
        except HttpError as exc:
            if exc.status is not None and exc.status < 500:
                raise
            # no answer, or a failure after the store may have committed: look before retrying
            again = _ours(self.client.shipments(order_id), mark, shipment.tracking_number)
            if again is None:
                raise
            return PushResult("created", str(again["entity_id"]))


def _ours(shipments: list[dict[str, Any]], mark: str, tracking_number: str) -> dict[str, Any] | None:
    for found in shipments:
        texts = [str(c.get("comment") or "") for c in found.get("comments") or []]
        texts += [str(t.get("description") or "") for t in found.get("tracks") or []]
        if any(mark in text for text in texts):
            return found
    if tracking_number:
        for found in shipments:
            if any(str(t.get("track_number")) == tracking_number for t in found.get("tracks") or []):
                return found
    return None


def _ship_items(order: dict[str, Any], shipment: ShipmentPush) -> list[dict[str, Any]]:
    """``order_item_id`` + ``qty`` per line; the child row of a configurable item ships
    through its parent row (the row Magento ships; the mapping's line ids are parents already)."""
    rows = {str(i["item_id"]): i for i in order.get("items") or []}
    quantities: dict[int, float] = {}
    for line in shipment.lines:
        row = rows.get(str(line.line_external_id))
        if row is None:
            raise ValueError(f"order {order.get('increment_id')} has no item {line.line_external_id}")
        parent = rows.get(str(row.get("parent_item_id")))
        if parent is not None and parent.get("product_type") == "configurable":
            row = parent
        item_id = int(row["item_id"])
        quantities[item_id] = quantities.get(item_id, 0) + line.quantity
    return [{"order_item_id": item_id, "qty": qty} for item_id, qty in quantities.items()]
