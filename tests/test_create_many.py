"""The bulk form of the write path (``core.writes.create_many``): the same rows, audit,
outbox and feed as ``create`` one row at a time, the same refusals, and nothing left of
a refused row. Real SQLite files; the central feed on a real PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from core import writes
from core.db import Store
from core.errors import Conflict, DomainError, Invalid
from core.models import AuditEntry, OutboxEntry
from core.registry import spec_for
from core.rules import IMPORT
from core.writes import Actor, NewRow

# Time columns differ by when each row was made; ids and numbers by which row it is.
SKIP = {"id", "created_at", "updated_at", "doc_number", "sent_at", "raised_at"}

ROWS: list[tuple[str, dict[str, Any]]] = [
    ("clients", {"name": "Aceros Norte", "tax_id": "B123", "email": "a@n.es"}),
    ("projects", {"name": "Nave 4", "client_id": "{client}", "start_date": "2026-03-01"}),
    ("inventory", {"name": "Perfil C", "sku": "PC-{n}", "quantity": "12.5", "unit": "m"}),
    ("alerts", {"kind": "manual", "message": "Revisión", "severity": "WARNING"}),
    ("messages", {"body": "¿Cuándo entra?", "to_user_id": "u-1", "from_user_id": "u-1"}),
    ("events", {"type": "MACHINE_STATUS", "payload": {"note": "auto"},
                "at": "2026-06-04T12:11:00Z"}),
    ("shows", {"city": "Madrid", "country": "ES", "starts_at": "2026-07-01T20:00:00+02:00",
               "tz": "Europe/Madrid", "fee": "12000", "currency": "EUR", "venue": "Sala Sol"}),
]  # fmt: skip


def _system(store: Store) -> Actor:
    from core.site import site_info

    info = site_info(store)
    assert info is not None
    return Actor.system(info.org_id)


def _data(entity: str, data: dict[str, Any], n: str, client: str) -> dict[str, Any]:
    out = {}
    for k, v in data.items():
        out[k] = v.replace("{client}", client).replace("{n}", n) if isinstance(v, str) else v
    return out


def _raw(store: Store, entity: str, id: str) -> dict[str, Any]:
    table = spec_for(entity).model.__tablename__
    with store.engine.connect() as conn:
        row = conn.exec_driver_sql(f'SELECT * FROM "{table}" WHERE id = ?', (id,)).mappings().one()
        return dict(row)


def _trail(store: Store, id: str) -> tuple[list[Any], list[Any]]:
    with store.read() as s:
        out = [(o.kind, o.base_version, o.fields, o.status)
               for o in s.scalars(select(OutboxEntry).filter_by(entity_id=id))]  # fmt: skip
        audit = [(a.kind, a.version, a.changes)
                 for a in s.scalars(select(AuditEntry).filter_by(entity_id=id))]  # fmt: skip
    return out, audit


def test_same_rows_and_trail_as_one_by_one(store: Store) -> None:
    actor = _system(store)
    with store.write() as s:
        for who in ("one", "set"):
            writes.create(s, actor=actor, entity="clients", data={"name": who}, id=f"c-{who}")
        writes.create(s, actor=actor, entity="users", data={"name": "Ana", "role": "operator"},
                      id="u-1")  # fmt: skip
    for entity, data in ROWS:
        with store.write() as s:
            writes.create(s, actor=actor, entity=entity, id=f"{entity}-one",
                          data=_data(entity, data, "one", "c-one"), origin=IMPORT)  # fmt: skip
        with store.write() as s:
            (made,) = writes.create_many(
                s, actor=actor, entity=entity, origin=IMPORT,
                rows=[NewRow(_data(entity, data, "set", "c-set"), f"{entity}-set")],
            )  # fmt: skip
        assert not isinstance(made, Exception), made
        one, many = _raw(store, entity, f"{entity}-one"), _raw(store, entity, f"{entity}-set")
        assert one.keys() == many.keys()
        for k in one:
            if k in SKIP:
                assert type(one[k]) is type(many[k]), (entity, k)  # same stored form
                if isinstance(one[k], str):
                    assert len(one[k]) == len(many[k]), (entity, k, one[k], many[k])
                continue
            if k in ("client_id", "sku", "name"):
                continue  # differ by design (c-one / c-set, PC-one / PC-set, one / set)
            assert one[k] == many[k], (entity, k)
        (o1, a1), (o2, a2) = _trail(store, f"{entity}-one"), _trail(store, f"{entity}-set")
        assert len(o1) == len(o2) == 1 and len(a1) == len(a2) == 1
        f1, f2 = o1[0][2], o2[0][2]
        assert f1.keys() == f2.keys(), entity
        assert o1[0][:2] == o2[0][:2] and a1[0][:2] == a2[0][:2]


def test_refusals_are_creates_own_and_leave_nothing(store: Store) -> None:
    actor = _system(store)
    with store.write() as s:
        writes.create(s, actor=actor, entity="clients", data={"name": "Live"}, id="c-live")
        writes.create(s, actor=actor, entity="inventory", id="inv-1",
                      data={"name": "Tornillo", "sku": "T-1", "quantity": "1"})  # fmt: skip
    rows = [
        NewRow({"name": "ok", "client_id": "c-live"}, "p-ok"),
        NewRow({"name": "bad ref", "client_id": "c-none"}, "p-badref"),
        NewRow({"name": 5}, "p-badtype"),
        NewRow({"name": "dup of ok"}, "p-ok"),
        NewRow({"name": "bad id"}, "no spaces allowed"),
        NewRow({"name": "dates", "start_date": "2026-05-01", "due_date": "2026-04-01"}, "p-dates"),
    ]
    with store.write() as s:
        results = writes.create_many(s, actor=actor, entity="projects", rows=rows)
        for r in rows[1:]:  # what create says of the same row, one by one
            with pytest.raises(DomainError) as one, s.begin_nested():
                writes.create(s, actor=actor, entity="projects", data=r.data, id=r.id)
            got = results[rows.index(r)]
            assert isinstance(got, DomainError)
            assert (type(got), got.message) == (type(one.value), one.value.message)
    assert not isinstance(results[0], Exception)
    assert isinstance(results[1], Invalid) and "no clients with id 'c-none'" in results[1].message
    assert isinstance(results[3], Conflict) and results[3].current.id == "p-ok"
    for bad in ("p-badref", "p-badtype", "p-dates"):
        with store.read() as s:
            assert s.get(spec_for("projects").model, (actor.org_id, bad)) is None
        assert _trail(store, bad) == ([], [])
    assert len(_trail(store, "p-ok")[0]) == 1  # the duplicate added no second entry

    # Unique values: against the store and within the set; an existing id.
    inv = [
        NewRow({"name": "a", "sku": "T-1", "quantity": "1"}, "inv-a"),
        NewRow({"name": "b", "sku": "T-2", "quantity": "1"}, "inv-b"),
        NewRow({"name": "c", "sku": "T-2", "quantity": "1"}, "inv-c"),
        NewRow({"name": "d", "sku": "T-3", "quantity": "1"}, "inv-1"),
    ]
    with store.write() as s:
        res = writes.create_many(s, actor=actor, entity="inventory", rows=inv)
    assert isinstance(res[0], Conflict) and res[0].details[0]["field"] == "sku"
    assert not isinstance(res[1], Exception)
    assert isinstance(res[2], Conflict) and "T-2" in res[2].message
    assert isinstance(res[3], Conflict) and res[3].current.id == "inv-1"
    with store.read() as s:
        assert s.get(spec_for("inventory").model, (actor.org_id, "inv-1")).sku == "T-1"


def test_an_entity_with_rules_on_other_rows_goes_one_by_one(store: Store) -> None:
    actor = _system(store)
    assert not writes.batch_safe(spec_for("jobs"))
    assert writes.batch_safe(spec_for("events"))
    with store.write() as s:
        machine = {"name": "Perfiladora", "type": "CONFORMADORA", "status": "IDLE"}
        writes.create(s, actor=actor, entity="machines", id="m-1", data=machine)
        res = writes.create_many(
            s, actor=actor, entity="jobs",
            rows=[
                NewRow({"title": "A", "machine_id": "m-1", "quantity": "10"}, "j-a"),
                NewRow({"title": "B", "machine_id": "m-1", "quantity": "10"}, "j-b"),
                NewRow({"title": "C", "machine_id": "m-9", "quantity": "10"}, "j-c"),
            ],
        )  # fmt: skip
        # Each saw the one before it: B went after A in the machine's queue.
        assert res[0].sequence < res[1].sequence
        assert isinstance(res[2], Invalid)


def test_events_in_bulk_keep_every_rule(store: Store) -> None:
    actor = _system(store)
    rows = [NewRow({"type": "MACHINE_STATUS", "payload": {"note": f"n{i}"}}) for i in range(300)]
    rows.append(NewRow({"type": "NOT_A_TYPE", "payload": {}}))
    with store.write() as s:
        res = writes.create_many(s, actor=actor, entity="events", rows=rows)
    assert sum(isinstance(r, DomainError) for r in res) == 1
    with store.read() as s:
        n = s.query(OutboxEntry).filter_by(entity="events").count()
        assert n == 300
        made = s.get(spec_for("events").model, (actor.org_id, res[7].id))
        assert made.payload == {"note": "n7"} and made.version == 1


@pytest.mark.pg
def test_central_feed_carries_the_stored_row(pg_head_url: str) -> None:
    from central.feed import FeedRecorder
    from core.models import FeedEntry, Organisation
    from core.serial import row_to_json
    from core.site import open_store

    store = open_store(pg_head_url, recorder_factory=FeedRecorder)
    try:
        with store.write() as s:
            s.add(Organisation(id="org-bulk", name="Bulk", modules=["factory", "tour"],
                               created_at=writes.utcnow()))  # fmt: skip
        actor = Actor.system("org-bulk")
        # COPY's text format escapes tabs, newlines and backslashes: they must come back.
        odd = 'Perfil\tC\n"doble" \\ ñ \u2014 \x01'
        rows = [NewRow({"name": odd if i == 0 else f"Item {i}", "sku": f"S{i}",
                        "quantity": Decimal("2.5")}, f"it-{i}") for i in range(50)]  # fmt: skip
        with store.write() as s:
            res = writes.create_many(s, actor=actor, entity="inventory", rows=rows)
        assert not any(isinstance(r, Exception) for r in res)
        model = spec_for("inventory").model
        with store.read() as s:
            entries = s.scalars(select(FeedEntry).filter_by(org_id="org-bulk"))
            feed = {e.entity_id: e for e in entries}
            assert len(feed) == 50
            for i in (0, 49):
                stored = s.get(model, ("org-bulk", f"it-{i}"))
                assert stored.sync_version == 1 and stored.field_versions["sku"] == 1
                assert feed[f"it-{i}"].row == row_to_json(stored)
            assert s.get(model, ("org-bulk", "it-0")).name == odd
            audit = s.scalars(select(AuditEntry).filter_by(org_id="org-bulk", entity_id="it-0"))
            assert next(iter(audit)).changes["name"] == [None, odd]
    finally:
        store.dispose()
