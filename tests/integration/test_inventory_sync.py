"""The sync engine against an in-memory channel: coalesced outbox, sender with backoff, the
inflow rule (with a sale and a push forced to cross), and reconciliation of drift."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select

from hub import tables as t
from hub.connectors import Capability, StockLevel, StockWrite, StockWriteResult
from hub.db import Database
from hub.inventory.catalogue import ensure_location, ensure_sku
from hub.inventory.outbox import enqueue_push
from hub.inventory.reconcile import reconcile_stock
from hub.inventory.sender import push_stock
from hub.inventory.stock import adjust, set_on_hand
from tests.integration.test_inventory_stock import ingest, order

LOC = "77"


@dataclass
class FakeChannel:
    """A channel's stock: absolute writes, reads, and its own sales (which decrement it)."""

    stock: dict[str, int] = field(default_factory=dict)
    writes: list[list[StockWrite]] = field(default_factory=list)
    fail: set[str] = field(default_factory=set)
    during_write: Any = None

    def has(self, capability: Capability) -> bool:
        return capability in (Capability.INVENTORY_READ, Capability.INVENTORY_WRITE)

    def read_stock(self, skus: list[str] | None = None) -> list[StockLevel]:
        return [StockLevel(s, LOC, q) for s, q in sorted(self.stock.items()) if skus is None or s in skus]

    def write_stock(self, writes: list[StockWrite]) -> list[StockWriteResult]:
        self.writes.append(list(writes))
        if self.during_write is not None:
            hook, self.during_write = self.during_write, None
            hook()
        out = []
        for w in writes:
            ok = w.sku not in self.fail
            if ok:
                self.stock[w.sku] = w.quantity
            out.append(StockWriteResult(w.sku, w.location_id, ok, None if ok else "SKU not found"))
        return out

    def sell(self, sku: str, units: int) -> None:
        self.stock[sku] -= units


def _channel(db: Database, name: str) -> int:
    with db.session() as s:
        conn = t.Connection(
            kind="channel",
            connector="shopify",
            name=name,
            webhook_key=name,
            settings={"stock_location": LOC},
            schedule={},
        )
        s.add(conn)
        s.flush()
        return conn.id


@pytest.fixture
def world(db: Database) -> dict[str, Any]:
    with db.session() as s:
        loc = ensure_location(s, "WH").id
    return {"db": db, "loc": loc, "a": _channel(db, "a"), "b": _channel(db, "b")}


def sku(db: Database, code: str, on_hand: int, loc: int) -> int:
    with db.session() as s:
        sku_id = ensure_sku(s, code).id
    db.transaction(lambda s: set_on_hand(s, sku_id, loc, on_hand))
    return sku_id


def push(db: Database, cid: int, channel: FakeChannel) -> Any:
    return push_stock(db, None, "http://hub.test", cid, connector=channel)  # type: ignore[arg-type]


def reconcile(db: Database, cid: int, channel: FakeChannel, mode: str = "inflow") -> Any:
    return reconcile_stock(db, None, "http://hub.test", cid, mode=mode, connector=channel)  # type: ignore[arg-type]


def level(db: Database, sku_id: int) -> tuple[int, int]:
    with db.session() as s:
        row = s.execute(
            select(t.StockLevel.on_hand, t.StockLevel.reserved).where(t.StockLevel.sku_id == sku_id)
        ).one()
    return row.on_hand, row.reserved


def test_fifty_changes_are_one_push_of_the_latest_value(world: dict[str, Any]) -> None:
    db, loc, a = world["db"], world["loc"], world["a"]
    sku_id = sku(db, "A", 0, loc)
    for units in range(1, 51):
        db.transaction(lambda s, units=units: set_on_hand(s, sku_id, loc, units))
    channel = FakeChannel()
    summary = push(db, a, channel)
    assert (summary.sent, summary.failed) == (1, 0)
    assert channel.writes == [[StockWrite("A", LOC, 50)]]
    with db.session() as s:
        pub = s.execute(select(t.StockPublication).where(t.StockPublication.connection_id == a)).scalar_one()
        assert (pub.quantity, pub.expected, pub.location) == (50, 50, LOC)
        assert s.scalar(select(t.StockPush.id).where(t.StockPush.connection_id == a)) is None
    assert push(db, a, channel).sent == 0  # nothing left to send


def test_a_failed_push_backs_off_and_a_new_change_keeps_the_wait(world: dict[str, Any]) -> None:
    db, loc, a = world["db"], world["loc"], world["a"]
    sku_id = sku(db, "A", 5, loc)
    channel = FakeChannel(fail={"A"})
    summary = push(db, a, channel)
    assert (summary.sent, summary.failed) == (0, 1) and "SKU not found" in summary.errors[0]
    with db.session() as s:
        row = s.execute(select(t.StockPush).where(t.StockPush.connection_id == a)).scalar_one()
        assert (row.state, row.attempts, row.last_error) == ("failed", 1, "SKU not found")
        assert row.next_attempt_at > t.utcnow() + timedelta(seconds=20)
    db.transaction(lambda s: adjust(s, sku_id, loc, 1, reason="receipt"))
    assert push(db, a, channel).sent + push(db, a, channel).failed == 0  # still waiting
    assert len(channel.writes) == 1


def test_a_change_during_the_send_is_sent_next(world: dict[str, Any]) -> None:
    db, loc, a = world["db"], world["loc"], world["a"]
    sku_id = sku(db, "A", 5, loc)
    channel = FakeChannel()
    channel.during_write = lambda: db.transaction(lambda s: adjust(s, sku_id, loc, 3, reason="receipt"))
    summary = push(db, a, channel)
    assert summary.requeued == 1 and summary.sent == 2
    assert channel.stock == {"A": 8}


def test_a_new_mapping_pushes_the_whole_sku_to_that_connection(world: dict[str, Any]) -> None:
    db, loc, a, b = world["db"], world["loc"], world["a"], world["b"]
    sku_id = sku(db, "A", 7, loc)
    with db.session() as s:
        s.execute(delete(t.StockPush))
        s.add(t.SkuMapping(connection_id=a, channel_sku="shop-a-1", sku_id=sku_id, source="manual"))
        s.flush()
        assert enqueue_push(s, [sku_id], a) == 1
    channel = FakeChannel()
    push(db, a, channel)
    assert channel.stock == {"shop-a-1": 7}
    assert push(db, b, FakeChannel()).sent == 0


def _published(db: Database, sku_code: str, on_hand: int, *channels: tuple[int, FakeChannel]) -> int:
    sku_id = sku(db, sku_code, on_hand, 1)
    for cid, channel in channels:
        push(db, cid, channel)
        assert channel.stock[sku_code] == on_hand
    return sku_id


def test_a_channel_edit_comes_in_relative_and_goes_out_to_the_others(world: dict[str, Any]) -> None:
    db, a, b = world["db"], world["a"], world["b"]
    ca, cb = FakeChannel(), FakeChannel()
    sku_id = _published(db, "A", 10, (a, ca), (b, cb))
    db.transaction(lambda s: set_on_hand(s, sku_id, world["loc"], 12))  # the hub moved too
    ca.stock["A"] = 15  # the merchant counted 5 more in channel a, which still showed 10
    report = reconcile(db, a, ca)
    assert [(c.channel_sku, c.action, c.channel) for c in report.corrections] == [("A", "inflow", 15)]
    assert level(db, sku_id) == (17, 0)  # 12 + (15 - 10): nothing overwritten
    assert ca.stock["A"] == 17
    push(db, b, cb)
    assert cb.stock["A"] == 17
    with db.session() as s:
        source = s.scalars(select(t.StockAdjustment.source).order_by(t.StockAdjustment.id.desc())).first()
    assert source == "channel"


def _sale(i: int, sku_code: str, units: int) -> Any:
    now = t.utcnow()
    return replace(order(i, (sku_code, units)), created_at=now, updated_at=now)


def test_a_push_taken_after_a_sale_whose_order_arrives_later_loses_no_unit(world: dict[str, Any]) -> None:
    db, loc, a, b = world["db"], world["loc"], world["a"], world["b"]
    ca, cb = FakeChannel(), FakeChannel()
    sku_id = _published(db, "A", 10, (a, ca), (b, cb))
    ca.sell("A", 1)  # the sale in channel a: it shows 9
    sale = _sale(1, "A", 1)
    db.transaction(lambda s: adjust(s, sku_id, loc, 5, reason="receipt"))
    push(db, a, ca)  # the push is taken after the sale: the sale's decrement is overwritten
    assert ca.stock["A"] == 15
    ingest(db, a, sale)  # the sale's order arrives after
    assert level(db, sku_id) == (15, 1)
    push(db, a, ca)
    push(db, b, cb)
    assert ca.stock["A"] == cb.stock["A"] == 14
    assert reconcile(db, a, ca).changed == 0  # the reading finds nothing to take in
    ca.stock["A"] = 20  # then a real edit in the channel: +6
    reconcile(db, a, ca)
    push(db, b, cb)
    assert level(db, sku_id) == (21, 1)  # 10 + 5 received + 6 counted; 1 sold
    assert ca.stock["A"] == cb.stock["A"] == 20


def test_a_reading_between_a_sale_and_its_order_counts_the_sale_once(world: dict[str, Any]) -> None:
    db, a, b = world["db"], world["a"], world["b"]
    ca, cb = FakeChannel(), FakeChannel()
    sku_id = _published(db, "A", 10, (a, ca), (b, cb))
    ca.sell("A", 2)
    sale = _sale(2, "A", 2)
    report = reconcile(db, a, ca)  # the reading sees 8 before the order is in: -2 on hand
    assert report.inflows == 1 and level(db, sku_id) == (8, 0)
    ingest(db, a, sale)  # its order: the units go back on hand and are reserved
    assert level(db, sku_id) == (10, 2)
    push(db, a, ca)
    push(db, b, cb)
    assert ca.stock["A"] == cb.stock["A"] == 8
    assert reconcile(db, a, ca).changed == 0


def test_an_order_before_any_reading_lowers_what_the_channel_should_show(world: dict[str, Any]) -> None:
    db, a = world["db"], world["a"]
    ca = FakeChannel()
    sku_id = _published(db, "A", 10, (a, ca))
    ca.sell("A", 3)
    ingest(db, a, _sale(3, "A", 3))
    assert reconcile(db, a, ca).inflows == 0  # 7 is what a's sale left: no channel edit
    assert level(db, sku_id) == (10, 3)
    assert ca.stock["A"] == 7


def test_reconciliation_after_drift_on_1000_skus(world: dict[str, Any]) -> None:
    db, loc, a = world["db"], world["loc"], world["a"]
    with db.session() as s:
        ids = [ensure_sku(s, f"D-{i:04d}").id for i in range(1000)]
    db.transaction(lambda s: [set_on_hand(s, i, loc, 5) for i in ids])
    ca = FakeChannel()
    assert push(db, a, ca).sent == 1000
    db.transaction(lambda s: [set_on_hand(s, i, loc, 9) for i in ids])
    with db.session() as s:
        s.execute(delete(t.StockPush))  # the pushes were lost: hub 9, channel still 5
    report = reconcile(db, a, ca)
    assert (report.checked, report.changed, report.pushes, report.inflows) == (1000, 1000, 1000, 0)
    assert {(c.channel, c.hub) for c in report.corrections} == {(5, 9)}
    assert set(ca.stock.values()) == {9}
    assert reconcile(db, a, ca).changed == 0


def test_push_mode_overwrites_a_channel_edit(world: dict[str, Any]) -> None:
    db, a = world["db"], world["a"]
    ca = FakeChannel()
    sku_id = _published(db, "A", 10, (a, ca))
    ca.stock["A"] = 3
    report = reconcile(db, a, ca, mode="push")
    assert [(c.action, c.channel, c.hub) for c in report.corrections] == [("push", 3, 10)]
    assert level(db, sku_id) == (10, 0) and ca.stock["A"] == 10
