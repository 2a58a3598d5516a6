"""Storage on SQLite and PostgreSQL: migrations match the models, types keep their values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from hub import tables as t
from hub.db import Database


def test_migrations_create_exactly_the_models(db: Database) -> None:
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, t.Base.metadata) == []


def test_upgrade_twice_is_harmless(db: Database) -> None:
    db.upgrade()
    db.upgrade()


def _connection(db: Database, name: str = "c") -> int:
    with db.session() as s:
        conn = t.Connection(
            kind="channel", connector="shopify", name=name, webhook_key=f"k-{name}", settings={}, schedule={}
        )
        s.add(conn)
        s.flush()
        return conn.id


def test_money_is_exact_and_times_are_aware_utc(db: Database) -> None:
    cid = _connection(db)
    when = datetime(2026, 5, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=-4)))
    with db.session() as s:
        s.add(
            t.Order(
                connection_id=cid,
                channel="shopify",
                external_id="1",
                status="open",
                payment_status="paid",
                fulfillment_status="unfulfilled",
                currency="USD",
                total=Decimal("1234567.8901"),
                created_at=when,
                updated_at=when,
                canonical={},
                raw={"a": 1},
            )
        )
    with db.session() as s:
        row = s.scalar(select(t.Order))
        assert row.total == Decimal("1234567.8901")
        assert row.created_at == when
        assert row.created_at.tzinfo is not None
        assert row.created_at.utcoffset() == timedelta(0)
        assert row.raw == {"a": 1}


def test_naive_datetimes_are_refused(db: Database) -> None:
    cid = _connection(db)
    with pytest.raises(Exception, match="naive"), db.session() as s:
        s.add(t.SyncCursor(connection_id=cid, stream="orders", value="x", updated_at=datetime(2026, 1, 1)))
        s.flush()


def test_order_is_unique_per_connection(db: Database) -> None:
    a, b = _connection(db, "a"), _connection(db, "b")
    now = datetime.now(UTC)
    common = dict(
        channel="shopify",
        external_id="42",
        status="open",
        payment_status="paid",
        fulfillment_status="unfulfilled",
        currency="USD",
        total=Decimal(1),
        created_at=now,
        updated_at=now,
        canonical={},
        raw={},
    )
    with db.session() as s:
        s.add_all([t.Order(connection_id=a, **common), t.Order(connection_id=b, **common)])
    with pytest.raises(Exception, match=r"(?i)unique"), db.session() as s:
        s.add(t.Order(connection_id=a, **common))
        s.flush()


def test_deleting_a_connection_removes_its_orders(db: Database) -> None:
    cid = _connection(db)
    now = datetime.now(UTC)
    with db.session() as s:
        s.add(
            t.Order(
                connection_id=cid,
                channel="shopify",
                external_id="1",
                status="open",
                payment_status="paid",
                fulfillment_status="unfulfilled",
                currency="USD",
                total=Decimal(1),
                created_at=now,
                updated_at=now,
                canonical={},
                raw={},
            )
        )
    with db.session() as s:
        s.delete(s.get(t.Connection, cid))
    with db.session() as s:
        assert s.scalar(select(t.Order)) is None
