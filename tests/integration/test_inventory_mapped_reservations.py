"""Reservations follow the SKU mapping of the order's connection, and a change of a channel's
rules queues a push of everything that channel sells, in the same transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hub import tables as t
from hub.db import Database
from hub.inventory.catalogue import set_channel_rules
from hub.inventory.publish import ChannelRules
from hub.inventory.queries import orders_stock
from hub.inventory.skumap import map_channel_sku, record_listings
from tests.integration.test_inventory_stock import _connection, _loc, _sku, catalogue, ingest, order


def _level(db: Database, sku: str) -> tuple[int, int]:
    with db.session() as s:
        row = s.execute(
            select(t.StockLevel.on_hand, t.StockLevel.reserved).where(t.StockLevel.sku_id == _sku(s, sku))
        ).one()
        return row.on_hand, row.reserved


def _map(db: Database, cid: int, channel_sku: str, sku: str) -> None:
    def work(s: object) -> None:
        (mapping,) = record_listings(s, cid, [{"channel_sku": channel_sku}])  # type: ignore[arg-type]
        map_channel_sku(s, mapping.id, sku)  # type: ignore[arg-type]

    db.transaction(work)


def _second_connection(db: Database) -> int:
    with db.session() as s:
        conn = t.Connection(
            kind="channel", connector="shopify", name="other", webhook_key="o", settings={}, schedule={}
        )
        s.add(conn)
        s.flush()
        return conn.id


def test_a_mapped_channel_sku_reserves_its_internal_sku(db: Database) -> None:
    cid = _connection(db)
    catalogue(db, {("MUG-1", "WH"): 10}, WH={})
    _map(db, cid, "mug-blue", "MUG-1")
    (oid,) = ingest(db, cid, order(1, ("mug-blue", 3)))
    assert _level(db, "MUG-1") == (10, 3)
    with db.session() as s:
        line = orders_stock(s, [oid])[oid].lines[0]
    assert line.status == "reserved"


def test_a_mapping_names_the_sku_of_its_own_connection_only(db: Database) -> None:
    mapped, plain = _connection(db), _second_connection(db)
    catalogue(db, {("MUG-1", "WH"): 10, ("mug-blue", "WH"): 4}, WH={})
    _map(db, mapped, "mug-blue", "MUG-1")
    ingest(db, mapped, order(1, ("mug-blue", 2)))
    ingest(db, plain, order(2, ("mug-blue", 1)))  # no mapping there: the equal internal SKU
    assert _level(db, "MUG-1") == (10, 2)
    assert _level(db, "mug-blue") == (4, 1)


def test_the_mapping_wins_over_an_equal_internal_sku(db: Database) -> None:
    cid = _connection(db)
    catalogue(db, {("MUG-1", "WH"): 10, ("mug-blue", "WH"): 4}, WH={})
    _map(db, cid, "mug-blue", "MUG-1")
    ingest(db, cid, order(1, ("mug-blue", 2)))
    assert (_level(db, "MUG-1"), _level(db, "mug-blue")) == ((10, 2), (4, 0))


def test_without_mapping_rows_the_exact_sku_reserves(db: Database) -> None:
    cid = _connection(db)
    catalogue(db, {("MUG-1", "WH"): 10}, WH={})
    (oid,) = ingest(db, cid, order(1, ("MUG-1", 4), ("unknown", 1)))
    assert _level(db, "MUG-1") == (10, 4)
    with db.session() as s:
        statuses = [line.status for line in orders_stock(s, [oid])[oid].lines]
    assert statuses[0] == "reserved" and statuses[1] != "reserved"


def _pushes(db: Database, cid: int) -> dict[str, int]:
    with db.session() as s:
        return dict(
            s.execute(
                select(t.StockPush.channel_sku, t.StockPush.generation).where(
                    t.StockPush.connection_id == cid
                )
            ).all()
        )


def test_new_channel_rules_queue_a_push_of_every_sku_to_that_channel(db: Database) -> None:
    a, b = _connection(db), _second_connection(db)
    catalogue(db, {("A", "WH"): 10, ("B", "WH"): 3, ("C", "WH"): 0}, WH={})
    with db.session() as s:
        s.execute(t.StockPush.__table__.delete())  # what the counts queued is sent
    rules = ChannelRules(buffer_units=2, percent=50)
    assert db.transaction(lambda s: set_channel_rules(s, a, rules)) == 3
    assert _pushes(db, a) == {"A": 1, "B": 1, "C": 1}
    assert _pushes(db, b) == {}, "the other channel's values did not change"
    assert db.transaction(lambda s: set_channel_rules(s, a, rules)) == 0, "the same rules again"
    assert _pushes(db, a) == {"A": 1, "B": 1, "C": 1}
    db.transaction(lambda s: set_channel_rules(s, a, ChannelRules(max_listed=5)))
    assert _pushes(db, a) == {"A": 2, "B": 2, "C": 2}


def test_rules_queue_only_the_skus_the_channel_sells(db: Database) -> None:
    cid = _connection(db)
    catalogue(db, {("MUG-1", "WH"): 10, ("TEA-1", "WH"): 5}, WH={})
    _map(db, cid, "mug-blue", "MUG-1")  # the channel's listings are known: it sells MUG-1 only
    with db.session() as s:
        s.execute(t.StockPush.__table__.delete())
    db.transaction(lambda s: set_channel_rules(s, cid, ChannelRules(floor=3)))
    assert _pushes(db, cid) == {"mug-blue": 1}


def test_rules_refused_change_nothing(db: Database) -> None:
    cid = _connection(db)
    catalogue(db, {("A", "WH"): 10}, WH={})
    with db.session() as s:
        s.execute(t.StockPush.__table__.delete())

    def bad(s: object) -> None:
        set_channel_rules(s, cid, ChannelRules(buffer_units=1))  # type: ignore[arg-type]
        raise RuntimeError("the caller's transaction fails after")

    with pytest.raises(RuntimeError):
        db.transaction(bad)
    with db.session() as s:
        assert s.scalar(select(t.ChannelStockRule.id)) is None
        assert _loc(s, "WH") is not None
    assert _pushes(db, cid) == {}, "rules and their pushes are one transaction"
