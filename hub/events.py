"""Hub events: things that happened in the hub that others may want to hear of (``stock.low``,
``shipment.status_changed``; later sent to outbound webhooks).

An event is raised inside the caller's transaction, so it exists exactly when the change
that caused it is committed. Its ``key`` names the occurrence (``stock.low:SKU-1:3`` for
the third crossing of SKU-1 under its reorder point): raising the same key again, from a
retry or a second worker, is a no-op.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import tables as t
from hub.db import insert_for

EVENTS = t.HubEvent.__table__
TOPIC_MAX = 100
KEY_MAX = 300


def raise_event(
    session: Session, topic: str, key: str, payload: dict[str, Any], at: datetime | None = None
) -> int | None:
    """Record the event ``key`` once. Returns the new event's id, or None when an event with
    that key already exists (it is left as it was)."""
    topic, key = topic.strip(), key.strip()
    if not topic or len(topic) > TOPIC_MAX:
        raise ValueError(f"event topic must be 1 to {TOPIC_MAX} characters")
    if not key or len(key) > KEY_MAX:
        raise ValueError(f"event key must be 1 to {KEY_MAX} characters")
    stmt = (
        insert_for(session, EVENTS)
        .values(topic=topic, key=key, payload=payload, at=at or t.utcnow())
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(EVENTS.c.id)
    )
    return session.execute(stmt).scalar_one_or_none()


def recent_events(
    session: Session, topic: str | None = None, limit: int = 100, after_id: int | None = None
) -> list[t.HubEvent]:
    """Events newest first, optionally of one topic, optionally older than ``after_id``."""
    query = select(t.HubEvent).order_by(t.HubEvent.id.desc()).limit(limit)
    if topic:
        query = query.where(t.HubEvent.topic == topic)
    if after_id is not None:
        query = query.where(t.HubEvent.id < after_id)
    return list(session.scalars(query))
