"""One Alembic history for SQLite (sites) and PostgreSQL (central server).

Use it from code (``core.schema``) or from the alembic CLI with ``migrations/alembic.ini``;
``python -m migrations.make "message"`` writes a new revision (see README.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.config import Config

HERE = Path(__file__).resolve().parent


def alembic_config(*, connection: Any = None, url: str | None = None) -> Config:
    """An Alembic config without any ini file at the repository root.

    ``connection`` (a SQLAlchemy Connection) is what ``env.py`` migrates when given, so that
    callers keep their engine setup (SQLite pragmas, an open transaction).
    """
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    # Sequential ids (0001_initial.py, 0002_...) read better than random hex in a
    # history that is reviewed by hand.
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    cfg.set_main_option("path_separator", "os")
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg
