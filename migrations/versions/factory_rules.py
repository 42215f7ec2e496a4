"""factory rules: production reports, short-close reason, document numbers

Production reports (append-only; a job's totals are their sums), a job's short-close
reason, document numbers on jobs and shows, each site's code and its per-kind counter.

Revision ID: factory_rules
Revises: security
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "factory_rules"
down_revision: str | Sequence[str] | None = "security"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "production_reports",
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("machine_id", sa.String(length=64), nullable=False),
        sa.Column("operator_id", sa.String(length=64), nullable=True),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("good_qty", sa.BigInteger(), nullable=False),
        sa.Column("scrap_qty", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reverses_id", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sync_version", sa.Integer(), nullable=False),
        sa.Column("field_versions", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("extra", sa.JSON(none_as_null=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id", "job_id"],
            ["jobs.org_id", "jobs.id"],
            name=op.f("fk_production_reports_org_id_job_id_jobs"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "machine_id"],
            ["machines.org_id", "machines.id"],
            name=op.f("fk_production_reports_org_id_machine_id_machines"),
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_production_reports")),
    )
    with op.batch_alter_table("production_reports", schema=None) as batch_op:
        batch_op.create_index("ix_production_reports_job", ["org_id", "job_id"], unique=False)
        batch_op.create_index("ix_production_reports_at", ["org_id", "at"], unique=False)
    op.create_table(
        "doc_counters",
        sa.Column("site_code", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=4), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("site_code", "kind", name=op.f("pk_doc_counters")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("short_close_reason", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("doc_number", sa.String(length=32), nullable=True))
    with op.batch_alter_table("shows", schema=None) as batch_op:
        batch_op.add_column(sa.Column("doc_number", sa.String(length=32), nullable=True))
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(sa.Column("code", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_column("code")
    with op.batch_alter_table("shows", schema=None) as batch_op:
        batch_op.drop_column("doc_number")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("doc_number")
        batch_op.drop_column("short_close_reason")
    op.drop_table("doc_counters")
    with op.batch_alter_table("production_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_production_reports_at")
        batch_op.drop_index("ix_production_reports_job")
    op.drop_table("production_reports")
