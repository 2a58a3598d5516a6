"""Label purchase never buys twice (SQLite and PostgreSQL): the purchase row is committed
before the call, a lost answer is reconciled before any retry, and a carrier that cannot
say leaves the shipment for a person."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from hub import tables as t
from hub.crypto import SecretBox
from hub.db import Database
from hub.shipping.errors import ShippingError
from hub.shipping.labels import purchase_label, reconcile, unsettled_purchases, void_label
from hub.shipping.model import Parcel
from hub.shipping.shipments import create_shipment
from tests import shipping_fakes
from tests.shipping_fakes import FakeCarrier, add_carrier, add_order_and_location

BOX = SecretBox("test-master-key-for-shipping")
fake_carrier = shipping_fakes.fake_carrier
URL = "http://hub.test"


@pytest.fixture
def shipment(db: Database, fake_carrier: type[FakeCarrier]) -> tuple[int, int]:
    order_id, _loc = add_order_and_location(db)
    carrier_id = add_carrier(db, BOX, "ups-fake")
    shipment_id = db.transaction(
        lambda s: create_shipment(s, order_id=order_id, parcels=[Parcel(1500, 300, 200, 100)]).id
    )
    return shipment_id, carrier_id


def _count(db: Database, model: type, **where: object) -> int:
    with db.session() as s:
        stmt = select(func.count()).select_from(model)
        for name, value in where.items():
            stmt = stmt.where(getattr(model, name) == value)
        return s.scalar(stmt) or 0


def test_a_purchase_stores_the_label_and_raises_one_event(db: Database, shipment: tuple[int, int]) -> None:
    shipment_id, carrier_id = shipment
    outcome = purchase_label(db, BOX, URL, shipment_id, connection_id=carrier_id, service_code="GND")
    assert outcome.state == "labelled" and outcome.tracking_number == "1ZFAKE000001"
    with db.session() as s:
        row = s.get_one(t.Shipment, shipment_id)
        purchase = s.scalar(select(t.LabelPurchase))
        assert (row.label_state, row.tracking_number, row.tracking_active) == (
            "labelled",
            "1ZFAKE000001",
            True,
        )
        assert purchase.label_format == "PNG" and purchase.label_data.startswith(b"\x89PNG")
        assert purchase.request["idempotency_key"] == purchase.idempotency_key
        events = list(s.scalars(select(t.HubEvent).where(t.HubEvent.topic == "shipment.label_created")))
    assert [e.payload["tracking_number"] for e in events] == ["1ZFAKE000001"]
    with pytest.raises(ShippingError, match="labelled"):
        purchase_label(db, BOX, URL, shipment_id, connection_id=carrier_id, service_code="GND")
    assert FakeCarrier.ledger.buy_calls == 1


def test_a_lost_answer_is_looked_up_before_any_retry(db: Database, shipment: tuple[int, int]) -> None:
    shipment_id, carrier_id = shipment
    FakeCarrier.ledger.lose_answers = 1
    outcome = purchase_label(db, BOX, URL, shipment_id, connection_id=carrier_id, service_code="GND")
    assert outcome.state == "labelled"
    assert FakeCarrier.ledger.buy_calls == 1, "found by find_label: not bought again"
    assert len(FakeCarrier.ledger.sold) == 1
    assert _count(db, t.HubEvent, topic="shipment.label_created") == 1


def test_not_found_is_bought_again_with_the_same_key(
    db: Database, shipment: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    shipment_id, carrier_id = shipment
    keys: list[str] = []
    original = FakeCarrier.buy_label

    def lose_before_selling(self: FakeCarrier, request: object) -> object:
        keys.append(request.idempotency_key)  # type: ignore[attr-defined]
        if len(keys) == 1:  # the request never reached the carrier's ledger
            from hub.http import HttpError

            raise HttpError("POST /labels: the connection dropped", url="/labels")
        return original(self, request)  # type: ignore[arg-type]

    monkeypatch.setattr(FakeCarrier, "buy_label", lose_before_selling)
    outcome = purchase_label(db, BOX, URL, shipment_id, connection_id=carrier_id, service_code="GND")
    assert outcome.state == "labelled"
    assert len(keys) == 2 and keys[0] == keys[1], "the retry sends the same idempotency key"
    with db.session() as s:
        assert s.scalar(select(t.LabelPurchase.attempts)) == 2


def test_a_carrier_that_cannot_say_leaves_it_to_a_person(
    db: Database, fake_carrier: type[FakeCarrier]
) -> None:
    order_id, _loc = add_order_and_location(db)
    carrier_id = add_carrier(db, BOX, "dhl-fake", no_lookup=True)
    shipment_id = db.transaction(lambda s: create_shipment(s, order_id=order_id, parcels=[Parcel(500)]).id)
    FakeCarrier.ledger.lose_answers = 1
    outcome = purchase_label(db, BOX, URL, shipment_id, connection_id=carrier_id, service_code="GND")
    assert outcome.state == "check_with_carrier"
    assert unsettled_purchases(db) == [], "the sweep never takes it again"
    assert reconcile(db, BOX, URL, outcome.purchase_id) == "check_with_carrier"
    with pytest.raises(ShippingError, match="check_with_carrier"):
        purchase_label(db, BOX, URL, shipment_id, connection_id=carrier_id, service_code="GND")
    assert FakeCarrier.ledger.buy_calls == 1


def test_a_refusal_fails_and_a_new_purchase_may_follow(db: Database, shipment: tuple[int, int]) -> None:
    shipment_id, carrier_id = shipment
    FakeCarrier.ledger.refuse = "invalid postal code"
    outcome = purchase_label(db, BOX, URL, shipment_id, connection_id=carrier_id, service_code="GND")
    assert outcome.state == "failed" and "invalid postal code" in (outcome.message or "")
    FakeCarrier.ledger.refuse = None
    again = purchase_label(db, BOX, URL, shipment_id, connection_id=carrier_id, service_code="GND")
    assert again.state == "labelled" and again.purchase_id != outcome.purchase_id


def test_two_concurrent_purchases_buy_one_label(db: Database, shipment: tuple[int, int]) -> None:
    shipment_id, carrier_id = shipment
    results: list[str] = []
    barrier = threading.Barrier(4)

    def buy() -> None:
        barrier.wait()
        try:
            results.append(
                purchase_label(db, BOX, URL, shipment_id, connection_id=carrier_id, service_code="GND").state
            )
        except ShippingError as exc:
            results.append(exc.code)

    threads = [threading.Thread(target=buy) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(results) == ["conflict", "conflict", "conflict", "labelled"]
    assert FakeCarrier.ledger.buy_calls == 1
    assert _count(db, t.LabelPurchase) == 1


def test_bad_input_changes_nothing(db: Database, shipment: tuple[int, int]) -> None:
    shipment_id, carrier_id = shipment
    with pytest.raises(ShippingError) as exc:
        purchase_label(
            db, BOX, URL, shipment_id, connection_id=carrier_id, service_code="GND", label_format="ZPL"
        )
    assert exc.value.field == "label_format"
    with pytest.raises(ShippingError) as exc:
        purchase_label(db, BOX, URL, shipment_id, connection_id=9999, service_code="GND")
    assert exc.value.field == "connection_id"
    with db.session() as s:
        assert s.get_one(t.Shipment, shipment_id).label_state == "none"
    assert _count(db, t.LabelPurchase) == 0


def test_void_stops_tracking_and_frees_the_lines(db: Database, shipment: tuple[int, int]) -> None:
    shipment_id, carrier_id = shipment
    purchase_label(db, BOX, URL, shipment_id, connection_id=carrier_id, service_code="GND")
    assert void_label(db, BOX, URL, shipment_id).state == "voided"
    assert FakeCarrier.ledger.voided == ["1ZFAKE000001"]
    with db.session() as s:
        row = s.get_one(t.Shipment, shipment_id)
        assert (row.label_state, row.tracking_active) == ("voided", False)
    with pytest.raises(ShippingError, match="no bought label"):
        void_label(db, BOX, URL, shipment_id)


def test_the_connections_label_format_is_the_default(db: Database, fake_carrier: type[FakeCarrier]) -> None:
    order_id, _loc = add_order_and_location(db)
    carrier_id = add_carrier(db, BOX, "pdf-fake", label_format="PDF")
    shipment_id = db.transaction(lambda s: create_shipment(s, order_id=order_id, parcels=[Parcel(900)]).id)
    purchase_label(db, BOX, URL, shipment_id, connection_id=carrier_id, service_code="GND")
    with db.session() as s:
        assert s.scalar(select(t.LabelPurchase.request)).get("label_format") == "PDF"


def test_a_bought_label_queues_one_push_to_the_channel(db: Database, shipment: tuple[int, int]) -> None:
    from hub.pushback import pushes_of

    shipment_id, carrier_id = shipment
    FakeCarrier.ledger.lose_answers = 1  # found by find_label: still one label, one push
    purchase_label(db, BOX, URL, shipment_id, connection_id=carrier_id, service_code="GND")
    with db.session() as s:
        order = s.get_one(t.Order, s.get_one(t.Shipment, shipment_id).order_id)
        [message] = s.scalars(select(t.OutboxMessage)).all()
        pushes = pushes_of(s, shipment_id)
    assert message.connection_id == order.connection_id and message.state == "pending"
    assert message.key == f"shipment:{shipment_id}:tracking:1ZFAKE000001"
    assert message.payload["order_external_id"] == order.external_id
    assert message.payload["tracking_number"] == "1ZFAKE000001"
    assert message.payload["lines"] and all(x["quantity"] > 0 for x in message.payload["lines"])
    assert pushes == [
        {
            "change": "tracking:1ZFAKE000001",
            "state": "pending",
            "attempts": 0,
            "last_error": None,
            "sent_at": None,
            "outcome": None,
        }
    ]


def test_a_person_settles_what_the_carrier_cannot_say(db: Database, fake_carrier: type[FakeCarrier]) -> None:
    from hub.shipping.labels import settle_by_hand

    order_id, _loc = add_order_and_location(db)
    carrier_id = add_carrier(db, BOX, "fedex-fake", no_lookup=True)
    shipment_id = db.transaction(lambda s: create_shipment(s, order_id=order_id, parcels=[Parcel(500)]).id)
    FakeCarrier.ledger.lose_answers = 1
    lost = purchase_label(db, BOX, URL, shipment_id, connection_id=carrier_id, service_code="GND")
    assert lost.state == "check_with_carrier"
    with pytest.raises(ShippingError, match="blank"):
        settle_by_hand(db, lost.purchase_id, tracking_number="  ", who="user:ann")
    done = settle_by_hand(db, lost.purchase_id, tracking_number="7946000001", who="user:ann")
    assert (done.state, done.tracking_number) == ("labelled", "7946000001")
    assert "user:ann" in (done.message or "")
    with db.session() as s:
        shipment = s.get_one(t.Shipment, shipment_id)
        assert (shipment.label_state, shipment.tracking_active) == ("labelled", True)
        assert s.scalar(select(func.count()).select_from(t.OutboxMessage)) == 1, "its push-back is queued"
    with pytest.raises(ShippingError, match="nothing to settle"):
        settle_by_hand(db, lost.purchase_id, tracking_number=None, who="user:ann")
    assert FakeCarrier.ledger.buy_calls == 1


def test_nothing_sold_lets_the_shipment_be_bought_again(
    db: Database, fake_carrier: type[FakeCarrier]
) -> None:
    from hub.shipping.labels import settle_by_hand

    order_id, _loc = add_order_and_location(db)
    carrier_id = add_carrier(db, BOX, "dhl-fake", no_lookup=True)
    shipment_id = db.transaction(lambda s: create_shipment(s, order_id=order_id, parcels=[Parcel(500)]).id)
    FakeCarrier.ledger.lose_answers = 1
    lost = purchase_label(db, BOX, URL, shipment_id, connection_id=carrier_id, service_code="GND")
    assert settle_by_hand(db, lost.purchase_id, tracking_number=None, who="user:ann").state == "failed"
    again = purchase_label(db, BOX, URL, shipment_id, connection_id=carrier_id, service_code="GND")
    assert again.state == "labelled" and again.purchase_id != lost.purchase_id
