"""What the stock page and ``GET /api/v1/inventory/<sku>`` add to ``queries.sku_documents``:
per channel the last quantity pushed and when, whether a push is queued, and the drift
(what the channel should show now minus what it was last sent); and the SKU's low-stock
state with its days of cover. Reads only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub import tables as t
from hub.inventory.lowstock import low_skus_query, low_stock_info
from hub.inventory.queries import decode_cursor, encode_cursor, sku_documents


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def drift(published: int, channel_shows: int | None) -> int | None:
    """What the channel should show minus what it shows as far as the hub knows (the last
    push less the channel's sales since); None if never pushed. Pure."""
    return None if channel_shows is None else published - channel_shows


def last_pushes(session: Session, sku_ids: Sequence[int]) -> dict[tuple[int, int], tuple[int, int, datetime]]:
    """(SKU id, connection id) → (quantity pushed, quantity the channel shows now as far as the
    hub knows, time) of the latest push of that SKU to that channel (over its listings and
    channel locations)."""
    if not sku_ids:
        return {}
    pub = t.StockPublication
    newest = (
        select(pub.sku_id, pub.connection_id, func.max(pub.published_at).label("at"))
        .where(pub.sku_id.in_(sku_ids))
        .group_by(pub.sku_id, pub.connection_id)
        .subquery()
    )
    rows = session.execute(
        select(pub.sku_id, pub.connection_id, func.max(pub.quantity), func.max(pub.expected), newest.c.at)
        .join(
            newest,
            (newest.c.sku_id == pub.sku_id)
            & (newest.c.connection_id == pub.connection_id)
            & (newest.c.at == pub.published_at),
        )
        .group_by(pub.sku_id, pub.connection_id, newest.c.at)
    ).all()
    return {(sku_id, cid): (int(quantity), int(shows), at) for sku_id, cid, quantity, shows, at in rows}


def queued_pushes(session: Session, sku_ids: Sequence[int]) -> dict[tuple[int, int], str]:
    """(SKU id, connection id) → the state of its queued push (pending, failed, dead)."""
    if not sku_ids:
        return {}
    push = t.StockPush
    return {
        (sku_id, cid): state
        for sku_id, cid, state in session.execute(
            select(push.sku_id, push.connection_id, func.min(push.state))
            .where(push.sku_id.in_(sku_ids))
            .group_by(push.sku_id, push.connection_id)
        )
    }


def stock_documents(session: Session, skus: Sequence[t.Sku]) -> list[dict[str, Any]]:
    """``sku_documents`` with ``channel_sync`` (per channel, in the order of ``channels``: its
    ``connection_id``, ``published`` now, ``last_pushed``, ``last_push_at``, ``channel_shows``
    (the last push less the channel's sales since), ``push_queued``, ``drift``) and
    ``low_stock`` (reorder point, low, since, units sold, days of cover)."""
    docs = sku_documents(session, skus)
    ids = [s.id for s in skus]
    pushed = last_pushes(session, ids)
    queued = queued_pushes(session, ids)
    low = low_stock_info(session, skus)
    for sku, doc in zip(skus, docs, strict=True):
        doc["channel_sync"] = []
        for channel in doc["channels"]:
            key = (sku.id, channel["connection_id"])
            quantity, shows, at = pushed.get(key, (None, None, None))
            doc["channel_sync"].append(
                {
                    "connection_id": channel["connection_id"],
                    "name": channel["name"],
                    "published": channel["published"],
                    "last_pushed": quantity,
                    "last_push_at": iso(at),
                    "channel_shows": shows,
                    "push_queued": queued.get(key),
                    "drift": drift(channel["published"], shows),
                }
            )
        doc["low_stock"] = low[sku.id].as_dict()
    return docs


def page_skus(
    session: Session, limit: int, cursor: str | None = None, q: str | None = None, low_only: bool = False
) -> tuple[list[t.Sku], str | None]:
    """A page of the catalogue in SKU order after ``cursor``: those whose SKU or name contains
    ``q``, and only those at or under their reorder point with ``low_only``."""
    query = select(t.Sku)
    if low_only:
        query = low_skus_query(query)
    query = query.order_by(t.Sku.sku).limit(limit + 1)
    if cursor:
        query = query.where(t.Sku.sku > decode_cursor(cursor))
    if q:
        needle = q.strip().lower()
        query = query.where(
            func.lower(t.Sku.sku).contains(needle, autoescape=True)
            | func.lower(func.coalesce(t.Sku.name, "")).contains(needle, autoescape=True)
        )
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1].sku) if more and rows else None


def low_count(session: Session) -> int:
    """How many SKUs are at or under their reorder point now."""
    return session.scalar(select(func.count()).select_from(low_skus_query(select(t.Sku.id)).subquery())) or 0
