"""Idempotent ingest on SQLite and PostgreSQL, including 16 threads racing on one order."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from hub import tables as t
from hub.db import Database
from hub.ingest import IngestItem, ingest_orders
from hub.schemas import dump_order
from tests.factories import make_order, newer


@pytest.fixture
def cid(db: Database) -> int:
    with db.session() as s:
        conn = t.Connection(
            kind="channel", connector="shopify", name="shop", webhook_key="k", settings={}, schedule={}
        )
        s.add(conn)
        s.flush()
        return conn.id


def ingest(db: Database, cid: int, *orders, source: str = "poll"):
    items = [IngestItem(o, {"raw": o.external_id, "v": o.updated_at.isoformat()}, source) for o in orders]
    return db.transaction(lambda s: ingest_orders(s, cid, items))


def counts(db: Database) -> tuple[int, int, int]:
    with db.session() as s:
        return (
            s.scalar(select(func.count()).select_from(t.Order)),
            s.scalar(select(func.count()).select_from(t.OrderHistory)),
            s.scalar(select(func.count()).select_from(t.OrderLine)),
        )


def test_same_order_twice_gives_one_row_and_one_history_entry(db: Database, cid: int) -> None:
    order = make_order(1, lines=3)
    assert [r.outcome for r in ingest(db, cid, order)] == ["created"]
    assert [r.outcome for r in ingest(db, cid, order, source="webhook")] == ["unchanged"]
    assert counts(db) == (1, 1, 3)


def test_stored_order_is_the_canonical_document(db: Database, cid: int) -> None:
    order = make_order(7)
    ingest(db, cid, order)
    with db.session() as s:
        row = s.scalar(select(t.Order))
        lines = s.scalars(select(t.OrderLine).order_by(t.OrderLine.position)).all()
        addresses = s.scalars(select(t.OrderAddress)).all()
    assert row.canonical == dump_order(order)
    assert row.raw == {"raw": order.external_id, "v": order.updated_at.isoformat()}
    assert [line.unit_price for line in lines] == [line.unit_price for line in order.lines]
    assert sorted(a.kind for a in addresses) == ["billing", "shipping"]
    assert row.total == order.totals.total


def test_a_real_change_adds_history_listing_the_fields(db: Database, cid: int) -> None:
    order = make_order(2, lines=2)
    ingest(db, cid, order)
    changed = newer(order, 60, status="cancelled" if order.status != "cancelled" else "open", note="late")
    [result] = ingest(db, cid, changed, source="webhook")
    assert result.outcome == "updated"
    assert set(result.fields) == {"status", "note"}
    with db.session() as s:
        history = s.scalars(select(t.OrderHistory).order_by(t.OrderHistory.id)).all()
        row = s.scalar(select(t.Order))
    assert [(h.change, h.source) for h in history] == [("created", "poll"), ("updated", "webhook")]
    assert set(history[1].fields) == {"status", "note"}
    assert row.status == changed.status and row.version == 2


def test_older_version_never_overwrites_newer(db: Database, cid: int) -> None:
    order = make_order(3)
    new = newer(order, 120, note="new")
    ingest(db, cid, new)
    [result] = ingest(db, cid, newer(order, 60, note="old"))
    assert result.outcome == "stale"
    with db.session() as s:
        assert s.scalar(select(t.Order.canonical))["note"] == "new"
    assert counts(db)[1] == 1


def test_only_updated_at_moved_is_not_history_but_moves_the_guard(db: Database, cid: int) -> None:
    order = make_order(4)
    ingest(db, cid, order)
    assert ingest(db, cid, newer(order, 30))[0].outcome == "unchanged"
    assert ingest(db, cid, newer(order, 10, note="x"))[0].outcome == "stale"
    assert counts(db)[1] == 1


def test_changed_lines_are_replaced(db: Database, cid: int) -> None:
    order = make_order(5, lines=4)
    ingest(db, cid, order)
    ingest(db, cid, newer(order, 5, lines=order.lines[:2]))
    assert counts(db) == (1, 2, 2)


def test_batch_with_two_versions_keeps_the_newest(db: Database, cid: int) -> None:
    order = make_order(6)
    results = ingest(db, cid, newer(order, 50, note="b"), order, make_order(8))
    assert sorted(r.outcome for r in results) == ["created", "created", "stale"]
    with db.session() as s:
        assert (
            s.scalar(select(t.Order.canonical).where(t.Order.external_id == order.external_id))["note"] == "b"
        )


def test_a_failed_batch_changes_nothing(db: Database, cid: int) -> None:
    good = make_order(9)

    def boom(session):
        ingest_orders(session, cid, [IngestItem(good, {}, "poll")])
        raise RuntimeError("page failed half way")

    with pytest.raises(RuntimeError):
        db.transaction(boom)
    assert counts(db) == (0, 0, 0)


def race(db: Database, cid: int, versions: list, threads: int = 16, rounds: int = 4) -> list:
    """Every thread ingests every version, each in its own random order, all at once."""
    barrier = threading.Barrier(threads)

    def worker(seed: int) -> list:
        rng = random.Random(seed)
        mine = [v for v in versions for _ in range(rounds)]
        rng.shuffle(mine)
        barrier.wait()
        out = []
        for version in mine:
            out.extend(ingest(db, cid, version, source=rng.choice(["poll", "webhook"])))
        return out

    with ThreadPoolExecutor(threads) as pool:
        return [r for f in [pool.submit(worker, i) for i in range(threads)] for r in f.result()]


def check_race(db: Database, versions: list) -> None:
    newest = max(versions, key=lambda v: v.updated_at)
    with db.session() as s:
        rows = s.scalars(select(t.Order)).all()
        history = s.scalars(select(t.OrderHistory)).all()
        lines = s.scalar(select(func.count()).select_from(t.OrderLine))
    assert len(rows) == 1
    assert rows[0].canonical == dump_order(newest)
    assert lines == len(newest.lines)
    stamps = [h.channel_updated_at for h in history]
    assert len(stamps) == len(set(stamps)), "the same version was recorded twice"
    assert sum(h.change == "created" for h in history) == 1
    assert newest.updated_at in stamps


def _versions(i: int) -> list:
    base = make_order(i, lines=3)
    return [
        newer(
            base,
            k * 10,
            note=f"v{k}",
            totals=base.totals.__class__(
                subtotal=base.totals.subtotal,
                discount=base.totals.discount,
                shipping=base.totals.shipping,
                tax=base.totals.tax,
                total=base.totals.total,
                refunded=Decimal(k),
            ),
        )
        for k in range(6)
    ]


def test_sixteen_threads_on_one_order_sqlite(sqlite_db: Database) -> None:
    with sqlite_db.session() as s:
        s.add(
            t.Connection(
                kind="channel", connector="shopify", name="s", webhook_key="k", settings={}, schedule={}
            )
        )
    versions = _versions(11)
    race(sqlite_db, 1, versions, rounds=2)
    check_race(sqlite_db, versions)


@pytest.mark.postgres
@pytest.mark.parametrize("attempt", range(10))
def test_sixteen_threads_on_one_order_postgresql(pg_db: Database, attempt: int) -> None:
    """Acceptance: passes ten times in a row on PostgreSQL."""
    with pg_db.session() as s:
        s.add(
            t.Connection(
                kind="channel", connector="shopify", name="s", webhook_key="k", settings={}, schedule={}
            )
        )
        s.flush()
        cid = s.scalar(select(t.Connection.id))
    versions = _versions(100 + attempt)
    results = race(pg_db, cid, versions)
    check_race(pg_db, versions)
    assert sum(r.outcome == "created" for r in results) == 1


@pytest.mark.postgres
def test_threads_on_different_orders_postgresql(pg_db: Database) -> None:
    with pg_db.session() as s:
        s.add(
            t.Connection(
                kind="channel", connector="shopify", name="s", webhook_key="k", settings={}, schedule={}
            )
        )
        s.flush()
        cid = s.scalar(select(t.Connection.id))
    orders = [make_order(i, lines=2) for i in range(64)]
    barrier = threading.Barrier(16)

    def worker(n: int) -> None:
        rng = random.Random(n)
        mine = orders[:]
        rng.shuffle(mine)
        barrier.wait()
        for start in range(0, len(mine), 8):  # batches in different orders: no deadlock may escape
            ingest(pg_db, cid, *mine[start : start + 8])

    with ThreadPoolExecutor(16) as pool:
        for f in [pool.submit(worker, i) for i in range(16)]:
            f.result()
    assert counts(pg_db) == (64, 64, 128)
