"""Alembic environment: one history for SQLite and PostgreSQL.

Run by Alembic, never imported. From code (``core.migrate``) the connection to migrate is
handed in through ``config.attributes["connection"]`` so the store's own engine setup
applies (SQLite pragmas, ``BEGIN IMMEDIATE``); from the CLI it comes from a URL
(``-x url=...``, ``sqlalchemy.url`` or ``STRUCTURA_DATABASE_URL``).
"""

from __future__ import annotations

import os
from logging.config import fileConfig
from typing import Any

from alembic import context

from core.db import make_engine
from core.models import Base
from core.orm.types import Fixed, UTCDateTime

config = context.config
target_metadata = Base.metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write custom column types as the storage type they stand for.

    A revision is frozen history: it must mean the same thing after ``core.orm.types``
    changes, and the database only ever sees BIGINT and a timezone-aware DATETIME. The
    comparison ignores the difference because Alembic compares the compiled DDL type.
    """
    if type_ == "type" and isinstance(obj, Fixed):
        return "sa.BigInteger()"
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _options(dialect_name: str) -> dict[str, Any]:
    return {
        "target_metadata": target_metadata,
        "compare_type": True,
        # SQLite can alter little in place; batch mode copies the table instead.
        "render_as_batch": dialect_name == "sqlite",
        "render_item": render_item,
        # Alembic assumes SQLite cannot roll back DDL because pysqlite's own transaction
        # handling commits before it; core.db's engines issue BEGIN themselves, so a
        # failed migration leaves nothing half done on either dialect.
        "transactional_ddl": True,
    }


def _url() -> str:
    url = (
        context.get_x_argument(as_dictionary=True).get("url")
        or config.get_main_option("sqlalchemy.url")
        or os.environ.get("STRUCTURA_DATABASE_URL")
    )
    if not url:
        raise SystemExit("no database: pass -x url=... or set STRUCTURA_DATABASE_URL")
    return url


def run_offline() -> None:
    url = _url()
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **_options(url.split(":", 1)[0].split("+", 1)[0]),
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Any) -> None:
    context.configure(connection=connection, **_options(connection.dialect.name))
    # When the caller already opened a transaction this joins it; the caller commits.
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    engine = make_engine(_url(), pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            _run_on(conn)
            conn.commit()
    finally:
        engine.dispose()


# CLI runs only: code that passes a connection keeps its own logging setup.
if config.config_file_name and "connection" not in config.attributes:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_offline()
else:
    run_online()
