"""Tracking: trackers from polls and carrier webhooks merged into each shipment's timeline.

Merging goes through :func:`hub.shipping.status.merge_events` (deduplicated, ordered by
event time, a final state never left because of a late older event). A status change
writes a ``shipment.status_changed`` hub event in the same transaction. Undelivered
shipments are polled per carrier connection, in its ``track_batch_size``, sooner when the
parcel is near delivery, and retired ``RETIRE_AFTER`` after the label was bought."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub import tables as t
from hub.events import raise_event
from hub.shipping.document import load_tracker, store_tracker, utc
from hub.shipping.model import Tracker
from hub.shipping.status import FINAL_STATUSES, merge_events

log = logging.getLogger(__name__)
RETIRE_AFTER = timedelta(days=90)
#: how soon a shipment is polled again, by its status
POLL_EVERY: dict[str, timedelta] = {
    "pending": timedelta(hours=4),
    "picked_up": timedelta(hours=2),
    "in_transit": timedelta(hours=2),
    "out_for_delivery": timedelta(minutes=20),
    "ready_for_pickup": timedelta(hours=6),
    "on_hold": timedelta(hours=1),
    "delivery_delayed": timedelta(hours=1),
    "delivery_failed": timedelta(minutes=45),
    "unknown": timedelta(hours=3),
}
FIRST_POLL_AFTER = timedelta(minutes=30)


def first_poll_at(labelled_at: datetime) -> datetime:
    return labelled_at + FIRST_POLL_AFTER


def next_poll_at(status: str, now: datetime) -> datetime | None:
    """When to poll a shipment in ``status`` next; None once it is final."""
    if status in FINAL_STATUSES:
        return None
    return now + POLL_EVERY.get(status, POLL_EVERY["unknown"])


def _stored(shipment: t.Shipment, received: Tracker) -> Tracker:
    if shipment.tracker:
        return load_tracker(shipment.tracker)
    return Tracker(
        carrier=received.carrier,
        tracking_number=shipment.tracking_number or received.tracking_number,
        status=shipment.tracking_status or "pending",  # type: ignore[arg-type]
        estimated_delivery=None,
        delivered_at=None,
        events=(),
    )


def apply_tracker(
    session: Session, shipment: t.Shipment, received: Tracker, now: datetime, source: str
) -> bool:
    """Merge ``received`` into the shipment's timeline; returns whether its status changed."""
    stored = _stored(shipment, received)
    merged = merge_events(stored, received)
    old = shipment.tracking_status or stored.status
    shipment.tracker = store_tracker(merged)
    shipment.tracking_status = merged.status
    shipment.delivered_at = merged.delivered_at
    follow = merged.status not in FINAL_STATUSES and shipment.label_state == "labelled"
    shipment.tracking_active = follow
    shipment.next_track_at = next_poll_at(merged.status, now) if follow else None
    if merged.status == old:
        return False
    newest = merged.events[0].at if merged.events else now
    raise_event(
        session,
        "shipment.status_changed",
        f"shipment:{shipment.id}:status:{old}->{merged.status}:{utc(newest)}",
        payload={
            "shipment_id": shipment.id,
            "order_id": shipment.order_id,
            "carrier": shipment.carrier,
            "tracking_number": shipment.tracking_number,
            "from": old,
            "to": merged.status,
            "at": utc(newest),
            "estimated_delivery": None
            if merged.estimated_delivery is None
            else merged.estimated_delivery.isoformat(),
            "source": source,
        },
        at=now,
    )
    return True


def apply_trackers(
    session: Session,
    connection_id: int,
    trackers: Iterable[Tracker],
    source: str,
    now: datetime | None = None,
) -> int:
    """Merge trackers into the shipments of a carrier connection that carry their numbers
    (rows locked in id order). Returns how many shipments changed status."""
    now = now or datetime.now(UTC)
    by_number: dict[str, list[Tracker]] = {}
    for tracker in trackers:
        by_number.setdefault(tracker.tracking_number, []).append(tracker)
    if not by_number:
        return 0
    shipments = session.scalars(
        select(t.Shipment)
        .where(
            t.Shipment.carrier_connection_id == connection_id,
            t.Shipment.tracking_number.in_(by_number),
            t.Shipment.label_state == "labelled",
        )
        .order_by(t.Shipment.id)
        .with_for_update()
    )
    changed = 0
    for shipment in shipments:
        for tracker in by_number[shipment.tracking_number or ""]:
            changed += apply_tracker(session, shipment, tracker, now, source)
    return changed


@dataclass
class TrackingRun:
    polled: int = 0
    changed: int = 0
    unknown: int = 0
    failed_batches: int = 0
    retired: int = 0

    def counts(self) -> dict[str, int]:
        return dict(self.__dict__)


def retire(session: Session, connection_id: int, now: datetime) -> int:
    return (
        session.execute(
            update(t.Shipment)
            .where(
                t.Shipment.carrier_connection_id == connection_id,
                t.Shipment.tracking_active.is_(True),
                t.Shipment.labelled_at < now - RETIRE_AFTER,
            )
            .values(tracking_active=False, next_track_at=None)
        ).rowcount
        or 0
    )


def due(session: Session, connection_id: int, now: datetime, limit: int) -> list[str]:
    return list(
        session.scalars(
            select(t.Shipment.tracking_number)
            .where(
                t.Shipment.carrier_connection_id == connection_id,
                t.Shipment.tracking_active.is_(True),
                t.Shipment.next_track_at <= now,
                t.Shipment.tracking_number.is_not(None),
            )
            .order_by(t.Shipment.next_track_at, t.Shipment.id)
            .limit(limit)
        )
    )


def _postpone(session: Session, connection_id: int, numbers: list[str], now: datetime) -> None:
    session.execute(
        update(t.Shipment)
        .where(t.Shipment.carrier_connection_id == connection_id, t.Shipment.tracking_number.in_(numbers))
        .values(next_track_at=now + POLL_EVERY["unknown"])
    )


def refresh_tracking(
    db: Any, box: Any, public_url: str, connection_id: int, now: datetime | None = None, limit: int = 5000
) -> TrackingRun:
    """Poll every due shipment of one carrier connection, a batch per carrier call."""
    from hub.connectors import Capability
    from hub.shipping.live import build_carrier

    now = now or datetime.now(UTC)
    run = TrackingRun()
    with db.session() as session:
        conn = session.get(t.Connection, connection_id)
        if conn is None or not conn.enabled:
            return run
        run.retired = retire(session, connection_id, now)
        numbers = due(session, connection_id, now, limit)
        session.expunge(conn)
    if not numbers:
        return run
    connector = build_carrier(db, box, conn, public_url)
    if Capability.TRACKING_POLL not in connector.capabilities:
        return run
    size = max(1, int(connector.track_batch_size))
    for start in range(0, len(numbers), size):
        batch = numbers[start : start + size]
        try:
            trackers = connector.track(batch)
        except Exception as exc:  # one failed batch does not stop the others
            run.failed_batches += 1
            log.warning(
                "tracking %s numbers of connection %s failed: %s",
                len(batch),
                connection_id,
                connector.ctx.http.mask(str(exc)),
            )
            with db.session() as session:
                _postpone(session, connection_id, batch, now)
            continue
        known = {tr.tracking_number for tr in trackers}
        missing = [n for n in batch if n not in known]

        def work(session: Session, trackers: list[Tracker] = trackers, missing: list[str] = missing) -> int:
            changed = apply_trackers(session, connection_id, trackers, "poll", now)
            if missing:
                _postpone(session, connection_id, missing, now)
            return changed

        run.changed += db.transaction(work)
        run.polled += len(batch)
        run.unknown += len(missing)
    return run
