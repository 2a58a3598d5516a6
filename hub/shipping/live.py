"""Live carrier connectors for stored connections: for rate shops (cached per connection
version, with the carrier's rate timeout as their HTTP timeout) and for one-off calls."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import tables as t
from hub.carriers import CarrierConnector
from hub.connectors import Capability, get_connector
from hub.crypto import SecretBox
from hub.db import Database
from hub.shipping.errors import ShippingError
from hub.shipping.rateshop import CarrierTarget

#: the per-connection setting that overrides the connector's ``rate_timeout_s``
TIMEOUT_SETTING = "rate_timeout_s"


def carrier_class(connector: str) -> type[CarrierConnector] | None:
    cls = get_connector(connector)
    return cls if issubclass(cls, CarrierConnector) else None


def rate_timeout(cls: type[CarrierConnector], settings: Mapping[str, Any]) -> float:
    value = settings.get(TIMEOUT_SETTING)
    try:
        seconds = float(value) if value not in (None, "") else float(cls.rate_timeout_s)
    except (TypeError, ValueError):
        seconds = float(cls.rate_timeout_s)
    return seconds if seconds > 0 else float(cls.rate_timeout_s)


def rating_connections(session: Session, only: list[int] | None = None) -> list[t.Connection]:
    """Enabled carrier connections whose connector rates."""
    stmt = select(t.Connection).where(t.Connection.kind == "carrier", t.Connection.enabled.is_(True))
    if only:
        stmt = stmt.where(t.Connection.id.in_(only))
    rows = []
    for row in session.scalars(stmt.order_by(t.Connection.id)):
        cls = carrier_class(row.connector)
        if cls is not None and Capability.RATES in cls.capabilities:
            rows.append(row)
    return rows


def build_carrier(
    db: Database, box: SecretBox, conn: t.Connection, public_url: str, *, max_attempts: int = 5
) -> CarrierConnector:
    from hub.services.connections import build_connector

    connector = build_connector(db, box, conn, public_url, max_attempts=max_attempts)
    if not isinstance(connector, CarrierConnector):
        raise ShippingError("connection_id", f"connection {conn.id} is not a carrier", 400)
    return connector


class RateConnectors:
    """One rating connector per connection version, reused between shops (its HTTP session
    keeps connections open; its token comes from the shared cache)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._built: dict[int, tuple[datetime | None, CarrierConnector]] = {}

    def get(self, db: Database, box: SecretBox, conn: t.Connection, public_url: str) -> CarrierConnector:
        with self._lock:
            cached = self._built.get(conn.id)
            if cached is not None and cached[0] == conn.updated_at:
                return cached[1]
        connector = build_carrier(db, box, conn, public_url, max_attempts=2)
        cls = cast(type[CarrierConnector], type(connector))
        connector.ctx.http.timeout = rate_timeout(cls, connector.ctx.settings)
        with self._lock:
            self._built[conn.id] = (conn.updated_at, connector)
        return connector


RATE_CONNECTORS = RateConnectors()


def rate_targets(
    db: Database, box: SecretBox, public_url: str, rows: list[t.Connection]
) -> tuple[list[CarrierTarget], list[tuple[t.Connection, str]]]:
    """Targets for a shop, and the connections that could not even be set up (with why)."""
    targets: list[CarrierTarget] = []
    broken: list[tuple[t.Connection, str]] = []
    for row in rows:
        try:
            connector = RATE_CONNECTORS.get(db, box, row, public_url)
        except Exception as exc:  # e.g. credentials that no longer decrypt: reported, never fatal
            broken.append((row, f"{type(exc).__name__}: the connection cannot be set up"))
            continue
        cls = cast(type[CarrierConnector], type(connector))
        targets.append(
            CarrierTarget(
                row.id, row.name, cls.name, rate_timeout(cls, connector.ctx.settings), connector.rates
            )
        )
    return targets, broken
