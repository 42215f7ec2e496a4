"""unique values among live rows (inventory.sku, users.email, finance_rules.user_id);
central sync epochs (restores that lose nothing)

Partial unique indexes per organisation on the rows that are not deleted, on SQLite and
PostgreSQL. Before them, uniqueness was a SELECT before the insert, which two concurrent
pushes both passed. Existing duplicates make the upgrade fail loudly (settle them first:
docs/sync.md, "Unique values").

Revision ID: syncr2_unique
Revises: desktop_indexes
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "syncr2_unique"
down_revision: str | Sequence[str] | None = "desktop_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (("inventory", "sku"), ("users", "email"), ("finance_rules", "user_id"))


def upgrade() -> None:
    op.create_table(
        "sync_epochs",
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("epoch", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("head", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "epoch", name=op.f("pk_sync_epochs")),
    )
    op.create_table(
        "sync_verifications",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("differences", sa.Integer(), nullable=False),
        sa.Column("repaired", sa.Integer(), nullable=False),
        sa.Column("rows", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_sync_verifications")),
    )
    with op.batch_alter_table("sync_verifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sync_verifications_org_id"), ["org_id"], unique=False)
    where = sa.text("deleted_at IS NULL")
    for table, column in INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(
                f"uq_{table}_{column}_live", ["org_id", column], unique=True,
                sqlite_where=where, postgresql_where=where,
            )  # fmt: skip


def downgrade() -> None:
    for table, column in reversed(INDEXES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"uq_{table}_{column}_live")
    with op.batch_alter_table("sync_verifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_verifications_org_id"))
    op.drop_table("sync_verifications")
    op.drop_table("sync_epochs")
