"""Jobs: plain functions taking ids, run by the scheduler through a dispatcher."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import delete

from hub import tables as t
from hub.app import Hub
from hub.connectors import get_connector, load_object
from hub.inbox import due_events, process_event
from hub.sync import PollSummary, poll_orders

log = logging.getLogger(__name__)
CALL_LOG_DAYS = 30


def _hub(app: Flask) -> Hub:
    return app.extensions["hub"]


def prune_call_log(app: Flask, days: int = CALL_LOG_DAYS) -> int:
    """Drop outbound-call log rows older than ``days``; returns how many went."""
    cutoff = datetime.now(UTC) - timedelta(days=days)
    with _hub(app).db.session() as session:
        return session.execute(delete(t.ApiCall).where(t.ApiCall.at < cutoff)).rowcount or 0


def poll_connection_orders(app: Flask, connection_id: int) -> PollSummary:
    hub = _hub(app)
    return poll_orders(hub.db, hub.box, hub.settings.public_url, connection_id)


def process_inbox(app: Flask) -> int:
    """Process every inbox event that is due (new, to be retried, or abandoned by a dead worker)."""
    hub = _hub(app)
    ids = due_events(hub.db)
    for event_id in ids:
        process_event(hub.db, hub.box, hub.settings.public_url, event_id)
    return len(ids)


def drain_notifications(app: Flask, connection_id: int) -> Any:
    """Pull a connection's notification queue (e.g. Amazon's SQS) into orders."""
    hub = _hub(app)
    with hub.db.session() as session:
        conn = session.get(t.Connection, connection_id)
        if conn is None or not conn.enabled:
            return None
        spec = get_connector(conn.connector).notifications
    if not spec:
        return None
    return load_object(spec)(hub.db, hub.box, hub.settings.public_url, connection_id)


def check_webhooks(app: Flask, connection_id: int) -> list[str]:
    """Re-create any webhook subscription the channel dropped."""
    from hub.services.connections import build_connector

    hub = _hub(app)
    with hub.db.session() as session:
        conn = session.get(t.Connection, connection_id)
        if conn is None or not conn.enabled:
            return []
        session.expunge(conn)
    created = build_connector(hub.db, hub.box, conn, hub.settings.public_url).register_webhooks()
    if created:
        log.info("connection %s: webhook subscriptions created or re-activated: %s", connection_id, created)
    return created


def push_tracking(app: Flask, connection_id: int) -> dict[str, int]:
    """Send a channel connection's due fulfilment pushes (tracking push-back, the outbox)."""
    from hub.pushback import send_due

    hub = _hub(app)
    return send_due(hub.db, hub.box, hub.settings.public_url, connection_id)


def refresh_tracking(app: Flask, connection_id: int) -> dict[str, int]:
    """Poll a carrier connection's due shipments (batches of its ``track_batch_size``)."""
    from hub.shipping.tracking import refresh_tracking as refresh

    hub = _hub(app)
    return refresh(hub.db, hub.box, hub.settings.public_url, connection_id).counts()


def reconcile_labels(app: Flask, connection_id: int) -> dict[str, int]:
    """Settle a carrier connection's label purchases whose answer was lost (never buys twice)."""
    from hub.shipping.labels import reconcile, unsettled_purchases

    hub = _hub(app)
    states: dict[str, int] = {}
    for purchase_id in unsettled_purchases(hub.db, connection_id):
        state = reconcile(hub.db, hub.box, hub.settings.public_url, purchase_id)
        states[state] = states.get(state, 0) + 1
    return states


#: seconds between a carrier connection's tracking polls and label reconciliations
def push_inventory(app: Flask, connection_id: int) -> Any:
    """Send a connection's queued stock pushes (hub.inventory.sender)."""
    from hub.inventory.sender import push_stock

    hub = _hub(app)
    return push_stock(hub.db, hub.box, hub.settings.public_url, connection_id)


def reconcile_inventory(app: Flask, connection_id: int) -> Any:
    """Read a connection's stock and correct drift (hub.inventory.reconcile; inflow mode)."""
    from hub.inventory.reconcile import reconcile_stock

    hub = _hub(app)
    report = reconcile_stock(hub.db, hub.box, hub.settings.public_url, connection_id)
    if report.changed:
        log.info(
            "connection %s: stock reconciled, %s taken in, %s pushed",
            connection_id,
            report.inflows,
            report.pushes,
        )
    return report
