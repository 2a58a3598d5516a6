"""The bookkeeping under ``hub.inventory.stock``: the locks, in their one order, and the
``Ledger`` that changes reservations and stock rows in memory and writes them once.

Reservation states: ``reserved`` (held at a location), ``backordered`` (no location),
``released`` (the hold ended), ``fulfilled`` (shipped: off ``on_hand``), ``restocked``
(shipped and put back). Each move between them carries its effect on ``stock_levels``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from hub import tables as t
from hub.inventory.lowstock import check_low_stock
from hub.inventory.outbox import enqueue_push
from hub.inventory.publish import available

ORDERS = t.Order.__table__
STOCK = t.StockLevel.__table__
RESERVATIONS = t.Reservation.__table__
ADJUSTMENTS = t.StockAdjustment.__table__

RESERVED, BACKORDERED, RELEASED, FULFILLED, RESTOCKED = (
    "reserved",
    "backordered",
    "released",
    "fulfilled",
    "restocked",
)
HOLDS = (RESERVED, BACKORDERED)
SHIPPED = (FULFILLED, RESTOCKED)
WHO_MAX = 150


def take_write_lock(session: Session) -> None:
    """SQLite: begin with a write (a no-op update), so the write lock is held from here on."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(STOCK).where(STOCK.c.id == -1).values(reserved=STOCK.c.reserved))


def lock_orders(session: Session, order_ids: list[int]) -> dict[int, Any]:
    rows = session.execute(
        select(
            ORDERS.c.id, ORDERS.c.connection_id, ORDERS.c.number, ORDERS.c.status, ORDERS.c.fulfillment_status
        )
        .where(ORDERS.c.id.in_(order_ids))
        .order_by(ORDERS.c.id)
        .with_for_update()
    ).all()
    found = {row.id: row for row in rows}
    missing = [i for i in order_ids if i not in found]
    if missing:
        raise LookupError(f"no order with id {missing[0]}")
    return found


@dataclass
class Level:
    id: int
    sku_id: int
    location_id: int
    on_hand: int
    reserved: int
    d_on_hand: int = 0
    d_reserved: int = 0

    @property
    def available(self) -> int:
        return available(self.on_hand, self.reserved)


@dataclass
class Row:
    id: int | None
    order_id: int
    line: str
    sku_id: int
    location_id: int | None
    state: str
    quantity: int
    stored: int


class Ledger:
    """The reservations of some orders and the locked stock rows of their SKUs: changed in
    memory, each change with its effect on the stock, and written once by ``flush``."""

    def __init__(
        self, session: Session, order_ids: list[int], sku_ids: Iterable[int], who: str | None = None
    ) -> None:
        self.session = session
        self.now = t.utcnow()
        self.who = who[:WHO_MAX] if who else None
        self.rows: list[Row] = [
            Row(
                r.id, r.order_id, r.line_external_id, r.sku_id, r.location_id, r.state, r.quantity, r.quantity
            )
            for r in session.execute(
                select(RESERVATIONS).where(RESERVATIONS.c.order_id.in_(order_ids)).order_by(RESERVATIONS.c.id)
            )
        ]
        self.by_key = {(r.order_id, r.line, r.sku_id, r.location_id, r.state): r for r in self.rows}
        wanted = sorted(set(sku_ids) | {r.sku_id for r in self.rows})
        self.levels: dict[tuple[int, int], Level] = {}
        if wanted:
            for s in session.execute(
                select(STOCK.c.id, STOCK.c.sku_id, STOCK.c.location_id, STOCK.c.on_hand, STOCK.c.reserved)
                .where(STOCK.c.sku_id.in_(wanted))
                .order_by(STOCK.c.id)
                .with_for_update()
            ):
                self.levels[(s.sku_id, s.location_id)] = Level(
                    s.id, s.sku_id, s.location_id, s.on_hand, s.reserved
                )
        self.adjustments: list[dict[str, Any]] = []

    # reading

    def rows_of(self, order_id: int, line: str | None = None, sku_id: int | None = None) -> list[Row]:
        return [
            r
            for r in self.rows
            if r.order_id == order_id
            and r.quantity > 0
            and (line is None or r.line == line)
            and (sku_id is None or r.sku_id == sku_id)
        ]

    def available(self, sku_id: int) -> dict[int, int]:
        return {loc: level.available for (sku, loc), level in self.levels.items() if sku == sku_id}

    # changing

    def _row(self, like: Row | tuple[int, str, int, int | None], state: str) -> Row:
        order_id, line, sku_id, location_id = (
            (like.order_id, like.line, like.sku_id, like.location_id) if isinstance(like, Row) else like
        )
        key = (order_id, line, sku_id, location_id, state)
        row = self.by_key.get(key)
        if row is None:
            row = Row(None, order_id, line, sku_id, location_id, state, 0, 0)
            self.rows.append(row)
            self.by_key[key] = row
        return row

    def _level(self, row: Row) -> Level:
        assert row.location_id is not None
        level = self.levels.get((row.sku_id, row.location_id))
        if level is None:  # pragma: no cover - a reservation always has its stock row
            raise RuntimeError(f"no stock row for sku {row.sku_id} at location {row.location_id}")
        return level

    def _reserve(self, level: Level, units: int) -> None:
        units = max(units, -level.reserved)  # never below 0, even if the counter had drifted
        level.reserved += units
        level.d_reserved += units

    def _on_hand(self, level: Level, delta: int, source: str, reason: str, order_id: int | None) -> None:
        delta = max(delta, -level.on_hand)  # a count set too low cannot take on_hand negative
        if delta == 0:
            return
        level.on_hand += delta
        level.d_on_hand += delta
        self.adjustments.append(
            {
                "sku_id": level.sku_id,
                "location_id": level.location_id,
                "delta": delta,
                "on_hand_after": level.on_hand,
                "reason": reason,
                "source": source,
                "who": self.who,
                "order_id": order_id,
                "key": None,
                "at": self.now,
            }
        )

    def hold(self, order_id: int, line: str, sku_id: int, location_id: int | None, units: int) -> None:
        """New units of a line: reserved at ``location_id``, or backordered when it is None."""
        row = self._row((order_id, line, sku_id, location_id), RESERVED if location_id else BACKORDERED)
        row.quantity += units
        if location_id is not None:
            self._reserve(self._level(row), units)

    def drop(self, row: Row, units: int) -> None:
        """Units a line no longer asks for: gone without a trace."""
        row.quantity -= units
        if row.state == RESERVED:
            self._reserve(self._level(row), -units)

    def release(self, row: Row, units: int, *, write_off: bool, reason: str) -> None:
        """A hold ends; ``write_off`` also takes reserved units off ``on_hand`` (not restocked)."""
        row.quantity -= units
        self._row(row, RELEASED).quantity += units
        if row.state == RESERVED:
            level = self._level(row)
            self._reserve(level, -units)
            if write_off:
                self._on_hand(level, -units, "release", reason, row.order_id)

    def fulfil(self, row: Row, units: int, reason: str) -> None:
        row.quantity -= units
        self._row(row, FULFILLED).quantity += units
        level = self._level(row)
        self._reserve(level, -units)
        self._on_hand(level, -units, "fulfilment", reason, row.order_id)

    def restock(self, row: Row, units: int, reason: str) -> None:
        row.quantity -= units
        self._row(row, RESTOCKED).quantity += units
        self._on_hand(self._level(row), units, "restock", reason, row.order_id)

    def flush(self) -> None:
        s = self.session
        changed = [lv for lv in self.levels.values() if lv.d_on_hand or lv.d_reserved]
        if changed:
            s.execute(
                update(STOCK)
                .where(STOCK.c.id == bindparam("b_id"))
                .values(
                    on_hand=STOCK.c.on_hand + bindparam("b_on_hand"),
                    reserved=STOCK.c.reserved + bindparam("b_reserved"),
                    updated_at=self.now,
                ),
                [{"b_id": lv.id, "b_on_hand": lv.d_on_hand, "b_reserved": lv.d_reserved} for lv in changed],
            )
        gone = [r.id for r in self.rows if r.id is not None and r.quantity == 0]
        if gone:
            s.execute(delete(RESERVATIONS).where(RESERVATIONS.c.id.in_(gone)))
        moved = [r for r in self.rows if r.id is not None and r.quantity and r.quantity != r.stored]
        if moved:
            s.execute(
                update(RESERVATIONS)
                .where(RESERVATIONS.c.id == bindparam("b_id"))
                .values(quantity=bindparam("b_quantity"), updated_at=self.now),
                [{"b_id": r.id, "b_quantity": r.quantity} for r in moved],
            )
        new = [r for r in self.rows if r.id is None and r.quantity > 0]
        if new:
            s.execute(
                insert(RESERVATIONS),
                [
                    {
                        "order_id": r.order_id,
                        "line_external_id": r.line,
                        "sku_id": r.sku_id,
                        "location_id": r.location_id,
                        "state": r.state,
                        "quantity": r.quantity,
                        "created_at": self.now,
                        "updated_at": self.now,
                    }
                    for r in new
                ],
            )
        if self.adjustments:
            s.execute(insert(ADJUSTMENTS), self.adjustments)
        if changed:  # the channels are told, in this same transaction
            enqueue_push(s, {lv.sku_id for lv in changed})
            check_low_stock(s, {lv.sku_id for lv in changed})  # a stock.low event once per crossing
