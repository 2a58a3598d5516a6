"""The hub killed with SIGKILL at 20 random moments during push-back, and restarted each
time: every channel sandbox ends with exactly one fulfilment per shipment, with the right
tracking number and carrier name.

The four channel sandboxes run in this process (they outlive the hub); the hub is a
``hub scheduler`` process whose push-back job runs every second. Between a kill and the
restart the test lets the leases of the killed process's messages run out (as time would)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from connectors.amazon.sandbox import AmazonSandbox
from connectors.magento.sandbox import MagentoSandbox
from connectors.shopify.sandbox import ShopifySandbox
from connectors.woocommerce.sandbox import WooCommerceSandbox
from hub import tables as t
from hub.app import create_app
from hub.pushback import FulfilmentChange, queue_fulfilment
from hub.services.connections import create_connection
from hub.sync import poll_orders
from tests.conftest import make_settings

pytestmark = pytest.mark.xdist_group("pushback-sigkill")
SECRET_KEY = "test-secret-key-not-for-production"
KILLS = 20
PER_CHANNEL = 6
CARRIERS = [
    ("ups", "UPS", "1Z999AA1{:010d}"),
    ("fedex", "FedEx", "7946{:08d}"),
    ("usps", "USPS", "9400{:018d}"),
]
FAULTS = {"latency_ms": 15, "rate_500": 0.05, "rate_lost_response": 0.08}


@dataclass
class Channel:
    name: str
    sandbox: Any
    connection_id: int = 0
    #: (external order id) -> [(tracking number, carrier name)] found in the sandbox
    fulfilments: Callable[[Any, str], list[tuple[str, str]]] = lambda sandbox, oid: []


def shopify_fulfilments(sandbox: ShopifySandbox, oid: str) -> list[tuple[str, str]]:
    return [(f["tracking_number"], f["tracking_company"]) for f in sandbox.fulfillments(int(oid))]


def woo_fulfilments(sandbox: WooCommerceSandbox, oid: str) -> list[tuple[str, str]]:
    items = sandbox.trackings.get(int(oid), [])
    return [
        (i["tracking_number"], i.get("custom_tracking_provider") or i.get("tracking_provider")) for i in items
    ]


def magento_fulfilments(sandbox: MagentoSandbox, oid: str) -> list[tuple[str, str]]:
    return [(tr["track_number"], tr["title"]) for s in sandbox.shipments_of(int(oid)) for tr in s["tracks"]]


def amazon_fulfilments(sandbox: AmazonSandbox, oid: str) -> list[tuple[str, str]]:
    found = []
    for s in sandbox.shipments:
        if s["orderId"] == oid:
            detail = s["packageDetail"]
            found.append((detail["trackingNumber"], detail.get("carrierName") or detail["carrierCode"]))
    return found


def merchant_fulfilled(raw: Any) -> bool:
    """An Amazon order the seller ships (not FBA) and has not shipped yet."""
    fulfillment = (raw or {}).get("fulfillment") or {}
    return (fulfillment.get("fulfilledBy"), fulfillment.get("fulfillmentStatus")) == ("MERCHANT", "UNSHIPPED")


def shippable_as_one(ch: Channel, order: t.Order) -> bool:
    """An order one shipment (one location) covers: Amazon's merchant-fulfilled ones; on
    Shopify those whose fulfillment orders sit at one location (a shipment spanning two
    locations is two Shopify fulfillments by Shopify's rules)."""
    if ch.name == "amazon":
        return merchant_fulfilled(order.raw)
    if ch.name == "shopify":
        orders = ch.sandbox.fulfillment_orders(int(order.external_id))
        return len({fo["assigned_location_id"] for fo in orders}) == 1
    return True


@pytest.fixture
def channels() -> Iterator[list[Channel]]:
    with ExitStack() as stack:
        yield [
            Channel(
                "shopify",
                stack.enter_context(ShopifySandbox(seed=3, orders=30, limits=False).start()),
                fulfilments=shopify_fulfilments,
            ),
            Channel(
                "woocommerce",
                stack.enter_context(WooCommerceSandbox(seed=3, orders=30, shipment_tracking=True).start()),
                fulfilments=woo_fulfilments,
            ),
            Channel(
                "magento",
                stack.enter_context(MagentoSandbox(seed=3, orders=30).start()),
                fulfilments=magento_fulfilments,
            ),
            Channel(
                "amazon",
                stack.enter_context(AmazonSandbox(seed=3, orders=30, limits=False).start()),
                fulfilments=amazon_fulfilments,
            ),
        ]


def spawn(env: dict[str, str]) -> subprocess.Popen[bytes]:
    hub = Path(sys.executable).with_name("hub")
    return subprocess.Popen(
        [str(hub), "scheduler"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def test_sigkill_at_20_moments_during_pushback_leaves_one_fulfilment_per_shipment(
    tmp_path: Path, channels: list[Channel]
) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    app = create_app(make_settings(tmp_path, url, secret_key=SECRET_KEY))
    h = app.extensions["hub"]
    h.db.upgrade()
    slow = {"poll_orders": 86400, "check_webhooks": 86400, "drain_notifications": 86400, "push_tracking": 1}
    since = (datetime.now(UTC) - timedelta(days=3650)).date()
    for ch in channels:
        with h.db.session() as session:
            conn = create_connection(
                session, h.box, ch.name, ch.name, ch.sandbox.connection_values() | {"backfill_since": since}
            )
            conn.schedule = slow
            session.flush()
            ch.connection_id = conn.id
        poll_orders(h.db, h.box, h.settings.public_url, ch.connection_id)

    expected: dict[tuple[str, str], tuple[str, str]] = {}  # (channel, order) -> (number, carrier name)
    rng = random.Random(20261206)
    shipment_id = 0
    with h.db.session() as session:
        for ch in channels:
            orders = session.scalars(
                select(t.Order)
                .where(
                    t.Order.connection_id == ch.connection_id,
                    t.Order.status == "open",
                    t.Order.fulfillment_status == "unfulfilled",
                    t.Order.payment_status.in_(["paid", "authorized"]),  # nothing refunded: all to ship
                )
                .order_by(t.Order.id)
                .options(selectinload(t.Order.lines))
            ).all()
            chosen = [o for o in orders if shippable_as_one(ch, o)]
            assert len(chosen) >= PER_CHANNEL, f"{ch.name} sandbox has too few open orders"
            for order in chosen[:PER_CHANNEL]:
                shipment_id += 1
                carrier, name, pattern = rng.choice(CARRIERS)
                number = pattern.format(shipment_id)
                lines = tuple((line.external_id, line.quantity) for line in order.lines)
                queue_fulfilment(
                    session,
                    FulfilmentChange(
                        shipment_id, order.id, f"tracking:{number}", lines, carrier, name, number
                    ),
                )
                expected[(ch.name, order.external_id)] = (number, name)
    for ch in channels:
        ch.sandbox.set_faults(**FAULTS)

    env = {
        **os.environ,
        "HUB_DATABASE_URL": url,
        "HUB_INSTANCE_DIR": str(tmp_path / "instance"),
        "HUB_SECRET_KEY": SECRET_KEY,
        "HUB_LOG_LEVEL": "WARNING",
    }

    def expire_leases() -> None:
        with h.db.session() as session:
            session.execute(
                update(t.OutboxMessage)
                .where(t.OutboxMessage.state.in_(["sending", "failed"]))
                .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
            )

    def states() -> dict[str, int]:
        with h.db.session() as session:
            found: dict[str, int] = {}
            for state in session.scalars(select(t.OutboxMessage.state)):
                found[state] = found.get(state, 0) + 1
            return found

    kills = 0
    for _ in range(KILLS):
        process = spawn(env)
        time.sleep(rng.uniform(0.8, 3.0))  # starting takes about a second; then it pushes
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        kills += 1
        expire_leases()
    assert kills == KILLS
    mid = states()
    with h.db.session() as session:
        dead = select(t.OutboxMessage.last_error).where(t.OutboxMessage.state == "dead")
        errors = session.scalars(dead).all()
    assert mid.get("dead", 0) == 0, (mid, errors)

    for ch in channels:
        ch.sandbox.reset_faults()
    process = spawn(env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and states().get("sent", 0) < len(expected):
            expire_leases()
            time.sleep(0.5)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
    with h.db.session() as session:
        errors = session.scalars(
            select(t.OutboxMessage.last_error).where(t.OutboxMessage.state != "sent")
        ).all()
    assert states() == {"sent": len(expected)}, errors
    by_name = {ch.name: ch for ch in channels}
    for (channel, oid), (number, carrier_name) in expected.items():
        ch = by_name[channel]
        assert ch.fulfilments(ch.sandbox, oid) == [(number, carrier_name)], (channel, oid)
