"""ORDER_CHANGE notifications from the seller's SQS queue (Amazon delivers them nowhere else).

``drain_queue`` is what the scheduler calls for a connection with a queue: it receives
messages (long poll), reads each changed order once with a targeted ``getOrder`` (v0: with its
items), maps it and ingests it in one transaction per received batch, and only after that
transaction committed deletes the batch's messages. A message whose order could not be read
(Amazon or the network failing) is left in the queue: it comes back after its visibility
timeout (and, with a redrive policy, ends in the queue's DLQ). A body that is not a
notification, or an order the mapping refuses, is parked as a dead letter, then deleted.

Amazon has one destination per application, so a queue may carry several sellers'
notifications: another seller's are made visible again at once, not deleted (a scheduler that
drains a shared queue once and routes by ``SellerId`` would spare those receives).

SQS standard queues deliver at least once and in no order: duplicates are no-ops. Every
notification goes through the inbox, like a webhook delivery: a row keyed by its NotificationId
(``delivery_key``) is committed in the transaction that takes in its order, and only then is the
message deleted. A NotificationId the inbox already holds (from any earlier drain, before a
restart too) is counted as a duplicate and deleted without a read. Within a batch, messages are
grouped by order (one read for all of them), and ingest itself is idempotent.

boto3 talks to SQS (AWS's own signing); everything SP-API goes through the connector.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from hub import tables as t
from hub.calllog import flush_call_log
from hub.crypto import SecretBox
from hub.db import Database
from hub.http import HttpError
from hub.inbox import count_duplicates, park_dead_letter, record_handled, stored_delivery_keys
from hub.ingest import IngestItem, ingest_orders
from hub.mapping import map_order

log = logging.getLogger("connectors.amazon")

ORDER_CHANGE = "ORDER_CHANGE"
#: SQS's ceiling for one receive
BATCH = 10
#: seconds a long poll waits for the first message (SQS's maximum is 20)
LONG_POLL = 20
#: a received message stays hidden this long: enough to read its batch's orders at 0.5/s
VISIBILITY_TIMEOUT = 300
#: the inbox rows of notifications: ``source`` and the ``delivery_key`` prefix
SOURCE = "queue"
_QUEUE_HOST = re.compile(r"^https?://sqs[.-]([a-z0-9-]+)\.amazonaws\.com", re.I)


@dataclass
class DrainSummary:
    received: int = 0
    orders: int = 0  # distinct orders read and committed
    deleted: int = 0
    duplicates: int = 0  # messages that needed no read of their own
    ignored: int = 0  # other notification types
    dead: int = 0  # parked as dead letters
    left: int = 0  # left in the queue (their order could not be read)
    foreign: int = 0  # another seller's (a queue shared by several sellers): released at once
    counts: dict[str, int] = field(default_factory=dict)  # ingest outcomes


@dataclass(frozen=True)
class Notice:
    """One received message: its handle, and what it says."""

    message_id: str
    receipt: str
    notification_id: str | None
    order_id: str | None
    kind: str | None
    body: Any
    problem: str | None = None
    seller_id: str | None = None


def parse(message: dict[str, Any]) -> Notice:
    """A received SQS message as a ``Notice`` (``problem`` set when it is not a notification)."""
    raw = message.get("Body") or ""
    base = {"message_id": str(message.get("MessageId")), "receipt": str(message.get("ReceiptHandle"))}
    try:
        body = json.loads(raw)
    except ValueError:
        return Notice(**base, notification_id=None, order_id=None, kind=None, body=raw, problem="not JSON")
    if not isinstance(body, dict):
        return Notice(
            **base, notification_id=None, order_id=None, kind=None, body=body, problem="not an object"
        )
    kind = body.get("NotificationType")
    notification_id = (body.get("NotificationMetadata") or {}).get("NotificationId")
    change = (body.get("Payload") or {}).get("OrderChangeNotification") or {}
    order_id = change.get("AmazonOrderId")
    seller_id = change.get("SellerId")
    problem = None
    if kind == ORDER_CHANGE and not order_id:
        problem = "an ORDER_CHANGE notification without AmazonOrderId"
    elif kind is None:
        problem = "not an SP-API notification (no NotificationType)"
    return Notice(
        **base,
        notification_id=str(notification_id) if notification_id else None,
        order_id=str(order_id) if order_id else None,
        kind=str(kind) if kind else None,
        body=body,
        problem=problem,
        seller_id=str(seller_id) if seller_id else None,
    )


def delivery_key(notice: Notice) -> str:
    """A notification's inbox key: its NotificationId (without one, a digest of its body)."""
    if notice.notification_id and len(notice.notification_id) <= 150:
        return f"{SOURCE}:notification:{notice.notification_id}"
    body = json.dumps(notice.body, sort_keys=True, separators=(",", ":")).encode()
    return f"{SOURCE}:body:{hashlib.sha256(body).hexdigest()}"


def queue_region(queue_url: str, configured: str | None = None) -> str:
    if configured:
        return configured
    match = _QUEUE_HOST.match(queue_url)
    return match.group(1) if match else "us-east-1"


def sqs_client(credentials: dict[str, Any], settings: dict[str, Any]) -> Any:
    """A boto3 SQS client from the connection's queue URL, region, endpoint and AWS keys
    (no keys: boto3's own chain, e.g. an instance role)."""
    import boto3

    queue_url = str(settings["sqs_queue_url"])
    kwargs: dict[str, Any] = {"region_name": queue_region(queue_url, settings.get("sqs_region"))}
    if settings.get("sqs_endpoint"):
        kwargs["endpoint_url"] = settings["sqs_endpoint"]
    if credentials.get("aws_access_key_id") and credentials.get("aws_secret_access_key"):
        kwargs["aws_access_key_id"] = credentials["aws_access_key_id"]
        kwargs["aws_secret_access_key"] = credentials["aws_secret_access_key"]
    return boto3.client("sqs", **kwargs)


def drain_queue(
    db: Database,
    box: SecretBox,
    public_url: str,
    connection_id: int,
    *,
    max_messages: int = 200,
    wait_seconds: int = LONG_POLL,
    sqs: Any = None,
) -> DrainSummary:
    """Receive up to ``max_messages`` notifications and act on them (see the module doc).
    The first receive long-polls ``wait_seconds``; the queue is read until it is empty or
    ``max_messages`` were received. ``sqs``: a boto3 SQS client (default: from the connection)."""
    from hub.services.connections import build_connector

    with db.session() as session:
        conn = session.get(t.Connection, connection_id)
        if conn is None or not conn.enabled:
            raise LookupError(f"connection {connection_id} is missing or disabled")
        session.expunge(conn)
    settings = dict(conn.settings or {})
    queue_url = settings.get("sqs_queue_url")
    if not queue_url:
        raise ValueError(f"connection {connection_id} has no SQS queue")
    if sqs is None:
        sqs = sqs_client(box.decrypt(conn.credentials_encrypted), settings)
    connector = build_connector(db, box, conn, public_url)
    summary = DrainSummary()
    foreign: list[Notice] = []  # released when the drain ends (not to be received again by it)
    wait = wait_seconds
    while summary.received < max_messages:
        answer = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(BATCH, max_messages - summary.received),
            WaitTimeSeconds=wait,
            VisibilityTimeout=VISIBILITY_TIMEOUT,
            MessageAttributeNames=["All"],
        )
        messages = answer.get("Messages") or []
        if not messages:
            break
        wait = 0  # the queue has messages: read on without waiting
        summary.received += len(messages)
        notices = [parse(m) for m in messages]
        mine = [n for n in notices if n.seller_id in (None, settings.get("seller_id"))]
        foreign += [n for n in notices if n not in mine]
        done = _handle_batch(db, connector, connection_id, mine, summary)
        _delete(sqs, queue_url, done, summary)
    _release(sqs, queue_url, foreign, summary)
    flush_call_log(db)  # a finished drain's calls are all in the log
    return summary


def _handle_batch(
    db: Database, connector: Any, connection_id: int, notices: list[Notice], summary: DrainSummary
) -> list[Notice]:
    """Read, map and commit the batch's orders with the notifications' inbox rows; the notices
    that may now be deleted."""
    cls = type(connector)
    with db.session() as session:
        known = stored_delivery_keys(
            session, connection_id, [delivery_key(n) for n in notices if n.problem is None]
        )
    deletable: list[Notice] = []
    again: list[str] = []  # keys the inbox holds already: deleted without a read
    handled: list[tuple[Notice, str, str | None]] = []  # inbox rows: notice, state, reason
    by_order: dict[str, list[Notice]] = {}
    dead: list[tuple[Any, str]] = []  # orders the mapping refused (replayed by mapping again)
    parked: list[tuple[Any, str]] = []  # messages that are no notification at all
    for notice in notices:
        if notice.problem is not None:
            parked.append((notice.body, f"SQS message {notice.message_id}: {notice.problem}"))
            deletable.append(notice)
        elif delivery_key(notice) in known:
            summary.duplicates += 1
            again.append(delivery_key(notice))
            deletable.append(notice)
        elif notice.kind != ORDER_CHANGE:
            summary.ignored += 1
            handled.append((notice, "ignored", f"{notice.kind}: not an order change"))
            deletable.append(notice)
        else:
            by_order.setdefault(str(notice.order_id), []).append(notice)
    items: list[IngestItem] = []
    committed: list[Notice] = []
    for order_id, group in by_order.items():
        try:
            payload = connector.get_order(order_id)
        except HttpError as exc:
            if exc.status == 404:
                reason = f"order {order_id} of the notification is not found (404)"
                handled += [(n, "dead", reason) for n in group]  # replay reads the order again
                deletable += group
                continue
            log.warning("order %s of a notification could not be read; left in the queue: %s", order_id, exc)
            summary.left += len(group)
            continue
        summary.duplicates += len(group) - 1
        handled += [(n, "done", None) for n in group]
        try:
            order = map_order(cls, payload)
        except ValueError as exc:
            dead.append((payload, str(exc)))
            deletable += group
            continue
        items.append(IngestItem(order, payload, "webhook"))
        committed += group

    def work(session: Any) -> list[Any]:
        results = ingest_orders(session, connection_id, items) if items else []
        for payload, reason in dead:
            park_dead_letter(session, connection_id, payload, reason)
        for payload, reason in parked:
            park_dead_letter(session, connection_id, payload, reason, topic=ORDER_CHANGE)
        for notice, state, reason in handled:
            record_handled(
                session,
                connection_id,
                source=SOURCE,
                topic=notice.kind or ORDER_CHANGE,
                key=delivery_key(notice),
                payload=notice.body,
                state=state,
                reason=reason,
            )
        count_duplicates(session, connection_id, again)
        return results

    results = db.transaction(work) if items or dead or parked or handled or again else []
    # committed (the inbox rows with the orders): from here on the messages may go
    summary.orders += len(items)
    summary.dead += len(dead) + len(parked) + sum(1 for _, state, _ in handled if state == "dead")
    for r in results:
        summary.counts[r.outcome] = summary.counts.get(r.outcome, 0) + 1
    return deletable + committed


def _release(sqs: Any, queue_url: str, notices: list[Notice], summary: DrainSummary) -> None:
    """Another seller's notifications (one destination serves every seller of the app): make
    them visible again at once for the connection they belong to."""
    if not notices:
        return
    entries = [
        {"Id": f"m{i}", "ReceiptHandle": n.receipt, "VisibilityTimeout": 0} for i, n in enumerate(notices)
    ]
    sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
    summary.foreign += len(notices)


def _delete(sqs: Any, queue_url: str, notices: list[Notice], summary: DrainSummary) -> None:
    for start in range(0, len(notices), BATCH):
        chunk = notices[start : start + BATCH]
        entries = [{"Id": f"m{i}", "ReceiptHandle": n.receipt} for i, n in enumerate(chunk)]
        answer = sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        failed = answer.get("Failed") or []
        for failure in failed:
            log.warning("SQS did not delete a message (%s): it will come back", failure.get("Message"))
        summary.deleted += len(entries) - len(failed)
