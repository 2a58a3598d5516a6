"""ORDER_CHANGE notifications from SQS (moto's SQS, the Amazon sandbox for getOrder): each
changed order read once, committed, and only then its messages deleted; duplicates are no-ops;
an order that cannot be read stays in the queue; junk is parked as a dead letter."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from sqlalchemy import func, select

from connectors.amazon import AmazonConnector, notifications
from connectors.amazon.sandbox import AmazonSandbox
from hub import tables as t
from hub.crypto import SecretBox
from hub.db import Database
from hub.services.connections import create_connection

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "amazon" / "order_change_notification.json"
BOX = SecretBox("test-secret-key-not-for-production")


@pytest.fixture
def sandbox() -> Iterator[AmazonSandbox]:
    with AmazonSandbox(seed=12, orders=60, speed=200) as running:
        yield running


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client(
            "sqs", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )


@pytest.fixture
def queue(sqs: Any) -> str:
    return sqs.create_queue(QueueName="hub-orders")["QueueUrl"]


def connect(db: Database, sandbox: AmazonSandbox, queue: str) -> int:
    values = sandbox.connection_values() | {
        "sqs_queue_url": queue,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    with db.session() as session:
        return create_connection(session, BOX, "amazon", "Amazon", values).id


def send(sqs: Any, queue: str, bodies: list[Any]) -> None:
    for start in range(0, len(bodies), 10):
        entries = [
            {"Id": str(i), "MessageBody": b if isinstance(b, str) else json.dumps(b)}
            for i, b in enumerate(bodies[start : start + 10])
        ]
        assert not sqs.send_message_batch(QueueUrl=queue, Entries=entries).get("Failed")


def stored(db: Database) -> set[str]:
    with db.session() as session:
        return set(session.scalars(select(t.Order.external_id)))


def left_in(sqs: Any, queue: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def watch_deletes(sqs: Any, db: Database) -> list[str]:
    """Check, at every delete, that each message's order is already committed (read through a
    new session, so only committed rows count); returns the order ids as deleted."""
    order_of: dict[str, str] = {}
    deleted: list[str] = []

    def received(parsed: dict[str, Any], **_: Any) -> None:
        for message in parsed.get("Messages") or []:
            body = json.loads(message["Body"])
            order_id = body["Payload"]["OrderChangeNotification"]["AmazonOrderId"]
            order_of[message["ReceiptHandle"]] = order_id

    def deleting(params: dict[str, Any], **_: Any) -> None:
        committed = stored(db)
        for entry in params["Entries"]:
            order_id = order_of[entry["ReceiptHandle"]]
            assert order_id in committed, f"message of {order_id} deleted before the order was committed"
            deleted.append(order_id)

    sqs.meta.events.register("after-call.sqs.ReceiveMessage", received)
    sqs.meta.events.register("provide-client-params.sqs.DeleteMessageBatch", deleting)
    return deleted


def test_parse_reads_amazons_example() -> None:
    body = FIXTURE.read_text()
    notice = notifications.parse({"MessageId": "m", "ReceiptHandle": "r", "Body": body})
    assert (notice.kind, notice.order_id, notice.problem) == ("ORDER_CHANGE", "903-8868176-2219830", None)
    assert notice.notification_id == "d0e9e693-c3ad-4373-979f-ed4ec98dd746"
    assert notifications.parse({"MessageId": "m", "ReceiptHandle": "r", "Body": "{"}).problem == "not JSON"
    assert notifications.queue_region("https://sqs.eu-west-1.amazonaws.com/1/q") == "eu-west-1"


def test_three_changes_of_50_orders_and_50_redeliveries_read_each_order_once_per_batch(
    sqlite_db: Database, sandbox: AmazonSandbox, sqs: Any, queue: str
) -> None:
    cid = connect(sqlite_db, sandbox, queue)
    order_ids = sandbox.order_ids()[:50]
    # 150 notifications: three changes of each of 50 orders; then 50 duplicate deliveries
    bodies = [sandbox.notification(o, notification_id=f"n-{o}-{k}") for k in range(3) for o in order_ids]
    bodies += [bodies[i * 3] for i in range(50)]
    send(sqs, queue, bodies)
    deleted = watch_deletes(sqs, sqlite_db)
    summary = notifications.drain_queue(sqlite_db, BOX, "http://hub.test", cid, sqs=sqs, wait_seconds=0)
    assert summary.received == 200 and summary.deleted == 200 and summary.left == 0
    assert stored(sqlite_db) == set(order_ids)
    assert summary.orders + summary.duplicates == 200
    assert sandbox.calls["getOrder"] == summary.orders <= 150
    assert sorted(set(deleted)) == sorted(order_ids) and len(deleted) == 200
    assert left_in(sqs, queue) == 0
    with sqlite_db.session() as session:
        created = session.scalar(
            select(func.count()).select_from(t.OrderHistory).where(t.OrderHistory.change == "created")
        )
        sources = set(session.scalars(select(t.OrderHistory.source)))
    assert created == 50 and sources == {"webhook"}
    assert sandbox.throttled["getOrder"] == 0


def test_150_distinct_orders_from_200_messages(sqlite_db: Database, sqs: Any, queue: str) -> None:
    with AmazonSandbox(seed=13, orders=150, speed=200) as sandbox:
        cid = connect(sqlite_db, sandbox, queue)
        ids = sandbox.order_ids()
        bodies = [sandbox.notification(o) for o in ids]
        bodies += bodies[::3]  # 50 exact duplicates (same NotificationId), delivered later
        send(sqs, queue, bodies)
        deleted = watch_deletes(sqs, sqlite_db)
        summary = notifications.drain_queue(sqlite_db, BOX, "http://hub.test", cid, sqs=sqs, wait_seconds=0)
        assert (summary.received, summary.deleted, len(deleted)) == (200, 200, 200)
        assert stored(sqlite_db) == set(ids) and len(ids) == 150
        assert sandbox.calls["getOrder"] <= 200 and sandbox.throttled["getOrder"] == 0
        assert summary.counts.get("created") == 150


def test_an_order_that_cannot_be_read_stays_in_the_queue(
    sqlite_db: Database, sandbox: AmazonSandbox, sqs: Any, queue: str
) -> None:
    cid = connect(sqlite_db, sandbox, queue)
    good, bad = sandbox.order_ids()[:2]
    send(sqs, queue, [sandbox.notification(good), sandbox.notification(bad)])
    sandbox.fail_next("503", count=5, path=re.escape(bad))  # every attempt of the HTTP layer
    summary = notifications.drain_queue(sqlite_db, BOX, "http://hub.test", cid, sqs=sqs, wait_seconds=0)
    assert (summary.deleted, summary.left) == (1, 1)
    assert stored(sqlite_db) == {good}
    assert left_in(sqs, queue) == 1  # invisible for now, back after its visibility timeout


def test_junk_is_parked_and_other_types_ignored(
    sqlite_db: Database, sandbox: AmazonSandbox, sqs: Any, queue: str
) -> None:
    cid = connect(sqlite_db, sandbox, queue)
    other = {"NotificationType": "FEED_PROCESSING_FINISHED", "NotificationMetadata": {"NotificationId": "f"}}
    send(sqs, queue, ["not json", other, sandbox.notification(sandbox.order_ids()[3])])
    summary = notifications.drain_queue(sqlite_db, BOX, "http://hub.test", cid, sqs=sqs, wait_seconds=0)
    assert (summary.dead, summary.ignored, summary.orders, summary.deleted) == (1, 1, 1, 3)
    with sqlite_db.session() as session:
        dead = session.scalars(select(t.InboxEvent).where(t.InboxEvent.state == "dead")).all()
    assert len(dead) == 1 and "not JSON" in dead[0].last_error


def test_another_sellers_notifications_are_left_for_it(
    sqlite_db: Database, sandbox: AmazonSandbox, sqs: Any, queue: str
) -> None:
    cid = connect(sqlite_db, sandbox, queue)
    foreign = sandbox.notification(sandbox.order_ids()[1])
    foreign["Payload"]["OrderChangeNotification"]["SellerId"] = "A1OTHERSELLER1"
    send(sqs, queue, [foreign, sandbox.notification(sandbox.order_ids()[2])])
    summary = notifications.drain_queue(sqlite_db, BOX, "http://hub.test", cid, sqs=sqs, wait_seconds=0)
    assert (summary.orders, summary.deleted, summary.foreign, summary.received) == (1, 1, 1, 2)
    assert sandbox.calls["getOrder"] == 1
    message = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0)["Messages"][0]
    assert "A1OTHERSELLER1" in message["Body"]


def test_the_connections_own_queue_settings_build_the_client(
    sqlite_db: Database, sandbox: AmazonSandbox, sqs: Any, queue: str
) -> None:
    """No client passed: boto3 is built from the connection (moto serves it)."""
    cid = connect(sqlite_db, sandbox, queue)
    order_id = sandbox.order_ids()[7]
    note = sandbox.notification(order_id, notification_id="same")
    send(sqs, queue, [note])
    first = notifications.drain_queue(sqlite_db, BOX, "http://hub.test", cid, wait_seconds=0)
    assert (first.orders, first.deleted) == (1, 1)
    send(sqs, queue, [note])  # delivered again later: no read at all
    second = notifications.drain_queue(sqlite_db, BOX, "http://hub.test", cid, wait_seconds=0)
    assert (second.orders, second.duplicates, second.deleted) == (0, 1, 1)
    assert sandbox.calls["getOrder"] == 1


def test_the_scheduler_finds_the_drain_from_the_declaration() -> None:
    module, _, name = AmazonConnector.notifications.partition(":")
    assert getattr(importlib.import_module(module), name) is notifications.drain_queue
    assert AmazonConnector.wants_notifications({"sqs_queue_url": "https://sqs.us-east-1.amazonaws.com/1/q"})
    assert not AmazonConnector.wants_notifications({})


def test_a_notification_for_a_missing_order_is_parked_and_replays_when_the_order_exists(
    sqlite_db: Database, sandbox: AmazonSandbox, sqs: Any, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub.http import HttpError
    from hub.inbox import process_event

    cid = connect(sqlite_db, sandbox, queue)
    order_id = sandbox.order_ids()[4]
    send(sqs, queue, [sandbox.notification(order_id)])
    real = AmazonConnector.get_order

    def not_yet(self: AmazonConnector, wanted: str) -> dict[str, Any]:
        raise HttpError("GET order: 404", url="x", status=404)

    monkeypatch.setattr(AmazonConnector, "get_order", not_yet)
    summary = notifications.drain_queue(sqlite_db, BOX, "http://hub.test", cid, sqs=sqs, wait_seconds=0)
    assert (summary.dead, summary.deleted, stored(sqlite_db)) == (1, 1, set())
    with sqlite_db.session() as session:
        parked = session.scalars(select(t.InboxEvent)).one()
    assert (parked.state, parked.source, parked.topic) == ("dead", "queue", "ORDER_CHANGE")

    monkeypatch.setattr(AmazonConnector, "get_order", real)  # the order is there now: Replay brings it in
    assert process_event(sqlite_db, BOX, "http://hub.test", parked.id, replay=True) == "done"
    assert stored(sqlite_db) == {order_id}


def test_a_notification_received_twice_across_two_drains_is_stored_once(
    db: Database, sandbox: AmazonSandbox, sqs: Any, queue: str
) -> None:
    """Nothing in memory decides: the second drain (as after a restart) finds the inbox row."""
    cid = connect(db, sandbox, queue)
    order_id = sandbox.order_ids()[5]
    note = sandbox.notification(order_id, notification_id="n-twice")
    key = "queue:notification:n-twice"

    def inbox_rows() -> list[t.InboxEvent]:
        with db.session() as session:
            rows = list(session.scalars(select(t.InboxEvent).where(t.InboxEvent.delivery_key == key)))
            session.expunge_all()
        return rows

    rows_at_delete: list[int] = []
    sqs.meta.events.register(
        "provide-client-params.sqs.DeleteMessageBatch", lambda **_: rows_at_delete.append(len(inbox_rows()))
    )
    for _ in range(2):
        send(sqs, queue, [note])
        notifications.drain_queue(db, BOX, "http://hub.test", cid, sqs=sqs, wait_seconds=0)
    rows = inbox_rows()
    assert len(rows) == 1, "stored once"
    assert (rows[0].source, rows[0].topic, rows[0].state) == ("queue", "ORDER_CHANGE", "done")
    assert rows[0].duplicate_count == 1
    assert rows_at_delete == [1, 1], "each message deleted only once the row was committed"
    assert sandbox.calls["getOrder"] == 1, "the second delivery needed no read"
    assert left_in(sqs, queue) == 0
    with db.session() as session:
        history = session.scalars(select(t.OrderHistory.change)).all()
    assert history.count("created") == 1
