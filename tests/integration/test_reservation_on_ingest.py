"""Reservation on ingest: the ingest's own transaction reserves, releases and ships; and 200
orders ingested concurrently through the real ingest path race for 50 units, ten runs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from sqlalchemy import func, select

from hub import tables as t
from hub.db import Database
from hub.inventory.queries import orders_stock
from tests.factories import newer
from tests.integration.test_inventory_stock import _connection, _loc, _sku, catalogue, ingest, order


def _level(db: Database, sku: str) -> tuple[int, int]:
    with db.session() as s:
        row = s.execute(
            select(t.StockLevel.on_hand, t.StockLevel.reserved).where(t.StockLevel.sku_id == _sku(s, sku))
        ).one()
        return row.on_hand, row.reserved


def test_ingest_reserves_and_a_cancellation_releases(db: Database) -> None:
    cid = _connection(db)
    catalogue(db, {("A", "WH"): 5}, WH={})
    first = order(1, ("A", 2))
    (oid,) = ingest(db, cid, first)
    assert _level(db, "A") == (5, 2)
    ingest(db, cid, first)  # a replay changes nothing
    assert _level(db, "A") == (5, 2)
    ingest(db, cid, newer(first, 60, status="cancelled", cancelled_at=first.updated_at))
    assert _level(db, "A") == (5, 0)
    with db.session() as s:
        assert orders_stock(s, [oid])[oid].lines[0].status == "released"


def test_a_refund_before_shipping_restocks_and_fulfilment_ships(db: Database) -> None:
    cid = _connection(db)
    catalogue(db, {("A", "WH"): 10}, WH={})
    refunded, shipped = order(1, ("A", 3)), order(2, ("A", 4))
    ingest(db, cid, refunded, shipped)
    assert _level(db, "A") == (10, 7)
    ingest(db, cid, newer(refunded, 60, payment_status="refunded"))
    assert _level(db, "A") == (10, 4)
    ingest(db, cid, newer(shipped, 60, fulfillment_status="fulfilled"))
    assert _level(db, "A") == (6, 0)
    with db.session() as s:
        reasons = list(s.scalars(select(t.StockAdjustment.source).order_by(t.StockAdjustment.id)))
    assert reasons[-1] == "fulfilment"


def test_a_stock_change_queues_one_push_per_listing(db: Database) -> None:
    cid = _connection(db)
    catalogue(db, {("A", "WH"): 100}, WH={})
    for i in range(50):
        ingest(db, cid, order(i, ("A", 1)))
    with db.session() as s:
        pushes = s.execute(select(t.StockPush.channel_sku, t.StockPush.generation)).all()
    assert len(pushes) == 1 and pushes[0].channel_sku == "A"
    assert pushes[0].generation >= 50  # every change bumped the one row


def test_200_concurrent_orders_for_50_units_ten_runs(pg_db: Database) -> None:
    db = pg_db
    cid = _connection(db)
    catalogue(db, {}, WH={})
    for run in range(10):
        sku = f"RACE-{run}"
        catalogue(db, {(sku, "WH"): 50})
        orders = [replace(order(run * 1000 + i, (sku, 1)), external_id=f"r{run}-{i}") for i in range(200)]
        with ThreadPoolExecutor(max_workers=16) as pool:
            ids = [oid for found in pool.map(lambda o: ingest(db, cid, o), orders) for oid in found]
        assert len(set(ids)) == 200
        with db.session() as s:
            sku_id, location = _sku(s, sku), _loc(s, "WH")
            states = dict(
                s.execute(
                    select(t.Reservation.state, func.sum(t.Reservation.quantity))
                    .where(t.Reservation.sku_id == sku_id)
                    .group_by(t.Reservation.state)
                ).all()
            )
            level = s.execute(
                select(t.StockLevel.on_hand, t.StockLevel.reserved).where(
                    t.StockLevel.sku_id == sku_id, t.StockLevel.location_id == location
                )
            ).one()
            stock = orders_stock(s, ids)
        assert states == {"reserved": 50, "backordered": 150}, f"run {run}"
        assert (level.on_hand, level.reserved) == (50, 50), f"run {run}"
        assert level.on_hand - level.reserved >= 0
        assert sorted(o.reserved for o in stock.values()).count(1) == 50
