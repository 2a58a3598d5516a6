"""Low stock: a SKU whose available units (all locations) are at or under its reorder point.

- ``check_low_stock`` runs after every change of ``on_hand`` or ``reserved`` (in the same
  transaction). When a SKU crosses to at/under its reorder point it sets ``skus.low_since``
  and raises one ``stock.low`` event keyed on that crossing (``stock.low:<sku id>:<time>``);
  further changes while it stays low raise nothing; going back above clears ``low_since``,
  so the next crossing raises again. The crossing is claimed by a conditional UPDATE, so
  two concurrent transactions cannot both raise it.
- Days of cover = available / average daily units sold over the last 30 days (order lines
  of orders not cancelled, resolved to the SKU through the SKU mappings); None when nothing
  sold.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from hub import tables as t
from hub.events import raise_event
from hub.inventory.skumap import lines_with_resolution

TOPIC = "stock.low"
SALES_DAYS = 30
SKUS = t.Sku.__table__
STOCK = t.StockLevel.__table__


# --- pure ----------------------------------------------------------------------------


def is_low(available: int, reorder_point: int | None) -> bool:
    """At or under the reorder point; a SKU without one is never low."""
    return reorder_point is not None and available <= reorder_point


def days_of_cover(available: int, units_sold: int, days: int = SALES_DAYS) -> Decimal | None:
    """How many days ``available`` lasts at the average daily rate of ``units_sold`` over
    ``days`` days, to one decimal; None when nothing sold (no rate to divide by)."""
    if units_sold <= 0:
        return None
    cover = Decimal(max(0, available)) * days / Decimal(units_sold)
    return cover.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def crossing(low_now: bool, low_since: datetime | None) -> str | None:
    """``crossed`` (just went low), ``recovered`` (just went above) or None (no change)."""
    if low_now and low_since is None:
        return "crossed"
    if not low_now and low_since is not None:
        return "recovered"
    return None


def event_key(sku_id: int, since: datetime) -> str:
    return f"{TOPIC}:{sku_id}:{since.isoformat()}"


# --- database ------------------------------------------------------------------------


def available_expr() -> Any:
    """Units free at one stock row: ``max(0, on_hand - reserved)`` in SQL."""
    return case((STOCK.c.on_hand > STOCK.c.reserved, STOCK.c.on_hand - STOCK.c.reserved), else_=0)


def available_by_sku(session: Session, sku_ids: Iterable[int]) -> dict[int, int]:
    """SKU id → units available over all its locations (0 for a SKU with no stock row)."""
    ids = sorted(set(sku_ids))
    if not ids:
        return {}
    found = dict(
        session.execute(
            select(STOCK.c.sku_id, func.sum(available_expr()))
            .where(STOCK.c.sku_id.in_(ids))
            .group_by(STOCK.c.sku_id)
        ).all()
    )
    return {i: int(found.get(i) or 0) for i in ids}


def units_sold(
    session: Session, sku_ids: Iterable[int], days: int = SALES_DAYS, now: datetime | None = None
) -> dict[int, int]:
    """SKU id → units on the lines of orders created in the last ``days`` days and not
    cancelled (each line's channel SKU resolved through its mapping, else the equal SKU)."""
    ids = sorted(set(sku_ids))
    if not ids:
        return {}
    since = (now or t.utcnow()) - timedelta(days=days)
    resolved = func.coalesce(t.SkuMapping.sku_id, t.Sku.id)
    query = lines_with_resolution(
        select(resolved, func.sum(t.OrderLine.quantity))
        .select_from(t.OrderLine)
        .join(t.Order, t.Order.id == t.OrderLine.order_id)
        .where(t.Order.created_at >= since, t.Order.status != "cancelled", t.OrderLine.sku.is_not(None))
    )
    found = dict(session.execute(query.where(resolved.in_(ids)).group_by(resolved)).all())
    return {i: int(found.get(i) or 0) for i in ids}


@dataclass(frozen=True, slots=True)
class LowStock:
    sku_id: int
    sku: str
    name: str | None
    reorder_point: int | None
    available: int
    units_sold_30d: int
    days_of_cover: Decimal | None
    low: bool
    low_since: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "reorder_point": self.reorder_point,
            "low": self.low,
            "low_since": self.low_since.isoformat().replace("+00:00", "Z") if self.low_since else None,
            "available": self.available,
            "units_sold_30d": self.units_sold_30d,
            "days_of_cover": None if self.days_of_cover is None else str(self.days_of_cover),
        }


def low_stock_info(
    session: Session, skus: Iterable[t.Sku], now: datetime | None = None
) -> dict[int, LowStock]:
    """SKU id → its low-stock state and days of cover, for showing."""
    rows = list(skus)
    ids = [s.id for s in rows]
    free = available_by_sku(session, ids)
    sold = units_sold(session, ids, now=now)
    return {
        s.id: LowStock(
            s.id,
            s.sku,
            s.name,
            s.reorder_point,
            free[s.id],
            sold[s.id],
            days_of_cover(free[s.id], sold[s.id]),
            is_low(free[s.id], s.reorder_point),
            s.low_since,
        )
        for s in rows
    }


def check_low_stock(session: Session, sku_ids: Iterable[int], now: datetime | None = None) -> list[int]:
    """After a stock change: raise ``stock.low`` for each of these SKUs that has just gone at or
    under its reorder point, and re-arm those back above it. Returns the new events' ids."""
    ids = sorted(set(sku_ids))
    if not ids:
        return []
    skus = session.execute(
        select(SKUS.c.id, SKUS.c.sku, SKUS.c.name, SKUS.c.reorder_point, SKUS.c.low_since).where(
            SKUS.c.id.in_(ids), (SKUS.c.reorder_point.is_not(None)) | (SKUS.c.low_since.is_not(None))
        )
    ).all()
    if not skus:
        return []
    free = available_by_sku(session, [s.id for s in skus])
    at = now or t.utcnow()
    crossed = []
    for s in skus:
        change = crossing(is_low(free[s.id], s.reorder_point), s.low_since)
        if change == "recovered":
            session.execute(
                update(SKUS).where(SKUS.c.id == s.id, SKUS.c.low_since.is_not(None)).values(low_since=None)
            )
        elif change == "crossed":
            claimed = session.execute(
                update(SKUS).where(SKUS.c.id == s.id, SKUS.c.low_since.is_(None)).values(low_since=at)
            ).rowcount
            if claimed:
                crossed.append(s)
    if not crossed:
        return []
    sold = units_sold(session, [s.id for s in crossed], now=at)
    events = []
    for s in crossed:
        payload = low_payload(s.sku, s.name, s.reorder_point, free[s.id], sold[s.id], at)
        event_id = raise_event(session, TOPIC, event_key(s.id, at), payload, at=at)
        if event_id is not None:
            events.append(event_id)
    return events


def low_payload(
    sku: str, name: str | None, reorder_point: int, available: int, sold: int, at: datetime
) -> dict[str, Any]:
    """The ``stock.low`` event's body. Pure."""
    cover = days_of_cover(available, sold)
    return {
        "sku": sku,
        "name": name,
        "available": available,
        "reorder_point": reorder_point,
        "units_sold_30d": sold,
        "days_of_cover": None if cover is None else str(cover),
        "at": at.isoformat().replace("+00:00", "Z"),
    }


def low_skus_query(base: Any | None = None) -> Any:
    """``select(Sku)`` narrowed to SKUs at or under their reorder point (live, from the stock)."""
    free = (
        select(STOCK.c.sku_id, func.sum(available_expr()).label("free")).group_by(STOCK.c.sku_id).subquery()
    )
    query = base if base is not None else select(t.Sku)
    return query.outerjoin(free, free.c.sku_id == t.Sku.id).where(
        t.Sku.reorder_point.is_not(None), func.coalesce(free.c.free, 0) <= t.Sku.reorder_point
    )


def set_reorder_point(session: Session, sku: t.Sku, reorder_point: int | None) -> list[int]:
    """Change a SKU's reorder point (None: none) and check it at once; returns events raised."""
    if reorder_point is not None and reorder_point < 0:
        raise ValueError("reorder point must be 0 or more")
    sku.reorder_point = reorder_point
    session.flush()
    return check_low_stock(session, [sku.id])
