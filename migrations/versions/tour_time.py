"""tour: per-show exchange rates for costs in other currencies

The tour's time model needs no new column: shows and travel already keep a UTC instant
plus the IANA zone of the place, calendar entries plain dates. This revision adds
``shows.fx_rates`` ({"USD": "0.92"}), the rates the office enters on a show so that a
cost paid in another currency is counted rather than reported as missing.

Revision ID: tour_time
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "tour_time"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("shows") as batch:
        batch.add_column(sa.Column("fx_rates", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("shows") as batch:
        batch.drop_column("fx_rates")
