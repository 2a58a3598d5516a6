"""SKU mapping: each channel listing (its SKU, product / variant / listing ids) and the internal
SKU it sells.

- Filled automatically: a channel SKU equal to an internal SKU (exact, case-sensitive, after
  trimming) is mapped to it, whether it is read from a channel's listings or seen on an
  ingested order line; one that matches nothing is stored unmapped (``sku_id`` None).
- Edited by hand (``map_channel_sku``, ``create_sku_for``) or from CSV (``hub.inventory.csvio``);
  a manual choice is never overwritten by the automatic match.
- A mapping newly pointing at a SKU queues a full push of that SKU to that channel
  (``hub.inventory.outbox.enqueue_push``).
- ``resolve_channel_skus`` answers channel SKU → internal SKU id for one connection: the
  mapping when it names a SKU, else the exact internal SKU, else None (unmapped).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from hub import tables as t
from hub.db import insert_for
from hub.inventory.catalogue import ensure_sku

MAPPINGS = t.SkuMapping.__table__
SKUS = t.Sku.__table__
OPEN_STATUSES = ("open", "on_hold")  # orders still to be shipped: the ones an unmapped SKU holds up
SOURCES = ("auto", "manual", "csv")
FIELD_MAX = {"channel_sku": 200, "product_id": 100, "variant_id": 100, "listing_id": 200}


class MappingError(ValueError):
    """A mapping change refused, naming the field it is about."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field} {message}")


@dataclass(frozen=True, slots=True)
class Listing:
    """One channel listing as read from the channel (or an order line)."""

    channel_sku: str
    product_id: str | None = None
    variant_id: str | None = None
    listing_id: str | None = None


def _text(value: Any, field: str) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if len(text) > FIELD_MAX[field]:
        raise MappingError(field, f"is longer than {FIELD_MAX[field]} characters")
    return text or None


def as_listing(value: Listing | Mapping[str, Any]) -> Listing | None:
    """A listing with trimmed text and ids as strings; None when it has no channel SKU."""
    if isinstance(value, Listing):
        fields: Mapping[str, Any] = {
            "channel_sku": value.channel_sku,
            "product_id": value.product_id,
            "variant_id": value.variant_id,
            "listing_id": value.listing_id,
        }
    else:
        fields = {**value, "channel_sku": value.get("channel_sku", value.get("sku"))}
    sku = _text(fields.get("channel_sku"), "channel_sku")
    if sku is None:
        return None
    return Listing(
        sku,
        _text(fields.get("product_id"), "product_id"),
        _text(fields.get("variant_id"), "variant_id"),
        _text(fields.get("listing_id"), "listing_id"),
    )


def merge_listings(listings: Iterable[Listing | Mapping[str, Any]]) -> dict[str, Listing]:
    """Channel SKU → one listing, a later id filling or replacing an earlier one. Pure."""
    merged: dict[str, Listing] = {}
    for raw in listings:
        listing = as_listing(raw)
        if listing is None:
            continue
        before = merged.get(listing.channel_sku)
        if before is not None:
            listing = Listing(
                listing.channel_sku,
                listing.product_id or before.product_id,
                listing.variant_id or before.variant_id,
                listing.listing_id or before.listing_id,
            )
        merged[listing.channel_sku] = listing
    return merged


def _sku_ids(session: Session, codes: Iterable[str]) -> dict[str, int]:
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    return dict(session.execute(select(SKUS.c.sku, SKUS.c.id).where(SKUS.c.sku.in_(wanted))).all())


def _queue_pushes(session: Session, pushes: Iterable[tuple[int, int]]) -> None:
    """A mapping newly names a SKU: that SKU's whole stock goes to that channel."""
    by_connection: dict[int, set[int]] = {}
    for connection_id, sku_id in pushes:
        by_connection.setdefault(connection_id, set()).add(sku_id)
    if not by_connection:
        return
    from hub.inventory.outbox import enqueue_push  # the sync engine's module (imported late: optional)

    for connection_id, sku_ids in sorted(by_connection.items()):
        enqueue_push(session, sorted(sku_ids), connection_id=connection_id)


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> set[int]:
    """Insert the mappings no one else inserted meanwhile; the ids of those this call made."""
    if not rows:
        return set()
    stmt = insert_for(session, MAPPINGS)
    stmt = stmt.on_conflict_do_nothing(index_elements=["connection_id", "channel_sku"]).returning(
        MAPPINGS.c.id
    )
    return {
        row.id for row in session.execute(stmt, rows, execution_options={"insertmanyvalues_page_size": 500})
    }


def record_listings(
    session: Session, connection_id: int, listings: Iterable[Listing | Mapping[str, Any]]
) -> list[t.SkuMapping]:
    """Store the listings a channel reported (``Listing`` or mappings with ``channel_sku`` or
    ``sku``, ``product_id``, ``variant_id``, ``listing_id``). New channel SKUs are mapped to the
    equal internal SKU or stored unmapped; known ones get their ids refreshed, and an unmapped
    one is mapped if an equal internal SKU exists now. Safe to repeat and to run concurrently.
    Returns the mappings created or newly mapped by this call."""
    merged = merge_listings(listings)
    if not merged:
        return []
    codes = sorted(merged)
    internal = _sku_ids(session, codes)
    before = {
        m.channel_sku: m
        for m in session.scalars(
            select(t.SkuMapping).where(
                t.SkuMapping.connection_id == connection_id, t.SkuMapping.channel_sku.in_(codes)
            )
        )
    }
    now = t.utcnow()
    new_rows = [
        {
            "connection_id": connection_id,
            "channel_sku": code,
            "product_id": merged[code].product_id,
            "variant_id": merged[code].variant_id,
            "listing_id": merged[code].listing_id,
            "sku_id": internal.get(code),
            "source": "auto",
            "created_at": now,
            "updated_at": now,
        }
        for code in codes
        if code not in before
    ]
    created = _insert_new(session, new_rows)
    changed: list[int] = []
    for code, mapping in before.items():
        listing = merged[code]
        values: dict[str, Any] = {
            field: getattr(listing, field)
            for field in ("product_id", "variant_id", "listing_id")
            if getattr(listing, field) is not None and getattr(listing, field) != getattr(mapping, field)
        }
        if mapping.sku_id is None and code in internal:
            values["sku_id"] = internal[code]
        if not values:
            continue
        stmt = update(MAPPINGS).where(MAPPINGS.c.id == mapping.id).values(**values, updated_at=now)
        if "sku_id" in values:  # only if nobody mapped it meanwhile
            stmt = stmt.where(MAPPINGS.c.sku_id.is_(None))
            if session.execute(stmt).rowcount:
                changed.append(mapping.id)
        else:
            session.execute(stmt)
    session.expire_all()
    rows = {
        m.channel_sku: m
        for m in session.scalars(
            select(t.SkuMapping).where(
                t.SkuMapping.connection_id == connection_id, t.SkuMapping.channel_sku.in_(codes)
            )
        )
    }
    result = [m for m in rows.values() if m.id in changed or m.id in created]
    result.sort(key=lambda m: m.channel_sku)
    _queue_pushes(session, ((m.connection_id, m.sku_id) for m in result if m.sku_id is not None))
    return result


def resolve_channel_skus(
    session: Session, connection_id: int, channel_skus: Iterable[str]
) -> dict[str, int | None]:
    """Each channel SKU as given → the internal SKU id it sells (its mapping if that names a
    SKU, else the equal internal SKU), or None when unmapped."""
    given = [c for c in channel_skus if c is not None]
    trimmed = {c: c.strip() for c in given}
    wanted = sorted({v for v in trimmed.values() if v})
    mapped: dict[str, int | None] = {}
    if wanted:
        mapped = dict(
            session.execute(
                select(MAPPINGS.c.channel_sku, MAPPINGS.c.sku_id).where(
                    MAPPINGS.c.connection_id == connection_id, MAPPINGS.c.channel_sku.in_(wanted)
                )
            ).all()
        )
    internal = _sku_ids(session, wanted)
    return {c: mapped.get(trimmed[c]) or internal.get(trimmed[c]) for c in given}


def record_order_lines(session: Session, order_ids: Sequence[int]) -> list[t.SkuMapping]:
    """The channel SKUs seen on these stored orders' lines, recorded as listings of their
    connection (product and variant ids taken from the canonical line when it has them)."""
    if not order_ids:
        return []
    rows = session.execute(
        select(t.Order.connection_id, t.Order.canonical, t.OrderLine.external_id, t.OrderLine.sku)
        .join(t.OrderLine, t.OrderLine.order_id == t.Order.id)
        .where(t.Order.id.in_(sorted(set(order_ids))), t.OrderLine.sku.is_not(None))
        .order_by(t.Order.id, t.OrderLine.position)
    ).all()
    per_connection: dict[int, list[Listing | Mapping[str, Any]]] = {}
    for connection_id, canonical, line_id, sku in rows:
        extra = next(
            (
                line
                for line in (canonical or {}).get("lines", [])
                if isinstance(line, dict) and str(line.get("external_id")) == line_id
            ),
            {},
        )
        per_connection.setdefault(connection_id, []).append(
            {"channel_sku": sku, "product_id": extra.get("product_id"), "variant_id": extra.get("variant_id")}
        )
    result: list[t.SkuMapping] = []
    for connection_id, listings in sorted(per_connection.items()):
        result.extend(record_listings(session, connection_id, listings))
    return result


def record_all_order_skus(session: Session, batch: int = 500) -> int:
    """Backfill: every stored order's channel SKUs recorded. Returns how many mappings were
    created or mapped."""
    done = 0
    last = 0
    while True:
        ids = list(
            session.scalars(select(t.Order.id).where(t.Order.id > last).order_by(t.Order.id).limit(batch))
        )
        if not ids:
            return done
        done += len(record_order_lines(session, ids))
        last = ids[-1]


# --- editing ---------------------------------------------------------------------------


def get_mapping(session: Session, mapping_id: int) -> t.SkuMapping:
    mapping = session.get(t.SkuMapping, mapping_id)
    if mapping is None:
        raise MappingError("mapping", f"{mapping_id} does not exist")
    return mapping


def set_mapping(
    session: Session, mapping: t.SkuMapping, sku_id: int | None, source: str = "manual", *, push: bool = True
) -> bool:
    """Point ``mapping`` at ``sku_id`` (None unmaps it). Returns whether it changed; a new
    target queues a full push of that SKU to the mapping's channel (``push=False``: the caller
    queues it, e.g. once for a whole import, with ``queue_mapping_pushes``)."""
    if source not in SOURCES:
        raise MappingError("source", f"must be one of {', '.join(SOURCES)}")
    if sku_id is not None and session.get(t.Sku, sku_id) is None:
        raise MappingError("sku", f"{sku_id} does not exist")
    if mapping.sku_id == sku_id:
        return False
    mapping.sku_id = sku_id
    mapping.source = source
    mapping.updated_at = t.utcnow()
    session.flush()
    if sku_id is not None and push:
        _queue_pushes(session, [(mapping.connection_id, sku_id)])
    return True


def queue_mapping_pushes(session: Session, mappings: Iterable[t.SkuMapping]) -> None:
    """The full pushes of mappings changed with ``set_mapping(..., push=False)``, queued at once."""
    _queue_pushes(session, ((m.connection_id, m.sku_id) for m in mappings if m.sku_id is not None))


def map_channel_sku(
    session: Session, mapping_id: int, sku: str | None, source: str = "manual"
) -> t.SkuMapping:
    """Map a stored channel SKU to the internal SKU named ``sku`` (must exist; empty unmaps)."""
    mapping = get_mapping(session, mapping_id)
    code = (sku or "").strip()
    sku_id: int | None = None
    if code:
        sku_id = _sku_ids(session, [code]).get(code)
        if sku_id is None:
            raise MappingError("sku", f"{code!r} is not an internal SKU")
    set_mapping(session, mapping, sku_id, source)
    return mapping


def create_sku_for(
    session: Session, mapping_id: int, sku: str | None = None, name: str | None = None
) -> t.SkuMapping:
    """Create the internal SKU ``sku`` (default: the channel SKU) and map the listing to it;
    every other unmapped listing with that exact channel SKU is mapped to it too."""
    mapping = get_mapping(session, mapping_id)
    code = (sku or mapping.channel_sku).strip()
    if not code:
        raise MappingError("sku", "is required")
    if len(code) > FIELD_MAX["channel_sku"]:
        raise MappingError("sku", f"is longer than {FIELD_MAX['channel_sku']} characters")
    row = ensure_sku(session, code, name=(name or "").strip() or None)
    set_mapping(session, mapping, row.id, "manual")
    automap_sku(session, row)
    return mapping


def automap_sku(session: Session, sku: t.Sku) -> int:
    """A new internal SKU: unmapped listings with exactly that channel SKU now sell it.
    Returns how many were mapped."""
    ids = list(
        session.execute(
            select(MAPPINGS.c.id, MAPPINGS.c.connection_id).where(
                MAPPINGS.c.channel_sku == sku.sku, MAPPINGS.c.sku_id.is_(None)
            )
        ).all()
    )
    if not ids:
        return 0
    session.execute(
        update(MAPPINGS)
        .where(MAPPINGS.c.id.in_([i for i, _ in ids]), MAPPINGS.c.sku_id.is_(None))
        .values(sku_id=sku.id, updated_at=t.utcnow())
    )
    session.expire_all()
    _queue_pushes(session, ((cid, sku.id) for _, cid in ids))
    return len(ids)


# --- reading ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnmappedSku:
    mapping_id: int
    connection_id: int
    connection: str
    channel_sku: str
    product_id: str | None
    variant_id: str | None
    listing_id: str | None
    open_orders: int


def _resolved_sku_id() -> Any:
    """For a query joining order lines, orders, mappings (on connection and channel SKU) and
    skus (on SKU): the internal SKU id each line sells, or NULL."""
    return func.coalesce(t.SkuMapping.sku_id, t.Sku.id)


def lines_with_resolution(query: Any) -> Any:
    """``query`` (over order lines joined to orders) outer-joined to the mapping and the
    equal internal SKU of each line's channel SKU."""
    return query.outerjoin(
        t.SkuMapping,
        and_(
            t.SkuMapping.connection_id == t.Order.connection_id,
            t.SkuMapping.channel_sku == func.trim(t.OrderLine.sku),
        ),
    ).outerjoin(t.Sku, t.Sku.sku == func.trim(t.OrderLine.sku))


def unmapped_skus(
    session: Session, connection_id: int | None = None, limit: int = 200, offset: int = 0
) -> tuple[list[UnmappedSku], int]:
    """Stored channel SKUs that sell no internal SKU, those held by most open orders first,
    and how many there are in all."""
    open_orders = (
        select(
            t.Order.connection_id,
            func.trim(t.OrderLine.sku).label("sku"),
            func.count(func.distinct(t.Order.id)).label("n"),
        )
        .join(t.OrderLine, t.OrderLine.order_id == t.Order.id)
        .where(t.Order.status.in_(OPEN_STATUSES), t.OrderLine.sku.is_not(None))
        .group_by(t.Order.connection_id, func.trim(t.OrderLine.sku))
        .subquery()
    )
    where = [t.SkuMapping.sku_id.is_(None), ~t.SkuMapping.channel_sku.in_(select(t.Sku.sku))]
    if connection_id is not None:
        where.append(t.SkuMapping.connection_id == connection_id)
    total = session.scalar(select(func.count()).select_from(t.SkuMapping).where(*where)) or 0
    held = func.coalesce(open_orders.c.n, 0)
    rows = session.execute(
        select(t.SkuMapping, t.Connection.name, held)
        .join(t.Connection, t.Connection.id == t.SkuMapping.connection_id)
        .outerjoin(
            open_orders,
            and_(
                open_orders.c.connection_id == t.SkuMapping.connection_id,
                open_orders.c.sku == t.SkuMapping.channel_sku,
            ),
        )
        .where(*where)
        .order_by(held.desc(), t.SkuMapping.channel_sku, t.SkuMapping.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return [
        UnmappedSku(
            m.id, m.connection_id, name, m.channel_sku, m.product_id, m.variant_id, m.listing_id, int(n)
        )
        for m, name, n in rows
    ], int(total)


def unmapped_lines(session: Session, order_ids: Sequence[int]) -> dict[int, list[str]]:
    """Order id → the channel SKUs on its lines that sell no internal SKU (the order's flag)."""
    if not order_ids:
        return {}
    query = lines_with_resolution(
        select(t.OrderLine.order_id, func.trim(t.OrderLine.sku))
        .join(t.Order, t.Order.id == t.OrderLine.order_id)
        .where(t.OrderLine.order_id.in_(sorted(set(order_ids))), t.OrderLine.sku.is_not(None))
    ).where(_resolved_sku_id().is_(None), func.trim(t.OrderLine.sku) != "")
    result: dict[int, list[str]] = {}
    for order_id, sku in session.execute(query.order_by(t.OrderLine.order_id, t.OrderLine.position)):
        if sku not in result.setdefault(order_id, []):
            result[order_id].append(sku)
    return result


def mappings_page(
    session: Session,
    q: str | None = None,
    connection_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[tuple[t.SkuMapping, str, str | None]], int]:
    """Mappings (with connection name and internal SKU) in channel SKU order, filtered by a
    substring of the channel or internal SKU; and the filtered count."""
    where: list[Any] = []
    if connection_id is not None:
        where.append(t.SkuMapping.connection_id == connection_id)
    if q:
        needle = q.strip().lower()
        where.append(
            func.lower(t.SkuMapping.channel_sku).contains(needle, autoescape=True)
            | func.lower(func.coalesce(t.Sku.sku, "")).contains(needle, autoescape=True)
        )
    base = select(t.SkuMapping).outerjoin(t.Sku, t.Sku.id == t.SkuMapping.sku_id).where(*where)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.execute(
        select(t.SkuMapping, t.Connection.name, t.Sku.sku)
        .join(t.Connection, t.Connection.id == t.SkuMapping.connection_id)
        .outerjoin(t.Sku, t.Sku.id == t.SkuMapping.sku_id)
        .where(*where)
        .order_by(t.SkuMapping.channel_sku, t.SkuMapping.connection_id)
        .limit(limit)
        .offset(offset)
    ).all()
    return [(m, name, sku) for m, name, sku in rows], int(total)
