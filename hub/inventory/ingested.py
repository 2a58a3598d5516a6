"""What ingested orders do to stock, in the ingest's own transaction (``hub.ingest``):
reserve new and changed orders, release cancelled or refunded unshipped ones, ship the
reserved units of orders the channel marks fulfilled, and meet the channel's stock baseline
(``hub.inventory.inflow.account_sales``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.orm import Session

from hub.inventory.inflow import account_sales, sales_of
from hub.inventory.skumap import record_order_lines
from hub.inventory.stock import fulfil_order_lines, release_order, reserve_orders
from hub.model import Order

CHANGED = ("created", "updated")


def stock_after_ingest(session: Session, connection_id: int, orders: Mapping[int, tuple[Order, str]]) -> None:
    """``orders``: order id → (canonical order, ingest outcome) of what was just ingested."""
    changed = {oid: order for oid, (order, outcome) in orders.items() if outcome in CHANGED}
    if not changed:
        return
    record_order_lines(session, sorted(changed))  # their channel SKUs join the SKU mappings
    reserve_orders(session, changed)
    for order_id in sorted(changed):
        order = changed[order_id]
        unshipped = order.fulfillment_status == "unfulfilled"
        if order.status != "cancelled" and order.payment_status == "refunded" and unshipped:
            label = f"order {order.number or order_id} refunded"
            release_order(session, order_id, restock=True, reason=label)
        elif order.fulfillment_status == "fulfilled" and orders[order_id][1] == "updated":
            fulfil_order_lines(session, order_id)
    new: Sequence[Order] = [order for oid, (order, outcome) in orders.items() if outcome == "created"]
    account_sales(session, connection_id, sales_of(new))
