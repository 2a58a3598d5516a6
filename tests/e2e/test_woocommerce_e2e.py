"""WooCommerce end to end on loopback: the hub (real HTTP) against the WooCommerce sandbox (real
HTTP, OAuth 1.0a, a shop clock at UTC+10): orders by poll and by webhook, a webhook WooCommerce
disabled brought back by the health check with the gap filled by the reconciliation poll, stock
written to 2,000 variations, fulfilment pushed twice."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from connectors.woocommerce import WooCommerceConnector
from connectors.woocommerce.sandbox import API, WooCommerceSandbox
from hub import tables as t
from hub.app import create_app
from hub.connectors import ShipmentPush, StockWrite
from hub.db import Database
from hub.jobs import check_webhooks
from hub.sandbox import Faults
from hub.services.connections import build_connector, create_connection
from hub.sync import PollSummary, poll_orders
from tests.conftest import LiveHub, make_settings, serve

SECRET_KEY = "test-secret-key-not-for-production"


@pytest.fixture
def hub(tmp_path: Path, sqlite_db: Database) -> Iterator[LiveHub]:
    app = create_app(make_settings(tmp_path, sqlite_db.url, secret_key=SECRET_KEY))
    with serve(app) as live:
        yield live


def connect(hub: LiveHub, sandbox: WooCommerceSandbox, **settings: Any) -> int:
    since = (datetime.now(UTC) - timedelta(days=60)).date()
    values = sandbox.connection_values() | {"backfill_since": since} | settings
    with hub.db.session() as session:
        return create_connection(session, hub.app.extensions["hub"].box, "woocommerce", "Woo", values).id


def connector(hub: LiveHub, cid: int) -> WooCommerceConnector:
    h = hub.app.extensions["hub"]
    with hub.db.session() as session:
        conn = session.get(t.Connection, cid)
        session.expunge(conn)
    built = build_connector(h.db, h.box, conn, h.settings.public_url)
    assert isinstance(built, WooCommerceConnector)
    return built


def poll(hub: LiveHub, cid: int) -> PollSummary:
    h = hub.app.extensions["hub"]
    summary = poll_orders(h.db, h.box, h.settings.public_url, cid)
    assert summary.status == "ok", summary.error
    return summary


def stored(db: Database) -> dict[str, str]:
    """external id -> updated_at as WooCommerce's bare GMT string."""
    with db.session() as session:
        rows = session.execute(select(t.Order.external_id, t.Order.updated_at)).all()
    return {r.external_id: r.updated_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") for r in rows}


def count(db: Database, model: Any, *where: Any) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def test_3000_orders_at_utc_plus_10_none_missing_or_doubled(hub: LiveHub) -> None:
    with WooCommerceSandbox(seed=11, orders=3000, utc_offset_hours=10).start() as sandbox:
        cid = connect(hub, sandbox)  # the default, gentle 5 requests per second
        sandbox.fail_next("500", 2, path=r"/orders$")  # a PHP fatal, retried
        sandbox.fail_next("lost_response", 1, path=r"/orders$")
        seeded = {str(o["id"]) for o in sandbox.all_orders()}
        sandbox.change_orders(40)  # modified in the last minute before the poll
        stop = threading.Event()

        def shop_keeps_selling() -> None:  # pages shift under the poll, as MySQL offsets do
            while not stop.wait(0.1):
                sandbox.change_orders(3)
                sandbox.create_orders(1)

        busy = threading.Thread(target=shop_keeps_selling)
        busy.start()
        try:
            first = poll(hub, cid)
        finally:
            stop.set()
            busy.join()
        got = stored(hub.db)
        assert seeded <= set(got), f"missing: {sorted(seeded - set(got))[:10]}"
        assert count(hub.db, t.OrderHistory, t.OrderHistory.change == "created") == len(got), "none doubled"
        with hub.db.session() as session:
            run = session.get(t.SyncRun, first.run_id)
        assert run.progress_total >= 3000 and run.progress_done >= run.progress_total - 10

        poll(hub, cid)  # whatever changed after the last page of the first poll
        expected = {str(o["id"]): o["date_modified_gmt"] for o in sandbox.all_orders()}
        assert stored(hub.db) == expected, "every order, at its newest version"

        sandbox.change_orders(25)
        new = sandbox.create_orders(10)
        third = poll(hub, cid)
        assert third.counts.get("created") == 10 and {str(i) for i in new} <= set(stored(hub.db))
        assert stored(hub.db) == {str(o["id"]): o["date_modified_gmt"] for o in sandbox.all_orders()}
        assert sandbox.stats.faults["500"] == 2 and sandbox.stats.faults["lost_response"] == 1


def test_disabled_webhook_reactivated_by_health_check_and_gap_filled_by_poll(hub: LiveHub) -> None:
    with WooCommerceSandbox(seed=12, orders=20).start() as sandbox:
        cid = connect(hub, sandbox, requests_per_second=50)
        assert poll(hub, cid).counts["created"] == 20
        assert sorted(connector(hub, cid).register_webhooks()) == sorted(
            ["order.created", "order.updated", "order.deleted", "product.updated"]
        )
        assert [d["status"] for d in sandbox.deliveries if d["topic"] == "ping"] == [200] * 4

        sandbox.create_orders(2)
        assert sandbox.deliver_pending() == [200, 200]
        wait_for(lambda: len(stored(hub.db)) == 22)

        sandbox.unreachable = True  # the hub is down: WooCommerce neither retries nor waits
        missed = []
        for _ in range(7):
            missed += sandbox.create_orders(1)
            assert sandbox.deliver_pending() == [None]
        created_hook = next(h for h in sandbox.hooks.values() if h["topic"] == "order.created")
        assert created_hook["status"] == "disabled"
        missed += sandbox.create_orders(3)
        assert sandbox.deliver_pending() == [], "nothing goes to a disabled webhook"
        sandbox.unreachable = False

        assert check_webhooks(hub.app, cid) == ["order.created (was disabled)"]
        assert created_hook["status"] == "active"
        assert check_webhooks(hub.app, cid) == []

        assert poll(hub, cid).counts.get("created") == 10, "the reconciliation poll brings the gap"
        assert {str(i) for i in missed} <= set(stored(hub.db))

        [late] = sandbox.create_orders(1)
        assert sandbox.deliver_pending() == [200]
        wait_for(lambda: str(late) in stored(hub.db))
        with hub.db.session() as session:
            sources = session.scalars(
                select(t.OrderHistory.source).where(t.OrderHistory.change == "created")
            ).all()
        assert sources.count("webhook") == 3 and sources.count("poll") == 30


def test_ping_is_answered_200_and_recorded(hub: LiveHub) -> None:
    with WooCommerceSandbox(seed=13, orders=3).start() as sandbox:
        cid = connect(hub, sandbox, requests_per_second=50)
        connector(hub, cid).register_webhooks()
        pings = [d for d in sandbox.deliveries if d["topic"] == "ping"]
        assert [p["status"] for p in pings] == [200] * 4
        with hub.db.session() as session:
            keys = session.scalars(
                select(t.InboxEvent.delivery_key).where(t.InboxEvent.topic == "ping")
            ).all()
        assert sorted(keys) == sorted(f"ping:{p['webhook_id']}" for p in pings)
        assert count(hub.db, t.Order) == 0


def test_ping_ends_ignored_not_failed(hub: LiveHub) -> None:
    with WooCommerceSandbox(seed=13, orders=1).start() as sandbox:
        cid = connect(hub, sandbox, requests_per_second=50)
        connector(hub, cid).register_webhooks()

        def settled() -> bool:
            return count(hub.db, t.InboxEvent, t.InboxEvent.state.in_(["pending", "processing"])) == 0

        wait_for(settled)
        with hub.db.session() as session:
            states = set(session.scalars(select(t.InboxEvent.state).where(t.InboxEvent.topic == "ping")))
        assert states == {"ignored"}


def test_same_second_deliveries_sent_twice_give_each_order_once(hub: LiveHub) -> None:
    with WooCommerceSandbox(seed=14, orders=0, faults=Faults(duplicate_webhooks=1.0)).start() as sandbox:
        cid = connect(hub, sandbox, requests_per_second=50)
        connector(hub, cid).register_webhooks()
        ids = sandbox.create_orders(30)  # one second: WooCommerce gives all 30 the same delivery id
        assert sandbox.deliver_pending() == [200] * 30
        wait_for(lambda: len(stored(hub.db)) == 30)
        assert set(stored(hub.db)) == {str(i) for i in ids}
        with hub.db.session() as session:
            rows = session.scalars(select(t.InboxEvent).where(t.InboxEvent.topic == "order.created")).all()
        assert len(rows) == 30 and all(r.duplicate_count == 1 for r in rows)
        wait_for(lambda: count(hub.db, t.InboxEvent, t.InboxEvent.state == "done") == 30)

        oid = ids[0]
        sandbox.trash_order(oid)
        sandbox.deliver_pending()

        def trashed() -> bool:
            with hub.db.session() as session:
                order = session.scalar(select(t.Order).where(t.Order.external_id == str(oid)))
                return order.raw.get("status") == "trash"

        wait_for(trashed)


def test_stock_to_2000_variations_in_at_most_20_write_calls(hub: LiveHub) -> None:
    shop = WooCommerceSandbox(
        seed=15, orders=0, simple_products=0, variable_products=20, variations=100, inherit_rate=0
    )
    with shop.start() as sandbox:
        cid = connect(hub, sandbox, requests_per_second=100, requests_in_flight=4)
        woo = connector(hub, cid)
        skus = sandbox.variation_skus()
        assert len(skus) == 2000
        sandbox.reset_stats()
        results = woo.write_stock([StockWrite(sku, "default", n % 50) for n, sku in enumerate(skus)])
        assert len(results) == 2000 and all(r.ok for r in results), [r for r in results if not r.ok][:3]
        writes = sandbox.stats.count(method="POST", rule=f"{API}/products/<int:product_id>/variations/batch")
        assert writes <= 20 and sandbox.stats.count(method="POST") == writes
        assert sandbox.stock(skus[1234]) == (True, 1234 % 50)
        levels = {s.sku: s.available for s in woo.read_stock()}
        assert levels == {sku: n % 50 for n, sku in enumerate(skus)}


def test_stock_of_variations_inheriting_from_their_parent(hub: LiveHub) -> None:
    shop = WooCommerceSandbox(
        seed=16, orders=0, simple_products=6, variable_products=2, variations=4, inherit_rate=1
    )
    with shop.start() as sandbox:
        cid = connect(hub, sandbox, requests_per_second=50)
        woo = connector(hub, cid)
        inherit = [s for s in sandbox.variation_skus() if sandbox.stock(s)[0] == "parent"]
        assert len(inherit) == 8
        assert [r.ok for r in woo.write_stock([StockWrite(inherit[0], "default", 17)])] == [True]
        assert all(sandbox.stock(s) == ("parent", 17) for s in inherit[:4]), (
            "siblings share the parent's stock"
        )
        unmanaged = next(
            p["sku"] for p in sandbox.products.values() if p["type"] == "simple" and not p["manage_stock"]
        )
        assert [r.ok for r in woo.write_stock([StockWrite(unmanaged, "default", 3)])] == [True]
        assert sandbox.stock(unmanaged) == (True, 3)
        assert {s.sku: s.available for s in woo.read_stock([inherit[1], unmanaged])} == {
            inherit[1]: 17,
            unmanaged: 3,
        }


@pytest.mark.parametrize("tracking", [True, False], ids=["shipment-tracking", "order-note"])
def test_fulfilment_push_twice_adds_once(hub: LiveHub, tracking: bool) -> None:
    with WooCommerceSandbox(seed=17, orders=30, shipment_tracking=tracking).start() as sandbox:
        cid = connect(hub, sandbox, requests_per_second=50)
        oid = next(o["id"] for o in sandbox.all_orders() if o["status"] == "processing")
        push = ShipmentPush(
            key="shipment-1",
            order_external_id=str(oid),
            lines=(),
            carrier="ups",
            carrier_name="UPS",
            tracking_number="1Z999AA10123456784",
            tracking_url="https://www.ups.com/track?tracknum=1Z999AA10123456784",
            notify_customer=True,  # the connection e-mails the customer: a customer note
        )
        first = connector(hub, cid).push_fulfilment(push)
        second = connector(hub, cid).push_fulfilment(push)
        assert (first.outcome, second.outcome) == (
            "created",
            "unchanged",
        ) and first.channel_ref == second.channel_ref
        assert sandbox.order(oid)["status"] == "completed"
        if tracking:
            assert [i["tracking_number"] for i in sandbox.trackings[oid]] == [push.tracking_number]
            assert not sandbox.notes.get(oid)
        else:
            notes = [n for n in sandbox.notes[oid] if n["customer_note"]]
            assert len(notes) == 1 and push.tracking_number in notes[0]["note"] and "UPS" in notes[0]["note"]
        moved = ShipmentPush(
            **{**push.__dict__, "tracking_number": "1Z999AA10123456799", "tracking_url": None}
        )
        assert connector(hub, cid).push_fulfilment(moved).outcome == "updated"
        if tracking:
            assert [i["tracking_number"] for i in sandbox.trackings[oid]] == [moved.tracking_number]
