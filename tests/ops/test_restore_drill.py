"""The restore drill: a site syncing with the central server is backed up,
goes on changing and syncing, then is restored from the backup — losing its local state
after the backup — and the next sync brings it current without losing or duplicating
anything.

The hard part is the outbox: at backup time some ops were still pending. After the
backup they were pushed and applied; the restored store has them pending again, so they
are pushed a second time. The central server must answer them from its record of
applied ops (exactly once by op id) — no second feed entry, no new version, no conflict.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from core import backup, writes
from core.db import Store, sqlite_url
from core.models import AppliedOp, Client, ConflictRecord, FeedEntry, Machine, OutboxEntry
from core.serial import row_to_json
from core.site import open_store, site_info
from core.writes import Actor
from sync_agent.agent import SyncAgent

pytestmark = pytest.mark.pg

FIELDS = ("id", "name", "email", "phone", "deleted_at")


def actor(store: Store) -> Actor:
    return Actor(org_id=site_info(store).org_id, user_id=None, role="admin")


def create(store: Store, entity: str = "clients", **data) -> str:
    with store.write() as s:
        return writes.create(s, actor=actor(store), entity=entity, data=data).id


def update(store: Store, id: str, entity: str = "clients", **data) -> None:
    with store.write() as s:
        writes.update(s, actor=actor(store), entity=entity, id=id, data=data)


def delete(store: Store, id: str, entity: str = "clients") -> None:
    with store.write() as s:
        writes.delete(s, actor=actor(store), entity=entity, id=id)


def rows(store: Store, model, org_id: str, version: str) -> dict[str, dict]:
    """id -> the fields that must agree, plus the central version the row carries
    (``version`` on the central server, ``sync_version`` on a site)."""
    with store.read() as s:
        out = {}
        for r in s.scalars(select(model).where(model.org_id == org_id)):
            data = row_to_json(r)
            out[data["id"]] = {**{k: data.get(k) for k in FIELDS if k in data},
                               "v": data[version]}  # fmt: skip
        return out


def feed_per_op(central: Store, org_id: str) -> dict[str, int]:
    with central.read() as s:
        got = s.execute(
            select(FeedEntry.op_id, func.count())
            .where(FeedEntry.org_id == org_id, FeedEntry.op_id.is_not(None))
            .group_by(FeedEntry.op_id)
        ).all()
    return {op: n for op, n in got}


@pytest.mark.slow
def test_restore_from_backup_then_sync_loses_and_duplicates_nothing(
    hub, central: Store, org_id: str, tmp_path: Path
):
    path = tmp_path / "plant.sqlite3"
    a_store, a = hub.new_site(tmp_path, org_id, "Plant", path=path)
    b_store, b = hub.new_site(tmp_path, org_id, "Office")

    # Before the backup: synced rows, and two ops still pending when the backup is taken.
    ana = create(a_store, name="Ana")
    bea = create(a_store, name="Bea")
    press = create(a_store, entity="machines", name="Press 1", type="SOLDADURA")
    a.sync_once()
    b.sync_once()
    cy = create(a_store, name="Cy")  # pending at backup time
    update(a_store, ana, phone="111")  # pending at backup time
    saved = backup.create_backup(a_store, tmp_path / "backups")  # online: the store is open
    with a_store.read() as s:
        pending_then = list(
            s.scalars(select(OutboxEntry.op_id).where(OutboxEntry.status == "pending"))
        )
    assert len(pending_then) == 2

    # After the backup: those two are pushed, more changes on both sites sync.
    a.sync_once()
    dee = create(a_store, name="Dee")
    update(a_store, bea, email="bea@example.com")
    delete(a_store, cy)
    update(a_store, press, entity="machines", name="Press 1 (rebuilt)")
    a.sync_once()
    eve = create(b_store, name="Eve")
    update(b_store, ana, email="ana@example.com")
    b.sync_once()
    a.sync_once()
    before_restore = rows(a_store, Client, org_id, "sync_version")
    with central.read() as s:
        feed_before = s.scalar(select(func.count()).where(FeedEntry.org_id == org_id))
        applied_before = s.scalar(select(func.count()).where(AppliedOp.org_id == org_id))

    # The disaster: the site's store is replaced by the backup.
    a.client.close()
    a_store.dispose()
    safety = backup.restore_backup(saved.path, path)
    assert safety is not None
    restored = open_store(sqlite_url(path))
    assert {r for r in rows(restored, Client, org_id, "sync_version")} == {ana, bea, cy}
    with restored.read() as s:
        assert sorted(
            s.scalars(select(OutboxEntry.op_id).where(OutboxEntry.status == "pending"))
        ) == sorted(pending_then)

    # The next sync brings it current.
    agent = SyncAgent(restored, http=hub.http)
    result = agent.sync_once()
    assert result["pushed"] == 2  # the two ops pending at backup time, pushed again ...
    with central.read() as s:
        # ... and answered from the record: no new feed entry, no new applied op.
        assert s.scalar(select(func.count()).where(FeedEntry.org_id == org_id)) == feed_before
        assert s.scalar(select(func.count()).where(AppliedOp.org_id == org_id)) == applied_before
    assert all(n == 1 for n in feed_per_op(central, org_id).values())  # each op applied once

    central_clients = rows(central, Client, org_id, "version")
    assert rows(restored, Client, org_id, "sync_version") == central_clients
    assert rows(restored, Machine, org_id, "sync_version") == rows(central, Machine, org_id,
                                                                   "version")  # fmt: skip
    assert rows(restored, Client, org_id, "sync_version") == before_restore
    assert set(central_clients) == {ana, bea, cy, dee, eve}
    names = [r["name"] for r in central_clients.values()]
    assert len(names) == len(set(names))  # nothing created twice under a new id
    assert central_clients[cy]["deleted_at"] is not None
    assert central_clients[ana]["phone"] == "111"
    assert central_clients[ana]["email"] == "ana@example.com"
    with restored.read() as s:
        assert set(s.scalars(select(OutboxEntry.status))) == {"done"}
        assert s.scalar(select(func.count()).select_from(ConflictRecord)) == 0
    with central.read() as s:
        assert s.scalar(select(func.count()).where(ConflictRecord.org_id == org_id)) == 0

    # Life goes on: a new change on the restored site reaches the other site.
    update(restored, dee, phone="999")
    assert agent.sync_once()["pushed"] == 1
    b.sync_once()
    assert rows(b_store, Client, org_id, "sync_version") == rows(central, Client, org_id,
                                                                 "version")  # fmt: skip
    assert rows(b_store, Client, org_id, "sync_version")[dee]["phone"] == "999"
    agent.client.close()
    restored.dispose()
    b_store.dispose()
