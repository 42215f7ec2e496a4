"""PostgreSQL for tests: one throwaway cluster per run, one database per test.

Registered as a plugin from ``tests/conftest.py``. Fixtures:

- ``pg_server_url`` (session): SQLAlchemy URL of a server's ``postgres`` database.
  Taken from ``STRUCTURA_TEST_PG_URL`` when set; otherwise a private cluster
  (bench/harness/pg.py) on a free port bound to 127.0.0.1, destroyed when the run ends.
  The machine's own server (5432) is never used unless it is passed in explicitly.
- ``pg_url`` (function): SQLAlchemy URL of a freshly created, uniquely named
  database on that server, dropped (``WITH (FORCE)``) after the test.
- ``pg_head_url`` (function): the same, but already migrated to the newest revision:
  a copy (``CREATE DATABASE ... TEMPLATE``) of a database each worker migrates once,
  about a third of what a migration costs per test.

Under pytest-xdist the workers share ONE cluster: the first worker that needs it starts
it and writes its URL to a state file in the run's temporary root (the parent of every
worker's ``basetemp``), under an ``flock``; each worker adds itself to the file's users
and removes itself when its session ends, and the last one out stops the cluster. The
controller stops a cluster left behind by a crashed worker. A cluster per worker was
measured to cost more (see docs/dev-notes.md, "Running the tests"): ``initdb`` and a
postmaster per worker on a 2-core machine, for databases that are separate anyway.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bench.harness.pg import (
    ENV_URL,
    ReplicaCluster,
    ThrowawayCluster,
    _with_database,
    fresh_database,
    libpq_url,
    server_from_env,
    wait_for_database,
)

__all__ = ["ENV_URL", "fresh_database", "libpq_url", "pg_server_url", "pg_url", "shared_cluster"]

STATE_FILE = "structura-pg.json"
LOCK_FILE = "structura-pg.lock"


@contextmanager
def _locked(lock: Path) -> Iterator[None]:
    with lock.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _stop(state: dict[str, object]) -> None:
    ThrowawayCluster(Path(str(state["root"]))).stop()


@contextmanager
def shared_cluster(run_dir: Path, user: str) -> Iterator[str]:
    """A throwaway cluster shared by every process of a run that uses ``run_dir``."""
    state_path, lock = run_dir / STATE_FILE, run_dir / LOCK_FILE
    with _locked(lock):
        if state_path.exists():
            state = json.loads(state_path.read_text())
        else:
            cluster = ThrowawayCluster()
            try:
                url = cluster.start()
            except BaseException:
                cluster.stop()
                raise
            state = {"url": url, "root": str(cluster.root), "users": []}
        state["users"].append(user)
        state_path.write_text(json.dumps(state))
    try:
        yield str(state["url"])
    finally:
        with _locked(lock):
            state = json.loads(state_path.read_text())
            state["users"].remove(user)
            if state["users"]:
                state_path.write_text(json.dumps(state))
            else:
                state_path.unlink()
                _stop(state)


def _xdist_worker(config: pytest.Config) -> str | None:
    workerinput = getattr(config, "workerinput", None)
    return None if workerinput is None else str(workerinput["workerid"])


@pytest.fixture(scope="session")
def pg_server_url(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """SQLAlchemy URL of the maintenance database of a server the tests may use freely."""
    worker = _xdist_worker(pytestconfig)
    if worker is None or os.environ.get(ENV_URL):
        with server_from_env() as url:
            yield url
        return
    # Each worker's basetemp is <run root>/popen-gwN; the run root is shared.
    run_dir = tmp_path_factory.getbasetemp().parent
    with shared_cluster(run_dir, f"{worker}:{os.getpid()}") as url:
        yield url


@pytest.fixture
def pg_url(pg_server_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """SQLAlchemy URL of a new, empty database that exists for this test only."""
    with fresh_database(pg_server_url, request.node.name) as url:
        yield url


@pytest.fixture(scope="session")
def pg_head_template(pg_server_url: str, pytestconfig: pytest.Config) -> Iterator[str]:
    """Name of a database migrated to head, this worker's own (a template may have no
    other session while it is copied, so workers do not share one)."""
    from core.site import open_store

    label = f"head_{_xdist_worker(pytestconfig) or 'main'}"
    with fresh_database(pg_server_url, label) as url:
        open_store(url).dispose()
        yield make_url(url).database or ""


@pytest.fixture
def pg_head_url(
    pg_server_url: str, pg_head_template: str, request: pytest.FixtureRequest
) -> Iterator[str]:
    """SQLAlchemy URL of a new database at the newest migration, for this test only."""
    with fresh_database(pg_server_url, request.node.name, template=pg_head_template) as url:
        yield url


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On the xdist controller: stop a shared cluster a crashed worker left running."""
    config = session.config
    if _xdist_worker(config) is not None or getattr(config.option, "dist", "no") == "no":
        return
    factory: pytest.TempPathFactory | None = getattr(config, "_tmp_path_factory", None)
    if factory is None:
        return
    run_dir = factory.getbasetemp()
    state_path = run_dir / STATE_FILE
    if not state_path.exists():
        return
    with _locked(run_dir / LOCK_FILE):
        if state_path.exists():
            state = json.loads(state_path.read_text())
            state_path.unlink()
            _stop(state)


@pytest.fixture(scope="session")
def pg_replica_servers() -> Iterator[tuple[str, str]]:
    """(primary, replica) maintenance URLs of a private primary with a streaming hot
    standby, for the replica tests (never the shared test server: those tests create
    and drop databases the replica must follow)."""
    primary = ThrowawayCluster()
    replica = None
    try:
        primary_url = primary.start()
        replica = ReplicaCluster(primary)
        replica_url = replica.start()
        yield primary_url, replica_url
    finally:
        if replica is not None:
            replica.stop()
        primary.stop()


@pytest.fixture
def pg_replica_urls(
    pg_replica_servers: tuple[str, str], request: pytest.FixtureRequest
) -> Iterator[tuple[str, str]]:
    """(primary, replica) URLs of one fresh database, present on both."""
    primary, replica = pg_replica_servers
    with fresh_database(primary, request.node.name) as url:
        name = make_url(url).database or ""
        replica_db = _with_database(replica, name)
        wait_for_database(replica_db)
        yield url, replica_db
