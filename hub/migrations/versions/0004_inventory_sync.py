"""inventory sync (published values, stock outbox)

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hub.tables

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "stock_publications",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("channel_sku", sa.String(length=200), nullable=False),
        sa.Column("location", sa.String(length=100), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("published_at", hub.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expected", sa.Integer(), nullable=False),
        sa.Column("read_at", hub.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("absorbed", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_stock_publications_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sku_id"], ["skus.id"], name=op.f("fk_stock_publications_sku_id_skus"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_publications")),
        sa.UniqueConstraint(
            "connection_id",
            "channel_sku",
            "location",
            name=op.f("uq_stock_publications_connection_id_channel_sku_location"),
        ),
    )
    op.create_index(op.f("ix_stock_publications_sku_id"), "stock_publications", ["sku_id"], unique=False)
    op.create_table(
        "stock_pushes",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("channel_sku", sa.String(length=200), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", hub.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("queued_at", hub.tables.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_stock_pushes_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sku_id"], ["skus.id"], name=op.f("fk_stock_pushes_sku_id_skus"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_pushes")),
        sa.UniqueConstraint(
            "connection_id", "channel_sku", name=op.f("uq_stock_pushes_connection_id_channel_sku")
        ),
    )
    op.create_index(op.f("ix_stock_pushes_sku_id"), "stock_pushes", ["sku_id"], unique=False)
    op.create_index("ix_stock_pushes_state_next", "stock_pushes", ["state", "next_attempt_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_stock_pushes_state_next", table_name="stock_pushes")
    op.drop_index(op.f("ix_stock_pushes_sku_id"), table_name="stock_pushes")
    op.drop_table("stock_pushes")
    op.drop_index(op.f("ix_stock_publications_sku_id"), table_name="stock_publications")
    op.drop_table("stock_publications")
