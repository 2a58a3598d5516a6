"""A shipment takes only units still on the order: a refunded or removed unit never ships
(the channel would refuse the fulfilment, and the push-back would die)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import update

from hub import tables as t
from hub.db import Database
from hub.schemas import dump_order
from hub.shipping.errors import ShippingError
from hub.shipping.model import Parcel
from hub.shipping.shipments import WantedLine, create_shipment
from mappings.shopify import map_order
from tests.shipping_fakes import add_order_and_location

FIXTURES = Path(__file__).parents[1] / "fixtures"


def test_shopify_current_quantity_is_kept_but_not_in_the_contract() -> None:
    payload = json.loads(next((FIXTURES / "shopify").glob("order*.json")).read_text())
    order_payload = payload.get("order", payload)
    item = order_payload["line_items"][0]
    item["current_quantity"] = 0
    order = map_order(payload)
    assert order.lines[0].current_quantity == 0
    assert order.lines[0].quantity == item["quantity"], "the canonical quantity stays the original"
    assert all("current_quantity" not in line for line in dump_order(order)["lines"])


def test_a_refunded_line_is_left_out_and_cannot_be_asked_for(db: Database) -> None:
    order_id, _loc = add_order_and_location(db)  # 3 of line 0, 1 of line 1
    with db.session() as s:
        s.execute(
            update(t.OrderLine)
            .where(t.OrderLine.order_id == order_id, t.OrderLine.position == 0)
            .values(current_quantity=1)
        )
        s.execute(
            update(t.OrderLine)
            .where(t.OrderLine.order_id == order_id, t.OrderLine.position == 1)
            .values(current_quantity=0)
        )
        first, second = (
            s.query(t.OrderLine.external_id)
            .filter(t.OrderLine.order_id == order_id)
            .order_by(t.OrderLine.position)
        )
    shipment = db.transaction(lambda s: create_shipment(s, order_id=order_id, parcels=[Parcel(500)]))
    assert shipment.lines == [{"line_external_id": first[0], "quantity": 1}]
    with pytest.raises(ShippingError, match="already in a shipment"):
        db.transaction(lambda s: create_shipment(s, order_id=order_id, parcels=[Parcel(500)]))
    with pytest.raises(ShippingError):
        db.transaction(
            lambda s: create_shipment(
                s, order_id=order_id, parcels=[Parcel(500)], lines=[WantedLine(second[0], 1)]
            )
        )
