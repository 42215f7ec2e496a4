"""The Alembic history builds exactly the models' schema on SQLite and on PostgreSQL.

If a model changes without a revision, ``test_upgrade_matches_models`` fails on both
dialects (see migrations/README.md to regenerate).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, MetaData, String, inspect, text

from core import migrate as schema
from core.db import Store, sqlite_url
from core.models import Base
from migrations import alembic_config

# Left behind by a downgrade to base, on purpose: it records that the database is at base.
VERSION_TABLE = "alembic_version"


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = sqlite_url(tmp_path / "empty.db") if request.param == "sqlite" else None
    store = Store(url or request.getfixturevalue("pg_url"))
    try:
        yield store
    finally:
        store.dispose()


def schema_diff(store: Store, metadata: MetaData = Base.metadata) -> list[Any]:
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, metadata)


def tables(store: Store) -> set[str]:
    return set(inspect(store.engine).get_table_names())


def test_single_head() -> None:
    heads = schema._script().get_heads()
    assert len(heads) == 1, f"branched history: {heads}; merge or regenerate"


def test_upgrade_matches_models(empty_store: Store) -> None:
    assert schema.current_revision(empty_store) is None
    assert tables(empty_store) == set()

    schema.upgrade(empty_store)

    assert schema.current_revision(empty_store) == schema.head_revision()
    assert tables(empty_store) == set(Base.metadata.tables) | {VERSION_TABLE}
    assert schema_diff(empty_store) == []


def test_diff_sees_a_column_without_migration(empty_store: Store) -> None:
    # Guards the guard: the comparison above must notice a model change.
    schema.upgrade(empty_store)
    changed = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["clients"].append_column(Column("nickname", String(40)))

    diff = schema_diff(empty_store, changed)

    assert [(d[0], d[2], d[3].name) for d in diff] == [("add_column", "clients", "nickname")]


def test_downgrade_to_base_and_up_again(empty_store: Store) -> None:
    schema.upgrade(empty_store)

    schema.downgrade(empty_store, "base")

    assert schema.current_revision(empty_store) is None
    assert tables(empty_store) <= {VERSION_TABLE}
    if not empty_store.is_sqlite:
        # Sequences and indexes too, not only tables.
        with empty_store.engine.connect() as conn:
            left = conn.scalars(
                text(
                    "SELECT relname FROM pg_class "
                    "WHERE relnamespace = 'public'::regnamespace ORDER BY relname"
                )
            ).all()
        assert set(left) <= {VERSION_TABLE, f"{VERSION_TABLE}_pkc"}

    schema.upgrade(empty_store)

    assert schema.current_revision(empty_store) == schema.head_revision()
    assert schema_diff(empty_store) == []


@pytest.mark.parametrize("dialect", ["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def test_concurrent_upgrades_run_one_after_the_other(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # Two processes opening one new database at once (BEGIN IMMEDIATE on SQLite, an
    # advisory lock on PostgreSQL): the second finds the schema at head.
    url = sqlite_url(tmp_path / "c.db") if dialect == "sqlite" else None
    stores = [Store(url or request.getfixturevalue("pg_url")) for _ in range(2)]
    start = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def run(store: Store) -> None:
        try:
            start.wait()
            schema.upgrade(store)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert errors == []
        assert schema.current_revision(stores[0]) == schema.head_revision()
        assert schema_diff(stores[0]) == []
    finally:
        for s in stores:
            s.dispose()


def test_upgrade_keeps_sqlite_connection_setup(tmp_path: Path) -> None:
    # The upgrade switches foreign-key enforcement off on its connection; the pooled
    # connection must come back with it on.
    store = Store(sqlite_url(tmp_path / "s.db"), pool_size=1, max_overflow=0)
    try:
        schema.upgrade(store)
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
    finally:
        store.dispose()


def test_upgrade_at_head_is_a_no_op(tmp_path: Path) -> None:
    store = Store(sqlite_url(tmp_path / "s.db"))
    try:
        schema.upgrade(store)
        schema.upgrade(store)
        assert schema.current_revision(store) == schema.head_revision()
    finally:
        store.dispose()


def test_cli_path_from_url(tmp_path: Path) -> None:
    # What `alembic -c migrations/alembic.ini -x url=...` does: env.py makes its own engine.
    url = sqlite_url(tmp_path / "cli.db")
    command.upgrade(alembic_config(url=url), "head")
    store = Store(url)
    try:
        assert schema.current_revision(store) == schema.head_revision()
        assert schema_diff(store) == []
    finally:
        store.dispose()


@pytest.mark.parametrize("url", ["sqlite+pysqlite:///x.db", "postgresql+psycopg://u@h/d"])
def test_offline_sql(url: str) -> None:
    out = io.StringIO()
    cfg = alembic_config(url=url)
    cfg.stdout = out
    cfg.output_buffer = out
    command.upgrade(cfg, "head", sql=True)
    script = out.getvalue()
    for name in Base.metadata.tables:
        assert f"CREATE TABLE {name} " in script


def test_forwarded_marks_move_to_their_column(empty_store: Store) -> None:
    """conflicts_forwarded: a conflict the agent had closed centrally (the old JSON
    mark) and a resolved refusal (nothing to close) count as forwarded; a resolved one
    not yet closed, and an open one, do not."""
    schema.upgrade(empty_store, "jobs_status_index")
    rows = [
        ("done", "field", '{"choice": "server", "forwarded": true}', True),
        ("refused", "rejected", '{"choice": "server"}', True),
        ("waiting", "field", '{"choice": "mine"}', True),
        ("open", "field", None, False),
    ]
    with empty_store.engine.begin() as conn:
        for cid, kind, resolution, resolved in rows:
            conn.execute(
                text(
                    "INSERT INTO conflicts (id, org_id, entity, entity_id, kind, fields, "
                    "losing_values, winning_values, created_at, resolved_at, resolution) "
                    "VALUES (:id, 'o', 'clients', :id, :kind, '[]', '{}', '{}', "
                    ":at, :resolved, :resolution)"
                ),
                {"id": cid, "kind": kind, "at": "2026-12-01 10:00:00+00:00",
                 "resolved": "2026-12-02 10:00:00+00:00" if resolved else None,
                 "resolution": resolution},
            )  # fmt: skip
    schema.upgrade(empty_store)
    with empty_store.engine.connect() as conn:
        got = dict(conn.execute(text("SELECT id, forwarded_at IS NOT NULL FROM conflicts")).all())
    assert got == {"done": True, "refused": True, "waiting": False, "open": False}
