"""The stock truth in the database: reservations held by order lines, their release and
fulfilment, and counted or adjusted ``on_hand``. Every function works inside the caller's
transaction; ``Database.transaction`` re-runs the whole of it on a deadlock.

Locking. Everything that changes stock takes its locks in this order, and no other:

1. On SQLite the first statement is a write, so the database's single write lock is held
   before anything is read (no reader-to-writer upgrade can fail, no stale read is acted on).
2. The rows of the orders concerned, ``SELECT … FOR UPDATE`` in id order. Two calls for the
   same order queue and the second sees what the first did: that, and not only the
   bookkeeping, is what makes ``reserve_orders`` idempotent under concurrency.
3. The ``stock_levels`` rows of every SKU concerned, in one ``SELECT … FOR UPDATE ORDER BY
   id``. Two orders for one SKU queue on its rows and the second reads what the first left,
   so the last unit goes to exactly one of them; since every transaction locks in id order,
   orders sharing several SKUs wait for each other instead of deadlocking.

No stock row is ever locked before an order row, so no cycle can form. Counts and
adjustments, which concern no order, lock only the stock row they change.

``stock_levels.reserved`` is the sum of the ``reserved`` reservations at that location
(``recount_reserved`` recomputes it); ``available = max(0, on_hand - reserved)``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from hub import tables as t
from hub.inventory.catalogue import insert_ignoring_conflicts, places
from hub.inventory.ledger import (
    ADJUSTMENTS,
    FULFILLED,
    HOLDS,
    RELEASED,
    RESERVATIONS,
    RESERVED,
    SHIPPED,
    STOCK,
    WHO_MAX,
    Ledger,
    lock_orders,
    take_write_lock,
)
from hub.inventory.lowstock import check_low_stock
from hub.inventory.outbox import enqueue_push
from hub.inventory.publish import available
from hub.inventory.queries import OrderStock, orders_stock
from hub.inventory.routing import Place, ShipTo, route_line
from hub.inventory.skumap import resolve_channel_skus

LINES = t.OrderLine.__table__
ADDRESSES = t.OrderAddress.__table__
SKUS = t.Sku.__table__
RESERVING_STATUSES = ("open", "on_hold")  # orders that hold stock; a cancelled one's holds are released


class InventoryError(ValueError):
    """A change refused, naming the field it is about (the API answers 400 with it)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field} {message}")


# --- orders --------------------------------------------------------------------------


def resolve_line_skus(session: Session, lines: Iterable[tuple[int, str | None]]) -> dict[int, dict[str, int]]:
    """Connection id → {order-line SKU (trimmed) → catalogue id}, through that connection's SKU
    mapping (``hub.inventory.skumap.resolve_channel_skus``: its mapping when it names a SKU, else
    the exact internal SKU); line SKUs nothing resolves are left out."""
    per_connection: dict[int, set[str]] = {}
    for connection_id, code in lines:
        if code and code.strip():
            per_connection.setdefault(connection_id, set()).add(code.strip())
    return {
        connection_id: {
            code: sku_id
            for code, sku_id in resolve_channel_skus(session, connection_id, sorted(codes)).items()
            if sku_id is not None
        }
        for connection_id, codes in sorted(per_connection.items())
    }


def _wanted_lines(lines: Iterable[Any], sku_ids: Mapping[str, int]) -> dict[str, tuple[int | None, int]]:
    """Line external id → (catalogue SKU id or None, quantity), in line order."""
    wanted: dict[str, tuple[int | None, int]] = {}
    for line in lines:
        sku_id = sku_ids.get((line.sku or "").strip())
        previous = wanted.get(line.external_id)
        quantity = max(0, line.quantity) + (previous[1] if previous else 0)
        wanted[line.external_id] = (previous[0] if previous else sku_id, quantity)
    return wanted


def reserve_order(session: Session, order_id: int) -> OrderStock:
    return reserve_orders(session, [order_id])[order_id]


def reserve_orders(session: Session, order_ids: Iterable[int]) -> dict[int, OrderStock]:
    """Make the stored orders' reservations match their lines; safe to call again, and
    concurrently, after every ingest of them.

    An open or on-hold order's lines are routed (``hub.inventory.routing``) and reserved,
    what no location can give is backordered; a line already covered is left alone, a
    line that grew gets the difference, one that shrank gives back backordered units first,
    one that disappeared (or changed SKU) gives back its holds, and a line released by
    ``release_order`` (a refund or cancellation) stays released.
    A cancelled order's holds are released. Other orders (completed, fulfilled) get nothing
    new. A line's SKU is the channel's: it resolves through its connection's SKU mapping, else
    to the equal internal SKU; lines without a SKU, or with one nothing resolves, are not managed.
    """
    ids = sorted(set(order_ids))
    if not ids:
        return {}
    take_write_lock(session)
    orders = lock_orders(session, ids)
    lines = session.execute(
        select(LINES.c.order_id, LINES.c.external_id, LINES.c.sku, LINES.c.quantity)
        .where(LINES.c.order_id.in_(ids))
        .order_by(LINES.c.order_id, LINES.c.position)
    ).all()
    ship_to = {
        row.order_id: ShipTo(row.country_code, row.region)
        for row in session.execute(
            select(ADDRESSES.c.order_id, ADDRESSES.c.country_code, ADDRESSES.c.region).where(
                ADDRESSES.c.order_id.in_(ids), ADDRESSES.c.kind == "shipping"
            )
        )
    }
    resolved = resolve_line_skus(session, ((orders[line.order_id].connection_id, line.sku) for line in lines))
    book = Ledger(session, ids, {sku_id for found in resolved.values() for sku_id in found.values()})
    locations = places(session)
    for order_id in ids:
        order = orders[order_id]
        sku_ids = resolved.get(order.connection_id, {})
        label = f"order {order.number or order_id}"
        if order.status == "cancelled":
            for row in book.rows_of(order_id):
                if row.state in HOLDS:
                    book.release(row, row.quantity, write_off=False, reason=f"{label} cancelled")
        elif order.status in RESERVING_STATUSES and order.fulfillment_status != "fulfilled":
            wanted = _wanted_lines((line for line in lines if line.order_id == order_id), sku_ids)
            _reconcile(book, order_id, wanted, locations, ship_to.get(order_id, ShipTo()))
    book.flush()
    return orders_stock(session, ids)


def _reconcile(
    book: Ledger,
    order_id: int,
    wanted: Mapping[str, tuple[int | None, int]],
    locations: list[Place],
    ship_to: ShipTo,
) -> None:
    for row in book.rows_of(order_id):
        if row.state in HOLDS and (row.line not in wanted or wanted[row.line][0] != row.sku_id):
            book.drop(row, row.quantity)  # the line is gone (or is another SKU now): its holds too
    for line, (sku_id, quantity) in wanted.items():
        if sku_id is None:
            continue
        rows = book.rows_of(order_id, line, sku_id)
        if any(r.state == RELEASED for r in rows):
            continue
        covered = sum(r.quantity for r in rows if r.state in HOLDS or r.state in SHIPPED)
        if quantity > covered:
            route = route_line(quantity - covered, locations, book.available(sku_id), ship_to)
            for location_id, units in route.allocations:
                book.hold(order_id, line, sku_id, location_id, units)
            if route.backordered:
                book.hold(order_id, line, sku_id, None, route.backordered)
        elif quantity < covered:
            excess = covered - quantity
            holds = sorted(
                (r for r in rows if r.state in HOLDS), key=lambda r: (r.state == RESERVED, -(r.id or 0))
            )
            for row in holds:
                units = min(excess, row.quantity)
                book.drop(row, units)
                excess -= units


def release_order(
    session: Session,
    order_id: int,
    *,
    restock: bool = True,
    lines: Collection[str] | None = None,
    who: str | None = None,
    reason: str | None = None,
) -> OrderStock:
    """Cancellation or refund of an order (or of ``lines``, by external id). Its holds end:
    reserved units become available again when ``restock``, and are written off ``on_hand``
    when not. With ``restock``, units already fulfilled are put back on hand too (a return).
    Released lines stay released; calling again changes nothing."""
    take_write_lock(session)
    order = lock_orders(session, [order_id])[order_id]
    book = Ledger(session, [order_id], (), who)
    label = reason or f"order {order.number or order_id} " + ("restocked" if restock else "not restocked")
    for row in book.rows_of(order_id):
        if lines is not None and row.line not in lines:
            continue
        if row.state in HOLDS:
            book.release(row, row.quantity, write_off=not restock, reason=label)
        elif row.state == FULFILLED and restock:
            book.restock(row, row.quantity, reason=label)
    book.flush()
    return orders_stock(session, [order_id])[order_id]


def fulfil_order_lines(
    session: Session, order_id: int, fulfilled: Mapping[str, int] | None = None, *, who: str | None = None
) -> OrderStock:
    """Shipped units leave ``on_hand``: their reservations become fulfilled. ``fulfilled``
    maps line external id → units shipped IN TOTAL so far (not this time), so repeating a
    call changes nothing; None ships every reserved unit. Backordered units cannot ship."""
    if fulfilled is not None:
        for line, units in fulfilled.items():
            if units < 0:
                raise InventoryError("fulfilled", f"line {line}: units must be 0 or more")
    take_write_lock(session)
    order = lock_orders(session, [order_id])[order_id]
    book = Ledger(session, [order_id], (), who)
    reason = f"order {order.number or order_id} shipped"
    lines = fulfilled.keys() if fulfilled is not None else {r.line for r in book.rows_of(order_id)}
    for line in sorted(lines):
        rows = book.rows_of(order_id, line)
        shipped = sum(r.quantity for r in rows if r.state in SHIPPED)
        reserved = [r for r in rows if r.state == RESERVED]
        target = fulfilled[line] if fulfilled is not None else shipped + sum(r.quantity for r in reserved)
        take = target - shipped
        for row in reserved:
            if take <= 0:
                break
            units = min(take, row.quantity)
            book.fulfil(row, units, reason)
            take -= units
    book.flush()
    return orders_stock(session, [order_id])[order_id]


# --- counts and adjustments ----------------------------------------------------------


@dataclass(frozen=True)
class LevelChange:
    sku_id: int
    location_id: int
    on_hand: int
    reserved: int
    delta: int
    replayed: bool = False

    @property
    def available(self) -> int:
        return available(self.on_hand, self.reserved)


def set_on_hand(
    session: Session,
    sku_id: int,
    location_id: int,
    on_hand: int,
    *,
    reason: str = "count",
    source: str = "manual",
    who: str | None = None,
    key: str | None = None,
) -> LevelChange:
    """A count: ``on_hand`` becomes ``on_hand`` (recorded with the difference). Below what is
    reserved is allowed (the count is the truth); available is then 0."""
    if on_hand < 0:
        raise InventoryError("on_hand", "must be 0 or more")
    return _change_on_hand(session, sku_id, location_id, lambda _old: on_hand, reason, source, who, key)


def adjust(
    session: Session,
    sku_id: int,
    location_id: int,
    delta: int,
    *,
    reason: str,
    source: str = "manual",
    who: str | None = None,
    key: str | None = None,
) -> LevelChange:
    """``on_hand`` moves by ``delta`` (a receipt, damage, a found unit); never below 0."""

    def new(old: int) -> int:
        if old + delta < 0:
            raise InventoryError("adjust", f"would take on_hand below 0 (on hand: {old})")
        return old + delta

    return _change_on_hand(session, sku_id, location_id, new, reason, source, who, key)


def _change_on_hand(
    session: Session,
    sku_id: int,
    location_id: int,
    new_on_hand: Callable[[int], int],
    reason: str,
    source: str,
    who: str | None,
    key: str | None,
) -> LevelChange:
    now = t.utcnow()
    insert_ignoring_conflicts(  # the first statement: a write (SQLite's lock), and the row exists
        session,
        STOCK,
        [{"sku_id": sku_id, "location_id": location_id, "on_hand": 0, "reserved": 0, "updated_at": now}],
        ["sku_id", "location_id"],
    )
    level = session.execute(
        select(STOCK.c.id, STOCK.c.on_hand, STOCK.c.reserved)
        .where(STOCK.c.sku_id == sku_id, STOCK.c.location_id == location_id)
        .with_for_update()
    ).one()
    if key is not None:  # after the lock: a concurrent twin of this request has committed by now
        prior = session.execute(select(ADJUSTMENTS).where(ADJUSTMENTS.c.key == key)).first()
        if prior is not None:
            if (prior.sku_id, prior.location_id) != (sku_id, location_id):
                raise InventoryError("key", "was already used for another SKU or location")
            return LevelChange(sku_id, location_id, level.on_hand, level.reserved, prior.delta, replayed=True)
    on_hand = new_on_hand(level.on_hand)
    delta = on_hand - level.on_hand
    if delta:
        session.execute(update(STOCK).where(STOCK.c.id == level.id).values(on_hand=on_hand, updated_at=now))
    if delta or key is not None:
        session.execute(
            insert(ADJUSTMENTS).values(
                sku_id=sku_id,
                location_id=location_id,
                delta=delta,
                on_hand_after=on_hand,
                reason=reason,
                source=source,
                who=who[:WHO_MAX] if who else None,
                order_id=None,
                key=key,
                at=now,
            )
        )
    if delta:
        enqueue_push(session, [sku_id])
        check_low_stock(session, [sku_id])  # a stock.low event once per crossing
    return LevelChange(sku_id, location_id, on_hand, level.reserved, delta)


def recount_reserved(session: Session, sku_ids: Collection[int] | None = None) -> int:
    """Set ``stock_levels.reserved`` from the reservations (a repair, e.g. after orders were
    deleted with their connection); returns how many rows were wrong."""
    take_write_lock(session)
    query = select(STOCK.c.id, STOCK.c.sku_id, STOCK.c.location_id, STOCK.c.reserved).order_by(STOCK.c.id)
    if sku_ids is not None:
        query = query.where(STOCK.c.sku_id.in_(sorted(sku_ids)))
    levels = session.execute(query.with_for_update()).all()
    totals = session.execute(
        select(RESERVATIONS.c.sku_id, RESERVATIONS.c.location_id, func.sum(RESERVATIONS.c.quantity))
        .where(RESERVATIONS.c.state == RESERVED)
        .group_by(RESERVATIONS.c.sku_id, RESERVATIONS.c.location_id)
    ).all()
    held = {(sku_id, location_id): int(units) for sku_id, location_id, units in totals}
    wrong = [lv for lv in levels if lv.reserved != held.get((lv.sku_id, lv.location_id), 0)]
    now = t.utcnow()
    for lv in wrong:
        session.execute(
            update(STOCK)
            .where(STOCK.c.id == lv.id)
            .values(reserved=held.get((lv.sku_id, lv.location_id), 0), updated_at=now)
        )
    if wrong:
        enqueue_push(session, {lv.sku_id for lv in wrong})
    return len(wrong)
