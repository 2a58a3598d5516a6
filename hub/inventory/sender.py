"""Outflow, the sending side: due ``stock_pushes`` rows go to their channel through the
connector's ``write_stock`` (which batches in the channel's sizes; the HTTP layer keeps the
rate limits), with the value computed now, not when the change was queued.

Per row: success records the published value (``stock_publications``) and removes the row,
unless another change came in meanwhile (its ``generation`` moved: it stays, to send the
newer value); failure keeps the row with an exponential backoff, and after ``MAX_ATTEMPTS``
marks it ``dead`` (a new change revives it). Values are absolute, so sending one twice is
harmless: two senders racing cost a call, never a unit.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, select, update
from sqlalchemy.orm import Session

from hub import tables as t
from hub.calllog import flush_call_log
from hub.connectors import Capability, Connector, StockWrite, StockWriteResult, get_connector
from hub.crypto import SecretBox
from hub.db import Database, insert_for
from hub.inventory.catalogue import channel_rules
from hub.inventory.outbox import DEAD, FAILED, PUSHES
from hub.inventory.publish import ChannelRules, published_quantity, sellable

log = logging.getLogger(__name__)
PUBLICATIONS = t.StockPublication.__table__
MAX_ATTEMPTS = 8
CHUNK = 1000  # rows per round: the connector splits them into its own batch sizes
NO_LOCATION = "no channel location to write to (set the connection's stock_location)"


def backoff(attempts: int) -> timedelta:
    """Wait before try ``attempts + 1``: 30 s doubling, at most an hour."""
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


@dataclass
class PushSummary:
    sent: int = 0
    failed: int = 0
    requeued: int = 0  #: sent, but changed again meanwhile: sent again next round
    errors: list[str] = field(default_factory=list)


def published_values(session: Session, sku_ids: Iterable[int], rules: ChannelRules) -> dict[int, int]:
    """SKU id → the quantity a channel with ``rules`` is shown now."""
    wanted = sorted(set(sku_ids))
    levels: dict[int, list[tuple[int, int, bool]]] = defaultdict(list)
    for row in session.execute(
        select(t.StockLevel.sku_id, t.StockLevel.on_hand, t.StockLevel.reserved, t.Location.paused)
        .join(t.Location, t.Location.id == t.StockLevel.location_id)
        .where(t.StockLevel.sku_id.in_(wanted))
    ):
        levels[row.sku_id].append((row.on_hand, row.reserved, row.paused))
    return {sku_id: published_quantity(sellable(levels.get(sku_id, [])), rules) for sku_id in wanted}


def known_locations(session: Session, connection_id: int, channel_skus: Iterable[str]) -> dict[str, str]:
    """Channel SKU → the channel location the hub published it at before."""
    return dict(
        session.execute(
            select(PUBLICATIONS.c.channel_sku, PUBLICATIONS.c.location)
            .where(
                PUBLICATIONS.c.connection_id == connection_id,
                PUBLICATIONS.c.channel_sku.in_(sorted(set(channel_skus))),
            )
            .order_by(PUBLICATIONS.c.id.desc())
        ).all()
    )


def default_location(cls: type[Connector], settings: Mapping[str, Any]) -> str | None:
    """Where a connection's stock is written: its ``stock_location`` setting, else the
    connector's one location (``default_stock_location``), else None (learnt from a read)."""
    chosen = settings.get("stock_location") or getattr(cls, "default_stock_location", None)
    return str(chosen) if chosen else None


def learn_locations(connector: Connector, skus: Sequence[str]) -> dict[str, str]:
    """The first channel location each SKU is stocked at, from a read."""
    if not skus or not connector.has(Capability.INVENTORY_READ):
        return {}
    found: dict[str, str] = {}
    for level in connector.read_stock(list(skus)):
        found.setdefault(level.sku, str(level.location_id))
    return found


@dataclass(frozen=True)
class Due:
    id: int
    channel_sku: str
    sku_id: int
    generation: int
    attempts: int


def due_rows(session: Session, connection_id: int, now: datetime, limit: int) -> list[Due]:
    return [
        Due(r.id, r.channel_sku, r.sku_id, r.generation, r.attempts)
        for r in session.execute(
            select(PUSHES)
            .where(
                PUSHES.c.connection_id == connection_id,
                PUSHES.c.state != DEAD,
                PUSHES.c.next_attempt_at <= now,
            )
            .order_by(PUSHES.c.id)
            .limit(limit)
        )
    ]


def push_stock(
    db: Database,
    box: SecretBox,
    public_url: str,
    connection_id: int,
    *,
    chunk: int = CHUNK,
    connector: Connector | None = None,
) -> PushSummary:
    """Send every due push of a connection; returns what happened. Never raises for the
    channel's faults (they are recorded on the rows)."""
    from hub.services.connections import build_connector

    summary = PushSummary()
    with db.session() as session:
        conn = session.get(t.Connection, connection_id)
        if conn is None or not conn.enabled:
            return summary
        session.expunge(conn)
    cls = get_connector(conn.connector)
    if Capability.INVENTORY_WRITE not in cls.capabilities:
        return summary
    connector = connector or build_connector(db, box, conn, public_url)
    fallback = default_location(cls, conn.settings or {})
    seen: set[tuple[int, int]] = set()  # (row, generation) sent this run: no loop on a failing row
    try:
        while True:
            started = t.utcnow()
            with db.session() as session:
                rows = [
                    r
                    for r in due_rows(session, connection_id, started, chunk)
                    if (r.id, r.generation) not in seen
                ]
                if not rows:
                    break
                values = published_values(
                    session, (r.sku_id for r in rows), channel_rules(session, connection_id)
                )
                places = known_locations(session, connection_id, (r.channel_sku for r in rows))
            seen |= {(r.id, r.generation) for r in rows}
            _send(db, connector, connection_id, rows, values, places, fallback, started, summary)
    finally:
        flush_call_log(db)
    return summary


def _send(
    db: Database,
    connector: Connector,
    connection_id: int,
    rows: list[Due],
    values: dict[int, int],
    places: dict[str, str],
    fallback: str | None,
    started: datetime,
    summary: PushSummary,
) -> None:
    if fallback is None:
        unknown = [r.channel_sku for r in rows if r.channel_sku not in places]
        try:
            places = places | learn_locations(connector, unknown)
        except Exception as exc:  # the read failed: those rows fail below and are retried
            log.warning("connection %s: reading stock locations failed: %s", connection_id, exc)
    outcome: dict[int, StockWriteResult] = {}
    writes: list[tuple[Due, StockWrite]] = []
    for row in rows:
        location = places.get(row.channel_sku) or fallback
        if location is None:
            outcome[row.id] = StockWriteResult(row.channel_sku, "", ok=False, error=NO_LOCATION)
        else:
            writes.append((row, StockWrite(row.channel_sku, location, values[row.sku_id])))
    if writes:
        try:
            results = connector.write_stock([w for _, w in writes])
        except Exception as exc:  # the whole call failed (after the HTTP layer's retries)
            error = f"{type(exc).__name__}: {exc}"
            results = [StockWriteResult(w.sku, w.location_id, ok=False, error=error) for _, w in writes]
        for (row, _), result in zip(writes, results, strict=True):
            outcome[row.id] = result
    now = t.utcnow()
    done = db.transaction(
        lambda session: _record(session, connection_id, rows, writes, outcome, started, now)
    )
    summary.sent += done.sent
    summary.failed += done.failed
    summary.requeued += done.requeued
    summary.errors += done.errors[: max(0, 20 - len(summary.errors))]


def _record(
    session: Session,
    connection_id: int,
    rows: list[Due],
    writes: list[tuple[Due, StockWrite]],
    outcome: dict[int, StockWriteResult],
    started: datetime,
    now: datetime,
) -> PushSummary:
    """Write a round's outcome; what it counts (a transaction retried on a deadlock recounts)."""
    summary = PushSummary()
    quantities = {row.id: write for row, write in writes}
    published = [
        {
            "connection_id": connection_id,
            "channel_sku": row.channel_sku,
            "location": str(quantities[row.id].location_id),
            "sku_id": row.sku_id,
            "quantity": quantities[row.id].quantity,
            "expected": quantities[row.id].quantity,
            "published_at": started,
            "absorbed": 0,
        }
        for row in sorted(rows, key=lambda r: r.channel_sku)
        if outcome[row.id].ok
    ]
    _upsert_publications(session, published)
    sent = failed = requeued = 0
    for row in rows:
        result = outcome[row.id]
        if result.ok:
            gone = session.execute(
                delete(PUSHES).where(and_(PUSHES.c.id == row.id, PUSHES.c.generation == row.generation))
            ).rowcount
            sent += 1
            requeued += 0 if gone else 1
            continue
        attempts = row.attempts + 1
        session.execute(
            update(PUSHES)
            .where(PUSHES.c.id == row.id)
            .values(
                attempts=attempts,
                state=DEAD if attempts >= MAX_ATTEMPTS else FAILED,
                next_attempt_at=now + backoff(attempts),
                last_error=(result.error or "failed")[:2000],
            )
        )
        failed += 1
        if len(summary.errors) < 20:
            summary.errors.append(f"{row.channel_sku}: {result.error}")
    summary.sent, summary.failed, summary.requeued = sent, failed, requeued
    return summary


def _upsert_publications(session: Session, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    stmt = insert_for(session, PUBLICATIONS)
    stmt = stmt.on_conflict_do_update(
        index_elements=["connection_id", "channel_sku", "location"],
        set_={
            "sku_id": stmt.excluded.sku_id,
            "quantity": stmt.excluded.quantity,
            "expected": stmt.excluded.expected,
            "published_at": stmt.excluded.published_at,
        },
    )
    session.execute(stmt, rows)
