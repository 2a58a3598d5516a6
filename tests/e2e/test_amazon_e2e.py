"""Amazon end to end on loopback: the hub (real HTTP, its database and call log) against the
Amazon sandbox with its real per-operation limits (their clock sped up where the real minimum
is minutes or hours), SQS from moto.

* 2,000 orders backfilled through v2026 searchOrders: none missing or doubled, no 429, one token
  request; a second poll with the burst spent is paced and sees every changed order.
* v0 (getOrders + getOrderItems) paced to the item calls' rate without a 429.
* 50 threads asking for a token at once: one token request.
* 10,000 SKU quantities in one JSON_LISTINGS_FEED; the SKUs the report refuses carry its error.
* 200 ORDER_CHANGE messages (50 duplicates) give 150 orders, none deleted before its commit;
  then a shipment confirmed once however often it is pushed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from sqlalchemy import func, select

from connectors.amazon import notifications
from connectors.amazon.sandbox import AmazonSandbox
from hub import tables as t
from hub.app import create_app
from hub.calllog import flush_call_log
from hub.connectors import ShipmentLine, ShipmentPush, StockWrite
from hub.db import Database
from hub.services.connections import build_connector, create_connection
from hub.sync import poll_orders
from tests.conftest import LiveHub, make_settings, serve

SECRET_KEY = "test-secret-key-not-for-production"


@pytest.fixture
def hub(tmp_path: Path, sqlite_db: Database) -> Iterator[LiveHub]:
    app = create_app(make_settings(tmp_path, sqlite_db.url, secret_key=SECRET_KEY))
    with serve(app) as live:
        yield live


def connect(hub: LiveHub, sandbox: AmazonSandbox, **extra: Any) -> int:
    since = (datetime.now(UTC) - timedelta(days=40)).date().isoformat()
    values = sandbox.connection_values() | {"backfill_since": since} | extra
    with hub.db.session() as session:
        return create_connection(session, hub.app.extensions["hub"].box, "amazon", "Amazon", values).id


def poll(hub: LiveHub, connection_id: int):
    h = hub.app.extensions["hub"]
    return poll_orders(h.db, h.box, h.settings.public_url, connection_id)


def connector(hub: LiveHub, connection_id: int):
    h = hub.app.extensions["hub"]
    with h.db.session() as session:
        conn = session.get(t.Connection, connection_id)
        session.expunge(conn)
    return build_connector(h.db, h.box, conn, h.settings.public_url)


def stored(db: Database) -> dict[str, datetime]:
    with db.session() as session:
        return {row[0]: row[1] for row in session.execute(select(t.Order.external_id, t.Order.updated_at))}


def calls(db: Database) -> list[t.ApiCall]:
    flush_call_log(db)  # the call log is written in batches
    with db.session() as session:
        return list(session.scalars(select(t.ApiCall).order_by(t.ApiCall.id)))


def test_2000_orders_backfilled_none_missing_or_doubled(hub: LiveHub) -> None:
    with AmazonSandbox(seed=21, orders=2000, speed=1000) as sandbox:
        cid = connect(hub, sandbox)
        summary = poll(hub, cid)
        assert summary.status == "ok", summary.error
        orders = stored(hub.db)
        assert len(orders) == 2000 and set(orders) == set(sandbox.order_ids())
        with hub.db.session() as session:
            created = session.scalar(
                select(func.count()).select_from(t.OrderHistory).where(t.OrderHistory.change == "created")
            )
        assert created == 2000
        with hub.db.session() as session:
            run = session.get(t.SyncRun, summary.run_id)
        assert run.progress_done == 2000 and run.progress_total, "no count endpoint: the estimate stands in"
        log = calls(hub.db)
        assert [c.url.rsplit("/", 1)[-1].split("?")[0] for c in log].count("orders") == 20
        assert sum(c.url.endswith("/auth/o2/token") for c in log) == 1 == sandbox.token_requests
        assert all(c.status == 200 and c.request_id and c.connection_id == cid for c in log)
        assert not any(sandbox.refresh_token in c.url or sandbox.client_secret in c.url for c in log)

        # the burst is spent: a second poll is paced, and sees every order changed meanwhile
        changed = sandbox.change_orders(300, at=datetime.now(UTC) - timedelta(minutes=4))
        again = poll(hub, cid)
        assert again.status == "ok", again.error
        orders = stored(hub.db)
        assert len(orders) == 2000
        for order_id in changed:
            expected = datetime.fromisoformat(
                sandbox.order(order_id)["lastUpdatedTime"].replace("Z", "+00:00")
            )
            assert orders[order_id] == expected
        assert sandbox.calls["searchOrders"] > 20
        assert sandbox.throttled["searchOrders"] == 0, "no 429 after the burst"


def test_v0_backfill_is_paced_to_the_item_calls_rate(hub: LiveHub) -> None:
    with AmazonSandbox(seed=22, orders=1000, speed=250) as sandbox:
        cid = connect(hub, sandbox, orders_api="v0")
        started = time.monotonic()
        summary = poll(hub, cid)
        elapsed = time.monotonic() - started
        assert summary.status == "ok", summary.error
        assert set(stored(hub.db)) == set(sandbox.order_ids())
        items = sum(len(sandbox.order(i)["orderItems"]) for i in sandbox.order_ids())
        assert sandbox.calls["v0_getOrderItems"] == 1000 < items  # one call per order, all items
        assert sum(sandbox.throttled.values()) == 0
        # 30 in the burst, then 0.5/s x 250
        assert elapsed >= 0.9 * (1000 - 30) / (0.5 * 250)


def test_fifty_threads_asking_for_a_token_make_one_request(hub: LiveHub) -> None:
    with AmazonSandbox(seed=23, orders=1) as sandbox:
        cid = connect(hub, sandbox)
        built = [connector(hub, cid) for _ in range(50)]
        barrier = threading.Barrier(50)
        tokens: list[str] = []

        def ask(c: Any) -> None:
            barrier.wait()
            tokens.append(c.client.access_token())

        threads = [threading.Thread(target=ask, args=(c,)) for c in built]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert len(tokens) == 50 and len(set(tokens)) == 1
        assert sandbox.token_requests == 1
        assert sum(c.url.endswith("/auth/o2/token") for c in calls(hub.db)) == 1


def test_10000_quantities_in_one_feed_with_the_refused_skus_errors(hub: LiveHub) -> None:
    refused = {"SBX-00077": "The listing is suppressed: it has no main image."}
    with AmazonSandbox(seed=24, orders=1, skus=10_000, rejected_skus=refused) as sandbox:
        cid = connect(hub, sandbox)
        writes = [StockWrite(f"SBX-{i:05d}", "DEFAULT", i % 97) for i in range(1, 10_000)]
        writes.append(StockWrite("NOT-LISTED-1", "DEFAULT", 5))
        results = connector(hub, cid).write_stock(writes)
        assert len(sandbox.feeds) == 1 and not sandbox.patches
        assert sandbox.calls["patchListingsItem"] == 0
        failed = {r.sku: r.error for r in results if not r.ok}
        assert set(failed) == {"SBX-00077", "NOT-LISTED-1"}
        assert "it has no main image" in str(failed["SBX-00077"])
        assert "not a listing" in str(failed["NOT-LISTED-1"])
        feed_id = next(iter(sandbox.feeds))
        assert all(feed_id in str(e) for e in failed.values())
        assert sandbox.quantity("SBX-09999") == 9999 % 97 and sandbox.quantity("SBX-00100") == 100 % 97
        assert sum(sandbox.throttled.values()) == 0


def test_notifications_then_a_shipment(hub: LiveHub) -> None:
    with mock_aws(), AmazonSandbox(seed=25, orders=150, speed=200) as sandbox:
        sqs = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
        queue = sqs.create_queue(QueueName="hub-orders")["QueueUrl"]
        cid = connect(hub, sandbox, sqs_queue_url=queue, aws_access_key_id="k", aws_secret_access_key="s")
        bodies = [sandbox.notification(o) for o in sandbox.order_ids()]
        bodies += bodies[::3]  # 50 duplicate deliveries
        for start in range(0, len(bodies), 10):
            entries = [
                {"Id": str(i), "MessageBody": json.dumps(b)} for i, b in enumerate(bodies[start : start + 10])
            ]
            sqs.send_message_batch(QueueUrl=queue, Entries=entries)

        order_of: dict[str, str] = {}
        early: list[str] = []

        def received(parsed: dict[str, Any], **_: Any) -> None:
            for m in parsed.get("Messages") or []:
                order_of[m["ReceiptHandle"]] = json.loads(m["Body"])["Payload"]["OrderChangeNotification"][
                    "AmazonOrderId"
                ]

        def deleting(params: dict[str, Any], **_: Any) -> None:
            committed = set(stored(hub.db))
            early.extend(
                order_of[e["ReceiptHandle"]]
                for e in params["Entries"]
                if order_of[e["ReceiptHandle"]] not in committed
            )

        sqs.meta.events.register("after-call.sqs.ReceiveMessage", received)
        sqs.meta.events.register("provide-client-params.sqs.DeleteMessageBatch", deleting)
        h = hub.app.extensions["hub"]
        summary = notifications.drain_queue(h.db, h.box, h.settings.public_url, cid, sqs=sqs, wait_seconds=0)
        assert (summary.received, summary.deleted) == (200, 200)
        assert early == [], "a message was deleted before its order was committed"
        assert set(stored(hub.db)) == set(sandbox.order_ids()) and len(stored(hub.db)) == 150
        assert sandbox.throttled["getOrder"] == 0

        order = next(
            sandbox.order(i)
            for i in sandbox.order_ids()
            if sandbox.order(i)["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"
            and sandbox.order(i)["fulfillment"]["fulfilledBy"] == "MERCHANT"
        )
        with hub.db.session() as session:
            rows = session.execute(
                select(t.OrderLine.external_id, t.OrderLine.quantity)
                .join(t.Order, t.Order.id == t.OrderLine.order_id)
                .where(t.Order.external_id == order["orderId"])
            ).all()
        lines = tuple(ShipmentLine(external_id, quantity) for external_id, quantity in rows)
        push = ShipmentPush("77", order["orderId"], lines, "other", "Royal Mail", "RM123456785GB")
        assert connector(hub, cid).push_fulfilment(push).outcome == "created"
        assert connector(hub, cid).push_fulfilment(push).outcome == "unchanged"
        assert len(sandbox.shipments) == 1
        assert sandbox.shipments[0]["packageDetail"]["carrierCode"] == "Royal Mail"
