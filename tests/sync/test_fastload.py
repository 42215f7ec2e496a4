"""The bootstrap's tuple loader (sync_agent.fastload) stores exactly what the general
path (wire JSON -> Python values -> SQLAlchemy types) stores, for every entity of the
demo, and keeps the rule that only a newer version replaces a row."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select, text

from core import demo
from core.db import Store, sqlite_url
from core.registry import registry
from core.serial import row_to_json, values_from_json
from sync_agent import fastload, inbound
from tests.store_fixture import copy_sqlite

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)


def _wire_rows(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Every row of the store as the central server's snapshot sends it."""
    out = {}
    with store.read() as s:
        for spec in registry().values():
            rows = s.scalars(select(spec.model)).all()
            out[spec.name] = [row_to_json(r) for r in rows]
    return out


def _general(session: Any, spec: Any, rows: list[dict[str, Any]]) -> None:
    """What bulk_rows did before the tuple loader (kept here as the reference)."""
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    payload = []
    for data in rows:
        values = values_from_json(spec.model, data)
        values["sync_version"] = int(data["version"])
        values["version"] = 1
        payload.append(values)
    session.execute(sqlite_insert(spec.model.__table__), payload)


def _dump(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    with store.engine.connect() as conn:
        return {
            spec.name: [
                tuple(r)
                for r in conn.execute(
                    text(f'SELECT * FROM "{spec.model.__tablename__}" ORDER BY org_id, id')
                )
            ]
            for spec in registry().values()
        }


def test_fastload_stores_what_the_general_path_stores(
    store: Store, sqlite_template: Path, tmp_path: Path
) -> None:
    demo.seed_demo(store, now=NOW)
    wire = _wire_rows(store)
    assert sum(len(v) for v in wire.values()) > 50
    kinds = {type(v) for rows in wire.values() for r in rows for v in r.values()}
    assert {str, int, bool, dict, list, type(None)} <= kinds  # every kind of wire value
    fast = Store(sqlite_url(copy_sqlite(sqlite_template, tmp_path / "fast.db")))
    slow = Store(sqlite_url(copy_sqlite(sqlite_template, tmp_path / "slow.db")))
    try:
        reg = registry()
        with fast.write() as s:
            for name, rows in wire.items():
                if rows:
                    inbound.bulk_rows(s, reg[name], rows)
        with slow.write() as s:
            for name, rows in wire.items():
                if rows:
                    _general(s, reg[name], rows)
        assert _dump(fast) == _dump(slow)

        # Only a newer version replaces a row; an older one leaves it as it is.
        jobs = wire["jobs"]
        newer = {**jobs[0], "title": "Newer", "version": jobs[0]["version"] + 1}
        older = {**jobs[1], "title": "Older", "version": jobs[1]["version"] - 1}
        with fast.write() as s:
            assert fastload.load(s, reg["jobs"].model, [newer, older])
        with fast.engine.connect() as conn:
            titles = dict(conn.execute(text("SELECT id, title FROM jobs")).all())
        assert titles[newer["id"]] == "Newer"
        assert titles[older["id"]] == jobs[1]["title"]
        # Rows of another release (a column more or less) are left to the general path.
        with fast.write() as s:
            assert not fastload.load(s, reg["jobs"].model, [{**jobs[0], "new_column": 1}])
    finally:
        fast.dispose()
        slow.dispose()


def _indexes(store: Store, table: str) -> set[str]:
    with store.engine.connect() as conn:
        return set(conn.execute(text(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t "
            "AND sql IS NOT NULL"), {"t": table}).scalars())  # fmt: skip


def test_an_empty_table_is_loaded_without_its_indexes_and_they_come_back(
    store: Store, sqlite_template: Path, tmp_path: Path
) -> None:
    """The bootstrap builds an empty table's secondary indexes once, after its rows; an
    interrupted load rolls back rows and dropped indexes together; a table that holds
    rows keeps its indexes throughout."""
    demo.seed_demo(store, now=NOW)
    wire = _wire_rows(store)
    jobs = wire["jobs"]
    site = Store(sqlite_url(copy_sqlite(sqlite_template, tmp_path / "site.db")))
    model = registry()["jobs"].model
    try:
        with site.write() as s:  # what the jobs refer to, as the snapshot sends it first
            for spec in registry().values():
                if spec.name == "jobs":
                    break
                inbound.bulk_rows(s, spec, wire[spec.name])
        before = _indexes(site, "jobs")
        assert {"ix_jobs_queue", "ix_jobs_title"} <= before
        # The load, interrupted (the snapshot's connection dropped) while the rows are in
        # and the indexes not yet built.
        with pytest.raises(RuntimeError), site.write() as s, fastload.indexes_after(s, model):
            assert fastload.load(s, model, jobs)
            assert not {r[0] for r in s.execute(text(
                "SELECT name FROM sqlite_master WHERE tbl_name = 'jobs' "
                "AND sql IS NOT NULL AND type = 'index'"))}  # fmt: skip
            raise RuntimeError("the connection dropped")
        assert _indexes(site, "jobs") == before
        with site.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM jobs")).scalar_one() == 0
        with site.write() as s, fastload.indexes_after(s, model):
            assert fastload.load(s, model, jobs)
        assert _indexes(site, "jobs") == before
        with site.engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
            plan = " ".join(
                str(r)
                for r in conn.execute(
                    text(
                        "EXPLAIN QUERY PLAN SELECT id FROM jobs WHERE org_id = 'o' AND title = 't'"
                    )
                )
            )
        assert "ix_jobs_title" in plan  # built, and used
        with site.write() as s, fastload.indexes_after(s, model):
            assert s.execute(text("SELECT count(*) FROM sqlite_master WHERE type = 'index' "
                                  "AND tbl_name = 'jobs' AND sql IS NOT NULL")).scalar_one() \
                == len(before)  # not empty: indexes kept  # fmt: skip
    finally:
        site.dispose()


@pytest.mark.pg
def test_snapshot_encoded_by_postgresql_equals_the_python_encoding(pg_url: str) -> None:
    """The central server's snapshot rows built by PostgreSQL (row_to_json) carry the
    same values as the Python encoding they replace, for every entity of the demo."""
    from central.feed import _pg_rows, _python_rows
    from core.orm.types import UTCDateTime
    from core.writes import Actor
    from tests.sync.conftest import new_org, open_central

    central = open_central(pg_url)
    try:
        org = new_org(central)
        actor = Actor.system(org)
        result = demo.DemoResult(org_id=org)
        with central.write() as s:
            for row in [*demo.user_rows(), *demo.factory_rows(NOW), *demo.tour_rows(NOW)]:
                demo._upsert(s, actor, result, row)
        compared = 0
        with central.engine.connect() as conn, conn.begin():
            conn.exec_driver_sql("SET LOCAL TimeZone TO 'UTC'")
            for spec in registry().values():
                times = [c.key for c in spec.model.__table__.c if isinstance(c.type, UTCDateTime)]

                def parsed(chunks: Any, times: list[str] = times) -> list[dict[str, Any]]:
                    rows = [orjson.loads(line) for c in chunks for line in c.splitlines()]
                    for r in rows:
                        for k in times:  # same instant; PostgreSQL trims trailing zeros
                            r[k] = r[k] and datetime.fromisoformat(r[k])
                    return sorted(rows, key=lambda r: r["id"])

                pg = parsed(_pg_rows(conn, spec.model, org, 50))
                py = parsed(_python_rows(conn, spec.model, org, 50))
                assert pg == py, spec.name
                compared += len(pg)
        assert compared > 50
    finally:
        central.dispose()


def test_times_stored_like_sqlalchemy_whatever_the_encoder_wrote() -> None:
    """PostgreSQL trims a fraction's trailing zeros, Python writes six digits or none,
    other zones must be converted: all give SQLAlchemy's stored form."""
    from sqlalchemy.dialects import sqlite

    from core.orm.types import UTCDateTime

    dialect = sqlite.dialect()
    process = UTCDateTime().impl.dialect_impl(dialect).bind_processor(dialect)
    for text_ in ("2026-11-30T06:00:00+00:00", "2026-11-30T06:00:00.5+00:00",
                  "2026-11-30T06:00:00.123456+00:00", "2026-11-30T07:30:00.25+01:30",
                  "2026-11-30T06:00:00Z"):  # fmt: skip
        instant = datetime.fromisoformat(text_).astimezone(UTC).replace(tzinfo=None)
        assert fastload._utc(text_) == process(instant), text_
