"""Bringing a database's schema up to date with the one Alembic history (``migrations/``).

The migrations run on the store's own engine, so on SQLite the connection has the same
pragmas as every other and the whole upgrade is one ``BEGIN IMMEDIATE`` transaction:
two processes opening the same file at once migrate one after the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from core.db import WRITE_OPTION, Store

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

# Alembic is imported only when it has work to do: importing it (with Mako and
# Pygments, which it pulls in) is most of the cost of opening a store that is already
# up to date, which is every start of the desktop (0.3-0.8 s measured).

# Any constant: central servers started together must not run the same DDL twice.
_PG_LOCK_KEY = 0x5374_7275_6374  # "Struct"


# The Alembic history (env.py, versions/) is *located* beside this package, never
# imported from here: migrations/env.py imports core (the models it compares with the
# database), so core importing the migrations package would make the two import each
# other. Alembic only needs the directory; it loads env.py itself. The path holds in a
# checkout, an installed wheel (both are top-level packages in site-packages) and the
# desktop bundle (which ships migrations/ as files beside core/).
SCRIPT_LOCATION = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(*, connection: Any = None, url: str | None = None) -> Config:
    """An Alembic config without any ini file at the repository root.

    ``connection`` (a SQLAlchemy Connection) is what ``env.py`` migrates when given, so that
    callers keep their engine setup (SQLite pragmas, an open transaction).
    """
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    # Sequential ids (0001_initial.py, 0002_...) read better than random hex in a
    # history that is reviewed by hand.
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    cfg.set_main_option("path_separator", "os")
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@cache
def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    # Parsing the revision files is most of the cost of a no-op upgrade; they do not
    # change while the process runs.
    return ScriptDirectory.from_config(alembic_config())


class SchemaTooNew(RuntimeError):
    """The database was last migrated by a newer release: its revision is not in this
    release's history. Opening it would mean running code that does not know its
    tables; the caller says so (``code``) instead of starting."""

    code = "schema_too_new"

    def __init__(self, found: str, known: str | None) -> None:
        super().__init__(f"database schema {found} is newer than this release knows ({known})")
        self.found, self.known = found, known


def known_revision(revision: str) -> bool:
    from alembic.util import CommandError

    try:
        return _script().get_revision(revision) is not None
    except CommandError:  # "Can't locate revision": not in this release's history
        return False


def head_revision() -> str | None:
    return _script().get_current_head()


def current_revision(store: Store) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with store.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _stored_revision(store: Store) -> str | None:
    """The database's revision by plain SQL (no Alembic import); None when there is
    none yet or the table holds several heads (Alembic then decides)."""
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    except (OperationalError, ProgrammingError):  # no table yet: a new database
        return None
    return str(rows[0][0]) if len(rows) == 1 else None


@cache
def _history_at_a_glance() -> tuple[frozenset[str], str | None]:
    """The revision ids under migrations/versions and the single head, read from each
    file's ``revision``/``down_revision`` assignments with ``ast`` (no module runs).
    Only a shortcut: when it finds no single head, Alembic decides."""
    import ast

    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (SCRIPT_LOCATION / "versions").glob("*.py"):
        values: dict[str, Any] = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            target = node.target if isinstance(node, ast.AnnAssign) else (
                node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1
                else None)  # fmt: skip
            value = getattr(node, "value", None)
            named = isinstance(target, ast.Name) and target.id in ("revision", "down_revision")
            if named and value is not None:
                try:
                    values[target.id] = ast.literal_eval(value)  # type: ignore[union-attr]
                except ValueError:
                    return frozenset(), None
        if isinstance(values.get("revision"), str):
            revisions.add(values["revision"])
            down = values.get("down_revision")
            parents.update([down] if isinstance(down, str) else list(down or ()))
    heads = revisions - parents
    return frozenset(revisions), (next(iter(heads)) if len(heads) == 1 else None)


@contextmanager
def _migration_connection(store: Store) -> Iterator[Connection]:
    """A connection in a write transaction, foreign key enforcement off on SQLite.

    Batch mode rebuilds a SQLite table by copy, drop and rename; with enforcement on,
    dropping a referenced table fails or cascades. The pragma is ignored inside a
    transaction, so it is set before BEGIN and ``foreign_key_check`` stands in for it.
    """
    engine = store.engine.execution_options(**{WRITE_OPTION: True})
    with engine.connect() as conn:
        if not store.is_sqlite:
            with conn.begin():
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
                yield conn
            return
        raw: Any = conn.connection.driver_connection
        raw.execute("PRAGMA foreign_keys = OFF")
        try:
            with conn.begin():
                yield conn
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration left broken references: {broken[:5]}")
        finally:
            raw.execute("PRAGMA foreign_keys = ON")


def _run(store: Store, fn: Any, target: str) -> None:
    with _migration_connection(store) as conn:
        fn(alembic_config(connection=conn), target)


def upgrade(store: Store, target: str = "head") -> None:
    """Migrate to ``target`` (default: the newest revision). Cheap when already there.
    Raises ``SchemaTooNew`` for a database a newer release has migrated."""
    stored = _stored_revision(store)
    if target == "head" and stored is not None and stored == _history_at_a_glance()[1]:
        return  # the usual start: already there, and Alembic never imported
    current = current_revision(store)
    if target == "head" and current == head_revision():
        return
    if current is not None and not known_revision(current):
        raise SchemaTooNew(current, head_revision())
    from alembic import command

    _run(store, command.upgrade, target)


def downgrade(store: Store, target: str = "base") -> None:
    from alembic import command

    _run(store, command.downgrade, target)
