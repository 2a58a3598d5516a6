"""Stock as the API and the pages show it: per SKU its locations, totals and what each
channel is shown; per order line what is reserved, backordered or shipped. Reads only."""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from hub import tables as t
from hub.connectors import FieldError
from hub.inventory.catalogue import rules_of
from hub.inventory.publish import available, published_quantity, sellable
from hub.inventory.skumap import resolve_channel_skus

LINES = t.OrderLine.__table__
RESERVATIONS = t.Reservation.__table__


# --- orders --------------------------------------------------------------------------


@dataclass(frozen=True)
class LineStock:
    """One order line's stock. ``status``: ``reserved`` (every open unit held), ``partial``
    (some held or shipped, some backordered), ``backordered``, ``fulfilled``, ``released``,
    ``pending`` (not reserved yet), or unmanaged: ``no_sku`` / ``unknown_sku``."""

    line_external_id: str
    sku: str | None
    quantity: int
    reserved: int
    backordered: int
    fulfilled: int
    restocked: int
    released: int
    locations: tuple[tuple[str, int], ...]  # (location code, units reserved there)
    status: str


@dataclass(frozen=True)
class OrderStock:
    order_id: int
    lines: tuple[LineStock, ...]

    @property
    def reserved(self) -> int:
        return sum(line.reserved for line in self.lines)

    @property
    def backordered(self) -> int:
        return sum(line.backordered for line in self.lines)


def _status(sku: str | None, known: bool, units: dict[str, int]) -> str:
    if not sku:
        return "no_sku"
    if not known:
        return "unknown_sku"
    held, back = units["reserved"], units["backordered"]
    shipped = units["fulfilled"] + units["restocked"]
    if back:
        return "partial" if held or shipped else "backordered"
    if held:
        return "reserved"
    if units["released"]:
        return "released"
    return "fulfilled" if shipped else "pending"


def _resolved_lines(session: Session, order_ids: list[int], lines: Sequence[Any]) -> set[tuple[int, str]]:
    """(order id, line SKU) of the lines whose SKU resolves to a catalogue SKU through the order's
    connection's SKU mapping (as ``hub.inventory.stock.reserve_orders`` resolves them)."""
    connection_of = dict(
        session.execute(select(t.Order.id, t.Order.connection_id).where(t.Order.id.in_(order_ids))).all()
    )
    codes: dict[int, set[str]] = defaultdict(set)
    for line in lines:
        if (line.sku or "").strip():
            codes[connection_of[line.order_id]].add(line.sku.strip())
    resolved = {
        (connection_id, code)
        for connection_id, wanted in codes.items()
        for code, sku_id in resolve_channel_skus(session, connection_id, sorted(wanted)).items()
        if sku_id is not None
    }
    return {
        (line.order_id, line.sku.strip())
        for line in lines
        if (line.sku or "").strip() and (connection_of[line.order_id], line.sku.strip()) in resolved
    }


def orders_stock(session: Session, order_ids: Iterable[int]) -> dict[int, OrderStock]:
    ids = sorted(set(order_ids))
    lines = session.execute(
        select(LINES.c.order_id, LINES.c.external_id, LINES.c.sku, LINES.c.quantity)
        .where(LINES.c.order_id.in_(ids))
        .order_by(LINES.c.order_id, LINES.c.position)
    ).all()
    known = _resolved_lines(session, ids, lines)
    codes = dict(session.execute(select(t.Location.id, t.Location.code)).all())
    units: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    where: dict[tuple[int, str], dict[str, int]] = defaultdict(dict)
    for r in session.execute(
        select(RESERVATIONS).where(RESERVATIONS.c.order_id.in_(ids)).order_by(RESERVATIONS.c.id)
    ):
        units[(r.order_id, r.line_external_id)][r.state] += r.quantity
        if r.state == "reserved" and r.location_id is not None:
            where[(r.order_id, r.line_external_id)][codes[r.location_id]] = r.quantity
    result: dict[int, list[LineStock]] = {i: [] for i in ids}
    for line in lines:
        key = (line.order_id, line.external_id)
        counts = units[key]
        sku = (line.sku or "").strip() or None
        result[line.order_id].append(
            LineStock(
                line_external_id=line.external_id,
                sku=sku,
                quantity=line.quantity,
                reserved=counts["reserved"],
                backordered=counts["backordered"],
                fulfilled=counts["fulfilled"],
                restocked=counts["restocked"],
                released=counts["released"],
                locations=tuple(where[key].items()),
                status=_status(sku, (line.order_id, sku) in known, counts),
            )
        )
    return {i: OrderStock(i, tuple(lines_)) for i, lines_ in result.items()}


# --- SKUs ----------------------------------------------------------------------------


def sku_documents(session: Session, skus: Sequence[t.Sku]) -> list[dict[str, Any]]:
    """Each SKU with its stock per location, totals, and the quantity each channel is shown
    (available at unpaused locations after that channel's rules)."""
    ids = [s.id for s in skus]
    levels: dict[int, list[Any]] = defaultdict(list)
    for row in session.execute(
        select(
            t.StockLevel.sku_id,
            t.StockLevel.on_hand,
            t.StockLevel.reserved,
            t.Location.code,
            t.Location.name,
            t.Location.paused,
        )
        .join(t.Location, t.Location.id == t.StockLevel.location_id)
        .where(t.StockLevel.sku_id.in_(ids))
        .order_by(t.Location.priority, t.Location.code)
    ):
        levels[row.sku_id].append(row)
    backordered = dict(
        session.execute(
            select(RESERVATIONS.c.sku_id, func.sum(RESERVATIONS.c.quantity))
            .where(RESERVATIONS.c.sku_id.in_(ids), RESERVATIONS.c.state == "backordered")
            .group_by(RESERVATIONS.c.sku_id)
        ).all()
    )
    channels = session.execute(
        select(t.Connection.id, t.Connection.name, t.ChannelStockRule)
        .outerjoin(t.ChannelStockRule, t.ChannelStockRule.connection_id == t.Connection.id)
        .where(t.Connection.kind == "channel")
        .order_by(t.Connection.id)
    ).all()
    docs = []
    for sku in skus:
        mine = levels.get(sku.id, [])
        free = sellable((lv.on_hand, lv.reserved, lv.paused) for lv in mine)
        docs.append(
            {
                "sku": sku.sku,
                "name": sku.name,
                "reorder_point": sku.reorder_point,
                "totals": {
                    "on_hand": sum(lv.on_hand for lv in mine),
                    "reserved": sum(lv.reserved for lv in mine),
                    "available": sum(available(lv.on_hand, lv.reserved) for lv in mine),
                    "backordered": int(backordered.get(sku.id) or 0),
                },
                "locations": [
                    {
                        "location": lv.code,
                        "name": lv.name,
                        "on_hand": lv.on_hand,
                        "reserved": lv.reserved,
                        "available": available(lv.on_hand, lv.reserved),
                        "paused": lv.paused,
                    }
                    for lv in mine
                ],
                "channels": [
                    {
                        "connection_id": cid,
                        "name": name,
                        "published": published_quantity(free, rules_of(rule)),
                    }
                    for cid, name, rule in channels
                ],
            }
        )
    return docs


def encode_cursor(sku: str) -> str:
    return base64.urlsafe_b64encode(sku.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise FieldError({"cursor": "is not a cursor this API gave out"}) from None


def list_skus(
    session: Session, limit: int, cursor: str | None = None, q: str | None = None
) -> tuple[list[t.Sku], str | None]:
    """A page of the catalogue in SKU order, optionally those whose SKU or name contains ``q``."""
    query = select(t.Sku).order_by(t.Sku.sku).limit(limit + 1)
    if cursor:
        query = query.where(t.Sku.sku > decode_cursor(cursor))
    if q:
        needle = q.lower()
        query = query.where(
            or_(
                func.lower(t.Sku.sku).contains(needle, autoescape=True),
                func.lower(t.Sku.name).contains(needle, autoescape=True),
            )
        )
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1].sku) if more and rows else None
