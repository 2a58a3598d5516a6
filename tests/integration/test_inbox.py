"""The inbox on its unhappy paths: a handler that fails is retried with backoff, dead after
MAX_ATTEMPTS, taken back from a worker that died; duplicates and secrets in headers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from connectors.shopify import ShopifyConnector
from hub import tables as t
from hub.connectors import OrderChanged
from hub.db import Database
from hub.inbox import MAX_ATTEMPTS, due_events, process_event, receive_webhook
from hub.services.connections import create_connection
from tests.conftest import csrf_from
from tests.contracts import FIXTURES

SECRET = "shpss_inbox_test"
ORDER = json.loads((FIXTURES / "shopify" / "order.json").read_text())
ORDER = ORDER.get("order", ORDER)
BODY = json.dumps(ORDER).encode()


@pytest.fixture
def conn(app: Flask, hub_db: Database) -> t.Connection:
    values = {"store_url": "https://x.myshopify.com", "access_token": "shpat_x", "api_secret": SECRET}
    with hub_db.session() as session:
        connection = create_connection(session, app.extensions["hub"].box, "shopify", "Shop", values)
        session.expunge(connection)
    return connection


def deliver(app: Flask, conn: t.Connection, event_id: str = "evt-1", topic: str = "orders/updated"):
    signature = base64.b64encode(hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()).decode()
    headers = {
        "X-Shopify-Topic": topic,
        "X-Shopify-Event-Id": event_id,
        "X-Shopify-Hmac-Sha256": signature,
        "Cookie": "session=abc",
        "X-Shopify-Shop-Domain": "x.myshopify.com",
    }
    hub = app.extensions["hub"]
    return receive_webhook(hub.db, hub.box, "shopify", conn.webhook_key, headers, BODY)


def process(app: Flask, event_id: int, **kw) -> str:
    hub = app.extensions["hub"]
    return process_event(hub.db, hub.box, hub.settings.public_url, event_id, **kw)


def event(db: Database, event_id: int) -> t.InboxEvent:
    with db.session() as session:
        row = session.get(t.InboxEvent, event_id)
        session.expunge(row)
        return row


def make_due(db: Database, event_id: int) -> None:
    with db.session() as session:
        session.execute(
            update(t.InboxEvent)
            .where(t.InboxEvent.id == event_id)
            .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
        )


def test_stored_headers_keep_the_channels_but_no_secret(
    app: Flask, hub_db: Database, conn: t.Connection
) -> None:
    received = deliver(app, conn)
    stored = event(hub_db, received.event_id).headers
    assert stored["X-Shopify-Event-Id"] == "evt-1" and stored["X-Shopify-Shop-Domain"] == "x.myshopify.com"
    assert "X-Shopify-Hmac-Sha256" not in stored and "Cookie" not in stored


def test_a_failing_handler_is_retried_with_backoff_then_succeeds(
    app: Flask, hub_db: Database, conn: t.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    received = deliver(app, conn)

    def broken(self, topic, payload):
        raise RuntimeError("channel said 502")

    monkeypatch.setattr(ShopifyConnector, "handle_webhook", broken)
    assert process(app, received.event_id) == "failed"
    failed = event(hub_db, received.event_id)
    assert failed.attempts == 1 and "channel said 502" in failed.last_error
    assert failed.next_attempt_at > datetime.now(UTC), "backs off"
    assert process(app, received.event_id) == "skipped", "not before its time"
    assert received.event_id not in due_events(hub_db)

    monkeypatch.setattr(
        ShopifyConnector, "handle_webhook", lambda self, topic, payload: [OrderChanged(payload)]
    )
    make_due(hub_db, received.event_id)
    assert due_events(hub_db) == [received.event_id]
    assert process(app, received.event_id) == "done"
    done = event(hub_db, received.event_id)
    assert (done.state, done.attempts, done.last_error) == ("done", 2, None)
    with hub_db.session() as session:
        assert session.scalar(select(func.count()).select_from(t.Order)) == 1


def test_dead_after_max_attempts(
    app: Flask, hub_db: Database, conn: t.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    received = deliver(app, conn)
    monkeypatch.setattr(
        ShopifyConnector, "handle_webhook", lambda *a: (_ for _ in ()).throw(ValueError("bad"))
    )
    states = []
    for _ in range(MAX_ATTEMPTS):
        make_due(hub_db, received.event_id)
        states.append(process(app, received.event_id))
    assert states == ["failed"] * (MAX_ATTEMPTS - 1) + ["dead"]
    assert received.event_id not in due_events(hub_db)
    assert event(hub_db, received.event_id).next_attempt_at is None


def test_an_event_a_dead_worker_held_is_taken_back_when_its_lease_ends(
    app: Flask, hub_db: Database, conn: t.Connection
) -> None:
    received = deliver(app, conn)
    with hub_db.session() as session:  # a worker claimed it, then the process was killed
        session.execute(
            update(t.InboxEvent)
            .where(t.InboxEvent.id == received.event_id)
            .values(state="processing", attempts=1, next_attempt_at=datetime.now(UTC) + timedelta(minutes=5))
        )
    assert due_events(hub_db) == [] and process(app, received.event_id) == "skipped"
    make_due(hub_db, received.event_id)
    assert process(app, received.event_id) == "done"


def test_duplicate_counts_on_the_first_row_and_a_disabled_connection_refuses(
    app: Flask, hub_db: Database, conn: t.Connection
) -> None:
    first, again = deliver(app, conn), deliver(app, conn)
    assert first.event_id is not None and again.duplicate and again.event_id is None
    assert event(hub_db, first.event_id).duplicate_count == 1
    with hub_db.session() as session:
        session.execute(update(t.Connection).values(enabled=False))
    assert deliver(app, conn, event_id="evt-2").status == 410
    with hub_db.session() as session:
        assert session.scalar(select(func.count()).select_from(t.InboxEvent)) == 1


def test_replay_only_takes_the_connections_own_events(
    app: Flask, hub_db: Database, conn: t.Connection, client
) -> None:
    received = deliver(app, conn)
    with hub_db.session() as session:
        other = create_connection(
            session,
            app.extensions["hub"].box,
            "shopify",
            "Other",
            {"store_url": "https://y.myshopify.com", "access_token": "a", "api_secret": "b"},
        ).id
    page = client.get(f"/connections/{other}").get_data(as_text=True)
    token = csrf_from(page)
    assert (
        client.post(
            f"/connections/{other}/dead-letters/{received.event_id}/replay", data={"csrf_token": token}
        ).status_code
        == 404
    )
    assert client.post(f"/connections/{conn.id}/dead-letters/{received.event_id}/replay").status_code == 400
    assert event(hub_db, received.event_id).state == "pending", "neither request touched it"
