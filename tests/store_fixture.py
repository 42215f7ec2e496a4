"""Stores for tests: a fresh, migrated SQLite file per test, and PostgreSQL on demand.

Registered as a plugin from ``tests/conftest.py``. Fixtures:

- ``sqlite_template`` (session): path of a SQLite file migrated to head once.
- ``store`` (function): a ``core.db.Store`` on a copy of the template under ``tmp_path``,
  with an organisation and site (``ensure_site``); disposed afterwards.
- ``site``: the store's ``SiteInfo``. ``actor`` / ``admin_actor``: an admin of its org.
- ``pg_store`` (function): ``open_store`` on a fresh PostgreSQL database (``pg_head_url``) with
  the same organisation and site set-up. Mark tests using it ``@pytest.mark.pg``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.db import Store, sqlite_url
from core.site import SiteInfo, ensure_site, open_store, site_info
from core.writes import Actor

ORG_NAME = "Test Org"
SITE_NAME = "Test Site"


def copy_sqlite(template: Path, dest: Path) -> Path:
    """Copy a checkpointed SQLite file (no -wal/-shm needed) to ``dest``."""
    shutil.copyfile(template, dest)
    return dest


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the newest migration; copying it is much cheaper than migrating."""
    path = tmp_path_factory.mktemp("store-template") / "template.db"
    store = open_store(sqlite_url(path))
    try:
        with store.engine.connect() as conn:
            # Everything into the main file, so a plain file copy is the whole database.
            busy, _, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
            assert busy == 0, "template checkpoint blocked"
    finally:
        store.dispose()
    return path


@pytest.fixture
def store(sqlite_template: Path, tmp_path: Path) -> Iterator[Store]:
    path = copy_sqlite(sqlite_template, tmp_path / "store.db")
    # Constructed directly: the copy is already at head, open_store would only re-check.
    s = Store(sqlite_url(path))
    try:
        ensure_site(s, org_name=ORG_NAME, site_name=SITE_NAME)
        yield s
    finally:
        s.dispose()


@pytest.fixture
def pg_store(pg_head_url: str) -> Iterator[Store]:
    s = open_store(pg_head_url)
    try:
        ensure_site(s, org_name=ORG_NAME, site_name=SITE_NAME)
        yield s
    finally:
        s.dispose()


@pytest.fixture
def site(store: Store) -> SiteInfo:
    info = site_info(store)
    assert info is not None
    return info


@pytest.fixture
def admin_actor(site: SiteInfo) -> Actor:
    return Actor(org_id=site.org_id, user_id=None, role="admin")


@pytest.fixture
def actor(admin_actor: Actor) -> Actor:
    return admin_actor
