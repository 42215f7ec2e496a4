"""desktop: indexes for the office's big tables

The jobs table sorted by title and searched by the machine or project it refers to
reads from indexes instead of scanning 100,000 rows: (org_id, title, id) serves the
sort and its keyset pages, (org_id, project_id) the search by project or client
(machine_id is already the head of ix_jobs_queue).

Revision ID: desktop_indexes
Revises: web_ops
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "desktop_indexes"
down_revision: str | Sequence[str] | None = "web_ops"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_jobs_title", "jobs", ["org_id", "title", "id"])
    op.create_index("ix_jobs_project", "jobs", ["org_id", "project_id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_project", table_name="jobs")
    op.drop_index("ix_jobs_title", table_name="jobs")
