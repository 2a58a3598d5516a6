"""Pure rules for a tracker's status (``reference/carriers/tracking_status.md`` §1).

Every carrier mapping builds its trackers through :func:`build_tracker`, and the hub merges
newly received events into a stored timeline through :func:`merge_events`, so the rules
live in one place: events ordered by event time, newest first; the tracker's status is
that of the newest event that is neither informational nor unknown; a final state is
never left because an older event arrives late."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from hub.shipping.model import Tracker, TrackingEvent, TrackingStatus

FINAL_STATUSES: frozenset[str] = frozenset({"delivered", "cancelled", "return_to_sender"})


def event_key(event: TrackingEvent) -> tuple[str, str, str, str]:
    """What makes two reports the same event (a webhook and a poll both carry it)."""
    return (event.at.isoformat(), event.code or "", event.status, event.description or "")


def order_events(events: Iterable[TrackingEvent]) -> tuple[TrackingEvent, ...]:
    """Deduplicated, newest first (stable for equal times: the later-listed stays later)."""
    seen: set[tuple[str, str, str, str]] = set()
    unique: list[TrackingEvent] = []
    for event in events:
        key = event_key(event)
        if key not in seen:
            seen.add(key)
            unique.append(event)
    return tuple(sorted(unique, key=lambda e: e.at, reverse=True))


def status_of(events: Iterable[TrackingEvent], previous: TrackingStatus = "unknown") -> TrackingStatus:
    """The tracker status: the newest event that sets one, never leaving a final state
    reached by an event newer than anything that would leave it."""
    ordered = order_events(events)
    deciding = [e for e in ordered if not e.informational and e.status != "unknown"]
    if not deciding:
        return previous
    newest = deciding[0]
    final = next((e for e in deciding if e.status in FINAL_STATUSES), None)
    if final is not None and final is not newest and final.at >= newest.at:
        return final.status
    return newest.status


def delivered_at(events: Iterable[TrackingEvent]) -> datetime | None:
    return next((e.at for e in order_events(events) if e.status == "delivered" and not e.informational), None)


def build_tracker(
    carrier: str,
    tracking_number: str,
    events: Iterable[TrackingEvent],
    estimated_delivery: date | None = None,
    status_hint: TrackingStatus | None = None,
) -> Tracker:
    """A tracker from its events in any order. ``status_hint`` (a carrier's own summary
    status) is used only when no event decides."""
    ordered = order_events(events)
    return Tracker(
        carrier=carrier,
        tracking_number=tracking_number,
        status=status_of(ordered, previous=status_hint or "unknown"),
        estimated_delivery=estimated_delivery,
        delivered_at=delivered_at(ordered),
        events=ordered,
    )


def merge_events(stored: Tracker, received: Tracker) -> Tracker:
    """The stored timeline with newly received events added. A final status holds: an
    older event arriving late cannot move the tracker out of it."""
    events = order_events((*received.events, *stored.events))
    status = status_of(events, previous=stored.status)
    if stored.status in FINAL_STATUSES and status != stored.status:
        newer = [e for e in events if e.status == status and not e.informational]
        reached = (e.at for e in stored.events if e.status == stored.status)
        final_at = stored.delivered_at or max(reached, default=None)
        if final_at is not None and all(e.at <= final_at for e in newer):
            status = stored.status
    return Tracker(
        carrier=stored.carrier,
        tracking_number=stored.tracking_number,
        status=status,
        estimated_delivery=received.estimated_delivery or stored.estimated_delivery,
        delivered_at=delivered_at(events) or stored.delivered_at,
        events=events,
    )
