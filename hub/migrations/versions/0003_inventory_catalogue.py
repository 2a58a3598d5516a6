"""inventory catalogue (SKU mappings, stock events, low-stock crossing)

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import hub.tables

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("skus", sa.Column("low_since", hub.tables.UtcDateTime(timezone=True), nullable=True))
    op.create_table(
        "hub_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("at", hub.tables.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_events")),
        sa.UniqueConstraint("key", name=op.f("uq_hub_events_key")),
    )
    op.create_index("ix_hub_events_topic_at", "hub_events", ["topic", "at"], unique=False)
    op.create_table(
        "sku_mappings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("channel_sku", sa.String(length=200), nullable=False),
        sa.Column("product_id", sa.String(length=100), nullable=True),
        sa.Column("variant_id", sa.String(length=100), nullable=True),
        sa.Column("listing_id", sa.String(length=200), nullable=True),
        sa.Column("sku_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("created_at", hub.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", hub.tables.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_sku_mappings_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sku_id"], ["skus.id"], name=op.f("fk_sku_mappings_sku_id_skus"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sku_mappings")),
        sa.UniqueConstraint(
            "connection_id", "channel_sku", name=op.f("uq_sku_mappings_connection_id_channel_sku")
        ),
    )
    op.create_index(op.f("ix_sku_mappings_sku_id"), "sku_mappings", ["sku_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_sku_mappings_sku_id"), table_name="sku_mappings")
    op.drop_table("sku_mappings")
    op.drop_index("ix_hub_events_topic_at", table_name="hub_events")
    op.drop_table("hub_events")
    with op.batch_alter_table("skus") as batch_op:
        batch_op.drop_column("low_since")
