"""sync: the feed counter's stamp, so the central server knows it was restored

``feed_counters.stamp``: the counter table's own PostgreSQL object id, kept in each
organisation's counter row. ``pg_restore`` re-creates the table, so after a restore the
stamp the restored rows carry no longer matches the table and the server begins a new
epoch before it writes anything (``central.counter``). Empty on SQLite, and on rows
written before this revision (filled in at their next use, without an epoch).

Revision ID: feed_stamp
Revises: attachments
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "feed_stamp"
down_revision: str | Sequence[str] | None = "attachments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feed_counters") as batch:
        batch.add_column(sa.Column("stamp", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feed_counters") as batch:
        batch.drop_column("stamp")
