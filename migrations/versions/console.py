"""console: roles of central admins (central admin, organisation admin, auditor)

Revision ID: console
Revises: tour_time
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "console"
down_revision: str | Sequence[str] | None = "tour_time"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "central_admin_roles",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_central_admin_roles_org_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_central_admin_roles")),
    )


def downgrade() -> None:
    op.drop_table("central_admin_roles")
