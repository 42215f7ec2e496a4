"""The PostgreSQL fixtures give each test a real, empty database of its own."""

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.pg_fixture import fresh_database, libpq_url

pytestmark = pytest.mark.pg

SCHRAUBE = "Schraube M8 \N{EM DASH} verzinkt"

# Database names seen by test_each_test_gets_its_own_database, across its runs.
_seen: list[str] = []


def _database_exists(server_url: str, name: str) -> bool:
    with psycopg.connect(libpq_url(server_url)) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


def test_pg_url_is_a_usable_database(pg_url: str) -> None:
    assert make_url(pg_url).drivername == "postgresql+psycopg"
    with psycopg.connect(libpq_url(pg_url)) as conn:
        conn.execute("CREATE TABLE item (id integer PRIMARY KEY, name text NOT NULL)")
        conn.execute(
            "INSERT INTO item (id, name) VALUES (%s, %s), (%s, %s)", (1, "bolt", 2, SCHRAUBE)
        )
        conn.commit()
    with psycopg.connect(libpq_url(pg_url)) as conn:
        rows = conn.execute("SELECT id, name FROM item ORDER BY id").fetchall()
        encoding = conn.execute("SHOW server_encoding").fetchone()
    assert rows == [(1, "bolt"), (2, SCHRAUBE)]
    assert encoding == ("UTF8",)


@pytest.mark.parametrize("run", ["first", "second"])
def test_each_test_gets_its_own_database(pg_server_url: str, pg_url: str, run: str) -> None:
    name = make_url(pg_url).database
    assert name and name != make_url(pg_server_url).database
    with psycopg.connect(libpq_url(pg_url)) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (name,)
        # Whichever run comes second would find the first run's table if they shared.
        assert conn.execute("SELECT to_regclass('marker')").fetchone() == (None,)
        conn.execute("CREATE TABLE marker (run text)")
        conn.execute("INSERT INTO marker VALUES (%s)", (run,))
        conn.commit()
    for earlier in _seen:
        assert earlier != name
        assert not _database_exists(pg_server_url, earlier), f"{earlier} was not dropped"
    _seen.append(name)


def test_two_databases_in_one_test_are_distinct(pg_server_url: str, pg_url: str) -> None:
    with fresh_database(pg_server_url, "other") as other_url:
        assert make_url(other_url).database != make_url(pg_url).database
        with psycopg.connect(libpq_url(pg_url)) as conn:
            conn.execute("CREATE TABLE only_here (x int)")
            conn.commit()
        with psycopg.connect(libpq_url(other_url)) as conn:
            assert conn.execute("SELECT to_regclass('only_here')").fetchone() == (None,)
        other_name = make_url(other_url).database
    assert other_name and not _database_exists(pg_server_url, other_name)
