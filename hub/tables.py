"""The database schema (SQLAlchemy 2.x declarative). Alembic migrations in
``hub/migrations`` create exactly this; a test checks they agree."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC in and out, on SQLite (which keeps no zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Money(TypeDecorator[Decimal]):
    """Exact decimals: ``NUMERIC(18,4)`` on PostgreSQL, text on SQLite (whose
    NUMERIC is a float)."""

    impl = Numeric(18, 4)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(18, 4, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return format(Decimal(value), "f") if dialect.name == "sqlite" else Decimal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(str(value))


Json = JSON().with_variant(JSONB(), "postgresql")
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(150))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Connection(Base):
    __tablename__ = "connections"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # channel | carrier
    connector: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200), unique=True)
    credentials_encrypted: Mapped[str | None] = mapped_column(Text)
    settings: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    schedule: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    webhook_key: Mapped[str] = mapped_column(String(64), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("connection_id", "external_id"),
        Index("ix_orders_created_id", "created_at", "id"),
        Index("ix_orders_channel_status", "channel", "status"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(100))
    number: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    payment_status: Mapped[str] = mapped_column(String(20), index=True)
    fulfillment_status: Mapped[str] = mapped_column(String(20), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[Decimal] = mapped_column(Money)
    customer_email: Mapped[str | None] = mapped_column(String(320))
    customer_name: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    canonical: Mapped[dict[str, Any]] = mapped_column(Json)
    raw: Mapped[Any] = mapped_column(Json)

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.position", cascade="all, delete-orphan", lazy="raise"
    )
    history: Mapped[list[OrderHistory]] = relationship(
        order_by="OrderHistory.id", cascade="all, delete-orphan", lazy="raise"
    )


class OrderLine(Base):
    __tablename__ = "order_lines"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    external_id: Mapped[str] = mapped_column(String(100))
    sku: Mapped[str | None] = mapped_column(String(200), index=True)
    name: Mapped[str] = mapped_column(Text)
    quantity: Mapped[int] = mapped_column(Integer)
    #: units still on the order (after removals, refunds, cancellations) where the channel says
    current_quantity: Mapped[int | None] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Money)
    discount: Mapped[Decimal] = mapped_column(Money)
    tax: Mapped[Decimal] = mapped_column(Money)
    total: Mapped[Decimal] = mapped_column(Money)
    order: Mapped[Order] = relationship(back_populates="lines")


class OrderAddress(Base):
    __tablename__ = "order_addresses"
    __table_args__ = (UniqueConstraint("order_id", "kind"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))  # billing | shipping
    name: Mapped[str | None] = mapped_column(String(300))
    company: Mapped[str | None] = mapped_column(String(300))
    line1: Mapped[str | None] = mapped_column(String(300))
    line2: Mapped[str | None] = mapped_column(String(300))
    city: Mapped[str | None] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(50))
    country_code: Mapped[str | None] = mapped_column(String(2))
    phone: Mapped[str | None] = mapped_column(String(100))


class OrderHistory(Base):
    __tablename__ = "order_history"
    __table_args__ = (Index("ix_order_history_order_id", "order_id", "id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(String(20))  # poll | webhook | api | manual
    change: Mapped[str] = mapped_column(String(20))  # created | updated
    fields: Mapped[list[str]] = mapped_column(Json, default=list)
    channel_updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class InboxEvent(Base):
    __tablename__ = "inbox_events"
    __table_args__ = (
        UniqueConstraint("connection_id", "delivery_key"),
        Index("ix_inbox_events_state_next", "state", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(20), default="webhook")  # webhook | poll | queue
    topic: Mapped[str] = mapped_column(String(100))
    delivery_key: Mapped[str] = mapped_column(String(200))
    headers: Mapped[dict[str, str]] = mapped_column(Json, default=dict)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(20), default="pending")  # pending|done|failed|dead|ignored
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    duplicate_count: Mapped[int] = mapped_column(Integer, default=0)
    last_duplicate_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_state_next", "state", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(300), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    state: Mapped[str] = mapped_column(String(20), default="pending")  # pending|sending|sent|failed|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SyncCursor(Base):
    __tablename__ = "sync_cursors"
    __table_args__ = (UniqueConstraint("connection_id", "stream"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    stream: Mapped[str] = mapped_column(String(50))
    value: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class SyncRun(Base):
    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_connection_started", "connection_id", "started_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    connection_id: Mapped[int | None] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    job: Mapped[str] = mapped_column(String(50))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(20), default="running")  # running | ok | failed
    counts: Mapped[dict[str, int]] = mapped_column(Json, default=dict)
    progress_done: Mapped[int | None] = mapped_column(Integer)
    progress_total: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    log: Mapped[list[str]] = mapped_column(Json, default=list)


class ApiCall(Base):
    __tablename__ = "api_calls"
    __table_args__ = (Index("ix_api_calls_connection_at", "connection_id", "at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    connection_id: Mapped[int | None] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    method: Mapped[str] = mapped_column(String(10))
    url: Mapped[str] = mapped_column(Text)
    status: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    error: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(200))


# --- inventory: one stock truth (hub/inventory) ---------------------------------------


class Sku(Base):
    """An internal SKU: the one name the hub keeps stock under (channel SKUs map onto it)."""

    __tablename__ = "skus"
    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str | None] = mapped_column(String(300))
    reorder_point: Mapped[int | None] = mapped_column(Integer)
    # since when available has been at or under the reorder point (None: above it); one
    # ``stock.low`` event per crossing is keyed on it (hub.inventory.lowstock)
    low_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Location(Base):
    """A warehouse or store. Routing: ``paused`` takes no new orders; ``regions`` are where it
    ships to (``US``, ``US-CA``; empty = anywhere); lower ``priority`` goes first;
    ``allow_split`` lets it take part of a line (the rest from elsewhere or backordered)."""

    __tablename__ = "locations"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    priority: Mapped[int] = mapped_column(Integer, default=100)
    country_code: Mapped[str | None] = mapped_column(String(2))
    regions: Mapped[list[str]] = mapped_column(Json, default=list)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    allow_split: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class StockLevel(Base):
    """One SKU at one location. ``reserved`` is the sum of the open reservations there;
    available is ``max(0, on_hand - reserved)``. The row is what concurrent writers lock."""

    __tablename__ = "stock_levels"
    __table_args__ = (
        UniqueConstraint("sku_id", "location_id"),
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), index=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow, index=True)


class Reservation(Base):
    """Units of one order line: ``reserved`` (held at ``location_id``), ``backordered`` (no
    location), ``released`` (hold ended), ``fulfilled`` (shipped: taken off ``on_hand``) or
    ``restocked`` (shipped and put back). One row per line, location and state."""

    __tablename__ = "reservations"
    __table_args__ = (
        UniqueConstraint("order_id", "line_external_id", "location_id", "state"),
        Index("ix_reservations_sku_state", "sku_id", "state"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    line_external_id: Mapped[str] = mapped_column(String(100))
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    state: Mapped[str] = mapped_column(String(20))  # reserved|backordered|released|fulfilled|restocked
    quantity: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class StockAdjustment(Base):
    """Every change of ``on_hand``, with why and who. ``key`` makes a retried request harmless."""

    __tablename__ = "stock_adjustments"
    __table_args__ = (Index("ix_stock_adjustments_sku_at", "sku_id", "at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    delta: Mapped[int] = mapped_column(Integer)
    on_hand_after: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20))  # api | manual | channel | fulfilment | release | restock
    who: Mapped[str | None] = mapped_column(String(150))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    key: Mapped[str | None] = mapped_column(String(200), unique=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ChannelStockRule(Base):
    """How much of the available stock a channel connection is shown (hub.inventory.publish)."""

    __tablename__ = "channel_stock_rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"), unique=True)
    buffer_units: Mapped[int] = mapped_column(Integer, default=0)
    percent: Mapped[int] = mapped_column(Integer, default=100)
    max_listed: Mapped[int | None] = mapped_column(Integer)
    floor: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class SkuMapping(Base):
    """One channel listing and the internal SKU it sells. ``sku_id`` is None while the
    channel SKU is unmapped (orders holding it are flagged, never dropped). ``listing_id``
    is the channel's handle for its stock (Shopify inventory item, Amazon listing, …)."""

    __tablename__ = "sku_mappings"
    __table_args__ = (UniqueConstraint("connection_id", "channel_sku"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    channel_sku: Mapped[str] = mapped_column(String(200))
    product_id: Mapped[str | None] = mapped_column(String(100))
    variant_id: Mapped[str | None] = mapped_column(String(100))
    listing_id: Mapped[str | None] = mapped_column(String(200))
    sku_id: Mapped[int | None] = mapped_column(ForeignKey("skus.id", ondelete="SET NULL"), index=True)
    source: Mapped[str] = mapped_column(String(10), default="auto")  # auto | manual | csv
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class HubEvent(Base):
    """Something that happened in the hub that others may want to hear of (``stock.low``,
    ``shipment.status_changed``; later sent to outbound webhooks). ``key`` makes raising
    the same event twice harmless."""

    __tablename__ = "hub_events"
    __table_args__ = (Index("ix_hub_events_topic_at", "topic", "at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    topic: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(300), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


# --- runs and outbox ---


class AuditEntry(Base):
    """Who did what by hand (retry or discard a dead letter, run a job now)."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_target", "target_kind", "target_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    who: Mapped[str] = mapped_column(String(150))
    action: Mapped[str] = mapped_column(String(50))
    target_kind: Mapped[str] = mapped_column(String(30))  # inbox | outbox | connection
    target_id: Mapped[int] = mapped_column(BigInteger)
    detail: Mapped[str | None] = mapped_column(Text)


# --- inventory sync ---


class StockPublication(Base):
    """The last quantity the hub published for one channel listing at one channel location,
    and when. A channel-side change is read against it: ``on_hand += channel_now - quantity``
    (hub.inventory.inflow), never a blind overwrite."""

    __tablename__ = "stock_publications"
    __table_args__ = (UniqueConstraint("connection_id", "channel_sku", "location"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    channel_sku: Mapped[str] = mapped_column(String(200))
    location: Mapped[str] = mapped_column(String(100))  # the channel's location id
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    published_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    #: what the channel should show now: ``quantity`` less the sales it took after the publish
    expected: Mapped[int] = mapped_column(Integer)
    #: when the last channel reading was taken in (it set ``expected``)
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: units readings took off ``on_hand`` that orders created before ``read_at`` may still
    #: explain (their sale was in the reading): given back when those orders arrive
    absorbed: Mapped[int] = mapped_column(Integer, default=0)


class StockPush(Base):
    """A channel listing whose published quantity is to be sent (hub.inventory.outbox): one row
    per (connection, channel SKU), however many changes queued it; the value is computed when
    it is sent. ``generation`` grows with every change, so a change made during a send keeps
    the row for the next one."""

    __tablename__ = "stock_pushes"
    __table_args__ = (
        UniqueConstraint("connection_id", "channel_sku"),
        Index("ix_stock_pushes_state_next", "state", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    channel_sku: Mapped[str] = mapped_column(String(200))
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(20), default="pending")  # pending | failed | dead
    generation: Mapped[int] = mapped_column(Integer, default=1)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    queued_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


# --- shipping ---------------------------------------------------------------------------


class LocationAddress(Base):
    """Where a location ships from (one per location; labels need a full address)."""

    __tablename__ = "location_addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id", ondelete="CASCADE"), unique=True)
    name: Mapped[str | None] = mapped_column(String(300))
    company: Mapped[str | None] = mapped_column(String(300))
    line1: Mapped[str] = mapped_column(String(300))
    line2: Mapped[str | None] = mapped_column(String(300))
    city: Mapped[str] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(50))
    country_code: Mapped[str] = mapped_column(String(2))
    phone: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Shipment(Base):
    """Some or all lines of an order leaving one location, in parcels. ``label_state``:
    ``none`` → ``purchasing`` → ``labelled`` | ``unknown`` (answer lost, reconciled before any
    retry) | ``check_with_carrier`` (cannot reconcile: a person decides) | ``failed``;
    ``labelled`` → ``voided``. Tracking: ``tracker`` is the merged timeline (contract form)."""

    __tablename__ = "shipments"
    __table_args__ = (
        Index("ix_shipments_tracking_due", "carrier_connection_id", "tracking_active", "next_track_at"),
        Index("ix_shipments_tracking_number", "tracking_number"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id", ondelete="SET NULL"))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    parcels: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    ship_from: Mapped[dict[str, Any]] = mapped_column(Json)
    ship_to: Mapped[dict[str, Any]] = mapped_column(Json)
    ship_date: Mapped[str | None] = mapped_column(String(10))
    label_state: Mapped[str] = mapped_column(String(20), default="none")
    carrier_connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("connections.id", ondelete="SET NULL")
    )
    carrier: Mapped[str | None] = mapped_column(String(20))
    service_code: Mapped[str | None] = mapped_column(String(100))
    tracking_number: Mapped[str | None] = mapped_column(String(100))
    tracking_status: Mapped[str | None] = mapped_column(String(20))
    tracker: Mapped[dict[str, Any] | None] = mapped_column(Json)
    tracking_active: Mapped[bool] = mapped_column(Boolean, default=False)
    next_track_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    labelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_by: Mapped[str | None] = mapped_column(String(150))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class LabelPurchase(Base):
    """One attempt to buy a shipment's label. The row (with its idempotency key and the exact
    request) is committed before the carrier is called; a retry sends the same key."""

    __tablename__ = "label_purchases"
    __table_args__ = (Index("ix_label_purchases_state", "state", "updated_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id", ondelete="CASCADE"), index=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(20))  # purchasing|labelled|unknown|check_with_carrier|failed…
    request: Mapped[dict[str, Any]] = mapped_column(Json)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    tracking_number: Mapped[str | None] = mapped_column(String(100))
    parcel_tracking_numbers: Mapped[list[str]] = mapped_column(Json, default=list)
    label_format: Mapped[str | None] = mapped_column(String(10))
    label_data: Mapped[bytes | None] = mapped_column(LargeBinary)
    carrier_ref: Mapped[str | None] = mapped_column(String(200))
    amount: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(3))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class RateShop(Base):
    """One rate shop of a shipment: every quote and every failure, the choice per rule and the
    chosen quote, with the rule set that chose."""

    __tablename__ = "rate_shops"
    __table_args__ = (Index("ix_rate_shops_shipment_id", "shipment_id", "id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    rules: Mapped[dict[str, Any]] = mapped_column(Json)
    quotes: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    failures: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    choices: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    chosen: Mapped[dict[str, Any] | None] = mapped_column(Json)
    elapsed_ms: Mapped[int] = mapped_column(Integer, default=0)


class ShippingRuleSet(Base):
    """Rate-shop rules for a scope: ``default``, ``channel:<name>`` or ``connection:<id>``."""

    __tablename__ = "shipping_rule_sets"
    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(120), unique=True)
    rules: Mapped[dict[str, Any]] = mapped_column(Json)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
