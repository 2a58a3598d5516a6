"""Inflow: a channel-side change of stock comes into the hub relative to what the hub last
published there, never as a blind overwrite.

Per (connection, channel SKU, channel location) ``stock_publications`` keeps the quantity the
hub last published, when, and ``expected``: that quantity less the sales the channel took after
the publish (orders ingested since). A reading ``channel_now`` of the channel then means

    on_hand += channel_now - expected        (source ``channel``)

and ``expected`` becomes ``channel_now``; the change is pushed to every channel (the outbox).

A sale the channel made before the reading whose order the hub has not ingested yet looks like
a decrease: it is taken off ``on_hand`` and remembered (``absorbed``, with the reading's time).
When that order arrives (created before the reading), its units go back on hand before it
reserves, so the sale is counted once. A sale after the last publish, whose order arrives
before any reading, lowers ``expected`` instead. See README "Inventory: the inflow rule".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import tables as t
from hub.connectors import StockLevel
from hub.inventory.ledger import STOCK, take_write_lock
from hub.inventory.stock import RESERVING_STATUSES, adjust

PUBLICATIONS = t.StockPublication.__table__


@dataclass(frozen=True)
class Inflow:
    """One channel-side change taken into the hub."""

    channel_sku: str
    location: str
    sku_id: int
    expected: int
    channel: int

    @property
    def delta(self) -> int:
        return self.channel - self.expected


def lock_stock(session: Session, sku_ids: Iterable[int]) -> list[Any]:
    """The stock rows of these SKUs, locked in id order (the order ``hub.inventory.stock`` uses)."""
    wanted = sorted(set(sku_ids))
    if not wanted:
        return []
    take_write_lock(session)
    return list(
        session.execute(
            select(STOCK.c.id, STOCK.c.sku_id, STOCK.c.location_id, STOCK.c.on_hand)
            .where(STOCK.c.sku_id.in_(wanted))
            .order_by(STOCK.c.id)
            .with_for_update()
        )
    )


def _locations_in_order(session: Session) -> list[int]:
    return list(
        session.scalars(select(t.Location.id).order_by(t.Location.paused, t.Location.priority, t.Location.id))
    )


def move_on_hand(session: Session, sku_id: int, delta: int, reason: str, who: str | None = None) -> int:
    """Move a SKU's ``on_hand`` by ``delta`` across its locations: an increase lands at the first
    location (unpaused, by priority) that stocks it, a decrease is taken from them in that order.
    Returns the units actually moved (a decrease stops at 0 on hand)."""
    if delta == 0:
        return 0
    order = _locations_in_order(session)
    if not order:
        raise LookupError("no location to keep stock at")
    levels = {
        row.location_id: row.on_hand
        for row in session.execute(
            select(STOCK.c.location_id, STOCK.c.on_hand).where(STOCK.c.sku_id == sku_id)
        )
    }
    stocked = [loc for loc in order if loc in levels] or order[:1]
    if delta > 0:
        adjust(session, sku_id, stocked[0], delta, reason=reason, source="channel", who=who)
        return delta
    moved, left = 0, -delta
    for location_id in stocked:
        units = min(left, levels.get(location_id, 0))
        if units:
            adjust(session, sku_id, location_id, -units, reason=reason, source="channel", who=who)
            moved, left = moved + units, left - units
        if not left:
            break
    return -moved


def apply_levels(
    session: Session,
    connection_id: int,
    levels: Sequence[StockLevel],
    read_at: datetime,
    *,
    newer_only: bool = False,
) -> list[Inflow]:
    """Take a channel's reading (taken at ``read_at``) into the hub by the inflow rule. Only
    listings the hub has published to count (a listing never published has no baseline: the
    next push sets it); a reading older than the last publish is stale and skipped.
    ``newer_only`` (readings that can arrive out of order, such as webhooks): a reading older
    than the last one taken in for that listing is stale too."""
    if not levels:
        return []
    skus = sorted({lv.sku for lv in levels})
    known = session.execute(
        select(PUBLICATIONS.c.sku_id).where(
            PUBLICATIONS.c.connection_id == connection_id, PUBLICATIONS.c.channel_sku.in_(skus)
        )
    ).scalars()
    lock_stock(session, known)  # stock before publications: the order every writer keeps
    pub = t.StockPublication
    rows = {
        (row.channel_sku, row.location): row
        for row in session.scalars(
            select(pub)
            .where(pub.connection_id == connection_id, pub.channel_sku.in_(skus))
            .order_by(pub.id)
            .with_for_update()
        )
    }
    name = session.scalar(select(t.Connection.name).where(t.Connection.id == connection_id))
    changes: list[Inflow] = []
    for level in levels:
        row = rows.get((level.sku, str(level.location_id)))
        if row is None or row.published_at > read_at:
            continue
        if newer_only and row.read_at is not None and row.read_at > read_at:
            continue
        row.read_at = max(row.read_at or read_at, read_at)
        if level.available == row.expected:
            continue
        change = Inflow(row.channel_sku, row.location, row.sku_id, row.expected, level.available)
        moved = move_on_hand(
            session,
            row.sku_id,
            change.delta,
            f"{name}: {row.channel_sku} at {row.location} went {row.expected} -> {level.available}",
        )
        row.expected = level.available
        if moved < 0:
            row.absorbed += -moved
        changes.append(change)
    session.flush()
    return changes


@dataclass(frozen=True)
class Sale:
    """Units of a channel SKU an order took, created in the channel at ``created_at``."""

    channel_sku: str
    units: int
    created_at: datetime
    order_label: str


def sales_of(orders: Iterable[Any]) -> list[Sale]:
    """The sales of newly ingested canonical orders that hold stock (a cancelled order's sale
    was given back in the channel too)."""
    return [
        Sale(line.sku.strip(), line.quantity, order.created_at, f"order {order.number or order.external_id}")
        for order in orders
        if order.status in RESERVING_STATUSES and order.fulfillment_status != "fulfilled"
        for line in order.lines
        if line.sku and line.sku.strip() and line.quantity > 0
    ]


def account_sales(session: Session, connection_id: int, sales: Sequence[Sale]) -> int:
    """New orders of a connection meet its channel's stock baseline. A sale a reading already
    took off ``on_hand`` (created before the reading) gets its units back (its order reserves
    them instead); a sale after the last publish lowers ``expected``. Call with the SKUs'
    stock rows already locked (after ``reserve_orders``). Returns units given back."""
    if not sales:
        return 0
    rows: dict[str, list[t.StockPublication]] = {}
    for row in session.scalars(
        select(t.StockPublication)
        .where(
            t.StockPublication.connection_id == connection_id,
            t.StockPublication.channel_sku.in_(sorted({s.channel_sku for s in sales})),
        )
        .order_by(t.StockPublication.id)
        .with_for_update()
    ):
        rows.setdefault(row.channel_sku, []).append(row)
    given = 0
    for sale in sales:
        found = rows.get(sale.channel_sku)
        if not found:
            continue
        row = found[0]  # the hub publishes a listing at one channel location
        if row.read_at is not None and sale.created_at <= row.read_at:
            # the last reading saw this sale: if it took it off on_hand, the order reserves it now
            back = min(sale.units, row.absorbed)
            if back:
                row.absorbed -= back
                move_on_hand(session, row.sku_id, back, f"{sale.order_label}: its sale was in a reading")
                given += back
        elif sale.created_at > row.published_at:
            row.expected -= sale.units  # the channel took it off the published value
    session.flush()
    return given
