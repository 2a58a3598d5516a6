"""Reading orders: the filters the UI and the API share, keyset paging, and the
order as the API shows it (canonical shape plus the hub's own fields)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from hub import tables as t
from hub.connectors import FieldError
from hub.model import CHANNELS, FULFILLMENT_STATUSES, PAYMENT_STATUSES, STATUSES
from hub.schemas import format_utc

MAX_LIMIT = 200
DEFAULT_LIMIT = 50


@dataclass(frozen=True)
class OrderFilter:
    channel: str | None = None
    connection_id: int | None = None
    status: str | None = None
    payment_status: str | None = None
    fulfillment_status: str | None = None
    created_from: date | None = None
    created_to: date | None = None
    q: str | None = None


_CHOICES = {
    "channel": CHANNELS,
    "status": STATUSES,
    "payment_status": PAYMENT_STATUSES,
    "fulfillment_status": FULFILLMENT_STATUSES,
}


def parse_filter(args: Mapping[str, str]) -> OrderFilter:
    """Filters from query arguments; raises ``FieldError`` naming the bad one."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name, allowed in _CHOICES.items():
        value = (args.get(name) or "").strip()
        if value:
            if value in allowed:
                values[name] = value
            else:
                errors[name] = f"must be one of {', '.join(allowed)}"
    if raw := (args.get("connection_id") or "").strip():
        if raw.isdigit():
            values["connection_id"] = int(raw)
        else:
            errors["connection_id"] = "must be a whole number"
    for name in ("created_from", "created_to"):
        if raw := (args.get(name) or "").strip():
            try:
                values[name] = date.fromisoformat(raw)
            except ValueError:
                errors[name] = "must be a date YYYY-MM-DD"
    if raw := (args.get("q") or "").strip():
        values["q"] = raw[:100]
    if errors:
        raise FieldError(errors)
    return OrderFilter(**values)


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise FieldError({"limit": f"must be a whole number from 1 to {MAX_LIMIT}"})
    return int(raw)


def encode_cursor(created_at: datetime, order_id: int) -> str:
    payload = json.dumps([format_utc(created_at), order_id]).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, order_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(created.replace("Z", "+00:00")), int(order_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
        raise FieldError({"cursor": "is not a cursor this API gave out"}) from exc


def _filtered(f: OrderFilter) -> Select[Any]:
    stmt = select(t.Order)
    for name in ("channel", "connection_id", "status", "payment_status", "fulfillment_status"):
        value = getattr(f, name)
        if value is not None:
            stmt = stmt.where(getattr(t.Order, name) == value)
    if f.created_from:
        stmt = stmt.where(t.Order.created_at >= datetime.combine(f.created_from, time(), UTC))
    if f.created_to:
        stmt = stmt.where(
            t.Order.created_at < datetime.combine(f.created_to + timedelta(days=1), time(), UTC)
        )
    if f.q:
        like = f"%{f.q}%"
        stmt = stmt.where(
            or_(t.Order.number.ilike(like), t.Order.external_id == f.q, t.Order.customer_email.ilike(like))
        )
    return stmt


@dataclass(frozen=True)
class Page:
    orders: list[t.Order]
    next_cursor: str | None


def list_orders(session: Session, f: OrderFilter, limit: int, cursor: str | None = None) -> Page:
    """Newest first, by (created_at, id); the cursor is opaque to callers."""
    stmt = _filtered(f)
    if cursor:
        created_at, order_id = decode_cursor(cursor)
        stmt = stmt.where(
            or_(
                t.Order.created_at < created_at, and_(t.Order.created_at == created_at, t.Order.id < order_id)
            )
        )
    rows = list(session.scalars(stmt.order_by(t.Order.created_at.desc(), t.Order.id.desc()).limit(limit + 1)))
    next_cursor = encode_cursor(rows[limit - 1].created_at, rows[limit - 1].id) if len(rows) > limit else None
    return Page(rows[:limit], next_cursor)


def history_rows(session: Session, order_id: int) -> list[t.OrderHistory]:
    return list(
        session.scalars(
            select(t.OrderHistory).where(t.OrderHistory.order_id == order_id).order_by(t.OrderHistory.id)
        )
    )


def history_json(rows: list[t.OrderHistory]) -> list[dict[str, Any]]:
    return [
        {
            "at": format_utc(h.at),
            "source": h.source,
            "change": h.change,
            "fields": h.fields,
            "channel_updated_at": format_utc(h.channel_updated_at),
        }
        for h in rows
    ]


def order_json(order: t.Order, history: list[t.OrderHistory] | None = None) -> dict[str, Any]:
    """The API's order: the canonical document plus ``id``, ``connection_id``, ``received_at``
    (and ``history`` when given)."""
    out: dict[str, Any] = {
        "id": order.id,
        "connection_id": order.connection_id,
        "received_at": format_utc(order.received_at),
    }
    out.update(order.canonical)
    if history is not None:
        out["history"] = history_json(history)
    return out
