"""Magento end to end on loopback: the hub (real HTTP) against the Magento sandbox (real HTTP,
OAuth 1.0a checked on every request): 3,000 orders polled while the store changes them, stock
for 2,000 SKUs written to an MSI store in batches, a shipment pushed twice, signed webhooks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from connectors.magento import MagentoConnector
from connectors.magento.sandbox import MagentoSandbox
from hub import tables as t
from hub.app import create_app
from hub.connectors import ShipmentLine, ShipmentPush, StockWrite
from hub.db import Database
from hub.sandbox import SandboxClock
from hub.schemas import dump_order
from hub.services.connections import build_connector, create_connection, run_test
from hub.sync import poll_orders
from mappings.magento import map_order
from tests.conftest import LiveHub, make_settings, serve

SEEDED = 3000
SKUS = 2000
SOURCE_ITEMS_RULE = "/rest/<store>/V1/inventory/source-items"


@pytest.fixture
def hub(tmp_path: Path, sqlite_db: Database) -> Iterator[LiveHub]:
    app = create_app(make_settings(tmp_path, sqlite_db.url))
    with serve(app) as live:
        yield live


def connect(hub: LiveHub, sandbox: MagentoSandbox, name: str = "Sandbox", **values: Any) -> int:
    since = (datetime.now(UTC) - timedelta(days=60)).date()
    submitted = sandbox.connection_values() | {"backfill_since": since} | values
    with hub.db.session() as session:
        return create_connection(session, hub.app.extensions["hub"].box, "magento", name, submitted).id


def connector(hub: LiveHub, connection_id: int) -> MagentoConnector:
    h = hub.app.extensions["hub"]
    with hub.db.session() as session:
        conn = session.get(t.Connection, connection_id)
        session.expunge(conn)
    built = build_connector(h.db, h.box, conn, h.settings.public_url)
    assert isinstance(built, MagentoConnector)
    return built


def poll(hub: LiveHub, connection_id: int) -> Any:
    h = hub.app.extensions["hub"]
    return poll_orders(h.db, h.box, h.settings.public_url, connection_id)


def stored(db: Database) -> dict[str, Any]:
    """external id -> the canonical order the hub keeps."""
    with db.session() as session:
        rows = session.execute(select(t.Order.external_id, t.Order.canonical))
        return {row.external_id: row.canonical for row in rows}


def count(db: Database, model: Any, *where: Any) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_3000_orders_polled_while_the_store_changes_them(hub: LiveHub) -> None:
    # A frozen clock puts every change made during the poll in one second: more orders than a
    # page share one updated_at, which is where offset paging loses orders.
    clock = SandboxClock(datetime.now(UTC).replace(microsecond=0), speed=0)
    with MagentoSandbox(seed=11, orders=SEEDED, clock=clock).start() as sandbox:
        cid = connect(hub, sandbox)
        sandbox.changes_per_list = 5  # before every order list request
        sandbox.set_faults(rate_503=0.05)  # retried: reads are idempotent
        sandbox.fail_next("lost_response", path="/orders$")
        summary = poll(hub, cid)
        assert summary.status == "ok", summary.error
        busy = clock.now().strftime("%Y-%m-%d %H:%M:%S")
        changed = sum(o["updated_at"] == busy for o in sandbox.all_orders())
        assert changed > 100, "more changed orders in one second than a page holds"
        orders = stored(hub.db)
        assert sorted(orders, key=int) == [str(o["entity_id"]) for o in sandbox.all_orders()]
        assert count(hub.db, t.OrderHistory, t.OrderHistory.change == "created") == SEEDED
        with hub.db.session() as session:
            run = session.get(t.SyncRun, summary.run_id)
            urls = list(session.scalars(select(t.ApiCall.url)))
        assert run.progress_total == SEEDED and run.progress_done >= SEEDED
        assert any("entity_id" in u and "condition_type%5D=gt" in u for u in urls), "a full second read by id"
        assert not any(sandbox.access_token_secret in u or sandbox.consumer_secret in u for u in urls)
        assert sandbox.stats.count(status=401) == 0

        assert sandbox.stats.faults["503"] + sandbox.stats.faults["lost_response"] >= 2
        sandbox.changes_per_list = 0
        again = poll(hub, cid)
        assert again.status == "ok"
        orders = stored(hub.db)
        assert len(orders) == SEEDED
        latest = {str(o["entity_id"]): dump_order(map_order(o)) for o in sandbox.all_orders()}
        stale = [i for i, canonical in orders.items() if canonical != latest[i]]
        assert stale == [], f"{len(stale)} orders not at their latest version"
        assert count(hub.db, t.OrderHistory, t.OrderHistory.change == "created") == SEEDED


def test_an_order_the_mapping_refuses_is_a_dead_letter_and_the_rest_come_in(hub: LiveHub) -> None:
    with MagentoSandbox(seed=16, orders=20).start() as sandbox:
        sandbox.orders[7]["state"] = "teleported"  # no Magento state: the mapping refuses it
        cid = connect(hub, sandbox)
        summary = poll(hub, cid)
        assert (summary.status, summary.dead) == ("ok", 1)
        assert sorted(stored(hub.db), key=int) == [str(i) for i in range(1, 21) if i != 7]
        with hub.db.session() as session:
            dead = session.scalars(select(t.InboxEvent).where(t.InboxEvent.state == "dead")).one()
        assert dead.source == "poll" and "state" in (dead.last_error or "")


def test_stock_for_2000_skus_goes_to_an_msi_store_in_20_calls(hub: LiveHub) -> None:
    with MagentoSandbox(seed=12, orders=5, skus=SKUS).start() as sandbox:
        c = connector(hub, connect(hub, sandbox, stock_batch_size=100))
        writes = [
            StockWrite(f"SBX-{i:05d}", ("east_wh", "west_wh")[i % 2], i % 37) for i in range(1, SKUS + 1)
        ]
        sandbox.reset_stats()
        sandbox.fail_next("lost_response", path="source-items$")  # written, answer lost: sent again
        results = c.write_stock(writes)
        assert all(r.ok for r in results), [r for r in results if not r.ok][:3]
        assert all(sandbox.quantity(w.sku, w.location_id) == w.quantity for w in writes)
        posts = sandbox.stats.count(method="POST", rule=SOURCE_ITEMS_RULE)
        assert posts == 21, "20 batches of 100, one of them sent twice after its answer was lost"
        print(f"\n2,000 SKUs: {posts - 1} batched POST /V1/inventory/source-items calls (+1 retry)")


def test_a_shipment_pushed_twice_gives_one_shipment(hub: LiveHub) -> None:
    with MagentoSandbox(seed=13, orders=40, configurable_share=0.6).start() as sandbox:
        cid = connect(hub, sandbox, notify_customer=True)
        assert poll(hub, cid).status == "ok"
        target = next(
            o
            for o in sandbox.all_orders()
            if o["state"] in ("new", "processing") and any(i.get("parent_item_id") for i in o["items"])
        )
        with hub.db.session() as session:
            canonical = session.scalar(
                select(t.Order.canonical).where(t.Order.external_id == str(target["entity_id"]))
            )
        lines = tuple(ShipmentLine(line["external_id"], line["quantity"]) for line in canonical["lines"])
        # the push-back sender passes the connection's notify_customer setting with the push
        push = ShipmentPush(
            "hub-ship-1", canonical["external_id"], lines, "fedex", "", "7712345678", notify_customer=True
        )
        c = connector(hub, cid)
        sandbox.fail_next("lost_response", path="/ship$")  # shipped, but the answer never came
        first = c.push_fulfilment(push)
        second = c.push_fulfilment(push)
        assert first.outcome == "created" and second.outcome == "unchanged"
        assert first.channel_ref == second.channel_ref
        [shipment] = sandbox.shipments_of(target["entity_id"])
        assert [tr["track_number"] for tr in shipment["tracks"]] == ["7712345678"]
        assert shipment["email_sent"] == 1, "notify comes with the push"
        assert sandbox.order(target["entity_id"])["state"] in ("processing", "complete")
        moved = c.push_fulfilment(ShipmentPush(**(push.__dict__ | {"tracking_number": "7799999999"})))
        assert moved.outcome == "updated" and moved.channel_ref == first.channel_ref
        [shipment] = sandbox.shipments_of(target["entity_id"])
        assert [tr["track_number"] for tr in shipment["tracks"]] == ["7712345678", "7799999999"]


def wait_for(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def test_signed_webhooks_from_a_module_are_stored_once_and_reread(hub: LiveHub) -> None:
    with MagentoSandbox(seed=14, orders=10).start() as sandbox:
        cid = connect(hub, sandbox)
        with hub.db.session() as session:
            key = session.get(t.Connection, cid).webhook_key
        url = hub.url(f"/webhooks/magento/{key}")
        assert sandbox.send_webhook(url, 3, times=2) == [200, 200]
        assert sandbox.send_webhook(url, 4, secret="wrong", times=1) == [401]
        assert sandbox.send_webhook(url, 5, tamper=True, times=1) == [401]
        wait_for(lambda: count(hub.db, t.InboxEvent, t.InboxEvent.state == "done") == 1)
        assert list(stored(hub.db)) == ["3"]
        with hub.db.session() as session:
            event = session.scalars(select(t.InboxEvent)).one()
        assert event.duplicate_count == 1 and event.topic == "sales_order_save_after"


def test_the_store_refuses_a_wrong_secret_and_takes_the_right_one(hub: LiveHub) -> None:
    with MagentoSandbox(seed=15, orders=3).start() as sandbox:
        h = hub.app.extensions["hub"]
        wrong = connect(hub, sandbox, consumer_secret="not-the-consumer-secret")
        right = connect(hub, sandbox, name="Right")
        with hub.db.session() as session:
            conns = [session.get(t.Connection, wrong), session.get(t.Connection, right)]
            session.expunge_all()
        refused = run_test(h.db, h.box, conns[0], h.settings.public_url)
        assert not refused.ok and "signature is invalid" in refused.message
        assert "not-the-consumer-secret" not in refused.message
        assert run_test(h.db, h.box, conns[1], h.settings.public_url).ok
