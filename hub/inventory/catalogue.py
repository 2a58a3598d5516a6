"""SKUs, locations and channel rules: the configuration the stock is kept against."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.sql.schema import Table

from hub import tables as t
from hub.db import insert_for
from hub.inventory.outbox import enqueue_push
from hub.inventory.publish import DEFAULT_RULES, ChannelRules
from hub.inventory.routing import Place


def insert_ignoring_conflicts(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]
) -> None:
    """``INSERT … ON CONFLICT (keys) DO NOTHING``. On SQLite it is also what takes the
    database's write lock at the start of a transaction (see ``hub.ingest``)."""
    if not rows:
        return
    stmt = insert_for(session, table)
    session.execute(stmt.on_conflict_do_nothing(index_elements=list(keys)), list(rows))


def ensure_sku(
    session: Session, sku: str, name: str | None = None, reorder_point: int | None = None
) -> t.Sku:
    """The catalogue row of ``sku``, created when missing (name and reorder point kept if it exists)."""
    sku = sku.strip()
    if not sku:
        raise ValueError("sku is required")
    insert_ignoring_conflicts(
        session, t.Sku.__table__, [{"sku": sku, "name": name, "reorder_point": reorder_point}], ["sku"]
    )
    row = session.scalar(select(t.Sku).where(t.Sku.sku == sku))
    assert row is not None
    return row


def ensure_location(session: Session, code: str, name: str | None = None, **fields: Any) -> t.Location:
    """The location ``code``, created with ``fields`` (priority, country_code, regions, paused,
    allow_split) when missing, or updated with them."""
    code = code.strip()
    if not code:
        raise ValueError("location code is required")
    row = session.scalar(select(t.Location).where(t.Location.code == code))
    if row is None:
        row = t.Location(code=code, name=name or code, **fields)
        session.add(row)
    else:
        for key, value in fields.items():
            setattr(row, key, value)
        if name:
            row.name = name
    session.flush()
    return row


def places(session: Session) -> list[Place]:
    """Every location as routing sees it."""
    return [
        Place(
            id=row.id,
            code=row.code,
            priority=row.priority,
            country_code=row.country_code,
            regions=tuple(row.regions or ()),
            paused=row.paused,
            allow_split=row.allow_split,
        )
        for row in session.scalars(select(t.Location).order_by(t.Location.id))
    ]


def channel_rules(session: Session, connection_id: int) -> ChannelRules:
    row = session.scalar(select(t.ChannelStockRule).where(t.ChannelStockRule.connection_id == connection_id))
    return rules_of(row)


def rules_of(row: t.ChannelStockRule | None) -> ChannelRules:
    if row is None:
        return DEFAULT_RULES
    return ChannelRules(row.buffer_units, row.percent, row.max_listed, row.floor)


def set_channel_rules(session: Session, connection_id: int, rules: ChannelRules) -> int:
    """Set a channel's rules. New rules change every published quantity of that channel, so
    a change queues a push of every SKU it sells to it, in the caller's transaction; returns
    how many listings were queued (0 when the rules were already these)."""
    row = session.scalar(select(t.ChannelStockRule).where(t.ChannelStockRule.connection_id == connection_id))
    if rules_of(row) == rules:
        return 0
    if row is None:
        row = t.ChannelStockRule(connection_id=connection_id)
        session.add(row)
    row.buffer_units = rules.buffer_units
    row.percent = rules.percent
    row.max_listed = rules.max_listed
    row.floor = rules.floor
    session.flush()
    return enqueue_push(session, session.scalars(select(t.Sku.id)).all(), connection_id=connection_id)
