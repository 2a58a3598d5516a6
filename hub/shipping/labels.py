"""Label purchase that never buys twice.

1. A purchase row with a fresh idempotency key and the exact request is committed (state
   ``purchasing``) before the carrier is called; the key goes to carriers that take one.
2. The answer: a label → ``labelled`` (bytes stored, tracking starts, ``shipment.label_created``
   raised in the same transaction); a refusal (4xx) → ``failed`` (nothing was bought: buy
   again with a new key); anything else (timeout, dropped connection, 5xx, an answer that
   could not be read) → ``unknown``.
3. Before any retry of an ``unknown`` purchase the carrier is asked with ``find_label``: the
   label it has → ``labelled``; ``LabelNotFound`` → buy again with the SAME request and key;
   ``CannotReconcile`` → ``check_with_carrier`` (never bought again automatically).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from sqlalchemy import select, update

from hub import tables as t
from hub.carriers import CannotReconcile, CarrierConnector, LabelNotFound
from hub.connectors import Capability
from hub.crypto import SecretBox
from hub.db import Database
from hub.events import raise_event
from hub.http import HttpError
from hub.pushback import queue_label
from hub.shipping.convert import label_request_from_json, label_request_json
from hub.shipping.errors import ShippingError, conflict, not_found
from hub.shipping.live import build_carrier, carrier_class
from hub.shipping.model import Label, LabelRequest
from hub.shipping.shipments import rate_request
from hub.shipping.tracking import first_poll_at

log = logging.getLogger(__name__)
#: shipment label states from which a new purchase may start
BUYABLE = ("none", "failed", "voided")
#: a purchase still ``purchasing`` this long after its last change lost its worker
PURCHASE_LEASE = timedelta(minutes=10)
#: reconcile-and-retry rounds before a purchase is left for a person
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class PurchaseOutcome:
    shipment_id: int
    purchase_id: int
    state: str
    tracking_number: str | None = None
    message: str | None = None


def _lost_answer(exc: BaseException) -> bool:
    """Whether the carrier may have sold the label although the hub has no answer."""
    if isinstance(exc, HttpError):
        return exc.status is None or exc.status >= 500 or exc.status == 408
    if isinstance(exc, requests.RequestException):
        return True
    return not isinstance(exc, ShippingError)  # an answer the connector could not read


def _begin(
    db: Database,
    shipment_id: int,
    connection_id: int,
    service_code: str,
    carrier_ref: str | None,
    label_format: str | None,
) -> int:
    """Commit the purchase row (state ``purchasing``) and return its id."""

    def work(session: Any) -> int:
        shipment = session.get(t.Shipment, shipment_id)
        if shipment is None:
            raise not_found("shipment_id", f"no shipment with id {shipment_id}")
        conn = session.get(t.Connection, connection_id)
        cls = None if conn is None else carrier_class(conn.connector)
        if conn is None or cls is None:
            raise ShippingError("connection_id", f"no carrier connection with id {connection_id}")
        if not conn.enabled:
            raise ShippingError("connection_id", f"connection {conn.name!r} is disabled")
        fmt = label_format or (conn.settings or {}).get("label_format") or cls.label_formats[0]
        if fmt not in cls.label_formats:
            raise ShippingError("label_format", f"{cls.display_name} makes {', '.join(cls.label_formats)}")
        claimed = session.execute(
            update(t.Shipment)
            .where(t.Shipment.id == shipment_id, t.Shipment.label_state.in_(BUYABLE))
            .values(
                label_state="purchasing",
                carrier_connection_id=conn.id,
                carrier=cls.name,
                service_code=service_code,
                updated_at=datetime.now(UTC),
            )
        ).rowcount
        if claimed != 1:
            session.refresh(shipment)
            raise conflict("shipment_id", f"the shipment's label is {shipment.label_state}: not bought again")
        request = LabelRequest(
            shipment=rate_request(shipment),
            service_code=service_code,
            idempotency_key=uuid.uuid4().hex,
            label_format=fmt,  # type: ignore[arg-type]
            carrier_ref=carrier_ref,
        )
        purchase = t.LabelPurchase(
            shipment_id=shipment_id,
            connection_id=conn.id,
            idempotency_key=request.idempotency_key,
            state="purchasing",
            request=label_request_json(request),
            attempts=1,
            parcel_tracking_numbers=[],
        )
        session.add(purchase)
        session.flush()
        return purchase.id

    return db.transaction(work)


def _set_state(
    db: Database, purchase_id: int, state: str, error: str | None, *, from_states: tuple[str, ...]
) -> bool:
    """Move a purchase (and its shipment) to ``state`` if it is still in one of ``from_states``."""

    def work(session: Any) -> bool:
        purchase = session.get(t.LabelPurchase, purchase_id)
        if purchase is None or purchase.state not in from_states:
            return False
        purchase.state = state
        purchase.error = error
        purchase.updated_at = datetime.now(UTC)
        session.execute(
            update(t.Shipment).where(t.Shipment.id == purchase.shipment_id).values(label_state=state)
        )
        return True

    return db.transaction(work)


def _labelled(db: Database, purchase_id: int, label: Label) -> bool:
    """Store the label, start tracking and raise ``shipment.label_created``, in one transaction."""
    now = datetime.now(UTC)

    def work(session: Any) -> bool:
        purchase = session.get(t.LabelPurchase, purchase_id)
        if purchase is None or purchase.state not in ("purchasing", "unknown", "check_with_carrier"):
            return False
        purchase.state = "labelled"
        purchase.error = None
        purchase.tracking_number = label.tracking_number
        purchase.parcel_tracking_numbers = list(label.parcel_tracking_numbers)
        purchase.label_format = label.label_format
        purchase.label_data = label.label_data
        purchase.carrier_ref = label.carrier_ref
        purchase.amount = label.amount
        purchase.currency = label.currency
        purchase.updated_at = now
        shipment = session.get_one(t.Shipment, purchase.shipment_id)
        shipment.label_state = "labelled"
        shipment.tracking_number = label.tracking_number
        shipment.tracking_status = "pending"
        shipment.tracker = None
        shipment.tracking_active = True
        shipment.labelled_at = now
        shipment.next_track_at = first_poll_at(now)
        raise_event(
            session,
            "shipment.label_created",
            f"shipment:{shipment.id}:label_created:{purchase.id}",
            payload={
                "shipment_id": shipment.id,
                "order_id": shipment.order_id,
                "carrier": shipment.carrier,
                "service_code": shipment.service_code,
                "tracking_number": label.tracking_number,
                "connection_id": purchase.connection_id,
            },
            at=now,
        )
        conn = session.get_one(t.Connection, purchase.connection_id)
        queue_label(
            session,
            shipment_id=shipment.id,
            order_id=shipment.order_id,
            lines=shipment.lines,
            connector=conn.connector,
            tracking_number=label.tracking_number,
            label_carrier_name=label.carrier_name,
        )
        return True

    return db.transaction(work)


def _load(db: Database, purchase_id: int) -> tuple[t.LabelPurchase, t.Connection]:
    with db.session() as session:
        purchase = session.get_one(t.LabelPurchase, purchase_id)
        conn = session.get_one(t.Connection, purchase.connection_id)
        session.expunge_all()
    return purchase, conn


def _outcome(db: Database, purchase_id: int, message: str | None = None) -> PurchaseOutcome:
    purchase, _conn = _load(db, purchase_id)
    return PurchaseOutcome(
        purchase.shipment_id, purchase.id, purchase.state, purchase.tracking_number, message or purchase.error
    )


def _buy(db: Database, connector: CarrierConnector, purchase_id: int, request: LabelRequest) -> str:
    """One carrier call for a purchase in state ``purchasing``; returns the new state."""
    try:
        label = connector.buy_label(request)
    except Exception as exc:
        message = connector.ctx.http.mask(f"{type(exc).__name__}: {exc}")[:2000]
        if _lost_answer(exc):
            log.warning(
                "label purchase %s: answer lost (%s); reconciling before any retry", purchase_id, message
            )
            _set_state(db, purchase_id, "unknown", message, from_states=("purchasing",))
            return "unknown"
        _set_state(db, purchase_id, "failed", message, from_states=("purchasing",))
        return "failed"
    _labelled(db, purchase_id, label)
    _subscribe(connector, label.tracking_number)
    return "labelled"


def _subscribe(connector: CarrierConnector, tracking_number: str) -> None:
    if Capability.TRACKING_WEBHOOK not in connector.capabilities:
        return
    try:
        connector.subscribe_tracking([tracking_number])
    except Exception as exc:  # polling still follows the parcel
        log.warning(
            "tracking subscription for %s failed: %s", tracking_number, connector.ctx.http.mask(str(exc))
        )


def reconcile(db: Database, box: SecretBox, public_url: str, purchase_id: int) -> str:
    """Settle a purchase whose answer was lost: find the label, or buy again with the same key."""
    purchase, conn = _load(db, purchase_id)
    if purchase.state == "purchasing" and purchase.updated_at > datetime.now(UTC) - PURCHASE_LEASE:
        return "purchasing"  # another worker is still waiting for the carrier
    if purchase.state not in ("unknown", "purchasing"):
        return purchase.state
    if purchase.attempts >= MAX_ATTEMPTS:
        _set_state(
            db,
            purchase_id,
            "check_with_carrier",
            f"still unsettled after {purchase.attempts} attempts",
            from_states=("unknown", "purchasing"),
        )
        return "check_with_carrier"
    request = label_request_from_json(purchase.request)
    connector = build_carrier(db, box, conn, public_url)
    try:
        label = connector.find_label(request)
    except LabelNotFound:
        return _buy_again(db, connector, purchase_id, request)
    except CannotReconcile as exc:
        message = f"check with the carrier whether this label was bought: {exc}"
        _set_state(db, purchase_id, "check_with_carrier", message, from_states=("unknown", "purchasing"))
        return "check_with_carrier"
    except Exception as exc:  # the carrier could not be asked: stays unknown, asked again later
        message = connector.ctx.http.mask(f"lookup failed: {type(exc).__name__}: {exc}")[:2000]
        _set_state(db, purchase_id, "unknown", message, from_states=("unknown", "purchasing"))
        return "unknown"
    if _labelled(db, purchase_id, label):
        _subscribe(connector, label.tracking_number)
    return "labelled"


def _buy_again(db: Database, connector: CarrierConnector, purchase_id: int, request: LabelRequest) -> str:
    def claim(session: Any) -> bool:
        return (
            session.execute(
                update(t.LabelPurchase)
                .where(
                    t.LabelPurchase.id == purchase_id, t.LabelPurchase.state.in_(("unknown", "purchasing"))
                )
                .values(
                    state="purchasing", attempts=t.LabelPurchase.attempts + 1, updated_at=datetime.now(UTC)
                )
            ).rowcount
            == 1
        )

    if not db.transaction(claim):
        return "skipped"
    return _buy(db, connector, purchase_id, request)


def purchase_label(
    db: Database,
    box: SecretBox,
    public_url: str,
    shipment_id: int,
    *,
    connection_id: int,
    service_code: str,
    carrier_ref: str | None = None,
    label_format: str | None = None,
    reconcile_rounds: int = 2,
) -> PurchaseOutcome:
    """Buy a shipment's label (the flow in the module's docstring). A lost answer is
    reconciled here up to ``reconcile_rounds`` times; what is left, the sweep settles."""
    purchase_id = _begin(db, shipment_id, connection_id, service_code, carrier_ref, label_format)
    purchase, conn = _load(db, purchase_id)
    connector = build_carrier(db, box, conn, public_url)
    state = _buy(db, connector, purchase_id, label_request_from_json(purchase.request))
    rounds = 0
    while state == "unknown" and rounds < reconcile_rounds:
        rounds += 1
        state = reconcile(db, box, public_url, purchase_id)
    return _outcome(db, purchase_id)


def unsettled_purchases(db: Database, connection_id: int | None = None) -> list[int]:
    """Purchases to reconcile: answers lost, and purchases whose worker died mid-call."""
    stale = datetime.now(UTC) - PURCHASE_LEASE
    stmt = select(t.LabelPurchase.id).where(
        (t.LabelPurchase.state == "unknown")
        | ((t.LabelPurchase.state == "purchasing") & (t.LabelPurchase.updated_at < stale))
    )
    if connection_id is not None:
        stmt = stmt.where(t.LabelPurchase.connection_id == connection_id)
    with db.session() as session:
        return list(session.scalars(stmt.order_by(t.LabelPurchase.id)))


def current_purchase(db: Database, shipment_id: int) -> t.LabelPurchase | None:
    with db.session() as session:
        row = session.scalar(
            select(t.LabelPurchase)
            .where(t.LabelPurchase.shipment_id == shipment_id)
            .order_by(t.LabelPurchase.id.desc())
            .limit(1)
        )
        if row is not None:
            session.expunge(row)
        return row


def void_label(db: Database, box: SecretBox, public_url: str, shipment_id: int) -> PurchaseOutcome:
    purchase = current_purchase(db, shipment_id)
    if purchase is None or purchase.state != "labelled":
        raise conflict("shipment_id", "the shipment has no bought label to void")
    _p, conn = _load(db, purchase.id)
    connector = build_carrier(db, box, conn, public_url)
    if not connector.can_void:
        raise conflict(
            "shipment_id", f"{connector.display_name} labels cannot be voided (unused ones are not charged)"
        )
    label = Label(
        tracking_number=purchase.tracking_number or "",
        label_format=purchase.label_format or "PDF",  # type: ignore[arg-type]
        label_data=b"",
        carrier_ref=purchase.carrier_ref,
        amount=purchase.amount,
        currency=purchase.currency,
        parcel_tracking_numbers=tuple(purchase.parcel_tracking_numbers or ()),
    )
    try:
        voided = connector.void_label(label)
    except Exception as exc:
        message = connector.ctx.http.mask(f"{type(exc).__name__}: {exc}")
        raise ShippingError(
            "shipment_id", f"the carrier did not void the label: {message}", 502, "carrier_error"
        ) from exc
    if not voided:
        raise conflict("shipment_id", "the carrier refused to void the label (already used or too late)")
    now = datetime.now(UTC)

    def work(session: Any) -> None:
        row = session.get_one(t.LabelPurchase, purchase.id)
        row.state = "voided"
        row.updated_at = now
        shipment = session.get_one(t.Shipment, shipment_id)
        shipment.label_state = "voided"
        shipment.tracking_active = False
        shipment.next_track_at = None
        raise_event(
            session,
            "shipment.label_voided",
            f"shipment:{shipment_id}:label_voided:{purchase.id}",
            payload={
                "shipment_id": shipment_id,
                "order_id": shipment.order_id,
                "tracking_number": purchase.tracking_number,
            },
            at=now,
        )

    db.transaction(work)
    return _outcome(db, purchase.id)


def settle_by_hand(
    db: Database, purchase_id: int, *, tracking_number: str | None, who: str, label_format: str | None = None
) -> PurchaseOutcome:
    """A person checked the carrier's account for a purchase the hub could not settle
    (``check_with_carrier`` or ``unknown``). ``tracking_number`` None: nothing was bought, the
    purchase is ``failed`` and the shipment may be bought again (with a new key). A number: the
    label was bought under it (reprinted at the carrier; the hub keeps no file), so the purchase
    is ``labelled``, tracking starts and the push-back is queued, as for a label the hub received."""
    settleable = ("check_with_carrier", "unknown")
    purchase, _conn = _load(db, purchase_id)
    if purchase.state not in settleable:
        raise conflict("purchase_id", f"the purchase is {purchase.state}: nothing to settle")
    if tracking_number is None:
        message = f"not bought: checked with the carrier by {who}"
        if not _set_state(db, purchase_id, "failed", message, from_states=settleable):
            raise conflict("purchase_id", "the purchase was settled meanwhile")
        return _outcome(db, purchase_id)
    number = tracking_number.strip()
    if not number:
        raise ShippingError("tracking_number", "must not be blank")
    fmt = label_format or str(purchase.request.get("label_format") or "PDF")
    if not _labelled(db, purchase_id, Label(tracking_number=number, label_format=fmt, label_data=b"")):  # type: ignore[arg-type]
        raise conflict("purchase_id", "the purchase was settled meanwhile")
    return _outcome(db, purchase_id, f"bought under {number}: checked with the carrier by {who}")
