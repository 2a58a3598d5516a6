"""Outflow, the queue side: which channel listings must be told a SKU's new published quantity.

A change of ``on_hand`` or ``reserved`` (or of a channel's rules, or a new SKU mapping) calls
``enqueue_push`` in the transaction that made it. It writes one ``stock_pushes`` row per
(connection, channel SKU) — an upsert, so fifty changes in a second leave one row — and
bumps the row's ``generation``. The sender (``hub.inventory.sender``) computes the value when
it sends, so the channel always gets the latest one.

Which listings sell a SKU: the connection's ``sku_mappings`` rows; a connection none of whose
listings are recorded yet is taken to sell a SKU under the same code (identity mapping).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, exists, func, select
from sqlalchemy.orm import Session

from hub import tables as t
from hub.connectors import Capability, UnknownConnector, get_connector
from hub.db import insert_for

PUSHES = t.StockPush.__table__
MAPPINGS = t.SkuMapping.__table__
SKUS = t.Sku.__table__
PENDING, FAILED, DEAD = "pending", "failed", "dead"


@dataclass(frozen=True, order=True)
class Listing:
    connection_id: int
    channel_sku: str
    sku_id: int


def writable_connections(session: Session, connection_id: int | None = None) -> list[int]:
    """Enabled channel connections whose connector can write stock (or just ``connection_id``)."""
    query = select(t.Connection.id, t.Connection.connector).where(
        t.Connection.kind == "channel", t.Connection.enabled.is_(True)
    )
    if connection_id is not None:
        query = query.where(t.Connection.id == connection_id)
    ids = []
    for cid, connector in session.execute(query.order_by(t.Connection.id)):
        try:
            if Capability.INVENTORY_WRITE in get_connector(connector).capabilities:
                ids.append(cid)
        except UnknownConnector:
            continue
    return ids


def listings(session: Session, sku_ids: Iterable[int], connection_id: int | None = None) -> list[Listing]:
    """The channel listings selling these SKUs, on every writable connection (or one)."""
    wanted = sorted(set(sku_ids))
    connections = writable_connections(session, connection_id)
    if not wanted or not connections:
        return []
    found = {
        Listing(row.connection_id, row.channel_sku, row.sku_id)
        for row in session.execute(
            select(MAPPINGS.c.connection_id, MAPPINGS.c.channel_sku, MAPPINGS.c.sku_id).where(
                MAPPINGS.c.sku_id.in_(wanted), MAPPINGS.c.connection_id.in_(connections)
            )
        )
    }
    recorded = set(
        session.scalars(
            select(MAPPINGS.c.connection_id)
            .where(MAPPINGS.c.connection_id.in_(connections))
            .group_by(MAPPINGS.c.connection_id)
        )
    )
    identity = [c for c in connections if c not in recorded]
    if identity:
        codes = session.execute(select(SKUS.c.id, SKUS.c.sku).where(SKUS.c.id.in_(wanted))).all()
        found |= {Listing(c, code, sku_id) for c in identity for sku_id, code in codes}
    return sorted(found)


def _upsert(session: Session, rows: list[dict[str, Any]]) -> None:
    stmt = insert_for(session, PUSHES)
    fresh = PUSHES.c.attempts == 0
    stmt = stmt.on_conflict_do_update(
        index_elements=["connection_id", "channel_sku"],
        set_={
            "sku_id": stmt.excluded.sku_id,
            "generation": PUSHES.c.generation + 1,
            "queued_at": stmt.excluded.queued_at,
            # a row in backoff keeps its wait (a new value is no reason to hammer a failing
            # channel); a dead one is revived: the new value gets its own tries
            "state": case((PUSHES.c.state == DEAD, PENDING), else_=PUSHES.c.state),
            "attempts": case((PUSHES.c.state == DEAD, 0), else_=PUSHES.c.attempts),
            "next_attempt_at": case(
                (fresh | (PUSHES.c.state == DEAD), stmt.excluded.next_attempt_at),
                else_=PUSHES.c.next_attempt_at,
            ),
        },
    )
    session.execute(stmt, rows)


def enqueue_listings(session: Session, found: Iterable[Listing]) -> int:
    rows = [
        {
            "connection_id": lst.connection_id,
            "channel_sku": lst.channel_sku,
            "sku_id": lst.sku_id,
            "state": PENDING,
            "generation": 1,
            "attempts": 0,
            "next_attempt_at": now,
            "queued_at": now,
        }
        for now in [t.utcnow()]
        for lst in sorted(set(found))  # one order for every writer: no deadlock between upserts
    ]
    if rows:
        _upsert(session, rows)
    return len(rows)


def enqueue_push(session: Session, sku_ids: Iterable[int], connection_id: int | None = None) -> int:
    """Queue a push of these SKUs' published quantities to every channel listing them (or to
    ``connection_id`` only), in the caller's transaction; returns how many listings were queued."""
    return enqueue_listings(session, listings(session, sku_ids, connection_id))


def pending_count(session: Session, connection_id: int | None = None) -> int:
    query = select(func.count()).select_from(PUSHES).where(PUSHES.c.state != DEAD)
    if connection_id is not None:
        query = query.where(PUSHES.c.connection_id == connection_id)
    return int(session.scalar(query) or 0)


def has_pending(session: Session, connection_id: int) -> bool:
    return bool(
        session.scalar(
            select(exists().where(PUSHES.c.connection_id == connection_id, PUSHES.c.state != DEAD))
        )
    )
