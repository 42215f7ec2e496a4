"""A central server restored from an older dump loses nothing (guarantee 12), on a real
PostgreSQL with pg_dump / pg_restore: sites sync, the database is dumped, every site
creates, edits and deletes more (all acknowledged), the dump is restored with a plain
``pg_restore`` (no command run), and the agents find it out and give back what it lacks."""

from __future__ import annotations

import subprocess

import pytest
from sqlalchemy import select

from core import writes
from core.models import Client, SyncEpoch
from core.site import site_info
from tests.pg_fixture import libpq_url
from tests.sync.test_agent import actor, create, update

pytestmark = pytest.mark.pg


def delete(store, id):
    with store.write() as s:
        writes.delete(s, actor=actor(store), entity="clients", id=id)


def copy(store, org_id):
    with store.read() as s:
        rows = s.scalars(select(Client).where(Client.org_id == org_id)).all()
        # A delete given back after the restore is made again, at a new time: compared as
        # deleted or not.
        return {r.id: (r.name, r.phone, r.deleted_at is not None) for r in rows}


def sync_all(agents, rounds=2):
    for _ in range(rounds):
        for a in agents:
            a.sync_once()


# slow: pg_dump and pg_restore of a live central database; the restore-epoch command test stays
# fast
@pytest.mark.slow
def test_plain_pg_restore_is_found_out_and_loses_no_acknowledged_write(hub, org_id, tmp_path):
    central_db = libpq_url(hub.store.url)
    sites = [hub.new_site(tmp_path, org_id, n) for n in ("A", "B", "C")]
    stores = [s for s, _ in sites]
    agents = [a for _, a in sites]
    a_store, b_store, c_store = stores
    before = {n: create(st, name=f"{n} before") for n, st in zip("ABC", stores, strict=True)}
    doomed = create(a_store, name="deleted after the dump")
    sync_all(agents)
    dump = tmp_path / "central.dump"
    subprocess.run(["pg_dump", "-Fc", "-f", str(dump), central_db], check=True)

    # After the dump: creates, edits and a delete from every site, all acknowledged.
    after = {n: create(st, name=f"{n} after") for n, st in zip("ABC", stores, strict=True)}
    update(b_store, before["A"], phone="B edited A's row")
    update(c_store, before["C"], name="C renamed its row")
    update(a_store, after["A"], phone="edited after the dump")
    delete(c_store, doomed)
    sync_all(agents)
    for agent in agents:
        assert agent.status()["pending_ops"] == 0
    acknowledged = copy(hub.store, org_id)
    assert all(copy(st, org_id) == acknowledged for st in stores)

    hub.store.engine.dispose()
    subprocess.run(["pg_restore", "--clean", "--if-exists", "-d", central_db,
                    str(dump)], check=True)  # fmt: skip
    hub.store.engine.dispose()
    restored = copy(hub.store, org_id)
    assert after["A"] not in restored and restored[doomed][2] is False  # what was lost

    # Work goes on: an edit of a row created after the dump, a new row.
    update(a_store, after["A"], name="A after, edited after the restore")
    newest = create(b_store, name="made after the restore")
    sync_all(agents, rounds=3)

    central = copy(hub.store, org_id)
    for n, st in zip("ABC", stores, strict=True):
        assert copy(st, org_id) == central, f"site {n} differs from the central copy"
    for id, values in acknowledged.items():
        if id == after["A"]:
            continue  # edited again since
        assert central[id] == values, f"acknowledged write of {id} lost"
    assert central[after["A"]][:2] == ("A after, edited after the restore", "edited after the dump")
    assert central[doomed][2] is True  # the resurrected row is deleted again
    assert newest in central
    with hub.store.read() as s:
        epochs = s.scalars(select(SyncEpoch).where(SyncEpoch.org_id == org_id)).all()
    assert len(epochs) == 2  # the first contact, and the restore found out
    for agent in agents:
        st = agent.status()
        assert st["epoch"]["id"] == max(epochs, key=lambda e: e.started_at).epoch
        assert st["last_recovery"]["repushed"] >= 1 and st["pending_ops"] == 0
    assert site_info(a_store).org_id == org_id
    for agent in agents:
        assert agent.verify()["differences"] == 0


def test_restore_epoch_command_makes_every_site_recover(hub, org_id, tmp_path):
    from central.epoch import begin_all

    store, agent = hub.new_site(tmp_path, org_id, "A")
    cid = create(store, name="kept")
    agent.sync_once()
    first = agent.status()["epoch"]["id"]
    with hub.store.write() as s:  # what `structura central restore-epoch` runs
        [rec] = [e for e in begin_all(s) if e.org_id == org_id]
    out = agent.sync_once()
    assert out["recovered"]["epoch"] == rec.epoch and out["recovered"]["from_epoch"] == first
    assert out["recovered"]["results"] == {"applied": 1}  # answered again from the record
    assert agent.status()["epoch"]["id"] == rec.epoch
    assert copy(store, org_id) == copy(hub.store, org_id) and cid in copy(store, org_id)


def _central_create(hub, org_id, name):
    with hub.store.write() as s:
        return writes.create(
            s, actor=writes.Actor.system(org_id), entity="clients", data={"name": name}
        ).id


# slow: pg_dump and pg_restore of a live central database
@pytest.mark.slow
def test_rows_the_central_server_made_after_the_dump_are_given_back_by_the_sites(
    hub, org_id, tmp_path
):
    """A row made on the central server after the dump is in no site's outbox: after the
    restore, a site that edits it gives it back whole with its edit; a site that deletes
    it gives it back deleted; a row nobody touched is given back by the verify."""
    central_db = libpq_url(hub.store.url)
    sites = [hub.new_site(tmp_path, org_id, n) for n in ("A", "B")]
    (a_store, a), (b_store, b) = sites
    sync_all([a, b])
    dump = tmp_path / "central.dump"
    subprocess.run(["pg_dump", "-Fc", "-f", str(dump), central_db], check=True)
    edited = _central_create(hub, org_id, "made centrally, edited at A")
    doomed = _central_create(hub, org_id, "made centrally, deleted at B")
    quiet = _central_create(hub, org_id, "made centrally, touched by nobody")
    sync_all([a, b])
    assert {edited, doomed, quiet} <= set(copy(a_store, org_id)) & set(copy(b_store, org_id))

    hub.store.engine.dispose()
    subprocess.run(["pg_restore", "--clean", "--if-exists", "-d", central_db,
                    str(dump)], check=True)  # fmt: skip
    hub.store.engine.dispose()
    assert not {edited, doomed, quiet} & set(copy(hub.store, org_id))  # lost centrally

    update(a_store, edited, phone="edited at A after the restore")
    delete(b_store, doomed)
    sync_all([a, b], rounds=3)
    for agent in (a, b):
        agent.verify()
    sync_all([a, b])

    central = copy(hub.store, org_id)
    assert central[edited] == ("made centrally, edited at A", "edited at A after the restore",
                               False)  # fmt: skip
    assert central[doomed][2] is True  # deleted, not brought back live by A's copy
    assert central[quiet] == ("made centrally, touched by nobody", None, False)
    assert copy(a_store, org_id) == central and copy(b_store, org_id) == central
    for agent in (a, b):
        assert agent.status()["pending_ops"] == 0


# slow: pg_dump and pg_restore of a live central database
@pytest.mark.slow
def test_a_central_edit_made_right_after_a_restore_reaches_a_site_that_saw_the_lost_one(
    hub, org_id, tmp_path
):
    """The edit after the restore lands at the same feed position, with the same version,
    as the lost edit the site already pulled: only the server itself can tell (the feed's
    table was re-created), and it does so before that first write, so the new epoch
    begins at the dump's head and the site re-reads from there."""
    from central.epoch import RESTORED
    from core.models import FeedEntry

    central_db = libpq_url(hub.store.url)
    store, agent = hub.new_site(tmp_path, org_id, "A")
    cid = _central_create(hub, org_id, "made centrally")
    sync_all([agent])
    dump = tmp_path / "central.dump"
    subprocess.run(["pg_dump", "-Fc", "-f", str(dump), central_db], check=True)
    with hub.store.read() as s:
        dump_head = max(s.scalars(select(FeedEntry.seq).where(FeedEntry.org_id == org_id)))
    _central_update(hub, org_id, cid, "lost with the restore")
    sync_all([agent])
    assert copy(store, org_id)[cid][0] == "lost with the restore"

    hub.store.engine.dispose()
    subprocess.run(["pg_restore", "--clean", "--if-exists", "-d", central_db,
                    str(dump)], check=True)  # fmt: skip
    hub.store.engine.dispose()
    _central_update(hub, org_id, cid, "edited after the restore")  # before any site asks
    with hub.store.read() as s:
        epochs = s.scalars(select(SyncEpoch).where(SyncEpoch.org_id == org_id)).all()
    newest = max(epochs, key=lambda e: e.started_at)
    assert (newest.reason, newest.head) == (RESTORED, dump_head)

    sync_all([agent], rounds=2)
    assert copy(store, org_id) == copy(hub.store, org_id)
    assert copy(store, org_id)[cid][0] == "edited after the restore"
    assert agent.status()["epoch"]["id"] == newest.epoch


def _central_update(hub, org_id, id, name):
    with hub.store.write() as s:
        writes.update(s, actor=writes.Actor.system(org_id), entity="clients", id=id,
                      data={"name": name})  # fmt: skip
