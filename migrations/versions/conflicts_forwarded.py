"""sync: the open conflicts, and those resolved on a site but not yet closed centrally,
found by partial indexes

After every push the sync agent looks for conflicts people resolved on the site that
it has not closed on the central server yet. The mark was a key inside the JSON
resolution, so that look read every resolved conflict the site ever had: 7-9 ms per
push with 20,000 of them, growing with the site's age. ``forwarded_at`` is a column,
and a partial index holds only the resolved conflicts not yet forwarded (a handful).
Likewise the open ones (``ix_conflicts_open``), which the status of the sync, the
desktop's sync panel, the metrics and the console count or list: they read every
conflict of the organisation to find the few still open.

Revision ID: conflicts_forwarded
Revises: jobs_status_index
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "conflicts_forwarded"
down_revision: str | Sequence[str] | None = "jobs_status_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHERE = "resolved_at IS NOT NULL AND forwarded_at IS NULL"
OPEN = "resolved_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("conflicts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("forwarded_at", sa.DateTime(timezone=True), nullable=True))
    # What the JSON mark said, moved to the column; records of ops the central server
    # refused exist only on the site (nothing to close there): forwarded as resolved.
    marked = (
        "json_extract(resolution, '$.forwarded') IS NOT NULL"
        if op.get_bind().dialect.name == "sqlite"
        else "(resolution::jsonb ? 'forwarded')"
    )
    op.execute(
        "UPDATE conflicts SET forwarded_at = resolved_at "
        f"WHERE resolved_at IS NOT NULL AND (kind = 'rejected' OR {marked})"
    )
    with op.batch_alter_table("conflicts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conflicts_unforwarded", ["resolved_at"],
            sqlite_where=sa.text(WHERE), postgresql_where=sa.text(WHERE),
        )  # fmt: skip
        batch_op.create_index(
            "ix_conflicts_open", ["org_id", "created_at"],
            sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN),
        )  # fmt: skip


def downgrade() -> None:
    with op.batch_alter_table("conflicts", schema=None) as batch_op:
        batch_op.drop_index("ix_conflicts_open")
        batch_op.drop_index("ix_conflicts_unforwarded")
        batch_op.drop_column("forwarded_at")
