"""web: operations sent once, and board screens

``web_ops``: the first answer to a page's operation id.

A tablet that queued its actions during an outage sends each with an id it made; the
site keeps the first answer per (org, user, id) so that a replay is answered, not
applied twice.
``display_screens``: read-only board screens (a wall TV); only the digest of each
screen's secret is kept.

Revision ID: web_ops
Revises: console
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_ops"
down_revision: str | Sequence[str] | None = "console"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "web_ops",
        sa.Column("org_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("op_id", sa.String(64), nullable=False),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("path", sa.String(500), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("answer", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "user_id", "op_id", name=op.f("pk_web_ops")),
    )

    op.create_table(
        "display_screens",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("org_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_display_screens")),
        sa.UniqueConstraint("digest", name=op.f("uq_display_screens_digest")),
    )
    op.create_index(op.f("ix_display_screens_org_id"), "display_screens", ["org_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_display_screens_org_id"), table_name="display_screens")
    op.drop_table("display_screens")
    op.drop_table("web_ops")
