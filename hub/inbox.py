"""The inbox: every webhook body is stored (deduplicated by the channel's event id)
before the 200 goes back, then processed after the response. Orders a poll could not
map are parked here too (``source='poll'``, state ``dead``) and can be replayed.

States: ``pending`` → ``processing`` → ``done`` | ``ignored``; on error ``failed`` (retried
with backoff) and after ``MAX_ATTEMPTS`` ``dead`` (shown on the dead-letter page).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from hub import tables as t
from hub.connectors import ConnectionGone, Connector, Ignored, OrderChanged, StockChanged, get_connector
from hub.crypto import SecretBox
from hub.db import Database, insert_for
from hub.ingest import IngestItem, ingest_orders
from hub.inventory.inflow import apply_levels
from hub.mapping import map_order

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=5)
#: a delivery's headers are kept with its body, except any that could carry a secret
SECRET_HEADER_WORDS = ("signature", "hmac", "authorization", "token", "cookie", "secret", "key")


@dataclass(frozen=True)
class Received:
    status: int
    message: str
    event_id: int | None = None
    duplicate: bool = False


def _kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if not any(word in k.lower() for word in SECRET_HEADER_WORDS)}


def _insert_ignoring_duplicates(session: Session, row: dict[str, Any]) -> int | None:
    table = t.InboxEvent.__table__
    stmt = (
        insert_for(session, table)
        .values(row)
        .on_conflict_do_nothing(index_elements=["connection_id", "delivery_key"])
    )
    return session.execute(stmt.returning(table.c.id)).scalar()


def receive_webhook(
    db: Database,
    box: SecretBox,
    connector_name: str,
    webhook_key: str,
    headers: Mapping[str, str],
    body: bytes,
) -> Received:
    """Verify and store one delivery. Nothing is stored unless the signature is right."""
    with db.session() as session:
        conn = session.scalar(
            select(t.Connection).where(
                t.Connection.webhook_key == webhook_key, t.Connection.connector == connector_name
            )
        )
        if conn is None:
            return Received(404, "unknown webhook address")
        cls = get_connector(conn.connector)
        if not cls.verify_webhook(box.decrypt(conn.credentials_encrypted), headers, body):
            return Received(401, "bad or missing signature")
        if not conn.enabled:
            return Received(410, "this connection is disabled")
        delivery = cls.webhook_delivery(headers, body)
        now = datetime.now(UTC)
        ignored = delivery.ignore is not None
        event_id = _insert_ignoring_duplicates(
            session,
            {
                "connection_id": conn.id,
                "source": "webhook",
                "topic": delivery.topic,
                "delivery_key": delivery.key,
                "headers": _kept_headers(headers),
                "body": body,
                "received_at": now,
                "state": "ignored" if ignored else "pending",
                "attempts": 0,
                "next_attempt_at": None if ignored else now,
                "processed_at": now if ignored else None,
                "last_error": delivery.ignore,
                "duplicate_count": 0,
            },
        )
        if event_id is None:
            session.execute(
                update(t.InboxEvent)
                .where(t.InboxEvent.connection_id == conn.id, t.InboxEvent.delivery_key == delivery.key)
                .values(duplicate_count=t.InboxEvent.duplicate_count + 1, last_duplicate_at=now)
            )
            return Received(200, "duplicate delivery: already stored", duplicate=True)
    if ignored:  # recorded, answered, nothing to process
        return Received(200, f"recorded: {delivery.ignore}")
    return Received(200, "stored", event_id)


def park_dead_letter(
    session: Session, connection_id: int, payload: Any, reason: str, *, topic: str | None = None
) -> None:
    """Something that could not be taken in, kept with its reason and replayable. Without
    ``topic`` it is a polled order (replay maps it again); with one it is a channel
    notification (replay hands it to the connector's ``handle_webhook``, like a webhook)."""
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    external = str(payload.get("id")) if isinstance(payload, dict) and payload.get("id") is not None else "?"
    source = "poll" if topic is None else "queue"
    key = f"{source}:{external}:{hashlib.sha256(body).hexdigest()[:16]}"
    now = datetime.now(UTC)
    _insert_ignoring_duplicates(
        session,
        {
            "connection_id": connection_id,
            "source": source,
            "topic": topic or "order",
            "delivery_key": key,
            "headers": {},
            "body": body,
            "received_at": now,
            "state": "dead",
            "attempts": 1,
            "next_attempt_at": None,
            "last_error": reason,
            "duplicate_count": 0,
        },
    )


def _claim(db: Database, event_id: int, now: datetime, *, replay: bool) -> bool:
    """Take the event for processing; a lease (``next_attempt_at``) lets a sweeper take it
    back if this worker dies. A replay (a person pressed Retry) takes any state but a
    live lease."""
    due = t.InboxEvent.next_attempt_at <= now
    if replay:
        condition = or_(t.InboxEvent.state != "processing", due)
    else:
        condition = t.InboxEvent.state.in_(["pending", "failed", "processing"]) & due
    with db.session() as session:
        claimed = session.execute(
            update(t.InboxEvent)
            .where(t.InboxEvent.id == event_id, condition)
            .values(state="processing", attempts=t.InboxEvent.attempts + 1, next_attempt_at=now + LEASE)
        ).rowcount
    return claimed == 1


def process_event(
    db: Database, box: SecretBox, public_url: str, event_id: int, *, replay: bool = False
) -> str:
    """Process one stored delivery (idempotent: ingest is). Returns the new state."""
    from hub.services.connections import build_connector

    now = datetime.now(UTC)
    if not _claim(db, event_id, now, replay=replay):
        return "skipped"
    with db.session() as session:
        event = session.get(t.InboxEvent, event_id)
        conn = session.get(t.Connection, event.connection_id)
        session.expunge_all()
    try:
        payload = json.loads(event.body)
        if event.source == "poll":
            actions: list[Any] = [OrderChanged(payload)]
        else:
            connector: Connector = build_connector(db, box, conn, public_url)
            actions = connector.handle_webhook(event.topic, payload)
        state = _apply(db, conn, actions, "poll" if event.source == "poll" else "webhook")
    except Exception as exc:  # any failure is recorded on the event, never lost
        dead = event.attempts >= MAX_ATTEMPTS or event.source != "webhook"  # parked ones wait for a person
        backoff = timedelta(seconds=min(3600, 2**event.attempts * 5))
        with db.session() as session:
            session.execute(
                update(t.InboxEvent)
                .where(t.InboxEvent.id == event_id)
                .values(
                    state="dead" if dead else "failed",
                    last_error=f"{type(exc).__name__}: {exc}"[:2000],
                    next_attempt_at=None if dead else now + backoff,
                )
            )
        log.warning("inbox event %s failed: %s", event_id, exc)
        return "dead" if dead else "failed"
    with db.session() as session:
        session.execute(
            update(t.InboxEvent)
            .where(t.InboxEvent.id == event_id)
            .values(state=state, processed_at=datetime.now(UTC), last_error=None, next_attempt_at=None)
        )
    return state


def _apply(db: Database, conn: t.Connection, actions: list[Any], source: str) -> str:
    cls = get_connector(conn.connector)
    items = [
        IngestItem(map_order(cls, a.payload), a.payload, source)
        for a in actions
        if isinstance(a, OrderChanged)
    ]
    gone = [a for a in actions if isinstance(a, ConnectionGone)]

    def work(session: Session) -> None:
        if items:
            ingest_orders(session, conn.id, items)
        for action in gone:
            session.execute(
                update(t.Connection)
                .where(t.Connection.id == conn.id)
                .values(enabled=False, disabled_reason=action.reason)
            )
        apply_carrier_trackers(session, conn.id, actions, source)
        apply_stock_changes(session, conn.id, actions)

    db.transaction(work)
    return "ignored" if all(isinstance(a, Ignored) for a in actions) else "done"


def due_events(db: Database, limit: int = 500) -> list[int]:
    """Events waiting for (another) attempt, including ones whose worker died mid-way."""
    now = datetime.now(UTC)
    with db.session() as session:
        return list(
            session.scalars(
                select(t.InboxEvent.id)
                .where(
                    t.InboxEvent.state.in_(["pending", "failed", "processing"]),
                    t.InboxEvent.next_attempt_at <= now,
                )
                .order_by(t.InboxEvent.id)
                .limit(limit)
            )
        )


def apply_stock_changes(session: Session, connection_id: int, actions: list[Any]) -> None:
    """Stock readings a channel webhook brought, taken in by the inflow rule (relative to the
    last publish; a reading older than the last publish, or than the last reading, is stale)."""
    for action in actions:
        if isinstance(action, StockChanged):
            apply_levels(session, connection_id, action.levels, action.at, newer_only=True)


def apply_carrier_trackers(session: Session, connection_id: int, actions: list[Any], source: str) -> None:
    """Trackers a carrier webhook brought, merged into that connection's shipments."""
    from hub.shipping.model import TrackersChanged
    from hub.shipping.tracking import apply_trackers

    for action in actions:
        if isinstance(action, TrackersChanged):
            apply_trackers(session, connection_id, action.trackers, source)


def stored_delivery_keys(session: Session, connection_id: int, keys: list[str]) -> set[str]:
    """Which of ``keys`` the connection's inbox already holds (committed by an earlier run)."""
    if not keys:
        return set()
    return set(
        session.scalars(
            select(t.InboxEvent.delivery_key).where(
                t.InboxEvent.connection_id == connection_id, t.InboxEvent.delivery_key.in_(set(keys))
            )
        )
    )


def count_duplicates(session: Session, connection_id: int, keys: list[str]) -> None:
    """Deliveries received again: each one counted on its stored row, as webhooks' are."""
    now = datetime.now(UTC)
    for key in keys:
        session.execute(
            update(t.InboxEvent)
            .where(t.InboxEvent.connection_id == connection_id, t.InboxEvent.delivery_key == key)
            .values(duplicate_count=t.InboxEvent.duplicate_count + 1, last_duplicate_at=now)
        )


def record_handled(
    session: Session,
    connection_id: int,
    *,
    source: str,
    topic: str,
    key: str,
    payload: Any,
    state: str,
    reason: str | None = None,
) -> bool:
    """Store a delivery handled as it was received (a queue's notification, in the transaction
    that took in its effect): ``done`` or ``ignored``, or ``dead`` with ``reason`` (replayable
    through ``handle_webhook``, like a parked notification). Keyed by ``key`` like a webhook
    delivery: False (and nothing stored) when that key is stored already."""
    if state not in ("done", "ignored", "dead"):
        raise ValueError(f"a handled delivery is done, ignored or dead, not {state!r}")
    now = datetime.now(UTC)
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    event_id = _insert_ignoring_duplicates(
        session,
        {
            "connection_id": connection_id,
            "source": source,
            "topic": topic,
            "delivery_key": key,
            "headers": {},
            "body": body,
            "received_at": now,
            "state": state,
            "attempts": 1,
            "next_attempt_at": None,
            "processed_at": None if state == "dead" else now,
            "last_error": reason,
            "duplicate_count": 0,
        },
    )
    return event_id is not None


def discard_event(db: Database, event_id: int) -> bool:
    """A person gave up on a dead event; False when it is not dead (any more)."""
    with db.session() as session:
        done = session.execute(
            update(t.InboxEvent)
            .where(t.InboxEvent.id == event_id, t.InboxEvent.state == "dead")
            .values(state="discarded", next_attempt_at=None)
        ).rowcount
    return done == 1
