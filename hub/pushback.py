"""Tracking push-back: shipments' labels and tracking reach the channel the order came from,
exactly once, through the outbox.

A message is written in the same transaction as the change it reports (a label bought, a
tracking number replaced), keyed by the shipment and the change, so writing it twice writes
it once. The sender claims a message with a lease, calls the channel connector's
``push_fulfilment`` (which looks for the fulfilment the hub already made before creating
one: a push the channel took whose answer was lost is found, not repeated), and records the
outcome. Failures back off; after ``MAX_ATTEMPTS`` failed sends the message is dead-lettered for a person
to retry or discard. A sender killed mid-push leaves the message leased; when the lease ends
the next sender takes it again, and the channel-side lookup makes that harmless."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from hub import tables as t
from hub.connectors import ShipmentLine, ShipmentPush
from hub.crypto import SecretBox
from hub.db import Database, insert_for

log = logging.getLogger(__name__)
TOPIC = "fulfilment.push"
MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=2)
BATCH = 100


@dataclass(frozen=True)
class FulfilmentChange:
    """What a channel is told about one shipment of one of its orders."""

    shipment_id: int
    order_id: int
    change: str  # e.g. "label", "tracking:<number>", "status:delivered"
    lines: tuple[tuple[str, int], ...]
    carrier: str
    carrier_name: str
    tracking_number: str
    tracking_url: str | None = None


#: how channels name the carriers the hub buys labels from (EasyPost names its own per label)
CARRIER_NAMES = {"ups": "UPS", "fedex": "FedEx", "usps": "USPS", "dhl_express": "DHL Express"}


def carrier_for_channels(connector: str, label_carrier_name: str | None) -> tuple[str, str]:
    """(carrier code, carrier name) a channel is told: the carrier that moves the parcel."""
    if connector in CARRIER_NAMES:
        return connector, CARRIER_NAMES[connector]
    name = label_carrier_name or connector
    code = next((c for c, n in CARRIER_NAMES.items() if n.lower() == name.lower()), "other")
    return code, CARRIER_NAMES.get(code, name)


def tracking_url(carrier: str, number: str) -> str | None:
    from hub.connectors import UnknownConnector, get_connector

    try:
        template = getattr(get_connector(carrier), "tracking_url_template", "")
    except UnknownConnector:
        return None
    return template.format(number=number) if template else None


def queue_label(
    session: Session,
    *,
    shipment_id: int,
    order_id: int,
    lines: list[dict[str, Any]],
    connector: str,
    tracking_number: str,
    label_carrier_name: str | None = None,
) -> bool:
    """Queue the push of a shipment's new label (its tracking number) to the order's channel."""
    code, name = carrier_for_channels(connector, label_carrier_name)
    return queue_fulfilment(
        session,
        FulfilmentChange(
            shipment_id=shipment_id,
            order_id=order_id,
            change=f"tracking:{tracking_number}",
            lines=tuple((str(x["line_external_id"]), int(x["quantity"])) for x in lines),
            carrier=code,
            carrier_name=name,
            tracking_number=tracking_number,
            tracking_url=tracking_url(code, tracking_number),
        ),
    )


def backoff(attempts: int) -> timedelta:
    """Wait before attempt ``attempts + 1``: 30 s doubling, at most an hour."""
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


def queue_fulfilment(session: Session, change: FulfilmentChange) -> bool:
    """Queue the push of ``change`` to the order's channel, in the caller's transaction.
    Returns False when the same change was queued before (nothing new is written)."""
    order = session.get(t.Order, change.order_id)
    if order is None:
        raise LookupError(f"order {change.order_id} not found")
    key = f"shipment:{change.shipment_id}:{change.change}"
    payload: dict[str, Any] = {
        "key": f"hub-{change.shipment_id}",
        "order_external_id": order.external_id,
        "lines": [{"line_external_id": line, "quantity": qty} for line, qty in change.lines],
        "carrier": change.carrier,
        "carrier_name": change.carrier_name,
        "tracking_number": change.tracking_number,
        "tracking_url": change.tracking_url,
        "shipment_id": change.shipment_id,
        "order_id": change.order_id,
    }
    now = datetime.now(UTC)
    row = {
        "connection_id": order.connection_id,
        "topic": TOPIC,
        "key": key,
        "payload": payload,
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    # one statement decides, so two writers of the same change cannot both think they queued it
    table = t.OutboxMessage.__table__
    stmt = insert_for(session, table).values(row).on_conflict_do_nothing(index_elements=["key"])
    return session.execute(stmt.returning(table.c.id)).scalar() is not None


def shipment_push(payload: dict[str, Any], notify_customer: bool) -> ShipmentPush:
    return ShipmentPush(
        key=payload["key"],
        order_external_id=payload["order_external_id"],
        lines=tuple(ShipmentLine(x["line_external_id"], int(x["quantity"])) for x in payload["lines"]),
        carrier=payload["carrier"],
        carrier_name=payload["carrier_name"],
        tracking_number=payload["tracking_number"],
        tracking_url=payload.get("tracking_url"),
        notify_customer=notify_customer,
    )


def due_messages(db: Database, connection_id: int, limit: int = BATCH) -> list[int]:
    now = datetime.now(UTC)
    with db.session() as session:
        return list(
            session.scalars(
                select(t.OutboxMessage.id)
                .where(
                    t.OutboxMessage.connection_id == connection_id,
                    t.OutboxMessage.topic == TOPIC,
                    t.OutboxMessage.state.in_(["pending", "failed", "sending"]),
                    t.OutboxMessage.next_attempt_at <= now,
                )
                .order_by(t.OutboxMessage.id)
                .limit(limit)
            )
        )


def _claim(db: Database, message_id: int, now: datetime, *, by_hand: bool = False) -> bool:
    """Lease the message (``next_attempt_at`` = lease end). By hand (a person pressed Retry)
    any state but a live lease or sent is taken."""
    if by_hand:
        condition = t.OutboxMessage.state.in_(["dead", "failed", "pending"]) | (
            (t.OutboxMessage.state == "sending") & (t.OutboxMessage.next_attempt_at <= now)
        )
    else:
        condition = t.OutboxMessage.state.in_(["pending", "failed", "sending"]) & (
            t.OutboxMessage.next_attempt_at <= now
        )
    with db.session() as session:
        claimed = session.execute(
            update(t.OutboxMessage)
            .where(t.OutboxMessage.id == message_id, condition)
            .values(state="sending", next_attempt_at=now + LEASE)
        ).rowcount
    return claimed == 1


def send_message(
    db: Database, box: SecretBox, public_url: str, message_id: int, *, by_hand: bool = False
) -> str:
    """Send one message; returns its new state (``skipped`` when another sender holds it)."""
    from hub.services.connections import build_connector

    now = datetime.now(UTC)
    if not _claim(db, message_id, now, by_hand=by_hand):
        return "skipped"
    with db.session() as session:
        message = session.get(t.OutboxMessage, message_id)
        conn = session.get(t.Connection, message.connection_id)
        session.expunge_all()
    try:
        if not conn.enabled:
            raise RuntimeError(f"connection {conn.name} is paused")
        connector = build_connector(db, box, conn, public_url)
        push = shipment_push(message.payload, bool((conn.settings or {}).get("notify_customer", False)))
        result = connector.push_fulfilment(push)
    except Exception as exc:
        # failures count, not claims: a sender killed mid-push is not the channel's fault
        attempts = message.attempts + 1
        dead = attempts >= MAX_ATTEMPTS
        error = f"{type(exc).__name__}: {exc}"[:2000]
        with db.session() as session:
            session.execute(
                update(t.OutboxMessage)
                .where(t.OutboxMessage.id == message_id, t.OutboxMessage.state == "sending")
                .values(
                    state="dead" if dead else "failed",
                    attempts=attempts,
                    last_error=error,
                    next_attempt_at=None if dead else datetime.now(UTC) + backoff(attempts),
                )
            )
        log.warning("push of outbox message %s to %s failed: %s", message_id, conn.name, error)
        return "dead" if dead else "failed"
    with db.session() as session:
        session.execute(
            update(t.OutboxMessage)
            .where(t.OutboxMessage.id == message_id)
            .values(
                state="sent",
                sent_at=datetime.now(UTC),
                last_error=None,
                next_attempt_at=None,
                payload={**message.payload, "result": asdict(result)},
            )
        )
    log.info(
        "order %s: fulfilment %s in %s (%s)",
        message.payload["order_external_id"],
        result.outcome,
        conn.name,
        message.payload["tracking_number"],
    )
    return "sent"


def send_due(db: Database, box: SecretBox, public_url: str, connection_id: int) -> dict[str, int]:
    """Send every due message of one channel connection; counts per outcome."""
    counts = {"updates_pushed": 0, "failed": 0, "dead": 0, "errors": 0}
    for message_id in due_messages(db, connection_id):
        state = send_message(db, box, public_url, message_id)
        if state == "sent":
            counts["updates_pushed"] += 1
        elif state in ("failed", "dead"):
            counts[state] += 1
            counts["errors"] += 1
    return counts


def pushes_of(session: Session, shipment_id: int) -> list[dict[str, Any]]:
    """What the order's channel was told about a shipment, and how far each push got."""
    rows = session.scalars(
        select(t.OutboxMessage)
        .where(t.OutboxMessage.key.like(f"shipment:{shipment_id}:%"), t.OutboxMessage.topic == TOPIC)
        .order_by(t.OutboxMessage.id)
    )
    return [
        {
            "change": row.key.split(":", 2)[2],
            "state": row.state,
            "attempts": row.attempts,
            "last_error": row.last_error,
            "sent_at": None if row.sent_at is None else row.sent_at.isoformat(),
            "outcome": (row.payload.get("result") or {}).get("outcome"),
        }
        for row in rows
    ]


def discard(db: Database, message_id: int) -> bool:
    """A person gave up on a dead (or failing) message."""
    with db.session() as session:
        return (
            session.execute(
                update(t.OutboxMessage)
                .where(
                    t.OutboxMessage.id == message_id,
                    or_(t.OutboxMessage.state == "dead", t.OutboxMessage.state == "failed"),
                )
                .values(state="discarded", next_attempt_at=None)
            ).rowcount
            == 1
        )
