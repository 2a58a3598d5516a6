"""SKU mappings and low stock on SQLite and PostgreSQL: automatic mapping from listings and
ingested order lines, manual mapping, the unmapped list and order flags, pushes queued for a
new mapping, and one ``stock.low`` event per crossing with days of cover."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from hub import tables as t
from hub.db import Database
from hub.ingest import IngestItem, ingest_orders
from hub.inventory import skumap
from hub.inventory.catalogue import ensure_location, ensure_sku
from hub.inventory.lowstock import check_low_stock, low_stock_info, set_reorder_point, units_sold
from hub.inventory.stock import adjust, set_on_hand
from hub.model import Line
from tests.factories import make_order


def _connection(db: Database, name: str = "shop") -> int:
    with db.session() as s:
        conn = t.Connection(
            kind="channel", connector="shopify", name=name, webhook_key=name, settings={}, schedule={}
        )
        s.add(conn)
        s.flush()
        return conn.id


@pytest.fixture
def cid(db: Database) -> int:
    return _connection(db)


def _sku_id(s, sku: str) -> int:
    return s.scalar(select(t.Sku.id).where(t.Sku.sku == sku))


def _pushes(s, cid: int) -> dict[str, int]:
    return dict(
        s.execute(
            select(t.StockPush.channel_sku, t.StockPush.sku_id).where(t.StockPush.connection_id == cid)
        ).all()
    )


def test_listings_map_where_the_sku_matches_and_are_kept_unmapped_otherwise(db: Database, cid: int) -> None:
    with db.session() as s:
        mug = ensure_sku(s, "MUG-1")
        ensure_sku(s, "mug-2")
        made = skumap.record_listings(
            s,
            cid,
            [
                {"sku": " MUG-1 ", "product_id": 10, "variant_id": 11, "listing_id": "gid://inv/1"},
                skumap.Listing("MUG-2", "20", "21"),  # case differs: not a match
                {"sku": "   "},  # no SKU: ignored
            ],
        )
        assert [(m.channel_sku, m.sku_id, m.product_id, m.variant_id, m.source) for m in made] == [
            ("MUG-1", mug.id, "10", "11", "auto"),
            ("MUG-2", None, "20", "21", "auto"),
        ]
        assert made[0].listing_id == "gid://inv/1"
        assert _pushes(s, cid) == {"MUG-1": mug.id}  # a new mapping pushes that SKU's stock
        # again: nothing new; new ids are taken, stored ones kept when not given
        assert skumap.record_listings(s, cid, [{"sku": "MUG-1", "variant_id": "99"}, {"sku": "MUG-2"}]) == []
        row = s.scalar(select(t.SkuMapping).where(t.SkuMapping.channel_sku == "MUG-1"))
        assert (row.product_id, row.variant_id, row.listing_id) == ("10", "99", "gid://inv/1")
        assert skumap.resolve_channel_skus(s, cid, ["MUG-1", " MUG-1", "MUG-2", "NEW"]) == {
            "MUG-1": mug.id,
            " MUG-1": mug.id,
            "MUG-2": None,
            "NEW": None,
        }
        # the SKU appears later: the unmapped listing maps on the next read
        later = ensure_sku(s, "MUG-2")
        assert [m.sku_id for m in skumap.record_listings(s, cid, [{"sku": "MUG-2"}])] == [later.id]
        assert s.scalar(select(func.count()).select_from(t.SkuMapping)) == 2


def test_a_manual_mapping_wins_and_is_never_overwritten(db: Database, cid: int) -> None:
    with db.session() as s:
        a, b = ensure_sku(s, "A"), ensure_sku(s, "B")
        (mapping,) = skumap.record_listings(s, cid, [{"sku": "CH-A"}])
        assert mapping.sku_id is None
        skumap.map_channel_sku(s, mapping.id, "B")
        assert (mapping.sku_id, mapping.source) == (b.id, "manual")
        assert _pushes(s, cid) == {"CH-A": b.id}
        skumap.record_listings(s, cid, [{"sku": "CH-A"}])
        assert skumap.resolve_channel_skus(s, cid, ["CH-A"]) == {"CH-A": b.id}
        with pytest.raises(skumap.MappingError) as err:
            skumap.map_channel_sku(s, mapping.id, "NOPE")
        assert err.value.field == "sku"
        assert mapping.sku_id == b.id  # unchanged
        skumap.map_channel_sku(s, mapping.id, "")
        assert mapping.sku_id is None
        assert a.id != b.id


def test_create_sku_from_a_channel_sku_maps_every_listing_with_it(db: Database) -> None:
    one, two = _connection(db, "one"), _connection(db, "two")
    with db.session() as s:
        (m1,) = skumap.record_listings(s, one, [{"sku": "TEA-9"}])
        (m2,) = skumap.record_listings(s, two, [{"sku": "TEA-9"}])
        skumap.create_sku_for(s, m1.id, name="Green tea")
        sku = s.scalar(select(t.Sku).where(t.Sku.sku == "TEA-9"))
        assert sku is not None and sku.name == "Green tea"
        s.refresh(m2)
        assert (m1.sku_id, m2.sku_id) == (sku.id, sku.id)
        assert _pushes(s, one) == {"TEA-9": sku.id} and _pushes(s, two) == {"TEA-9": sku.id}


def _order(i: int, *lines: tuple[str | None, int], status: str = "open", days_ago: int = 0):
    base = make_order(i, lines=0)
    created = t.utcnow() - timedelta(days=days_ago)
    return replace(
        base,
        status=status,
        payment_status="paid",
        fulfillment_status="unfulfilled",
        cancelled_at=None,
        created_at=created,
        updated_at=created,
        lines=[
            Line(external_id=f"{i}-{n}", sku=sku, name="thing", quantity=q, unit_price=Decimal("1.00"))
            for n, (sku, q) in enumerate(lines)
        ],
    )


def _ingest(db: Database, cid: int, *orders) -> dict[str, int]:
    results = db.transaction(lambda s: ingest_orders(s, cid, [IngestItem(o, {}) for o in orders]))
    return {r.external_id: r.order_id for r in results}


def test_ingested_order_lines_fill_the_mappings_and_unmapped_ones_flag_their_orders(
    db: Database, cid: int
) -> None:
    with db.session() as s:
        ensure_sku(s, "KNOWN")
    ids = _ingest(
        db,
        cid,
        _order(1, ("KNOWN", 1), ("GHOST", 2)),
        _order(2, ("GHOST", 1)),
        _order(3, ("GHOST", 1), status="cancelled"),  # not open: not counted
        _order(4, ("KNOWN", 1), (None, 1)),
    )
    with db.session() as s:
        rows = {m.channel_sku: m.sku_id for m in s.scalars(select(t.SkuMapping))}
        assert rows == {"KNOWN": _sku_id(s, "KNOWN"), "GHOST": None}
        unmapped, total = skumap.unmapped_skus(s)
        assert total == 1
        assert [(u.channel_sku, u.connection, u.open_orders) for u in unmapped] == [("GHOST", "shop", 2)]
        flags = skumap.unmapped_lines(s, list(ids.values()))
        by_external = {ext: flags.get(oid, []) for ext, oid in ids.items()}
        assert by_external == {
            make_order(1, lines=0).external_id: ["GHOST"],
            make_order(2, lines=0).external_id: ["GHOST"],
            make_order(3, lines=0).external_id: ["GHOST"],
            make_order(4, lines=0).external_id: [],
        }
        # mapping it clears the flags and the page
        skumap.map_channel_sku(s, unmapped[0].mapping_id, "KNOWN")
        assert skumap.unmapped_lines(s, list(ids.values())) == {}
        assert skumap.unmapped_skus(s) == ([], 0)


def test_record_all_order_skus_backfills_stored_orders(db: Database, cid: int) -> None:
    _ingest(db, cid, _order(1, ("X-1", 1)), _order(2, ("X-2", 1), ("X-1", 1)))
    with db.session() as s:
        s.execute(t.SkuMapping.__table__.delete())
    with db.session() as s:
        ensure_sku(s, "X-2")
        assert skumap.record_all_order_skus(s, batch=1) == 2
        assert {m.channel_sku: m.sku_id is not None for m in s.scalars(select(t.SkuMapping))} == {
            "X-1": False,
            "X-2": True,
        }


def _events(s) -> list[t.HubEvent]:
    return list(s.scalars(select(t.HubEvent).where(t.HubEvent.topic == "stock.low").order_by(t.HubEvent.id)))


def test_stock_low_is_raised_once_per_crossing(db: Database, cid: int) -> None:
    with db.session() as s:
        main = ensure_location(s, "main")
        sku = ensure_sku(s, "LOW-1", "Low thing", reorder_point=5)
        sku_id, loc = sku.id, main.id
    db.transaction(lambda s: set_on_hand(s, sku_id, loc, 200))
    # 30 days of sales: 60 units (10 + 50); an older and a cancelled order do not count
    _ingest(
        db,
        cid,
        _order(1, ("LOW-1", 10), days_ago=3),
        _order(2, ("LOW-1", 50), days_ago=29),
        _order(3, ("LOW-1", 7), days_ago=31),
        _order(4, ("LOW-1", 9), status="cancelled"),
    )
    with db.session() as s:
        assert units_sold(s, [sku_id]) == {sku_id: 60}
        info = low_stock_info(s, [s.get(t.Sku, sku_id)])[sku_id]
        assert (info.available, info.low, info.days_of_cover) == (133, False, Decimal("66.5"))
        assert _events(s) == []
    # a count leaving exactly the reorder point available: the crossing raises one event
    db.transaction(lambda s: set_on_hand(s, sku_id, loc, 72))
    with db.session() as s:
        events = _events(s)
        assert len(events) == 1
        payload = events[0].payload
        assert (payload["sku"], payload["available"], payload["reorder_point"]) == ("LOW-1", 5, 5)
        assert (payload["units_sold_30d"], payload["days_of_cover"]) == (60, "2.5")  # 5 / (60 / 30)
        assert s.get(t.Sku, sku_id).low_since is not None
    # further changes while low raise nothing; back above re-arms; the next crossing raises again
    db.transaction(lambda s: adjust(s, sku_id, loc, -2, reason="damaged"))
    db.transaction(lambda s: check_low_stock(s, [sku_id]))
    with db.session() as s:
        assert len(_events(s)) == 1
    db.transaction(lambda s: adjust(s, sku_id, loc, 10, reason="received"))
    with db.session() as s:
        assert s.get(t.Sku, sku_id).low_since is None
    _ingest(db, cid, _order(5, ("LOW-1", 8)))  # a reservation crosses it too
    with db.session() as s:
        events = _events(s)
        assert len(events) == 2 and events[0].key != events[1].key
        assert events[1].payload["available"] == 5


def test_reorder_point_change_checks_at_once_and_none_never_alerts(db: Database) -> None:
    with db.session() as s:
        main = ensure_location(s, "main")
        sku = ensure_sku(s, "RP-1")
        set_on_hand(s, sku.id, main.id, 3)
        assert _events(s) == []
        assert set_reorder_point(s, sku, None) == []
        raised = set_reorder_point(s, sku, 3)
        assert len(raised) == 1
        assert set_reorder_point(s, sku, 4) == []  # still low: the same crossing
        info = low_stock_info(s, [sku])[sku.id]
        assert (info.low, info.available, info.units_sold_30d, info.days_of_cover) == (True, 3, 0, None)
        assert set_reorder_point(s, sku, None) == []
        assert s.get(t.Sku, sku.id).low_since is None
        with pytest.raises(ValueError):
            set_reorder_point(s, sku, -1)
