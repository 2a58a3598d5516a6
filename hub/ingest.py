"""Idempotent order ingest: the one way an order gets into the database.

The same order ingested twice gives one row and one history entry; an older
``updated_at`` never overwrites a newer one; a real change adds a history entry
listing the changed fields. Works inside the caller's transaction, so a poll can
commit a page of orders and move its cursor atomically; the orders' stock (reservations,
releases, shipped units: ``hub.inventory.ingested``) changes in that same transaction.

Concurrency: every order is first written with ``INSERT … ON CONFLICT DO NOTHING``
(which on SQLite also takes the write lock at once, so no reader-to-writer upgrade
can deadlock), then existing rows are read ``FOR UPDATE`` in external-id order, so
two writers of the same order queue behind each other instead of both winning.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from hub import tables as t
from hub.db import insert_for
from hub.inventory.ingested import stock_after_ingest
from hub.model import Address, Order
from hub.orderdiff import changed_fields
from hub.schemas import dump_order

Source = Literal["poll", "webhook", "api", "manual"]
SOURCES: tuple[str, ...] = ("poll", "webhook", "api", "manual")
Outcome = Literal["created", "updated", "unchanged", "stale"]


@dataclass(frozen=True, slots=True)
class IngestItem:
    order: Order
    raw: Any
    source: Source = "poll"


@dataclass(frozen=True, slots=True)
class IngestResult:
    external_id: str
    order_id: int
    outcome: Outcome
    fields: tuple[str, ...] = ()


def _order_row(connection_id: int, order: Order, canonical: dict[str, Any], raw: Any) -> dict[str, Any]:
    return {
        "connection_id": connection_id,
        "channel": order.channel,
        "external_id": order.external_id,
        "number": order.number,
        "status": order.status,
        "payment_status": order.payment_status,
        "fulfillment_status": order.fulfillment_status,
        "currency": order.currency,
        "total": order.totals.total,
        "customer_email": order.customer.email,
        "customer_name": order.customer.name,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "cancelled_at": order.cancelled_at,
        "canonical": canonical,
        "raw": raw,
    }


def _line_rows(order_id: int, order: Order) -> list[dict[str, Any]]:
    return [
        {
            "order_id": order_id,
            "position": i,
            "external_id": line.external_id,
            "sku": line.sku,
            "name": line.name,
            "quantity": line.quantity,
            "current_quantity": line.current_quantity,
            "unit_price": line.unit_price,
            "discount": line.discount,
            "tax": line.tax,
            "total": line.total,
        }
        for i, line in enumerate(order.lines)
    ]


_ADDRESS_FIELDS = Address.__slots__
# Core tables: bulk statements skip the ORM's per-row bookkeeping
ORDERS = t.Order.__table__
LINES = t.OrderLine.__table__
ADDRESSES = t.OrderAddress.__table__
HISTORY = t.OrderHistory.__table__


def _address_rows(order_id: int, order: Order) -> list[dict[str, Any]]:
    rows = []
    for kind, address in (("billing", order.billing_address), ("shipping", order.shipping_address)):
        if address is not None:
            rows.append(
                {"order_id": order_id, "kind": kind} | {f: getattr(address, f) for f in _ADDRESS_FIELDS}
            )
    return rows


def _insert_ignoring_conflicts(session: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert the order rows that do not exist yet; return external id → id of those inserted."""
    stmt = insert_for(session, ORDERS).on_conflict_do_nothing(index_elements=["connection_id", "external_id"])
    stmt = stmt.returning(ORDERS.c.id, ORDERS.c.external_id)
    return {external_id: order_id for order_id, external_id in session.execute(stmt, rows)}


def _newest_per_order(items: Iterable[IngestItem]) -> tuple[list[IngestItem], list[IngestItem]]:
    """Keep the newest version of each order in a batch; the others are stale on arrival."""
    newest: dict[str, IngestItem] = {}
    older: list[IngestItem] = []
    for item in items:
        kept = newest.get(item.order.external_id)
        if kept is None or item.order.updated_at >= kept.order.updated_at:
            if kept is not None:
                older.append(kept)
            newest[item.order.external_id] = item
        else:
            older.append(item)
    return [newest[k] for k in sorted(newest)], older


_CHUNK = 200


def ingest_orders(
    session: Session, connection_id: int, items: Sequence[IngestItem], *, now: datetime | None = None
) -> list[IngestResult]:
    """Upsert a batch of orders of one connection inside the caller's transaction."""
    results: list[IngestResult] = []
    batch, older = _newest_per_order(items)
    for start in range(0, len(batch), _CHUNK):
        results.extend(_ingest_chunk(session, connection_id, batch[start : start + _CHUNK], now))
    ids = {r.external_id: r.order_id for r in results}
    orders = {i.order.external_id: i.order for i in batch}
    stock_after_ingest(
        session, connection_id, {r.order_id: (orders[r.external_id], r.outcome) for r in results}
    )
    results.extend(IngestResult(i.order.external_id, ids[i.order.external_id], "stale") for i in older)
    return results


def _ingest_chunk(
    session: Session, connection_id: int, batch: list[IngestItem], now: datetime | None
) -> list[IngestResult]:
    now = now or datetime.now(UTC)
    canonicals = {i.order.external_id: dump_order(i.order) for i in batch}
    rows = [
        _order_row(connection_id, i.order, canonicals[i.order.external_id], i.raw)
        | {"received_at": now, "modified_at": now, "version": 1}
        for i in batch
    ]
    created = _insert_ignoring_conflicts(session, rows)

    results: list[IngestResult] = []
    children: list[tuple[int, IngestItem]] = []
    history: list[dict[str, Any]] = []
    for item in batch:
        order_id = created.get(item.order.external_id)
        if order_id is not None:
            children.append((order_id, item))
            history.append(_history_row(order_id, item, "created", [], now))
            results.append(IngestResult(item.order.external_id, order_id, "created"))

    existing_items = [i for i in batch if i.order.external_id not in created]
    replaced: list[int] = []
    if existing_items:
        existing = session.execute(
            select(t.Order.id, t.Order.external_id, t.Order.updated_at, t.Order.canonical, t.Order.version)
            .where(
                t.Order.connection_id == connection_id,
                t.Order.external_id.in_([i.order.external_id for i in existing_items]),
            )
            .order_by(t.Order.external_id)
            .with_for_update()
        ).all()
        by_external = {row.external_id: row for row in existing}
        for item in existing_items:
            row = by_external[item.order.external_id]
            order = item.order
            if order.updated_at < row.updated_at:
                results.append(IngestResult(order.external_id, row.id, "stale"))
                continue
            canonical = canonicals[order.external_id]
            fields = changed_fields(row.canonical, canonical)
            if not fields:
                if order.updated_at > row.updated_at:
                    session.execute(
                        update(t.Order)
                        .where(t.Order.id == row.id)
                        .values(updated_at=order.updated_at, canonical=canonical, raw=item.raw)
                    )
                results.append(IngestResult(order.external_id, row.id, "unchanged"))
                continue
            values = _order_row(connection_id, order, canonical, item.raw)
            session.execute(
                update(t.Order)
                .where(t.Order.id == row.id)
                .values(values | {"modified_at": now, "version": row.version + 1})
            )
            replaced.append(row.id)
            children.append((row.id, item))
            history.append(_history_row(row.id, item, "updated", fields, now))
            results.append(IngestResult(order.external_id, row.id, "updated", tuple(fields)))

    if replaced:
        session.execute(delete(t.OrderLine).where(t.OrderLine.order_id.in_(replaced)))
        session.execute(delete(t.OrderAddress).where(t.OrderAddress.order_id.in_(replaced)))
    line_rows = [row for order_id, item in children for row in _line_rows(order_id, item.order)]
    address_rows = [row for order_id, item in children for row in _address_rows(order_id, item.order)]
    if line_rows:
        session.execute(insert(LINES), line_rows)
    if address_rows:
        session.execute(insert(ADDRESSES), address_rows)
    if history:
        session.execute(insert(HISTORY), history)
    return results


def _history_row(
    order_id: int, item: IngestItem, change: str, fields: list[str], now: datetime
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "at": now,
        "source": item.source,
        "change": change,
        "fields": fields,
        "channel_updated_at": item.order.updated_at,
    }
