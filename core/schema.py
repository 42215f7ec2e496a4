"""Bringing a database's schema up to date.

Until the Alembic history lands this creates the tables from the models; afterwards it
runs the migrations (one history for SQLite and PostgreSQL).
"""

from __future__ import annotations

from core.db import Store
from core.models import Base


def upgrade(store: Store) -> None:
    Base.metadata.create_all(store.engine)
