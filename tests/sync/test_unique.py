"""Unique values hold across sites (guarantee 11): the database refuses a second live row
with a taken value on both sides, and the central merge turns the second create into a
``unique`` conflict a person settles (rename, merge, discard) — never two live rows."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from central.push import push_batch
from core import writes
from core.clock import utcnow
from core.models import ConflictRecord, InventoryItem
from core.sync import reasons
from core.sync.conflicts import list_conflicts, resolve_conflict
from core.writes import Actor
from tests.sync.conftest import enroll_device
from tests.sync.test_agent import actor, row
from tests.sync.test_push_pull import op

pytestmark = pytest.mark.pg


def item(sku: str, name: str = "Bolt") -> dict:
    return {"sku": sku, "name": name, "unit": "pcs", "quantity": "1"}


def live_skus(store, org_id):
    with store.read() as s:
        return s.execute(
            select(InventoryItem.sku, func.count())
            .where(InventoryItem.org_id == org_id, InventoryItem.deleted_at.is_(None))
            .group_by(InventoryItem.sku)
        ).all()


def raw_item(org_id: str, id: str, sku: str) -> InventoryItem:
    now = utcnow()
    return InventoryItem(org_id=org_id, id=id, sku=sku, name="a", unit="pc", quantity=1,
                         version=1, sync_version=1, field_versions={}, created_at=now,
                         updated_at=now)  # fmt: skip


@pytest.mark.parametrize("side", ["central", "site"])
def test_the_database_refuses_a_second_live_row_but_not_after_a_delete(
    side, central, org_id, site_path
):
    from core.site import open_store

    store = central if side == "central" else open_store(site_path("s"))
    with store.write() as s:
        s.add(raw_item(org_id, "i1", "S"))
    # Behind the write path's own check: the index itself refuses.
    with pytest.raises(IntegrityError, match=r"uq_inventory_sku_live|UNIQUE"), store.write() as s:
        s.add(raw_item(org_id, "i2", "S"))
    if side == "site":
        with store.write() as s:
            s.get(InventoryItem, (org_id, "i1")).deleted_at = utcnow()
            s.flush()
            s.add(raw_item(org_id, "i3", "S"))
        assert live_skus(store, org_id) == [("S", 1)]
        store.dispose()
        return
    with central.write() as s:
        writes.delete(s, actor=Actor.system(org_id), entity="inventory", id="i1")
    with central.write() as s:
        writes.create(s, actor=Actor.system(org_id), entity="inventory", data=item("S"), id="i3")
    assert live_skus(central, org_id) == [("S", 1)]


@pytest.mark.slow  # 100 concurrent pairs; the two-site and two-batch cases stay fast
def test_100_concurrent_pairs_give_0_duplicates_and_100_settled_conflicts(central, org_id):
    a, b = enroll_device(central, org_id, "A"), enroll_device(central, org_id, "B")
    pairs = 100
    statuses: dict[str, list[str]] = {"a": [], "b": []}
    errs: list = []

    def run_pair(i: int) -> None:
        gate = threading.Barrier(2)

        def push(dev, tag: str) -> None:
            o = op("create", "inventory", f"{tag}{i}", item(f"SKU-{i}", f"from {tag}"))
            gate.wait()
            [res] = push_batch(central, dev.ctx, [o])
            statuses[tag].append(res["status"])
            if res["status"] == "rejected":
                errs.append(res)

        threads = [threading.Thread(target=push, args=(d, t)) for d, t in ((a, "a"), (b, "b"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    for i in range(pairs):
        run_pair(i)
    both = statuses["a"] + statuses["b"]
    from collections import Counter

    assert Counter(both) == {"applied": pairs, "conflict": pairs}, (Counter(both), errs[:2])
    assert {n for _, n in live_skus(central, org_id)} == {1}  # 0 duplicates
    with central.read() as s:
        open_ = list_conflicts(s, org_id)
    assert len(open_) == pairs and {c["kind"] for c in open_} == {"unique"}
    # Settle them: half renamed (a second row with a new SKU), half discarded.
    with central.write() as s:
        for n, c in enumerate(open_):
            choice = "rename" if n % 2 else "discard"
            values = {"sku": c["losing_values"]["sku"] + "-2"} if n % 2 else None
            resolve_conflict(s, actor=Actor.system(org_id), conflict_id=c["id"],
                             choice=choice, values=values)  # fmt: skip
    counts = live_skus(central, org_id)
    assert len(counts) == pairs + pairs // 2 and {n for _, n in counts} == {1}
    with central.read() as s:
        assert list_conflicts(s, org_id) == []


def test_merge_fills_the_holder_and_a_rename_must_change_the_value(central, org_id):
    a, b = enroll_device(central, org_id, "A"), enroll_device(central, org_id, "B")
    push_batch(central, a.ctx, [op("create", "inventory", "x1", item("S"))])
    losing = item("S") | {"location": "Shelf 4"}
    [res] = push_batch(central, b.ctx, [op("create", "inventory", "x2", losing)])
    assert res["status"] == "conflict" and res["row"]["id"] == "x1"
    assert res["conflict"]["winning_values"] == {"id": "x1", "sku": "S"}
    cid = res["conflict_id"]
    from core.errors import Invalid

    with pytest.raises(Invalid), central.write() as s:
        resolve_conflict(s, actor=Actor.system(org_id), conflict_id=cid, choice="rename")
    with central.write() as s:
        out = resolve_conflict(s, actor=Actor.system(org_id), conflict_id=cid, choice="merge")
    assert out["resolution"]["choice"] == "merge"
    with central.read() as s:
        holder = s.get(InventoryItem, (org_id, "x1"))
        assert holder.location == "Shelf 4" and s.get(InventoryItem, (org_id, "x2")) is None


def test_two_sites_take_one_sku_offline_one_row_and_a_conflict_on_both_sides(hub, org_id, tmp_path):
    a_store, a = hub.new_site(tmp_path, org_id, "A")
    b_store, b = hub.new_site(tmp_path, org_id, "B")
    for store in (a_store, b_store):
        with store.write() as s:
            writes.create(s, actor=actor(store), entity="inventory", data=item("DUP"),
                          id="ia" if store is a_store else "ib")  # fmt: skip
    a.sync_once()
    # B pulls A's row while its own create is still pending: its copy steps aside locally.
    b.pull_available()
    assert row(b_store, "ia", "inventory")["deleted_at"] is None
    b.sync_once()
    a.sync_once()
    for store in (a_store, b_store):
        assert live_skus(store, org_id) == [("DUP", 1)]
        assert row(store, "ia", "inventory")["deleted_at"] is None
    assert row(b_store, "ib", "inventory") is None  # its values wait in the conflict
    with b_store.read() as s:
        [c] = list_conflicts(s, org_id)
    with hub.store.read() as s:
        assert [x["id"] for x in list_conflicts(s, org_id)] == [c["id"]]
    assert c["kind"] == "unique" and c["losing_values"]["sku"] == "DUP"
    assert reasons.decode(c["reason"]) == reasons.Reason(
        "value_taken", {"field": "sku", "holder": "ia"}
    )
    # Settled on the site by a rename: an ordinary create that syncs everywhere.
    with b_store.write() as s:
        resolve_conflict(s, actor=actor(b_store), conflict_id=c["id"], choice="rename",
                         values={"sku": "DUP-B"})  # fmt: skip
    b.sync_once()
    a.sync_once()
    for store in (a_store, b_store, hub.store):
        assert sorted(live_skus(store, org_id)) == [("DUP", 1), ("DUP-B", 1)]
    with hub.store.read() as s:
        assert list_conflicts(s, org_id) == []
    with b_store.read() as s:
        assert s.scalar(select(func.count()).where(ConflictRecord.resolved_at.is_(None))) == 0


def test_two_concurrent_batches_clash_and_the_rest_of_each_batch_proceeds(central, org_id):
    a, b = enroll_device(central, org_id, "A"), enroll_device(central, org_id, "B")
    shared = [f"SH-{i}" for i in range(30)]
    batches = {
        "a": [op("create", "inventory", f"a{i}", item(s)) for i, s in enumerate(shared)]
        + [op("create", "inventory", f"a-own{i}", item(f"A-{i}")) for i in range(10)],
        "b": [op("create", "inventory", f"b{i}", item(s)) for i, s in enumerate(shared)]
        + [op("create", "inventory", f"b-own{i}", item(f"B-{i}")) for i in range(10)],
    }
    gate = threading.Barrier(2)
    out: dict[str, list[dict]] = {}

    def push(dev, tag: str) -> None:
        gate.wait()
        out[tag] = push_batch(central, dev.ctx, batches[tag])

    threads = [threading.Thread(target=push, args=(d, t)) for d, t in ((a, "a"), (b, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = [r["status"] for tag in "ab" for r in out[tag]]
    assert statuses.count("conflict") == 30 and statuses.count("applied") == 50
    counts = live_skus(central, org_id)
    assert len(counts) == 50 and {n for _, n in counts} == {1}
    # Every own value of both batches is there, whichever batch lost the race.
    assert {f"A-{i}" for i in range(10)} | {f"B-{i}" for i in range(10)} <= {s for s, _ in counts}
