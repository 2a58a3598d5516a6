"""The stock truth on SQLite and PostgreSQL: reservations, release, fulfilment, counts,
each idempotent; and 200 orders racing for 50 units on PostgreSQL."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from hub import tables as t
from hub.db import Database
from hub.ingest import IngestItem, ingest_orders
from hub.inventory.catalogue import ensure_location, ensure_sku
from hub.inventory.queries import OrderStock
from hub.inventory.stock import (
    InventoryError,
    adjust,
    fulfil_order_lines,
    recount_reserved,
    release_order,
    reserve_order,
    reserve_orders,
    set_on_hand,
)
from hub.model import Line, Order
from tests.factories import make_order, newer


@pytest.fixture
def cid(db: Database) -> int:
    return _connection(db)


def _connection(db: Database) -> int:
    with db.session() as s:
        conn = t.Connection(
            kind="channel", connector="shopify", name="shop", webhook_key="k", settings={}, schedule={}
        )
        s.add(conn)
        s.flush()
        return conn.id


def catalogue(db: Database, stock: dict[tuple[str, str], int], **locations: dict) -> None:
    """Locations (code → fields) and on-hand counts per (sku, location code)."""
    with db.session() as s:
        for code, fields in locations.items():
            ensure_location(s, code, **fields)
        for sku in {sku for sku, _ in stock}:
            ensure_sku(s, sku, name=f"Product {sku}")
    for (sku, code), units in stock.items():
        db.transaction(
            lambda s, sku=sku, code=code, units=units: set_on_hand(s, _sku(s, sku), _loc(s, code), units)
        )


def _sku(s, sku: str) -> int:
    return s.scalar(select(t.Sku.id).where(t.Sku.sku == sku))


def _loc(s, code: str) -> int:
    return s.scalar(select(t.Location.id).where(t.Location.code == code))


def order(
    i: int, *lines: tuple[str | None, int], country: str = "US", region: str | None = None, **changes
) -> Order:
    base = make_order(i, lines=0)
    address = replace(base.shipping_address, country_code=country, region=region)
    fields: dict = {
        "status": "open",
        "payment_status": "paid",
        "fulfillment_status": "unfulfilled",
        "cancelled_at": None,
        "lines": [
            Line(external_id=f"{i}-{j}", sku=sku, name=f"line {j}", quantity=qty, unit_price=Decimal("9.50"))
            for j, (sku, qty) in enumerate(lines)
        ],
        "shipping_address": address,
    }
    return replace(base, **(fields | changes))


def ingest(db: Database, cid: int, *orders: Order) -> list[int]:
    results = db.transaction(lambda s: ingest_orders(s, cid, [IngestItem(o, {}) for o in orders]))
    return [r.order_id for r in results]


def reserve(db: Database, order_id: int) -> OrderStock:
    return db.transaction(lambda s: reserve_order(s, order_id))


def level(db: Database, sku: str, code: str = "main") -> tuple[int, int]:
    with db.session() as s:
        row = s.execute(
            select(t.StockLevel.on_hand, t.StockLevel.reserved).where(
                t.StockLevel.sku_id == _sku(s, sku), t.StockLevel.location_id == _loc(s, code)
            )
        ).one()
    return row.on_hand, row.reserved


def rows(db: Database, order_id: int | None = None) -> list[tuple[str, str | None, str, int]]:
    """(line, location code, state, quantity) of the reservations, sorted."""
    with db.session() as s:
        query = select(
            t.Reservation.line_external_id, t.Location.code, t.Reservation.state, t.Reservation.quantity
        ).outerjoin(t.Location, t.Location.id == t.Reservation.location_id)
        if order_id is not None:
            query = query.where(t.Reservation.order_id == order_id)
        return sorted((tuple(r) for r in s.execute(query)), key=lambda r: (r[0], r[1] or "", r[2]))


def adjustments(db: Database) -> list[tuple[int, int, str]]:
    with db.session() as s:
        return s.execute(
            select(
                t.StockAdjustment.delta, t.StockAdjustment.on_hand_after, t.StockAdjustment.source
            ).order_by(t.StockAdjustment.id)
        ).all()


MAIN = {"main": {"priority": 1}}


def test_reserving_twice_reserves_once(db: Database, cid: int) -> None:
    catalogue(db, {("A", "main"): 5, ("B", "main"): 1}, **MAIN)
    [oid] = ingest(db, cid, order(1, ("A", 2), ("B", 1)))
    first = reserve(db, oid)
    second = reserve(db, oid)
    assert first == second
    assert [(line.status, line.reserved, line.locations) for line in first.lines] == [
        ("reserved", 2, (("main", 2),)),
        ("reserved", 1, (("main", 1),)),
    ]
    assert level(db, "A") == (5, 2) and level(db, "B") == (1, 1)
    assert rows(db, oid) == [("1-0", "main", "reserved", 2), ("1-1", "main", "reserved", 1)]
    # re-ingesting the same order and reserving again changes nothing
    ingest(db, cid, newer(order(1, ("A", 2), ("B", 1)), 5, note="x"))
    assert reserve(db, oid) == first
    assert level(db, "A") == (5, 2)


def test_short_stock_is_backordered_and_shown(db: Database, cid: int) -> None:
    catalogue(db, {("A", "main"): 1}, **MAIN)
    a, b = ingest(db, cid, order(1, ("A", 3)), order(2, ("A", 1)))
    line = reserve(db, a).lines[0]
    assert (line.status, line.reserved, line.backordered) == ("partial", 1, 2)
    line = reserve(db, b).lines[0]
    assert (line.status, line.reserved, line.backordered) == ("backordered", 0, 1)
    assert level(db, "A") == (1, 1)
    assert rows(db) == [
        ("1-0", None, "backordered", 2),
        ("1-0", "main", "reserved", 1),
        ("2-0", None, "backordered", 1),
    ]


def test_a_shrinking_line_gives_back_backordered_units_first(db: Database, cid: int) -> None:
    catalogue(db, {("A", "main"): 1}, **MAIN)
    v1 = order(1, ("A", 3))
    [oid] = ingest(db, cid, v1)
    reserve(db, oid)
    got = []
    for k, units in enumerate([2, 1, 4]):
        ingest(db, cid, newer(v1, 10 * (k + 1), lines=[replace(v1.lines[0], quantity=units)]))
        line = reserve(db, oid).lines[0]
        got.append((line.reserved, line.backordered, level(db, "A")))
    assert got == [(1, 1, (1, 1)), (1, 0, (1, 1)), (1, 3, (1, 1))]


def test_a_location_that_does_not_split_backorders_the_whole_line(db: Database, cid: int) -> None:
    catalogue(db, {("A", "store"): 2}, store={"allow_split": False})
    [oid] = ingest(db, cid, order(1, ("A", 3)))
    assert reserve(db, oid).lines[0].status == "backordered"
    assert level(db, "A", "store") == (2, 0)


def test_routing_by_priority_region_and_pause(db: Database, cid: int) -> None:
    catalogue(
        db,
        {("A", "east"): 2, ("A", "west"): 5, ("A", "eu"): 5, ("A", "shut"): 50},
        shut={"priority": 0, "paused": True},
        east={"priority": 1, "country_code": "US", "regions": ["US"]},
        west={"priority": 2, "country_code": "US", "regions": ["US-CA", "US-WA"]},
        eu={"priority": 1, "country_code": "DE", "regions": ["DE", "FR", "GB"]},
    )
    ids = ingest(
        db,
        cid,
        order(1, ("A", 2), region="NY"),  # east has 2: all there
        order(2, ("A", 1), region="CA"),  # east is empty now; west ships to CA
        order(3, ("A", 1), region="NY"),  # nobody else ships to NY
        order(4, ("A", 6), country="GB"),  # eu has 5: 5 there, 1 backordered
    )
    got = [reserve(db, oid).lines[0] for oid in ids]
    assert [(g.locations, g.backordered) for g in got] == [
        ((("east", 2),), 0),
        ((("west", 1),), 0),
        ((), 1),
        ((("eu", 5),), 1),
    ]
    assert level(db, "A", "shut") == (50, 0)


def test_split_across_locations(db: Database, cid: int) -> None:
    catalogue(db, {("A", "one"): 2, ("A", "two"): 2}, one={"priority": 1}, two={"priority": 2})
    [oid] = ingest(db, cid, order(1, ("A", 3)))
    line = reserve(db, oid).lines[0]
    assert (line.status, line.locations) == ("reserved", (("one", 2), ("two", 1)))
    assert reserve(db, oid).lines[0] == line


def test_changed_lines_are_reconciled(db: Database, cid: int) -> None:
    catalogue(db, {("A", "main"): 10, ("B", "main"): 10, ("C", "main"): 10}, **MAIN)
    v1 = order(1, ("A", 3), ("B", 2))
    [oid] = ingest(db, cid, v1)
    reserve(db, oid)
    # A shrinks to 1, B is gone, C is new
    v2 = newer(v1, 10, lines=[replace(v1.lines[0], quantity=1), Line("1-2", "C", "line 2", 4, Decimal(1))])
    ingest(db, cid, v2)
    stock = reserve(db, oid)
    assert [(line.line_external_id, line.status, line.reserved) for line in stock.lines] == [
        ("1-0", "reserved", 1),
        ("1-2", "reserved", 4),
    ]
    assert (level(db, "A"), level(db, "B"), level(db, "C")) == ((10, 1), (10, 0), (10, 4))
    assert rows(db, oid) == [
        ("1-0", "main", "reserved", 1),
        ("1-2", "main", "reserved", 4),
    ]
    # A grows to 5 while only 9 are free: reserved 5 in all
    ingest(db, cid, newer(v2, 20, lines=[replace(v1.lines[0], quantity=5), v2.lines[1]]))
    assert reserve(db, oid).lines[0].reserved == 5
    assert level(db, "A") == (10, 5)


def test_a_line_that_changes_sku_moves_its_hold(db: Database, cid: int) -> None:
    catalogue(db, {("A", "main"): 2, ("B", "main"): 2}, **MAIN)
    v1 = order(1, ("A", 2))
    [oid] = ingest(db, cid, v1)
    reserve(db, oid)
    v2 = newer(v1, 10, lines=[replace(v1.lines[0], sku="B")])
    ingest(db, cid, v2)
    assert reserve(db, oid).lines[0].locations == (("main", 2),)
    assert (level(db, "A"), level(db, "B")) == ((2, 0), (2, 2))
    ingest(db, cid, newer(v2, 10, lines=[]))  # every line gone
    assert reserve(db, oid).lines == ()
    assert (level(db, "A"), level(db, "B")) == ((2, 0), (2, 0))
    ingest(db, cid, newer(v2, 20, lines=v1.lines))  # and back, on A
    stock = reserve(db, oid)
    assert (stock.lines[0].status, level(db, "A"), level(db, "B")) == ("reserved", (2, 2), (2, 0))


def test_a_cancelled_order_gives_its_stock_back(db: Database, cid: int) -> None:
    catalogue(db, {("A", "main"): 1}, **MAIN)
    v1 = order(1, ("A", 2))
    [oid] = ingest(db, cid, v1)
    reserve(db, oid)
    assert level(db, "A") == (1, 1)
    ingest(db, cid, newer(v1, 60, status="cancelled", cancelled_at=v1.updated_at))
    stock = reserve(db, oid)
    assert stock.lines[0].status == "released" and stock.lines[0].released == 2
    assert level(db, "A") == (1, 0)
    assert reserve(db, oid) == stock
    assert adjustments(db) == [(1, 1, "manual")]  # only the count: nothing written off


def test_only_open_orders_reserve(db: Database, cid: int) -> None:
    catalogue(db, {("A", "main"): 9}, **MAIN)
    ids = ingest(
        db,
        cid,
        order(1, ("A", 1), status="completed", fulfillment_status="fulfilled"),
        order(2, ("A", 1), fulfillment_status="fulfilled"),
        order(3, ("A", 1), status="on_hold"),
    )
    assert [reserve(db, oid).lines[0].status for oid in ids] == ["pending", "pending", "reserved"]


def test_lines_without_a_known_sku_are_not_managed(db: Database, cid: int) -> None:
    catalogue(db, {("A", "main"): 9}, **MAIN)
    [oid] = ingest(db, cid, order(1, (None, 1), ("NOPE", 2), (" A ", 1)))
    assert [line.status for line in reserve(db, oid).lines] == ["no_sku", "unknown_sku", "reserved"]
    assert len(rows(db, oid)) == 1


def test_release_with_restock_makes_units_available_again(db: Database, cid: int) -> None:
    catalogue(db, {("A", "main"): 5}, **MAIN)
    [oid] = ingest(db, cid, order(1, ("A", 2), ("A", 1)))
    reserve(db, oid)
    db.transaction(lambda s: release_order(s, oid, restock=True, lines=["1-1"]))
    assert level(db, "A") == (5, 2)
    db.transaction(lambda s: release_order(s, oid, restock=True))
    stock = db.transaction(lambda s: release_order(s, oid, restock=True))
    assert [line.status for line in stock.lines] == ["released", "released"]
    assert level(db, "A") == (5, 0)
    assert reserve(db, oid) == stock  # a released line stays released


def test_release_without_restock_writes_the_units_off(db: Database, cid: int) -> None:
    catalogue(db, {("A", "main"): 5}, **MAIN)
    [oid] = ingest(db, cid, order(1, ("A", 2)))
    reserve(db, oid)
    for _ in range(2):
        db.transaction(lambda s: release_order(s, oid, restock=False, who="ops"))
    assert level(db, "A") == (3, 0)
    assert adjustments(db) == [(5, 5, "manual"), (-2, 3, "release")]


def test_fulfilment_takes_units_off_hand_once(db: Database, cid: int) -> None:
    catalogue(db, {("A", "main"): 5, ("B", "main"): 5}, **MAIN)
    [oid] = ingest(db, cid, order(1, ("A", 3), ("B", 1)))
    reserve(db, oid)
    for _ in range(2):  # "one unit of A shipped so far", twice
        stock = db.transaction(lambda s: fulfil_order_lines(s, oid, {"1-0": 1}))
    assert (stock.lines[0].fulfilled, stock.lines[0].reserved, stock.lines[0].status) == (1, 2, "reserved")
    assert level(db, "A") == (4, 2)
    for _ in range(2):  # everything else
        stock = db.transaction(lambda s: fulfil_order_lines(s, oid))
    assert [line.status for line in stock.lines] == ["fulfilled", "fulfilled"]
    assert (level(db, "A"), level(db, "B")) == ((2, 0), (4, 0))
    assert reserve(db, oid) == stock  # shipped units count as covered
    # a return with restock puts them back, once
    for _ in range(2):
        stock = db.transaction(lambda s: release_order(s, oid, restock=True, lines=["1-0"]))
    assert (stock.lines[0].restocked, level(db, "A")) == (3, (5, 0))
    assert [a[2] for a in adjustments(db)] == [
        "manual",
        "manual",
        "fulfilment",
        "fulfilment",
        "fulfilment",
        "restock",
    ]


def test_a_count_below_reserved_leaves_nothing_available_never_negative(db: Database, cid: int) -> None:
    catalogue(db, {("A", "main"): 4}, **MAIN)
    [oid] = ingest(db, cid, order(1, ("A", 4)))
    reserve(db, oid)
    change = db.transaction(lambda s: set_on_hand(s, _sku(s, "A"), _loc(s, "main"), 1))
    assert (change.on_hand, change.reserved, change.available, change.delta) == (1, 4, 0, -3)
    [other] = ingest(db, cid, order(2, ("A", 1)))
    assert reserve(db, other).lines[0].status == "backordered"
    db.transaction(lambda s: fulfil_order_lines(s, oid))
    assert level(db, "A") == (0, 0)  # shipped 4 with 1 on the books: on_hand stops at 0


def test_counts_and_adjustments_are_recorded_and_keyed(db: Database, cid: int) -> None:
    catalogue(db, {}, **MAIN)
    with db.session() as s:
        ensure_sku(s, "A")
        sku_id, loc_id = _sku(s, "A"), _loc(s, "main")
    assert db.transaction(lambda s: set_on_hand(s, sku_id, loc_id, 7, who="me")).delta == 7
    assert db.transaction(lambda s: set_on_hand(s, sku_id, loc_id, 7)).delta == 0  # same count: no entry
    for _ in range(3):
        change = db.transaction(lambda s: adjust(s, sku_id, loc_id, -2, reason="damaged", key="req-1"))
    assert (change.on_hand, change.delta, change.replayed) == (5, -2, True)
    with pytest.raises(InventoryError) as err:
        db.transaction(lambda s: adjust(s, sku_id, loc_id, -6, reason="oops"))
    assert err.value.field == "adjust"
    with pytest.raises(InventoryError):
        db.transaction(lambda s: set_on_hand(s, sku_id, loc_id, -1))
    with pytest.raises(InventoryError) as err:  # the key of another change
        db.transaction(lambda s: adjust(s, sku_id, _other_location(db), 1, reason="x", key="req-1"))
    assert err.value.field == "key"
    assert level(db, "A") == (5, 0)
    assert adjustments(db) == [(7, 7, "manual"), (-2, 5, "manual")]
    with db.session() as s:
        who = s.scalars(select(t.StockAdjustment.who).order_by(t.StockAdjustment.id)).all()
    assert who == ["me", None]


def _other_location(db: Database) -> int:
    with db.session() as s:
        return ensure_location(s, "other").id


def test_recount_repairs_the_reserved_counter(db: Database, cid: int) -> None:
    catalogue(db, {("A", "main"): 9}, **MAIN)
    a, b = ingest(db, cid, order(1, ("A", 2)), order(2, ("A", 3)))
    db.transaction(lambda s: reserve_orders(s, [a, b]))
    with db.session() as s:  # orders deleted behind the hub's back (their connection went)
        s.delete(s.get(t.Order, a))
    assert level(db, "A") == (9, 5)
    assert db.transaction(lambda s: recount_reserved(s)) == 1
    assert level(db, "A") == (9, 3)
    assert db.transaction(lambda s: recount_reserved(s, [1])) == 0


def test_orders_sharing_skus_reserved_concurrently(db: Database, cid: int) -> None:
    """Threads reserve the same orders (lines in different SKU orders) at once: each order
    is reserved once, the counters agree with the reservations, nothing is oversold."""
    catalogue(db, {("A", "main"): 15, ("B", "main"): 10, ("C", "main"): 25}, **MAIN)
    rng = random.Random(7)
    skus = ["A", "B", "C"]
    orders = []
    for i in range(30):
        rng.shuffle(skus)
        orders.append(order(i, *[(sku, rng.randint(1, 2)) for sku in skus[: rng.randint(1, 3)]]))
    ids = ingest(db, cid, *orders)
    threads = 8
    attempts = 1 if db.dialect == "postgresql" else 5
    barrier = threading.Barrier(threads)

    def worker(seed: int) -> None:
        mine = ids[:]
        random.Random(seed).shuffle(mine)
        barrier.wait()
        for oid in mine:  # PostgreSQL: one attempt, so a deadlock would fail the test
            db.transaction(lambda s, oid=oid: reserve_order(s, oid), attempts=attempts)

    with ThreadPoolExecutor(threads) as pool:
        for f in [pool.submit(worker, n) for n in range(threads)]:
            f.result()
    check_consistent(db, {"A": 15, "B": 10, "C": 25}, {o.external_id: o for o in orders})


def check_consistent(db: Database, on_hand: dict[str, int], orders: dict[str, Order]) -> None:
    demand = {sku: 0 for sku in on_hand}
    for o in orders.values():
        for line in o.lines:
            demand[line.sku] += line.quantity
    with db.session() as s:
        for sku, units in on_hand.items():
            sku_id = _sku(s, sku)
            held = {
                state: s.scalar(
                    select(func.coalesce(func.sum(t.Reservation.quantity), 0)).where(
                        t.Reservation.sku_id == sku_id, t.Reservation.state == state
                    )
                )
                for state in ("reserved", "backordered")
            }
            counter = s.scalar(select(func.sum(t.StockLevel.reserved)).where(t.StockLevel.sku_id == sku_id))
            assert counter == held["reserved"] == min(units, demand[sku])  # every unit used, none twice
            assert held["reserved"] + held["backordered"] == demand[sku]
        per_line = s.execute(
            select(
                t.Reservation.order_id, t.Reservation.line_external_id, func.sum(t.Reservation.quantity)
            ).group_by(t.Reservation.order_id, t.Reservation.line_external_id)
        ).all()
    quantities = {line.external_id: line.quantity for o in orders.values() for line in o.lines}
    assert len(per_line) == len(quantities)
    for _, line_id, units in per_line:
        assert units == quantities[line_id]


# --- the race -------------------------------------------------------------------------

RACE_ORDERS = 200
RACE_UNITS = 50


def race(db: Database, workers: int, attempts: int) -> tuple[list[str], list[int]]:
    """RACE_ORDERS one-unit orders for a SKU with RACE_UNITS on hand, each ingested and then
    reserved in its own transactions by a pool of ``workers``; ``available`` sampled meanwhile."""
    cid = _connection(db)
    catalogue(db, {("HOT", "main"): RACE_UNITS}, **MAIN)
    orders = [order(i, ("HOT", 1)) for i in range(RACE_ORDERS)]
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            with db.session() as s:
                row = s.execute(select(t.StockLevel.on_hand, t.StockLevel.reserved)).one()
            samples.append(row.on_hand - row.reserved)

    def place(o: Order) -> str:
        [oid] = ingest(db, cid, o)
        stock = db.transaction(lambda s: reserve_order(s, oid), attempts=attempts)
        return stock.lines[0].status

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with ThreadPoolExecutor(workers) as pool:
            statuses = list(pool.map(place, orders))
    finally:
        done.set()
        sampler.join()
    return statuses, samples


def check_race(db: Database, statuses: list[str], samples: list[int]) -> None:
    assert statuses.count("reserved") == RACE_UNITS
    assert statuses.count("backordered") == RACE_ORDERS - RACE_UNITS
    assert samples and min(samples) >= 0
    assert level(db, "HOT") == (RACE_UNITS, RACE_UNITS)
    with db.session() as s:
        states = s.execute(
            select(t.Reservation.state, func.count(), func.sum(t.Reservation.quantity)).group_by(
                t.Reservation.state
            )
        ).all()
        per_order = s.scalars(
            select(func.count()).select_from(t.Reservation).group_by(t.Reservation.order_id)
        ).all()
        ids = s.scalars(select(t.Order.id)).all()
    assert sorted(states) == [("backordered", 150, 150), ("reserved", 50, 50)]
    assert len(per_order) == RACE_ORDERS and set(per_order) == {1}
    # everyone again, all at once: nothing changes
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda chunk: db.transaction(lambda s: reserve_orders(s, chunk)),
                [ids[k::8] for k in range(8)],
            )
        )
    assert level(db, "HOT") == (RACE_UNITS, RACE_UNITS)
    assert len(rows(db)) == RACE_ORDERS


@pytest.mark.postgres
@pytest.mark.parametrize("attempt", range(10))
def test_200_orders_for_50_units_postgresql(pg_db: Database, attempt: int) -> None:
    """Acceptance: exactly 50 reserved, 150 backordered, available never below 0; ten runs.
    One attempt per reservation: the lock order, not a retry, keeps it right."""
    statuses, samples = race(pg_db, workers=24, attempts=1)
    check_race(pg_db, statuses, samples)


def test_200_orders_for_50_units_sqlite(sqlite_db: Database) -> None:
    statuses, samples = race(sqlite_db, workers=8, attempts=5)
    check_race(sqlite_db, statuses, samples)
