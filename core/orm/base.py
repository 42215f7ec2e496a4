"""Declarative base, naming convention and the columns every synced row carries."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import JSON, ForeignKeyConstraint, Index, Integer, MetaData, String, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql import FromClause

from core.orm.types import UTCDateTime

# A fixed naming convention makes constraint names identical on SQLite and PostgreSQL,
# which Alembic's batch mode on SQLite needs to alter tables.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(64)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON, datetime: UTCDateTime}


class Synced:
    """Columns shared by every row that syncs between sites and the central server.

    ``version`` is the local row version used for optimistic concurrency by local
    clients; ``sync_version`` is the central server's version of the row as last seen
    (the base of the next pushed edit). On the central server both are equal.
    ``field_versions`` maps each field to the central version that last changed it, which
    is what field-level merge compares against an edit's base version.
    """

    if TYPE_CHECKING:
        # Every synced model is also a Base (declarative) class, and code that holds a
        # type[Synced] reads its table and makes rows with keywords.
        __table__: ClassVar[FromClause]

        def __init__(self, **kw: Any) -> None: ...

    org_id: Mapped[str] = mapped_column(ID, primary_key=True)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    sync_version: Mapped[int] = mapped_column(Integer, default=0)
    field_versions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    updated_by: Mapped[str | None] = mapped_column(ID)
    deleted_at: Mapped[datetime | None]
    # Fields an import found and could not map; kept rather than dropped.
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


# Columns managed by the write path, never set from user input.
SYSTEM_COLUMNS = frozenset(
    {
        "org_id",
        "id",
        "version",
        "sync_version",
        "field_versions",
        "created_at",
        "updated_at",
        "updated_by",
        "deleted_at",
        "extra",
    }
)


def ref(column: str, table: str) -> ForeignKeyConstraint:
    """A reference to another synced row of the same organisation.

    The organisation is part of the key, so a row can never point across organisations.
    """
    return ForeignKeyConstraint(["org_id", column], [f"{table}.org_id", f"{table}.id"])


LIVE = "deleted_at IS NULL"


def live_unique(table: str, column: str) -> Index:
    """A value unique among the organisation's live rows, enforced by the database on
    both sides (SQLite and PostgreSQL partial indexes): two writers that both checked
    and found the value free cannot both insert it, and a deleted row frees its value."""
    where = text(LIVE)
    return Index(
        f"uq_{table}_{column}_live", "org_id", column, unique=True,
        sqlite_where=where, postgresql_where=where,
    )  # fmt: skip
