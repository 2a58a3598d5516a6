"""The whole flow on loopback, with 20 % of all calls faulted: orders from the four channel
sandboxes (Shopify, WooCommerce, Magento, Amazon), a shipment per shippable order, rate shops
across the five carrier sandboxes (UPS, FedEx, USPS, DHL Express, EasyPost), labels, tracking
to delivered, and fulfilments with tracking pushed back into every channel sandbox.

    .venv/bin/python bench/flow.py [--orders 25] [--fault-rate 0.2] [--database-url URL]

The hub runs in this process (a SQLite file by default) and its job functions are called in
rounds: poll orders per channel -> create a shipment per new order -> rate shop -> buy the
label -> reconcile lost purchases -> advance the carrier clocks -> refresh tracking -> send
push-back. The sandboxes serve from threads of this process. Faults (429, 500, 503, dropped
connections, responses lost after the system committed) hit every call of every sandbox during
the whole run; they are switched off only to read the final counts.

What the bench does that time would otherwise do: between rounds it makes due what waits for
the wall clock (tracking polls' ``next_track_at``, the outbox's backoffs and leases), and it
moves the carrier sandboxes' clocks on (one tracking step a round) once every label of the run
is settled, so that no rate request is dated before a carrier's "today".

What a person would do: a purchase the hub leaves to a person (``check_with_carrier``: FedEx
and DHL Express cannot be asked whether a lost purchase went through, UPS Label Recovery finding
nothing is no proof) is settled as a person would after reading the carrier account's history
(here the carrier sandbox's record of labels sold under the purchase's key):
``hub.shipping.labels.settle_by_hand`` with the number found, or with none, and then the
shipment is bought again. How many purchases needed a person is printed.

Every carrier sells labels: shipment i is bought from carrier i mod 5 when that carrier quoted
in the shipment's last shop (its cheapest service), else from the rules' choice.

Counts come from the sandboxes' own state, not the hub's: ``orders_expected`` (orders in the
channel sandboxes), ``orders_in`` (of those, distinct orders in the hub),
``fulfilments_expected`` (shipments the hub made), ``fulfilments_in_channels`` (shipments with
a fulfilment record carrying their tracking number in their channel), ``duplicates`` (fulfilment
records past one per shipment + labels sold past one per shipment + labels sold that no
purchase asked for + duplicate hub orders), ``lost`` (expected minus found, orders and
fulfilments). The last line printed is that JSON object."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, select, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.amazon.sandbox import AmazonSandbox
from connectors.dhl_express.sandbox import DhlExpressSandbox
from connectors.easypost.sandbox import EasyPostSandbox
from connectors.fedex.sandbox import FedexSandbox
from connectors.magento.sandbox import MagentoSandbox
from connectors.shopify.sandbox import ShopifySandbox
from connectors.ups.sandbox import UpsSandbox
from connectors.usps.sandbox import UspsSandbox
from connectors.woocommerce.sandbox import WooCommerceSandbox
from hub import jobs
from hub import tables as t
from hub.app import create_app
from hub.calllog import flush_call_log
from hub.config import Settings
from hub.inventory.catalogue import ensure_sku
from hub.inventory.stock import reserve_orders, set_on_hand
from hub.sandbox import Sandbox
from hub.services.connections import create_connection
from hub.shipping.convert import AddressIncomplete, address_from_order
from hub.shipping.errors import ShippingError
from hub.shipping.labels import purchase_label, settle_by_hand
from hub.shipping.model import Parcel
from hub.shipping.shipments import create_shipment, set_location_address
from hub.shipping.shopping import latest_shop, shop_shipment
from hub.shipping.status import FINAL_STATUSES
from mappings.dhl_express import shipment_reference
from mappings.easypost import split_rate_ref
from mappings.ups import reference_value
from mappings.usps import label_key

SECRET_KEY = "bench-flow-secret-key-not-for-production"
WAREHOUSE = "WH1"
WAREHOUSE_ADDRESS = {
    "name": "Shipping Dept",
    "company": "Hub Bench Co",
    "line1": "1 Dock Rd",
    "city": "Atlanta",
    "region": "GA",
    "postal_code": "30301",
    "country_code": "US",
    "phone": "4045550100",
    "email": "shipping@example.com",
}
STOCK_PER_SKU = 100_000


def fault_mix(rate: float) -> dict[str, float]:
    """``rate`` of all calls faulted, across 429, 500, 503, dropped connections and lost responses."""
    return {
        "rate_429": rate * 0.2,
        "rate_500": rate * 0.15,
        "rate_503": rate * 0.15,
        "rate_drop": rate * 0.25,
        "rate_lost_response": rate * 0.25,
    }


# --- the channels: their orders and the fulfilment records in them --------------------------------

#: one fulfilment record in a channel: (tracking number, {line id: units}, or None where the
#: channel's record names no lines)
Record = tuple[str, dict[str, int] | None]


def shopify_records(sandbox: ShopifySandbox, oid: str) -> list[Record]:
    return [
        (f["tracking_number"], {str(li["id"]): int(li["quantity"]) for li in f["line_items"]})
        for f in sandbox.fulfillments(int(oid))
    ]


def woo_records(sandbox: WooCommerceSandbox, oid: str) -> list[Record]:
    return [(i["tracking_number"], None) for i in sandbox.trackings.get(int(oid), [])]


def magento_records(sandbox: MagentoSandbox, oid: str) -> list[Record]:
    found: list[Record] = []
    for shipment in sandbox.shipments_of(int(oid)):
        tracks = shipment["tracks"] or [{"track_number": ""}]
        found.append((tracks[0]["track_number"], None))
    return found


def amazon_records(sandbox: AmazonSandbox, oid: str) -> list[Record]:
    """The order's packages (a confirmShipment re-sent for the same package edits it)."""
    return [
        (p["trackingNumber"], {str(i["orderItemId"]): int(i["quantity"]) for i in p["packageItems"]})
        for p in sandbox.order(oid).get("packages") or []
    ]


def over_fulfilled(records: list[Record], lines: list[dict[str, Any]]) -> int:
    """Records past what one shipment makes: units of a line fulfilled more than once (a split
    across locations is several records holding different lines), or, where records name no
    lines, more than one record."""
    if any(lines_of is None for _, lines_of in records):
        return max(0, len(records) - 1)
    units: Counter[str] = Counter()
    for _, lines_of in records:
        units.update(lines_of or {})
    wanted = {str(x["line_external_id"]): int(x["quantity"]) for x in lines}
    return int(any(units[line] > wanted.get(line, 0) for line in units))


@dataclass
class Channel:
    name: str
    sandbox: Any
    records: Callable[[Any, str], list[Record]]
    order_ids: Callable[[Any], list[str]]
    connection_id: int = 0
    before: dict[str, int] = field(default_factory=dict)  # records per order before the run


CHANNELS: dict[str, tuple[Callable[..., Sandbox], dict[str, Any], Callable[..., list[Record]], Any]] = {
    "shopify": (
        ShopifySandbox,
        {"limits": False},
        shopify_records,
        lambda s: [str(o["id"]) for o in s.all_orders()],
    ),
    "woocommerce": (
        WooCommerceSandbox,
        {"shipment_tracking": True},
        woo_records,
        lambda s: [str(o["id"]) for o in s.all_orders()],
    ),
    "magento": (MagentoSandbox, {}, magento_records, lambda s: [str(o["entity_id"]) for o in s.all_orders()]),
    "amazon": (AmazonSandbox, {"limits": False}, amazon_records, lambda s: list(s.order_ids())),
}


# --- the carriers: labels sold, and their clocks ------------------------------------------------------


def _count(mapping: Any, key: str) -> int:
    return int(mapping.get(key, 0))


@dataclass
class Carrier:
    name: str
    sandbox: Any
    #: labels the sandbox sold for one purchase (its idempotency key, or EasyPost's shipment)
    sold_for: Callable[[Any, t.LabelPurchase], int]
    total_sold: Callable[[Any], int]
    step: Callable[[Any], None]  # one tracking step of sandbox time
    #: the carrier account's history, as a person would read it: numbers sold for one purchase
    history: Callable[[Any, t.LabelPurchase], list[str]]
    connection_id: int = 0


def _easypost_sold(sandbox: EasyPostSandbox, purchase: t.LabelPurchase) -> int:
    ref = (purchase.request or {}).get("carrier_ref")
    if not ref:
        return 0
    with sandbox.lock:
        return _count(sandbox.sold, split_rate_ref(ref)[0])


def _easypost_history(sandbox: EasyPostSandbox, purchase: t.LabelPurchase) -> list[str]:
    ref = (purchase.request or {}).get("carrier_ref")
    if not ref:
        return []
    with sandbox.lock:
        shipment = sandbox.shipments.get(split_rate_ref(ref)[0]) or {}
        return [shipment["tracking_code"]] if shipment.get("bought") else []


def _ups_history(sandbox: UpsSandbox, purchase: t.LabelPurchase) -> list[str]:
    reference = reference_value(purchase.idempotency_key)
    with sandbox.lock:
        return [sale.numbers[0] for sale in sandbox.sales if sale.reference == reference]


def _fedex_history(sandbox: FedexSandbox, purchase: t.LabelPurchase) -> list[str]:
    with sandbox.lock:
        return [s.tracking_number for s in sandbox._shipments.values() if s.key == purchase.idempotency_key]


def _usps_history(sandbox: UspsSandbox, purchase: t.LabelPurchase) -> list[str]:
    key = label_key(purchase.idempotency_key)
    with sandbox.lock:
        return [n for n, label in sandbox.labels.items() if label.key == key]


def _dhl_history(sandbox: DhlExpressSandbox, purchase: t.LabelPurchase) -> list[str]:
    reference = shipment_reference(purchase.idempotency_key)
    with sandbox.lock:
        return [waybill for waybill, s in sandbox.shipments.items() if s["reference"] == reference]


def _dhl_step(sandbox: DhlExpressSandbox) -> None:
    for _ in range(6):  # twelve hours: two per tick
        sandbox.tick()


CARRIERS: dict[str, tuple[Callable[..., Sandbox], Carrier]] = {
    "ups": (
        UpsSandbox,
        Carrier(
            "ups",
            None,
            lambda s, p: s.labels_sold(reference_value(p.idempotency_key)),
            lambda s: s.labels_sold(),
            lambda s: s.advance(s.stage_seconds),
            _ups_history,
        ),
    ),
    "fedex": (
        FedexSandbox,
        Carrier(
            "fedex",
            None,
            lambda s, p: s.labels_sold_for(p.idempotency_key),
            lambda s: s.labels_sold,
            lambda s: s.tick(),
            _fedex_history,
        ),
    ),
    "usps": (
        UspsSandbox,
        Carrier(
            "usps",
            None,
            lambda s, p: _count(s.state()["sold_by_key"], label_key(p.idempotency_key)),
            lambda s: s.labels_sold,
            lambda s: s.clock.advance(s.stage),
            _usps_history,
        ),
    ),
    "dhl_express": (
        DhlExpressSandbox,
        Carrier(
            "dhl_express",
            None,
            lambda s, p: s.labels_for(shipment_reference(p.idempotency_key)),
            lambda s: s.labels_sold,
            _dhl_step,
            _dhl_history,
        ),
    ),
    "easypost": (
        EasyPostSandbox,
        Carrier(
            "easypost",
            None,
            _easypost_sold,
            lambda s: s.labels_sold,
            lambda s: s.advance(8 * 3600),
            _easypost_history,
        ),
    ),
}


# --- the run ------------------------------------------------------------------------------------------


@dataclass
class Flow:
    app: Flask
    channels: list[Channel]
    carriers: list[Carrier]
    fault_rate: float
    log: Callable[[str], None] = print
    rounds: int = 0
    workers: int = 8
    settled_by_person: int = 0
    poller: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(max_workers=4))
    polls: dict[int, Future[Any]] = field(default_factory=dict)

    @property
    def hub(self) -> Any:
        return self.app.extensions["hub"]

    @property
    def sandboxes(self) -> list[Sandbox]:
        return [c.sandbox for c in self.channels] + [c.sandbox for c in self.carriers]


@contextmanager
def flow_setup(
    orders: int,
    *,
    fault_rate: float = 0.2,
    seed: int = 9,
    database_url: str | None = None,
    workdir: Path | None = None,
    log: Callable[[str], None] = print,
) -> Iterator[Flow]:
    """Start the nine sandboxes and the hub, connect them, set the warehouse up; faults on."""
    with ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hub-flow-")))
        url = database_url or f"sqlite:///{workdir / 'hub.db'}"
        settings = Settings(
            instance_dir=workdir / "instance",
            database_url=url,
            secret_key=SECRET_KEY,
            public_url="http://127.0.0.1:9",  # carriers' webhooks are not served: tracking is polled
            log_level="ERROR",
            scheduler=False,
            sandbox=False,
        )
        app = create_app(settings)
        hub = app.extensions["hub"]
        hub.db.upgrade()
        stack.callback(hub.db.dispose)
        stack.callback(hub.dispatcher.shutdown, wait=True)
        channels = []
        for name, (cls, kw, records, order_ids) in CHANNELS.items():
            sandbox = stack.enter_context(cls(seed=seed, orders=orders, **kw).start())
            channels.append(Channel(name, sandbox, records, order_ids))
        carriers = []
        for name, (cls, proto) in CARRIERS.items():
            sandbox = stack.enter_context(cls(seed=seed).start())
            carriers.append(
                Carrier(name, sandbox, proto.sold_for, proto.total_sold, proto.step, proto.history)
            )
        since = (datetime.now(UTC) - timedelta(days=3650)).date()
        with hub.db.session() as session:
            for ch in channels:
                values = ch.sandbox.connection_values() | {"backfill_since": since}
                ch.connection_id = create_connection(session, hub.box, ch.name, ch.name, values).id
                ch.before = {oid: len(ch.records(ch.sandbox, oid)) for oid in ch.order_ids(ch.sandbox)}
            for carrier in carriers:
                values = carrier.sandbox.connection_values()
                carrier.connection_id = create_connection(
                    session, hub.box, carrier.name, carrier.name, values
                ).id
            session.add(t.Location(code=WAREHOUSE, name="Main warehouse", priority=1, regions=[]))
            session.flush()
            set_location_address(session, WAREHOUSE, WAREHOUSE_ADDRESS)
        flow = Flow(app, channels, carriers, fault_rate, log)
        for sandbox in flow.sandboxes:
            sandbox.set_faults(**fault_mix(fault_rate))
        try:
            yield flow
        finally:
            flow.poller.shutdown(wait=True)
            flush_call_log(hub.db)


def _parallel(flow: Flow, work: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(flow.workers, len(items))) as pool:
        return list(pool.map(work, items))


def _quiet(work: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A job that raises is retried next round (the scheduler does the same on its next run)."""

    def run(item: Any) -> Any:
        try:
            return work(item)
        except Exception as exc:  # counted, retried in the next round
            return exc

    return run


def poll_all(flow: Flow) -> None:
    """Start a poll of every channel whose last poll has ended (a job never overlaps itself);
    rounds do not wait for them: a poll may wait a minute for its channel's rate limit
    (Amazon's getOrders refills one request a minute)."""
    for ch in flow.channels:
        running = flow.polls.get(ch.connection_id)
        if running is None or running.done():
            job = _quiet(lambda c: jobs.poll_connection_orders(flow.app, c.connection_id))
            flow.polls[ch.connection_id] = flow.poller.submit(job, ch)


def stock_new_skus(flow: Flow) -> int:
    """The warehouse has stock of every SKU the orders name (counted in when a SKU is first
    seen), and orders that came in before their SKU was stocked are reserved again."""

    def work(session: Any) -> int:
        known = set(session.scalars(select(t.Sku.sku)))
        codes = {c.strip() for c in session.scalars(select(t.OrderLine.sku).distinct()) if c and c.strip()}
        new = sorted(codes - known)
        if not new:
            return 0
        location = session.scalar(select(t.Location).where(t.Location.code == WAREHOUSE))
        for code in new:
            sku = ensure_sku(session, code)
            set_on_hand(session, sku.id, location.id, STOCK_PER_SKU, reason="bench stock", source="bench")
        orders = session.scalars(select(t.OrderLine.order_id).where(t.OrderLine.sku.in_(new)).distinct())
        reserve_orders(session, list(orders))
        return len(new)

    return flow.hub.db.transaction(work)


def _merchant_fulfilled(raw: Any) -> bool:
    """An Amazon order the seller ships (not FBA) and has not shipped yet."""
    fulfillment = (raw or {}).get("fulfillment") or {}
    return (
        fulfillment.get("fulfilledBy") == "MERCHANT" and fulfillment.get("fulfillmentStatus") == "UNSHIPPED"
    )


def shippable(order: t.Order, connector: str) -> bool:
    if order.status != "open" or order.fulfillment_status != "unfulfilled":
        return False
    if connector == "amazon" and not _merchant_fulfilled(order.raw):
        return False
    try:
        address_from_order(order.canonical)
    except AddressIncomplete:
        return False
    return True


def parcel_for(order: t.Order) -> Parcel:
    units = sum(int(line.get("quantity") or 0) for line in order.canonical.get("lines") or [])
    return Parcel(min(30_000, 300 + 400 * max(1, units)), 300, 200, 150)


def create_shipments(flow: Flow) -> int:
    connectors = {ch.connection_id: ch.name for ch in flow.channels}

    def work(session: Any) -> int:
        shipped = select(t.Shipment.order_id)
        made = 0
        for order in session.scalars(select(t.Order).where(t.Order.id.not_in(shipped)).order_by(t.Order.id)):
            if shippable(order, connectors.get(order.connection_id, "")):
                create_shipment(session, order_id=order.id, parcels=[parcel_for(order)], created_by="bench")
                made += 1
        return made

    return flow.hub.db.transaction(work)


def _to_buy(flow: Flow) -> list[int]:
    with flow.hub.db.session() as session:
        return list(
            session.scalars(
                select(t.Shipment.id)
                .where(t.Shipment.label_state.in_(("none", "failed")))
                .order_by(t.Shipment.id)
            )
        )


def _refused(flow: Flow, shipment_id: int) -> set[int]:
    """Carrier connections that refused this shipment's label (a 4xx: a merchant picks another)."""
    with flow.hub.db.session() as session:
        rows = session.execute(
            select(t.LabelPurchase.connection_id, t.LabelPurchase.error).where(
                t.LabelPurchase.shipment_id == shipment_id, t.LabelPurchase.state == "failed"
            )
        ).all()
    return {cid for cid, error in rows if not (error or "").startswith("not bought")}


def _pick(flow: Flow, shipment_id: int, stored: dict[str, Any]) -> dict[str, Any] | None:
    """Carrier ``shipment_id mod 5``'s cheapest quote when it quoted, else the rules' choice,
    else the cheapest quote left; never a carrier that refused this shipment's label."""
    refused = _refused(flow, shipment_id)
    usable = [q for q in stored["quotes"] if not q.get("excluded") and q["connection_id"] not in refused]
    target = flow.carriers[shipment_id % len(flow.carriers)].connection_id
    chosen = stored.get("chosen")
    for pool in (
        [q for q in usable if q["connection_id"] == target],
        [chosen] if chosen is not None and chosen["connection_id"] not in refused else [],
        usable,
    ):
        if pool:
            return min(pool, key=lambda q: float(q["price"]))
    return None


def shop_and_buy(flow: Flow, shipment_id: int) -> str:
    hub = flow.hub
    stored = latest_shop(hub.db, shipment_id)
    quote = None if stored is None else _pick(flow, shipment_id, stored)
    if quote is None or stored is None:
        shop_shipment(hub.db, hub.box, hub.settings.public_url, shipment_id)
        stored = latest_shop(hub.db, shipment_id)
        quote = None if stored is None else _pick(flow, shipment_id, stored)
    if quote is None:
        return "no_quote"
    try:
        outcome = purchase_label(
            hub.db,
            hub.box,
            hub.settings.public_url,
            shipment_id,
            connection_id=quote["connection_id"],
            service_code=quote["service_code"],
            carrier_ref=quote.get("carrier_ref"),
        )
    except ShippingError as exc:
        return f"refused: {exc}"
    return outcome.state


def reconcile_all(flow: Flow) -> None:
    _parallel(flow, _quiet(lambda c: jobs.reconcile_labels(flow.app, c.connection_id)), flow.carriers)


def person_settles(flow: Flow) -> int:
    """Purchases left to a person, settled from the carrier account's history."""
    carriers = {c.connection_id: c for c in flow.carriers}
    with flow.hub.db.session() as session:
        held = list(
            session.scalars(select(t.LabelPurchase).where(t.LabelPurchase.state == "check_with_carrier"))
        )
        session.expunge_all()
    for purchase in held:
        carrier = carriers[purchase.connection_id]
        numbers = carrier.history(carrier.sandbox, purchase)
        settle_by_hand(
            flow.hub.db, purchase.id, tracking_number=numbers[0] if numbers else None, who="bench person"
        )
    flow.settled_by_person += len(held)
    return len(held)


def _make_due(flow: Flow) -> None:
    """What the wall clock would do between rounds: tracking polls and outbox retries come due."""
    past = datetime.now(UTC) - timedelta(seconds=1)
    with flow.hub.db.session() as session:
        session.execute(
            update(t.Shipment).where(t.Shipment.tracking_active.is_(True)).values(next_track_at=past)
        )
        session.execute(
            update(t.OutboxMessage)
            .where(t.OutboxMessage.state.in_(("failed", "sending")))
            .values(next_attempt_at=past)
        )


def track_all(flow: Flow) -> None:
    _parallel(flow, _quiet(lambda c: jobs.refresh_tracking(flow.app, c.connection_id)), flow.carriers)


def push_all(flow: Flow) -> None:
    _parallel(flow, _quiet(lambda ch: jobs.push_tracking(flow.app, ch.connection_id)), flow.channels)


@dataclass
class State:
    orders: int = 0
    shipments: int = 0
    labels: Counter[str] = field(default_factory=Counter)
    tracking: Counter[str] = field(default_factory=Counter)
    outbox: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        return (
            f"orders={self.orders} shipments={self.shipments} labels={dict(self.labels)} "
            f"tracking={dict(self.tracking)} outbox={dict(self.outbox)}"
        )


def hub_state(flow: Flow) -> State:
    with flow.hub.db.session() as session:
        state = State(
            orders=session.scalar(select(func.count()).select_from(t.Order)) or 0,
            shipments=session.scalar(select(func.count()).select_from(t.Shipment)) or 0,
        )
        for label_state, status in session.execute(
            select(t.Shipment.label_state, t.Shipment.tracking_status)
        ):
            state.labels[label_state] += 1
            if label_state == "labelled":
                state.tracking[status or "pending"] += 1
        for (message_state,) in session.execute(select(t.OutboxMessage.state)):
            state.outbox[message_state] += 1
    return state


def expected_orders(flow: Flow) -> int:
    return sum(len(ch.order_ids(ch.sandbox)) for ch in flow.channels)


def finished(flow: Flow, state: State) -> bool:
    if state.orders < expected_orders(flow):
        return False
    if state.labels["labelled"] < state.shipments:
        return False
    delivered = sum(n for status, n in state.tracking.items() if status in FINAL_STATUSES)
    pushed = state.outbox["sent"] + state.outbox["dead"]
    return delivered == state.labels["labelled"] and pushed == sum(state.outbox.values())


def one_round(flow: Flow) -> State:
    flow.rounds += 1
    poll_all(flow)
    stock_new_skus(flow)
    create_shipments(flow)
    _parallel(flow, _quiet(lambda sid: shop_and_buy(flow, sid)), _to_buy(flow))
    reconcile_all(flow)
    person_settles(flow)
    for carrier in flow.carriers:  # parcels move one step
        carrier.step(carrier.sandbox)
    _make_due(flow)
    track_all(flow)
    push_all(flow)
    return hub_state(flow)


def run_rounds(flow: Flow, time_limit: float) -> float:
    """Rounds until every order is in, every label bought, delivered and pushed (or the limit)."""
    started = time.monotonic()
    while time.monotonic() - started < time_limit:
        state = one_round(flow)
        if state.shipments == 0 or state.orders < expected_orders(flow):
            time.sleep(0.2)  # the first orders are still coming in
        flow.log(f"round {flow.rounds} ({time.monotonic() - started:.1f} s): {state.line()}")
        if finished(flow, state):
            break
    return time.monotonic() - started


# --- the count, from the sandboxes ------------------------------------------------------------------


def count(flow: Flow, seconds: float) -> dict[str, Any]:
    for sandbox in flow.sandboxes:
        sandbox.reset_faults()
    hub = flow.hub
    by_connection = {ch.connection_id: ch for ch in flow.channels}
    carriers = {c.connection_id: c for c in flow.carriers}
    with hub.db.session() as session:
        hub_orders = Counter(
            (cid, ext) for cid, ext in session.execute(select(t.Order.connection_id, t.Order.external_id))
        )
        shipments = session.execute(
            select(
                t.Shipment.id,
                t.Shipment.lines,
                t.Shipment.tracking_number,
                t.Shipment.label_state,
                t.Order.connection_id,
                t.Order.external_id,
            ).join(t.Order, t.Order.id == t.Shipment.order_id)
        ).all()
        purchases = list(session.scalars(select(t.LabelPurchase)))
        session.expunge_all()
    orders_expected = orders_in = 0
    for ch in flow.channels:
        theirs = ch.order_ids(ch.sandbox)
        orders_expected += len(theirs)
        orders_in += sum(1 for oid in theirs if hub_orders[(ch.connection_id, oid)] > 0)
    duplicate_orders = sum(n - 1 for n in hub_orders.values() if n > 1)

    records_found = extra_records = 0
    for _sid, lines, number, _label_state, cid, oid in shipments:
        ch = by_connection[cid]
        records = ch.records(ch.sandbox, oid)[ch.before.get(oid, 0) :]
        extra_records += over_fulfilled(records, lines)
        records_found += bool(number) and any(r[0] == number for r in records)

    sold_per_shipment: Counter[int] = Counter()
    attributed: Counter[int] = Counter()
    for purchase in purchases:
        carrier = carriers[purchase.connection_id]
        sold = carrier.sold_for(carrier.sandbox, purchase)
        sold_per_shipment[purchase.shipment_id] += sold
        attributed[purchase.connection_id] += sold
    extra_labels = sum(n - 1 for n in sold_per_shipment.values() if n > 1)
    unasked = sum(max(0, c.total_sold(c.sandbox) - attributed[c.connection_id]) for c in flow.carriers)
    by_carrier = {c.name: c.total_sold(c.sandbox) for c in flow.carriers}
    held = sum(1 for s in shipments if s.label_state == "check_with_carrier")
    flow.log(
        f"labels sold per carrier: {by_carrier}; fulfilment records past one per shipment: {extra_records}; "
        f"labels past one per shipment: {extra_labels}; labels no purchase asked for: {unasked}; "
        f"purchases settled by a person: {flow.settled_by_person}; still held for one: {held}; "
        f"rounds: {flow.rounds}"
    )
    fulfilments_expected = len(shipments)
    return {
        "orders_expected": orders_expected,
        "orders_in": orders_in,
        "fulfilments_expected": fulfilments_expected,
        "fulfilments_in_channels": records_found,
        "duplicates": extra_records + extra_labels + unasked + duplicate_orders,
        "lost": (orders_expected - orders_in) + (fulfilments_expected - records_found),
        "seconds": round(seconds, 1),
    }


def run(
    orders: int,
    *,
    fault_rate: float = 0.2,
    seed: int = 9,
    time_limit: float = 600.0,
    database_url: str | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    with flow_setup(orders, fault_rate=fault_rate, seed=seed, database_url=database_url, log=log) as flow:
        seconds = run_rounds(flow, time_limit)
        return count(flow, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--orders", type=int, default=25, help="orders per channel sandbox")
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds")
    parser.add_argument(
        "--database-url", default=None, help="default: a SQLite file in a temporary directory"
    )
    args = parser.parse_args()
    result = run(
        args.orders,
        fault_rate=args.fault_rate,
        seed=args.seed,
        time_limit=args.time_limit,
        database_url=args.database_url,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
