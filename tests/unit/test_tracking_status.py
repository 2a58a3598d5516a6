"""The tracker status rules every carrier shares (hub/shipping/status.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from hub.shipping.model import TrackingEvent
from hub.shipping.status import build_tracker, merge_events, order_events, status_of

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def ev(hours: float, status: str, code: str | None = None, **kw: object) -> TrackingEvent:
    return TrackingEvent(T0 + timedelta(hours=hours), status, code or status.upper(), status, **kw)  # type: ignore[arg-type]


JOURNEY = [
    ev(0, "pending"),
    ev(5, "picked_up"),
    ev(10, "in_transit"),
    ev(20, "out_for_delivery"),
    ev(24, "delivered"),
]


def test_events_newest_first_and_deduplicated() -> None:
    events = order_events([JOURNEY[1], JOURNEY[0], JOURNEY[2], JOURNEY[1]])
    assert [e.status for e in events] == ["in_transit", "picked_up", "pending"]


def test_status_is_the_newest_deciding_event() -> None:
    tracker = build_tracker("ups", "1Z", reversed(JOURNEY))
    assert tracker.status == "delivered"
    assert tracker.delivered_at == T0 + timedelta(hours=24)
    assert tracker.events[0].status == "delivered"


def test_informational_and_unknown_events_do_not_set_the_status() -> None:
    events = [*JOURNEY[:3], ev(12, "in_transit", "U", informational=True), ev(13, "unknown", "ZZ")]
    tracker = build_tracker("ups", "1Z", events)
    assert tracker.status == "in_transit"
    assert tracker.events[0].code == "ZZ", "the unknown event is kept on the timeline"
    assert status_of([ev(1, "unknown")], previous="picked_up") == "picked_up"
    assert build_tracker("ups", "1Z", [], status_hint="pending").status == "pending"


def test_a_late_older_event_never_leaves_a_final_state() -> None:
    stored = build_tracker("fedex", "7946", JOURNEY)
    late = build_tracker("fedex", "7946", [ev(21, "delivery_delayed")])  # older than the delivery
    merged = merge_events(stored, late)
    assert merged.status == "delivered"
    assert len(merged.events) == len(JOURNEY) + 1
    newer = build_tracker("fedex", "7946", [ev(30, "return_to_sender")])  # a real later change
    assert merge_events(stored, newer).status == "return_to_sender"


def test_merge_keeps_estimates_and_adds_only_new_events() -> None:
    stored = build_tracker("usps", "94", JOURNEY[:2], estimated_delivery=(T0 + timedelta(days=2)).date())
    again = build_tracker("usps", "94", JOURNEY[:3])
    merged = merge_events(stored, again)
    assert [e.status for e in merged.events] == ["in_transit", "picked_up", "pending"]
    assert merged.estimated_delivery == stored.estimated_delivery
    assert merged.status == "in_transit"


@given(st.permutations(JOURNEY), st.integers(min_value=1, max_value=4))
def test_arrival_order_never_matters(events: list[TrackingEvent], split: int) -> None:
    whole = build_tracker("dhl_express", "JD", events)
    assert whole == build_tracker("dhl_express", "JD", JOURNEY)
    first, rest = (
        build_tracker("dhl_express", "JD", events[:split]),
        build_tracker("dhl_express", "JD", events[split:]),
    )
    merged = merge_events(first, rest)
    assert (merged.status, merged.events, merged.delivered_at) == (
        whole.status,
        whole.events,
        whole.delivered_at,
    )


def test_the_model_names_what_the_contract_names() -> None:
    import json

    from hub.shipping.model import CARRIERS, TRACKING_STATUSES
    from tests.contracts import contract_path

    schema = json.loads(contract_path("canonical-shipping.schema.json").read_text())
    assert set(TRACKING_STATUSES) == set(schema["$defs"]["status"]["enum"])
    assert set(CARRIERS) == set(schema["$defs"]["carrier"]["enum"])
