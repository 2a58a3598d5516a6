"""Polling orders: the same loop for every channel.

The cursor is the newest ``updated_at`` committed. A poll asks for orders changed since
the cursor minus an overlap (clock skew between the channel's servers, orders committed
out of order), pages through them oldest change first, and commits each page (its
orders, its dead letters, the new cursor and the run's progress) in one transaction, so
a poll killed at any moment resumes where the last committed page ended and ingest's
idempotency absorbs the overlap. The first poll starts from the connection's
``backfill_since`` setting (or ``DEFAULT_BACKFILL`` ago) and shows progress against the
channel's own count.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub import tables as t
from hub.calllog import flush_call_log
from hub.connectors import Connector, OrderPage, get_connector
from hub.crypto import SecretBox
from hub.db import Database
from hub.inbox import park_dead_letter
from hub.ingest import IngestItem, ingest_orders
from hub.mapping import map_order
from hub.model import Order

log = logging.getLogger(__name__)
OVERLAP = timedelta(minutes=5)
DEFAULT_BACKFILL = timedelta(days=30)
ORDERS_STREAM = "orders"


@dataclass
class PollSummary:
    run_id: int
    pages: int = 0
    seen: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    dead: int = 0
    status: str = "ok"
    error: str | None = None
    #: newest updated_at seen; ``in_order`` while every page began at or after the one before ended
    newest: datetime | None = None
    in_order: bool = True


def read_cursor(session: Session, connection_id: int, stream: str = ORDERS_STREAM) -> datetime | None:
    value = session.scalar(
        select(t.SyncCursor.value).where(
            t.SyncCursor.connection_id == connection_id, t.SyncCursor.stream == stream
        )
    )
    return datetime.fromisoformat(value) if value else None


def write_cursor(session: Session, connection_id: int, value: datetime, stream: str = ORDERS_STREAM) -> None:
    """Move the cursor forward only (a page of older orders never moves it back)."""
    row = session.scalar(
        select(t.SyncCursor)
        .where(t.SyncCursor.connection_id == connection_id, t.SyncCursor.stream == stream)
        .with_for_update()
    )
    if row is None:
        session.add(t.SyncCursor(connection_id=connection_id, stream=stream, value=value.isoformat()))
    elif row.value is None or datetime.fromisoformat(row.value) < value:
        row.value = value.isoformat()


def poll_start(connection: t.Connection, cursor: datetime | None, now: datetime) -> datetime:
    if cursor is not None:
        return cursor - OVERLAP
    since = (connection.settings or {}).get("backfill_since")
    if since:
        return datetime.combine(date.fromisoformat(since), datetime.min.time(), UTC)
    return now - DEFAULT_BACKFILL


def _map_page(cls: type[Connector], payloads: list[Any]) -> tuple[list[IngestItem], list[tuple[Any, str]]]:
    items: list[IngestItem] = []
    dead: list[tuple[Any, str]] = []
    for payload in payloads:
        try:
            order: Order = map_order(cls, payload)
        except ValueError as exc:  # MappingError and marshmallow errors alike
            dead.append((payload, str(exc)))
            continue
        items.append(IngestItem(order, payload, "poll"))
    return items, dead


def poll_orders(
    db: Database, box: SecretBox, public_url: str, connection_id: int, *, now: datetime | None = None
) -> PollSummary:
    """One poll of a connection's orders, to the last page. Never raises for the
    channel's faults: the run records them (the next poll resumes from the cursor)."""
    from hub.services.connections import build_connector

    now = now or datetime.now(UTC)
    with db.session() as session:
        conn = session.get(t.Connection, connection_id)
        if conn is None or not conn.enabled:
            raise LookupError(f"connection {connection_id} is missing or disabled")
        since = poll_start(conn, read_cursor(session, connection_id), now)
        run = t.SyncRun(connection_id=connection_id, job="poll_orders", started_at=now, counts={}, log=[])
        session.add(run)
        session.flush()
        summary = PollSummary(run.id)
        session.expunge(conn)
    cls = get_connector(conn.connector)
    connector = build_connector(db, box, conn, public_url)
    try:
        total = connector.count_orders(since)
        if total is not None:
            with db.session() as session:
                session.execute(
                    update(t.SyncRun).where(t.SyncRun.id == summary.run_id).values(progress_total=total)
                )
        # The next page is fetched while this one is mapped and committed: the channel's
        # latency and the database's work overlap instead of adding up.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-prefetch") as prefetch:
            pending = prefetch.submit(connector.fetch_orders, since, None)
            while pending is not None:
                page = pending.result()
                pending = (
                    prefetch.submit(connector.fetch_orders, since, page.next_page) if page.next_page else None
                )
                items, dead = _map_page(cls, page.payloads)
                _commit_page(db, connection_id, summary, items, dead, page)
        if summary.newest is not None and not summary.in_order:  # out of order: only a whole run moves it
            newest = summary.newest
            db.transaction(lambda session: write_cursor(session, connection_id, newest))
    except Exception as exc:
        summary.status, summary.error = "failed", f"{type(exc).__name__}: {exc}"
        log.warning("poll of connection %s failed: %s", connection_id, summary.error)
    _finish(db, summary)
    return summary


def _commit_page(
    db: Database,
    connection_id: int,
    summary: PollSummary,
    items: list[IngestItem],
    dead: list[tuple[Any, str]],
    page: OrderPage,
) -> None:
    seen = len(page.payloads)
    progress: dict[str, Any] = {"progress_done": summary.seen + seen}
    if page.estimated_total is not None:
        progress["progress_total"] = page.estimated_total
    if page.seconds_left is not None:
        progress["log"] = [
            f"about {max(1, round(page.seconds_left / 60))} min left at the channel's rate limits"
        ]
    if items:
        oldest = min(i.order.updated_at for i in items)
        summary.in_order = summary.in_order and (summary.newest is None or oldest >= summary.newest)
        summary.newest = max(
            [i.order.updated_at for i in items] + ([summary.newest] if summary.newest else [])
        )
    # While pages come oldest change first, each committed page may move the cursor, so a
    # poll killed half way resumes there; out of order, only a finished run moves it.
    move_to = summary.newest if items and summary.in_order else None

    def work(session: Session) -> list[Any]:
        results = ingest_orders(session, connection_id, items) if items else []
        for payload, reason in dead:
            park_dead_letter(session, connection_id, payload, reason)
        if move_to is not None:
            write_cursor(session, connection_id, move_to)
        session.execute(update(t.SyncRun).where(t.SyncRun.id == summary.run_id).values(**progress))
        return results

    results = db.transaction(work)
    summary.pages += 1
    summary.seen += seen
    summary.dead += len(dead)
    for r in results:
        summary.counts[r.outcome] = summary.counts.get(r.outcome, 0) + 1


def _finish(db: Database, summary: PollSummary) -> None:
    flush_call_log(db)
    counts = summary.counts | {"seen": summary.seen, "dead": summary.dead, "pages": summary.pages}
    with db.session() as session:
        session.execute(
            update(t.SyncRun)
            .where(t.SyncRun.id == summary.run_id)
            .values(finished_at=datetime.now(UTC), status=summary.status, counts=counts, error=summary.error)
        )
