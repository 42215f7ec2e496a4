"""One Alembic history for SQLite (sites) and PostgreSQL (central server).

Use it from code (``core.migrate``, which also builds the Alembic config) or from the
alembic CLI with ``migrations/alembic.ini``; ``python -m migrations.make "message"``
writes a new revision (see README.md).
"""

from __future__ import annotations

from pathlib import Path

# The config is built by the runner in core (which locates this directory without
# importing it: imports point from migrations to core, never back).
from core.migrate import alembic_config

HERE = Path(__file__).resolve().parent
__all__ = ["HERE", "alembic_config"]
