"""Stock readings brought by a channel webhook (``StockChanged``), taken in by the inbox on
SQLite and PostgreSQL: relative to the last publish, a repeated reading changes nothing, a
reading older than the last publish or than the last reading taken in is stale, and a level at
a location the hub does not publish to is not the hub's listing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from hub import tables as t
from hub.connectors import StockChanged, StockLevel
from hub.db import Database
from hub.inbox import apply_stock_changes
from tests.integration.test_inventory_sync import LOC, FakeChannel, _published, level, push, world

__all__ = ["world"]  # the fixture, shared with the sync tests


def reading(db: Database, cid: int, available: int, at: datetime, location: str = LOC) -> None:
    action = StockChanged((StockLevel("A", location, available),), at)
    db.transaction(lambda s: apply_stock_changes(s, cid, [action]))


def last_publish(db: Database, cid: int) -> datetime:
    with db.session() as s:
        return s.scalar(
            select(t.StockPublication.published_at).where(t.StockPublication.connection_id == cid)
        )


def pushes(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(t.StockPush))


def test_a_webhook_reading_comes_in_relative_once(world: dict[str, Any]) -> None:
    db, a, b = world["db"], world["a"], world["b"]
    ca, cb = FakeChannel(), FakeChannel()
    sku_id = _published(db, "A", 10, (a, ca), (b, cb))
    at = last_publish(db, a) + timedelta(seconds=5)
    reading(db, a, 14, at)
    assert level(db, sku_id) == (14, 0)
    reading(db, a, 14, at)  # the same reading again (a duplicate under another event id)
    reading(db, a, 14, at + timedelta(seconds=1))
    assert level(db, sku_id) == (14, 0)
    push(db, b, cb)
    assert cb.stock["A"] == 14


def test_stale_readings_and_other_locations_change_nothing(world: dict[str, Any]) -> None:
    db, a = world["db"], world["a"]
    sku_id = _published(db, "A", 10, (a, FakeChannel()))
    published, queued = last_publish(db, a), pushes(db)
    reading(db, a, 3, published - timedelta(seconds=1))  # taken before the publish
    reading(db, a, 99, published + timedelta(minutes=1), location="999")  # not where the hub publishes
    assert level(db, sku_id) == (10, 0) and pushes(db) == queued
    reading(db, a, 8, published + timedelta(minutes=2))
    assert level(db, sku_id) == (8, 0)
    reading(db, a, 20, published + timedelta(minutes=1))  # arrived late: older than the one taken in
    assert level(db, sku_id) == (8, 0)
