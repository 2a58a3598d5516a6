"""Tracking push-back through the outbox against the Shopify sandbox: queued once per
change, delivered once, a lost answer found on the retry, dead after the last attempt."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, update

from connectors.shopify.sandbox import ShopifySandbox
from hub import tables as t
from hub.app import create_app
from hub.db import Database
from hub.pushback import MAX_ATTEMPTS, FulfilmentChange, discard, queue_fulfilment, send_due, send_message
from hub.services.connections import create_connection
from hub.sync import poll_orders
from tests.conftest import make_settings


@pytest.fixture
def sandbox() -> Iterator[ShopifySandbox]:
    with ShopifySandbox(seed=5, orders=6).start() as running:
        yield running


@pytest.fixture
def app(tmp_path: Path, db: Database) -> Iterator[Flask]:
    application = create_app(make_settings(tmp_path, db.url))
    yield application
    application.extensions["hub"].dispatcher.shutdown(wait=True)


def connect(app: Flask, sandbox: ShopifySandbox, **settings: object) -> int:
    h = app.extensions["hub"]
    values = sandbox.connection_values() | {
        "backfill_since": (datetime.now(UTC) - timedelta(days=365)).date(),
        **settings,
    }
    with h.db.session() as session:
        cid = create_connection(session, h.box, "shopify", "Shop", values).id
    poll_orders(h.db, h.box, h.settings.public_url, cid)
    return cid


def an_unfulfilled_order(app: Flask, sandbox: ShopifySandbox) -> tuple[int, dict]:
    with app.extensions["hub"].db.session() as session:
        for order in session.scalars(select(t.Order).order_by(t.Order.id)):
            theirs = sandbox.order(int(order.external_id))
            if theirs["fulfillment_status"] is None and not theirs.get("cancelled_at"):
                return order.id, theirs
    raise AssertionError("the sandbox has no unfulfilled order")


def change_for(order_id: int, theirs: dict, number: str = "1Z999AA10123456784", shipment: int = 1):
    lines = tuple((str(li["id"]), li["fulfillable_quantity"]) for li in theirs["line_items"])
    return FulfilmentChange(
        shipment_id=shipment,
        order_id=order_id,
        change=f"tracking:{number}",
        lines=lines,
        carrier="ups",
        carrier_name="UPS",
        tracking_number=number,
        tracking_url=f"https://www.ups.com/track?tracknum={number}",
    )


def send(app: Flask, cid: int) -> dict[str, int]:
    h = app.extensions["hub"]
    return send_due(h.db, h.box, h.settings.public_url, cid)


def messages(app: Flask) -> list[t.OutboxMessage]:
    with app.extensions["hub"].db.session() as session:
        rows = list(session.scalars(select(t.OutboxMessage).order_by(t.OutboxMessage.id)))
        session.expunge_all()
    return rows


def make_due(app: Flask) -> None:
    with app.extensions["hub"].db.session() as session:
        session.execute(
            update(t.OutboxMessage)
            .where(t.OutboxMessage.state.in_(["failed", "sending"]))
            .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
        )


def test_a_change_queued_twice_is_pushed_once(app: Flask, sandbox: ShopifySandbox) -> None:
    cid = connect(app, sandbox)
    order_id, theirs = an_unfulfilled_order(app, sandbox)
    with app.extensions["hub"].db.session() as session:
        assert queue_fulfilment(session, change_for(order_id, theirs))
        assert not queue_fulfilment(session, change_for(order_id, theirs))
    assert send(app, cid)["updates_pushed"] == 1
    assert send(app, cid)["updates_pushed"] == 0
    [fulfillment] = sandbox.fulfillments(theirs["id"])
    assert fulfillment["tracking_number"] == "1Z999AA10123456784"
    assert fulfillment["tracking_company"] == "UPS"
    [message] = messages(app)
    assert message.state == "sent" and message.payload["result"]["outcome"] == "created"
    assert sandbox.notified == [], "the connection does not e-mail customers unless told to"


def test_notify_customer_follows_the_connection(app: Flask, sandbox: ShopifySandbox) -> None:
    cid = connect(app, sandbox, notify_customer=True)
    order_id, theirs = an_unfulfilled_order(app, sandbox)
    with app.extensions["hub"].db.session() as session:
        queue_fulfilment(session, change_for(order_id, theirs))
    send(app, cid)
    [fulfillment] = sandbox.fulfillments(theirs["id"])
    assert sandbox.notified == [fulfillment["id"]]


def test_a_lost_answer_is_found_on_the_retry(app: Flask, sandbox: ShopifySandbox) -> None:
    cid = connect(app, sandbox)
    order_id, theirs = an_unfulfilled_order(app, sandbox)
    with app.extensions["hub"].db.session() as session:
        queue_fulfilment(session, change_for(order_id, theirs))
    sandbox.fail_next("lost_response", path=r"^/admin/api/[^/]+/fulfillments\.json$")
    assert send(app, cid)["failed"] == 1  # Shopify made it; the hub never heard
    assert len(sandbox.fulfillments(theirs["id"])) == 1
    make_due(app)
    assert send(app, cid)["updates_pushed"] == 1
    assert len(sandbox.fulfillments(theirs["id"])) == 1
    [message] = messages(app)
    assert message.payload["result"]["outcome"] == "unchanged"


def test_a_sender_killed_mid_push_leaves_a_lease_the_next_one_takes(
    app: Flask, sandbox: ShopifySandbox
) -> None:
    cid = connect(app, sandbox)
    order_id, theirs = an_unfulfilled_order(app, sandbox)
    with app.extensions["hub"].db.session() as session:
        queue_fulfilment(session, change_for(order_id, theirs))
    assert send(app, cid)["updates_pushed"] == 1
    with app.extensions["hub"].db.session() as session:  # as if it died after the channel took it
        session.execute(update(t.OutboxMessage).values(state="sending", sent_at=None))
    assert send(app, cid)["updates_pushed"] == 0, "the lease is still running"
    make_due(app)
    assert send(app, cid)["updates_pushed"] == 1
    assert len(sandbox.fulfillments(theirs["id"])) == 1


def test_a_new_tracking_number_updates_the_same_fulfilment(app: Flask, sandbox: ShopifySandbox) -> None:
    cid = connect(app, sandbox)
    order_id, theirs = an_unfulfilled_order(app, sandbox)
    with app.extensions["hub"].db.session() as session:
        queue_fulfilment(session, change_for(order_id, theirs))
        queue_fulfilment(session, change_for(order_id, theirs, number="1Z999AA10123456799"))
    assert send(app, cid)["updates_pushed"] == 2
    [fulfillment] = sandbox.fulfillments(theirs["id"])
    assert fulfillment["tracking_number"] == "1Z999AA10123456799"


def test_dead_after_the_last_attempt(app: Flask, sandbox: ShopifySandbox) -> None:
    cid = connect(app, sandbox)
    order_id, theirs = an_unfulfilled_order(app, sandbox)
    with app.extensions["hub"].db.session() as session:
        queue_fulfilment(session, change_for(order_id, theirs))
    sandbox.fail_next("500", count=1000, path=r"^/admin/api/[^/]+/fulfillments\.json$")  # the create
    states = []
    for _ in range(MAX_ATTEMPTS):
        make_due(app)
        send(app, cid)
        states.append(messages(app)[0].state)
    assert states == ["failed"] * (MAX_ATTEMPTS - 1) + ["dead"]
    [message] = messages(app)
    assert message.attempts == MAX_ATTEMPTS and "500" in (message.last_error or "")
    assert sandbox.fulfillments(theirs["id"]) == []
    # a person presses Retry once the channel is back: sent once; pressing again sends nothing
    sandbox.reset_faults()
    h = app.extensions["hub"]
    assert send_message(h.db, h.box, h.settings.public_url, message.id, by_hand=True) == "sent"
    assert send_message(h.db, h.box, h.settings.public_url, message.id, by_hand=True) == "skipped"
    assert len(sandbox.fulfillments(theirs["id"])) == 1
    assert discard(h.db, message.id) is False, "a sent message cannot be discarded"
