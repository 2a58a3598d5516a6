"""Shopify end to end on loopback: the hub (real HTTP) against the Shopify sandbox
(real HTTP, its real rate limits), orders by poll and by webhook, a backfill killed
with SIGKILL and restarted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connectors.shopify.sandbox import ShopifySandbox
from hub import tables as t
from hub.app import create_app
from hub.db import Database
from hub.services.connections import build_connector, create_connection
from hub.sync import poll_orders
from tests.conftest import LiveHub, make_settings, serve

SEEDED = 5000
SECRET_KEY = "test-secret-key-not-for-production"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[ShopifySandbox]:
    with ShopifySandbox(seed=7, orders=SEEDED, limits=True).start() as running:
        yield running


@pytest.fixture
def hub(tmp_path: Path, sqlite_db: Database) -> Iterator[LiveHub]:
    app = create_app(make_settings(tmp_path, sqlite_db.url, secret_key=SECRET_KEY))
    with serve(app) as live:
        yield live


def connect(hub: LiveHub, sandbox: ShopifySandbox) -> int:
    values = sandbox.connection_values() | {"backfill_since": (datetime.now(UTC) - timedelta(days=60)).date()}
    box = hub.app.extensions["hub"].box
    with hub.db.session() as session:
        return create_connection(session, box, "shopify", "Sandbox shop", values).id


def stored_ids(db: Database) -> list[str]:
    with db.session() as session:
        return list(session.scalars(select(t.Order.external_id)))


def history_count(db: Database, change: str) -> int:
    with db.session() as session:
        return session.scalar(
            select(func.count()).select_from(t.OrderHistory).where(t.OrderHistory.change == change)
        )


def poll(hub: LiveHub, connection_id: int):
    h = hub.app.extensions["hub"]
    return poll_orders(h.db, h.box, h.settings.public_url, connection_id)


def test_5000_orders_polled_none_missing_or_doubled(hub: LiveHub, sandbox: ShopifySandbox) -> None:
    cid = connect(hub, sandbox)
    summary = poll(hub, cid)
    assert summary.status == "ok", summary.error
    ids = stored_ids(hub.db)
    assert len(ids) == SEEDED
    assert sorted(ids) == sorted(str(o["id"]) for o in sandbox.all_orders())
    assert history_count(hub.db, "created") == SEEDED
    with hub.db.session() as session:
        run = session.get(t.SyncRun, summary.run_id)
    assert (run.progress_done, run.progress_total, run.status) == (SEEDED, SEEDED, "ok")
    assert sandbox.stats.count(status=429) == 0, "the shop's own numbers must keep the hub under the limit"
    with hub.db.session() as session:
        calls = session.scalars(select(t.ApiCall)).all()
    assert len(calls) == 1 + SEEDED // 250, "one call-log row per request: the count and 20 pages"
    assert all(c.connection_id == cid and c.status == 200 and c.method == "GET" for c in calls)
    assert not any(sandbox.access_token in (c.url + (c.error or "")) for c in calls)

    changed = sandbox.change_orders(25)
    again = poll(hub, cid)
    assert again.status == "ok"
    assert again.counts.get("updated", 0) == len(set(changed))
    assert len(stored_ids(hub.db)) == SEEDED


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def test_100_webhooks_delivered_twice_give_100_orders(hub: LiveHub, sandbox: ShopifySandbox) -> None:
    cid = connect(hub, sandbox)
    with hub.db.session() as session:
        key = session.get(t.Connection, cid).webhook_key
    url = hub.url(f"/webhooks/shopify/{key}")
    orders = sandbox.all_orders()[:100]
    for order in orders:
        assert sandbox.send_webhook(url, "orders/create", order, times=2) == [200, 200]
    wait_for(lambda: len(stored_ids(hub.db)) == 100 and _pending(hub.db) == 0)
    with hub.db.session() as session:
        rows = session.scalars(select(t.InboxEvent)).all()
    assert len(rows) == 100
    assert all(r.duplicate_count == 1 and r.state == "done" for r in rows)
    assert history_count(hub.db, "created") == 100


def _pending(db: Database) -> int:
    with db.session() as session:
        return session.scalar(
            select(func.count())
            .select_from(t.InboxEvent)
            .where(t.InboxEvent.state.in_(["pending", "processing"]))
        )


def test_bad_signature_is_401_and_stores_nothing(hub: LiveHub, sandbox: ShopifySandbox) -> None:
    cid = connect(hub, sandbox)
    with hub.db.session() as session:
        key = session.get(t.Connection, cid).webhook_key
    url = hub.url(f"/webhooks/shopify/{key}")
    order = sandbox.all_orders()[0]
    assert sandbox.send_webhook(url, "orders/create", order, secret="wrong", times=1) == [401]
    assert sandbox.send_webhook(url, "orders/create", order, tamper=True, times=1) == [401]
    assert sandbox.send_webhook(hub.url("/webhooks/shopify/not-a-key"), "orders/create", order, times=1) == [
        404
    ]
    with hub.db.session() as session:
        assert session.scalar(select(func.count()).select_from(t.InboxEvent)) == 0


def test_register_webhooks_then_uninstall_disables(hub: LiveHub, sandbox: ShopifySandbox) -> None:
    cid = connect(hub, sandbox)
    h = hub.app.extensions["hub"]
    with hub.db.session() as session:
        conn = session.get(t.Connection, cid)
        session.expunge(conn)
    created = build_connector(h.db, h.box, conn, h.settings.public_url).register_webhooks()
    assert "orders/create" in created and "app/uninstalled" in created
    assert build_connector(h.db, h.box, conn, h.settings.public_url).register_webhooks() == []
    order_id = sandbox.all_orders()[1]["id"]
    assert sandbox.notify([order_id], "orders/updated") == [200]
    wait_for(lambda: len(stored_ids(hub.db)) == 1)
    url = hub.url(f"/webhooks/shopify/{conn.webhook_key}")
    assert sandbox.send_webhook(url, "app/uninstalled", {"id": 1, "domain": "x"}, times=1) == [200]

    def disabled() -> bool:
        with hub.db.session() as session:
            return not session.get(t.Connection, cid).enabled

    wait_for(disabled)
    with hub.db.session() as session:
        assert "uninstalled" in session.get(t.Connection, cid).disabled_reason


def test_backfill_killed_half_way_resumes_to_exactly_all_orders(
    tmp_path: Path, sqlite_db: Database, sandbox: ShopifySandbox
) -> None:
    app = create_app(make_settings(tmp_path, sqlite_db.url, secret_key=SECRET_KEY))
    with serve(app) as hub:
        cid = connect(hub, sandbox)
    env = os.environ | {
        "HUB_DATABASE_URL": sqlite_db.url,
        "HUB_SECRET_KEY": SECRET_KEY,
        "HUB_INSTANCE_DIR": str(tmp_path / "instance"),
        "HUB_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "hub", "sync", "orders", str(cid)]
    sandbox.set_faults(latency_ms=150)  # slow enough to land the kill in the middle
    try:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for(lambda: len(stored_ids(sqlite_db)) >= 1000, timeout=120)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        half = len(stored_ids(sqlite_db))
        assert 1000 <= half < SEEDED, half
        sandbox.set_faults(latency_ms=0)
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    finally:
        sandbox.set_faults(latency_ms=0)
    ids = stored_ids(sqlite_db)
    assert len(ids) == SEEDED == len(set(ids))
    assert sorted(ids) == sorted(str(o["id"]) for o in sandbox.all_orders())
    assert history_count(sqlite_db, "created") == SEEDED
