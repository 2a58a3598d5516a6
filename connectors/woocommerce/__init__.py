"""WooCommerce: the connector's declaration and the methods the core calls."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

from connectors.woocommerce import webhooks
from connectors.woocommerce.client import WooClient, gmt
from hub import connectors as hc
from hub.connectors import Capability, FieldSpec
from hub.http import HttpError

LOCATION = "default"  # stock is single-location in WooCommerce core
SECOND = timedelta(seconds=1)
CAPABILITIES = ("orders_poll", "orders_webhook", "inventory_read", "inventory_write", "fulfilment_push")
SETTING: dict[str, Any] = {"type": "integer", "group": "settings", "required": False}
CK, CS = "must start with ck_", "must start with cs_"


def _between(low: int, high: int) -> Any:
    return lambda v: None if low <= v <= high else f"must be between {low} and {high}"


def _result(write: hc.StockWrite, error: str | None) -> hc.StockWriteResult:
    return hc.StockWriteResult(write.sku, write.location_id, error is None, error)


def _modified(order: Any) -> str:
    return str(order.get("date_modified_gmt") or "") if isinstance(order, dict) else ""


#: gentle defaults: the merchant's own server is the limit
RATE, IN_FLIGHT = 5, 2


class WooCommerceConnector(hc.Connector):
    name = "woocommerce"
    display_name = "WooCommerce"
    kind = "channel"
    mapping_module = "mappings.woocommerce"
    sandbox = "connectors.woocommerce.sandbox:WooCommerceSandbox"
    capabilities = frozenset(map(Capability, CAPABILITIES))
    default_stock_location = LOCATION  #: where the hub's stock pushes go (hub.inventory.sender)
    #: a disabled webhook is back within 15 minutes; the 60 s reconciliation poll covers the gap
    schedule_defaults: ClassVar[dict[str, int]] = {"check_webhooks": 900}
    notes = (
        "WooCommerce never retries a webhook and disables it after 7 failures in a row: the hub "
        "re-activates it every 15 minutes and polls every minute. The store needs pretty permalinks.",
    )
    fields: ClassVar[tuple[FieldSpec, ...]] = (
        FieldSpec("store_url", "Store address", type="url", help="https://shop.example.com"),
        FieldSpec("consumer_key", "Consumer key", type="secret", pattern=r"ck_\w+", pattern_message=CK),
        FieldSpec("consumer_secret", "Consumer secret", type="secret", pattern=r"cs_\w+", pattern_message=CS),
        FieldSpec(
            "requests_per_second", "Requests per second", default=RATE, check=_between(1, 100), **SETTING
        ),
        FieldSpec(
            "requests_in_flight", "Requests at once", default=IN_FLIGHT, check=_between(1, 20), **SETTING
        ),
        FieldSpec("backfill_since", "Import orders since", type="date", group="settings", required=False),
        hc.notify_customer_field("a customer note, which WooCommerce e-mails"),
    )

    @classmethod
    def base_url(cls, credentials: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
        return f"{str(credentials['store_url']).rstrip('/')}/wp-json/wc/v3/"

    @classmethod
    def rate_limit(cls, settings: Mapping[str, Any]) -> tuple[float, float]:
        rate = float(settings.get("requests_per_second") or RATE)
        return rate, rate

    @classmethod
    def concurrency(cls, settings: Mapping[str, Any]) -> int:
        """A merchant's PHP workers are few: a gentle default."""
        return int(settings.get("requests_in_flight") or IN_FLIGHT)

    def __init__(self, ctx: hc.ConnectionContext) -> None:
        super().__init__(ctx)
        key, secret = str(ctx.credentials["consumer_key"]), str(ctx.credentials["consumer_secret"])
        self.client = WooClient(ctx.http, key, secret)

    def test_connection(self) -> hc.TestResult:
        try:
            _, total, _ = self.client.page("orders", per_page=1)
        except HttpError as exc:  # the status and WooCommerce's own code and message say why
            return hc.TestResult(False, str(exc))
        return hc.TestResult(True, f"connected to {self.ctx.credentials['store_url']} ({total} orders)")

    # -- orders ------------------------------------------------------------------------
    def count_orders(self, since: datetime) -> int | None:
        return self.client.orders(gmt(since - SECOND), 1, per_page=1)[1]

    def fetch_orders(self, since: datetime, page: str | None) -> hc.OrderPage:
        """Ordered by modification and paged by time, not offset: the next page starts after the
        last one's newest second (the orders already taken in that second skipped), so orders
        modified meanwhile (moving to the end) shift nothing. A page that cannot move the start
        pages on. The token: start|page number|that second|ids taken in it."""
        after, number, edge, seen = page.split("|") if page else (gmt(since - SECOND), "1", "", "")
        orders, _, pages = self.client.orders(after, int(number))
        skip = set(seen.split(","))
        fresh = [o for o in orders if not (str(o.get("id")) in skip and _modified(o) == edge)]
        fresh.sort(key=_modified)
        if not orders or int(number) >= pages:
            return hc.OrderPage(fresh, None)
        first, last = min(map(_modified, orders)), max(map(_modified, orders))
        start = gmt(datetime.fromisoformat(last + "+00:00") - SECOND) if first != last else after
        if start <= after:  # all in one second, or a store that ignored the filter: page on
            return hc.OrderPage(fresh, f"{after}|{int(number) + 1}|{edge}|{seen}")
        taken = ",".join(str(o.get("id")) for o in orders if _modified(o) == last)
        return hc.OrderPage(fresh, f"{start}|1|{last}|{taken}")

    # -- webhooks ----------------------------------------------------------------------
    @classmethod
    def verify_webhook(cls, credentials: Mapping[str, Any], headers: Mapping[str, str], body: bytes) -> bool:
        return webhooks.signature_ok(webhooks.secret_for(credentials), headers, body)

    @classmethod
    def webhook_delivery(cls, headers: Mapping[str, str], body: bytes) -> hc.WebhookDelivery:
        return webhooks.delivery(headers, body)

    def handle_webhook(self, topic: str, payload: Any) -> list[hc.WebhookAction]:
        return webhooks.interpret(topic, payload, self.client.order)

    def register_webhooks(self) -> list[str]:
        """Creates missing subscriptions and re-activates ones WooCommerce disabled (it never
        retries a delivery and disables a webhook after repeated failures); a new secret (the
        name carries its fingerprint) is pushed too. Returns what it changed."""
        address = self.ctx.webhook_url
        if not address:
            raise ValueError("the hub's public URL is not known")
        secret = webhooks.secret_for(self.ctx.credentials)
        mine = {w.get("topic"): w for w in self.client.every("webhooks") if w.get("delivery_url") == address}
        tag, changed = hashlib.sha256(secret.encode()).hexdigest()[:8], []
        for topic in webhooks.TOPICS:
            body = {"name": f"Hub {topic} #{tag}", "secret": secret}
            hook = mine.get(topic)
            if hook is None:
                self.client.http.post("webhooks", json=body | {"topic": topic, "delivery_url": address})
                changed.append(topic)
            elif hook.get("status") != "active" or hook.get("name") != body["name"]:
                self.client.http.put(f"webhooks/{hook['id']}", json=body | {"status": "active"})
                changed.append(f"{topic} (was {hook.get('status')})")
        return changed

    # -- inventory ---------------------------------------------------------------------
    def read_stock(self, skus: list[str] | None = None) -> list[hc.StockLevel]:
        """Managed stock only; a variation that inherits (``manage_stock: "parent"``) shows its parent's."""
        wanted = None if skus is None else set(skus)
        return [
            hc.StockLevel(sku, LOCATION, int(item["stock_quantity"]))
            for sku, item in self.client.catalog().items()
            if item.get("manage_stock") and item.get("stock_quantity") is not None
            and (wanted is None or sku in wanted)
        ]  # fmt: skip

    def write_stock(self, writes: list[hc.StockWrite]) -> list[hc.StockWriteResult]:
        """Batches per endpoint (products, each parent's variations), ``manage_stock`` on.
        A variation inheriting its parent's stock is written there: WooCommerce would ignore its
        own quantity. Sibling SKUs of one such parent must agree on the quantity."""
        catalog = self.client.catalog()
        results: list[hc.StockWriteResult] = []
        targets: dict[tuple[str, int], list[hc.StockWrite]] = defaultdict(list)
        for write in writes:
            item = catalog.get(write.sku)
            if item is None:
                results.append(_result(write, "SKU not in the store"))
            elif parent := item.get("parent_id"):
                inherit = item.get("manage_stock") == "parent"
                path = "products/batch" if inherit else f"products/{parent}/variations/batch"
                targets[path, parent if inherit else item["id"]].append(write)
            else:
                targets["products/batch", item["id"]].append(write)
        calls: dict[str, list[tuple[int, list[hc.StockWrite]]]] = defaultdict(list)
        for (path, ident), group in targets.items():
            if len({w.quantity for w in group}) > 1:
                error = "different quantities for one stock (a SKU twice, or variations sharing a parent)"
                results += [_result(w, error) for w in group]
            else:
                calls[path].append((ident, group))
        for path, items in calls.items():
            body = [{"id": i, "manage_stock": True, "stock_quantity": g[0].quantity} for i, g in items]
            answers = {a.get("id"): a for a in self.client.batch_update(path, body)}
            for ident, group in items:
                answer = answers.get(ident, {})
                error = (answer.get("error") or {}).get("message")
                if error is None and answer.get("stock_quantity") != group[0].quantity:
                    error = "WooCommerce did not apply the quantity"
                results += [_result(w, error) for w in group]
        return results

    # -- fulfilment --------------------------------------------------------------------
    def push_fulfilment(self, shipment: hc.ShipmentPush) -> hc.PushResult:
        """Tracking (Shipment Tracking, else a customer note), then ``completed``. The order keeps
        ``hub_shipment_<key>`` in its meta: a repeated push finds it and adds nothing."""
        oid, number = shipment.order_external_id, shipment.tracking_number
        order = self.client.order(oid)
        if order is None:
            raise LookupError(f"WooCommerce has no order {oid}")
        key = f"hub_shipment_{shipment.key}"
        before = next((m.get("value") for m in order.get("meta_data") or [] if m.get("key") == key), None)
        before = before if isinstance(before, dict) else {}
        if before.get("tracking_number") == number and order.get("status") == "completed":
            return hc.PushResult("unchanged", str(before.get("ref")))
        ref = self._tracking(shipment, before.get("ref"))
        body: dict[str, Any] = {"meta_data": [{"key": key, "value": {"tracking_number": number, "ref": ref}}]}
        if order.get("status") != "completed":
            body["status"] = "completed"  # after the tracking, so the Completed email shows it
        self.client.http.put(f"orders/{oid}", json=body)
        return hc.PushResult(
            "updated" if before.get("tracking_number") not in (None, number) else "created", ref
        )

    def _tracking(self, shipment: hc.ShipmentPush, replaced: Any) -> str:
        """Found by tracking number, else added; a tracking item the push replaces is removed."""
        http, oid, number = self.client.http, shipment.order_external_id, shipment.tracking_number
        if path := self.client.tracking_path(oid):
            items = http.get(path).json()
            found = next((i for i in items if i.get("tracking_number") == number), None)
            if found is None:
                link = shipment.tracking_url or ""
                body = {"custom_tracking_provider": shipment.carrier_name, "custom_tracking_link": link}
                found = http.post(path, json=body | {"tracking_number": number}).json()
            if replaced != found["tracking_id"] and any(i.get("tracking_id") == replaced for i in items):
                http.delete(f"{path}/{replaced}")
            return str(found["tracking_id"])
        kind = "customer" if shipment.notify_customer else "internal"  # a customer note is e-mailed
        notes = http.get(f"orders/{oid}/notes", params={"type": kind}).json()
        found = next((n for n in notes if number in str(n.get("note"))), None)
        if found is None:
            link = f": {shipment.tracking_url}" if shipment.tracking_url else ""
            note = f"Shipped with {shipment.carrier_name}, tracking number {number}{link}"
            body = {"note": note, "customer_note": shipment.notify_customer}
            found = http.post(f"orders/{oid}/notes", json=body).json()
        return f"note:{found['id']}"
