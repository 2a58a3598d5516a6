"""Reconciliation: read every listing's stock in a channel and bring it back in line.

For each listing the hub sells there (``hub.inventory.outbox.listings``), at the location it
publishes to:

- the channel moved since the last publish (its quantity is not what the hub expects there):
  in ``inflow`` mode (the default, what the scheduled job does) that is a channel-side change
  and comes in by the inflow rule (``hub.inventory.inflow``), then goes out to every channel;
  in ``push`` mode the hub's value simply overwrites it;
- the channel did not move, but shows something else than the hub's value now (a push that
  was lost or never made): the hub's value is pushed;
- a listing the hub never published to is pushed (no baseline, so nothing to take in).

Pushes go through the outbox and are sent before the report is returned. The report lists
every listing changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import tables as t
from hub.calllog import flush_call_log
from hub.connectors import Capability, Connector, StockLevel, get_connector
from hub.crypto import SecretBox
from hub.db import Database
from hub.inventory.catalogue import channel_rules
from hub.inventory.inflow import apply_levels
from hub.inventory.outbox import Listing, enqueue_listings, listings
from hub.inventory.sender import PushSummary, default_location, published_values, push_stock

Mode = Literal["inflow", "push"]


@dataclass(frozen=True)
class Correction:
    channel_sku: str
    location: str
    channel: int  #: what the channel showed
    hub: int  #: what the hub publishes there now
    action: Literal["inflow", "push"]


@dataclass
class ReconcileReport:
    connection_id: int
    checked: int = 0
    inflows: int = 0
    pushes: int = 0
    corrections: list[Correction] = field(default_factory=list)
    sent: PushSummary = field(default_factory=PushSummary)

    @property
    def changed(self) -> int:
        return len(self.corrections)


def reconcile_stock(
    db: Database,
    box: SecretBox,
    public_url: str,
    connection_id: int,
    *,
    mode: Mode = "inflow",
    connector: Connector | None = None,
) -> ReconcileReport:
    """Read the connection's stock, correct what drifted and send the pushes; what changed."""
    from hub.services.connections import build_connector

    report = ReconcileReport(connection_id)
    with db.session() as session:
        conn = session.get(t.Connection, connection_id)
        if conn is None or not conn.enabled:
            raise LookupError(f"connection {connection_id} is missing or disabled")
        session.expunge(conn)
    cls = get_connector(conn.connector)
    if (
        Capability.INVENTORY_READ not in cls.capabilities
        or Capability.INVENTORY_WRITE not in cls.capabilities
    ):
        raise ValueError(f"{cls.display_name} cannot read and write stock")
    connector = connector or build_connector(db, box, conn, public_url)
    read_at = t.utcnow()
    try:
        levels = connector.read_stock(None)
    finally:
        flush_call_log(db)
    fallback = default_location(cls, conn.settings or {})
    db.transaction(lambda session: _correct(session, report, levels, read_at, mode, fallback))
    report.sent = push_stock(db, box, public_url, connection_id, connector=connector)
    return report


def _correct(
    session: Session,
    report: ReconcileReport,
    levels: list[StockLevel],
    read_at: datetime,
    mode: Mode,
    fallback: str | None,
) -> None:
    cid = report.connection_id
    sold = {lst.channel_sku: lst for lst in listings(session, _all_skus(session, cid), cid)}
    pubs = {
        (p.channel_sku, p.location): p.expected
        for p in session.scalars(select(t.StockPublication).where(t.StockPublication.connection_id == cid))
    }
    home = {sku: location for sku, location in pubs}
    seen: dict[str, StockLevel] = {}
    for level in levels:
        where = home.get(level.sku) or fallback
        if level.sku in sold and (where is None or str(level.location_id) == where):
            seen.setdefault(level.sku, level)
    moved = [
        lv
        for sku, lv in seen.items()
        if (sku, str(lv.location_id)) in pubs and lv.available != pubs[(sku, str(lv.location_id))]
    ]
    taken = {c.channel_sku for c in apply_levels(session, cid, moved, read_at)} if mode == "inflow" else set()
    values = published_values(session, (lst.sku_id for lst in sold.values()), channel_rules(session, cid))
    push: list[Listing] = []
    corrections: list[Correction] = []
    for sku, level in seen.items():
        hub = values[sold[sku].sku_id]
        if sku in taken:
            corrections.append(Correction(sku, str(level.location_id), level.available, hub, "inflow"))
        elif level.available != hub:
            push.append(sold[sku])
            corrections.append(Correction(sku, str(level.location_id), level.available, hub, "push"))
    enqueue_listings(session, push)
    report.checked = len(seen)
    report.corrections = corrections
    report.inflows = len(taken)
    report.pushes = len(push)


def _all_skus(session: Session, connection_id: int) -> list[int]:
    mapped = set(
        session.scalars(
            select(t.SkuMapping.sku_id).where(
                t.SkuMapping.connection_id == connection_id, t.SkuMapping.sku_id.is_not(None)
            )
        )
    )
    return sorted(mapped) if mapped else list(session.scalars(select(t.Sku.id)))
