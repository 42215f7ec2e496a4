"""The central push and pull services on a real PostgreSQL (guarantees 2, 5, 6, 8, 10)."""

from __future__ import annotations

import pytest

from central.feed import read_feed
from central.push import DeviceCtx, push_batch
from core import writes
from core.clock import uuid7
from core.models import ConflictRecord
from core.sync import reasons, wire
from core.writes import Actor
from tests.sync.conftest import enroll_device, new_org

pytestmark = pytest.mark.pg


def op(kind, entity, entity_id, fields=None, base=0, made_at="0001735689600000-00000-x"):
    return wire.Op(
        op_id=uuid7(), entity=entity, entity_id=entity_id, kind=kind,
        base_version=base, fields=fields or {}, made_at=made_at,
    )  # fmt: skip


def seed_client(central, org_id, **fields):
    with central.write() as s:
        row = writes.create(
            s, actor=Actor.system(org_id), entity="clients", data={"name": "Base", **fields}
        )
        return row.id


def get(central, model_entity, org_id, id):
    from core.registry import spec_for

    with central.read() as s:
        return s.get(spec_for(model_entity).model, (org_id, id))


def conflicts(central, org_id):
    with central.read() as s:
        return list(s.query(ConflictRecord).filter_by(org_id=org_id))


def test_create_is_in_the_feed_with_op_and_device(central, device):
    o = op("create", "clients", "c1", {"name": "Ana", "email": "ana@example.com"})
    [res] = push_batch(central, device.ctx, [o])
    assert res["status"] == "applied" and res["version"] == 1
    with central.read() as s:
        entries, nxt, more = read_feed(s, device.org_id, after=0, limit=10)
    [e] = entries
    assert (e.entity, e.id, e.op_id, e.device_id) == ("clients", "c1", o.op_id, device.device_id)
    assert e.row["name"] == "Ana" and e.row["sync_version"] == 1 and nxt == e.seq
    assert not more
    row = get(central, "clients", device.org_id, "c1")
    assert row.field_versions["name"] == 1 and row.sync_version == row.version == 1


def test_same_batch_twice_returns_identical_results_and_changes_nothing(central, device):
    cid = seed_client(central, device.org_id)
    batch = [
        op("create", "clients", "c2", {"name": "Bo"}),
        op("update", "clients", cid, {"phone": "1"}, base=1),
        op("update", "clients", cid, {"name": "x" * 500}, base=1),  # rejected
        op("delete", "clients", "c2", base=1),
    ]
    first = push_batch(central, device.ctx, batch)
    assert [r["status"] for r in first] == ["applied", "applied", "rejected", "applied"]
    with central.read() as s:
        head = read_feed(s, device.org_id, after=0, limit=100)[1]
    again = push_batch(central, device.ctx, batch)
    shuffled = push_batch(central, device.ctx, list(reversed(batch)))
    assert again == first
    assert shuffled == list(reversed(first))
    with central.read() as s:
        assert read_feed(s, device.org_id, after=0, limit=100)[1] == head
    assert get(central, "clients", device.org_id, cid).version == 2


def test_different_fields_both_win(central, org_id):
    a, b = enroll_device(central, org_id, "A"), enroll_device(central, org_id, "B")
    cid = seed_client(central, org_id)
    [ra] = push_batch(central, a.ctx, [op("update", "clients", cid, {"phone": "111"}, base=1)])
    [rb] = push_batch(central, b.ctx, [op("update", "clients", cid, {"email": "b@x.io"}, base=1)])
    assert (ra["status"], rb["status"]) == ("applied", "merged")
    row = get(central, "clients", org_id, cid)
    assert (row.phone, row.email, row.version) == ("111", "b@x.io", 3)
    assert conflicts(central, org_id) == []


def test_same_field_last_arrival_keeps_loser(central, org_id):
    a, b = enroll_device(central, org_id, "A"), enroll_device(central, org_id, "B")
    cid = seed_client(central, org_id)
    push_batch(central, a.ctx, [op("update", "clients", cid, {"name": "From A"}, base=1)])
    [rb] = push_batch(central, b.ctx, [op("update", "clients", cid, {"name": "From B"}, base=1)])
    assert rb["status"] == "conflict"
    assert get(central, "clients", org_id, cid).name == "From B"
    [c] = conflicts(central, org_id)
    assert (c.kind, c.rule, c.losing_values, c.winning_values) == (
        "field",
        "last_arrival",
        {"name": "From A"},
        {"name": "From B"},
    )
    assert rb["conflict_id"] == c.id and rb["row"]["name"] == "From B"
    # Why, as a code and parameters (core.sync.reasons): each edge words it.
    assert reasons.decode(c.reason) == reasons.Reason("kept_later", {"base": 1})
    assert rb["conflict"]["reason"] == c.reason


def test_same_field_central_wins_keeps_the_site_value_as_loser(central, org_id):
    a, b = enroll_device(central, org_id, "A"), enroll_device(central, org_id, "B")
    with central.write() as s:
        show = writes.create(s, actor=Actor.system(org_id), entity="shows", data={
            "city": "Lyon", "country": "FR", "starts_at": "2026-05-01T20:00:00+00:00",
            "fee": "1000", "currency": "EUR"})  # fmt: skip
        sid = show.id
    push_batch(central, a.ctx, [op("update", "shows", sid, {"city": "Paris"}, base=1)])
    [rb] = push_batch(
        central, b.ctx, [op("update", "shows", sid, {"city": "Nice", "venue": "Arena"}, base=1)]
    )
    assert rb["status"] == "conflict"
    row = get(central, "shows", org_id, sid)
    assert (row.city, row.venue) == ("Paris", "Arena")  # the other field still merged
    [c] = conflicts(central, org_id)
    assert (c.rule, c.losing_values, c.winning_values) == (
        "central_wins",
        {"city": "Nice"},
        {"city": "Paris"},
    )
    assert reasons.decode(c.reason) == reasons.Reason("kept_central", {"base": 1})


def test_a_devices_own_earlier_edit_is_not_a_conflict(central, device):
    cid = seed_client(central, device.org_id)
    # Two local edits of the same field, both made on base 1, pushed in two batches.
    [r1] = push_batch(central, device.ctx, [op("update", "clients", cid, {"name": "v1"}, base=1)])
    [r2] = push_batch(central, device.ctx, [op("update", "clients", cid, {"name": "v2"}, base=1)])
    assert (r1["status"], r2["status"]) == ("applied", "merged")
    assert get(central, "clients", device.org_id, cid).name == "v2"
    assert conflicts(central, device.org_id) == []


def test_edit_of_deleted_row_is_a_conflict_not_a_resurrection(central, org_id):
    a, b = enroll_device(central, org_id, "A"), enroll_device(central, org_id, "B")
    cid = seed_client(central, org_id)
    [rd] = push_batch(central, a.ctx, [op("delete", "clients", cid, base=1)])
    assert rd["status"] == "applied"
    [ru] = push_batch(central, b.ctx, [op("update", "clients", cid, {"phone": "9"}, base=1)])
    assert ru["status"] == "conflict" and ru["conflict"]["kind"] == "deleted"
    row = get(central, "clients", org_id, cid)
    assert row.deleted_at is not None and row.phone is None
    assert ru["conflict"]["losing_values"] == {"phone": "9"}
    assert reasons.decode(ru["conflict"]["reason"]) == reasons.Reason("deleted_before_edit")
    # A create of the same id does not bring it back either.
    [rc] = push_batch(central, b.ctx, [op("create", "clients", cid, {"name": "again"})])
    assert rc["status"] == "conflict" and get(central, "clients", org_id, cid).deleted_at


def test_stale_delete_wins_but_keeps_unseen_edits(central, org_id):
    a, b = enroll_device(central, org_id, "A"), enroll_device(central, org_id, "B")
    cid = seed_client(central, org_id)
    push_batch(central, a.ctx, [op("update", "clients", cid, {"phone": "5"}, base=1)])
    [rd] = push_batch(central, b.ctx, [op("delete", "clients", cid, base=1)])
    assert rd["status"] == "conflict"
    assert get(central, "clients", org_id, cid).deleted_at is not None
    assert rd["conflict"]["losing_values"] == {"phone": "5"}
    assert reasons.decode(rd["conflict"]["reason"]) == reasons.Reason(
        "deleted_unseen_edits", {"base": 1}
    )


def test_rejected_op_applies_nothing_and_says_why(central, device):
    cid = seed_client(central, device.org_id)
    [r] = push_batch(
        central, device.ctx, [op("update", "clients", cid, {"email": "not-an-email"}, base=1)]
    )
    assert r["status"] == "rejected" and r["reason"]["code"] == "invalid"
    assert r["row"]["email"] is None and r["version"] == 1
    [r] = push_batch(central, device.ctx, [op("update", "events", "e1", {}, base=1)])
    assert r["status"] == "rejected"


def test_module_not_enabled_is_rejected(central):
    org = new_org(central, "Band", modules=("tour",))
    dev = enroll_device(central, org, "Bus")
    [r] = push_batch(central, dev.ctx, [op("create", "clients", "c1", {"name": "x"})])
    assert r["status"] == "rejected" and r["reason"]["code"] == "module_disabled"


def test_an_org_cannot_touch_or_read_another_orgs_rows(central, device):
    cid = seed_client(central, device.org_id, phone="1")
    other = enroll_device(central, new_org(central, "Other"), "Elsewhere")
    [r] = push_batch(central, other.ctx, [op("update", "clients", cid, {"phone": "2"}, base=1)])
    assert r["status"] == "rejected" and r["reason"]["code"] == "not_found"
    [r] = push_batch(central, other.ctx, [op("delete", "clients", cid, base=1)])
    assert r["status"] == "rejected"
    assert get(central, "clients", device.org_id, cid).phone == "1"
    with central.read() as s:
        assert read_feed(s, other.org_id, after=0, limit=100)[0] == []
        assert len(read_feed(s, device.org_id, after=0, limit=100)[0]) == 1
    # A forged context with another org's op ids gets no stored answers from it.
    o = op("create", "clients", "cx", {"name": "x"})
    push_batch(central, device.ctx, [o])
    [r] = push_batch(central, DeviceCtx(other.org_id, other.device_id), [o])
    assert r["status"] == "applied"  # a separate row in the other org, not the stored one
    assert get(central, "clients", other.org_id, "cx") is not None


def test_made_at_clock_does_not_change_outcomes(central, org_id):
    """Guarantee 10 at the service: the same ops with wildly different op clocks give the
    same outcome; arrival order and versions decide."""
    outcomes = []
    for stamps in (("0001700000000000-00000-a", "0001800000000000-00000-b"),
                   ("0001900000000000-00000-a", "0001600000000000-00000-b")):  # fmt: skip
        a, b = enroll_device(central, org_id, "A"), enroll_device(central, org_id, "B")
        cid = seed_client(central, org_id)
        ra = push_batch(central, a.ctx, [op("update", "clients", cid, {"name": "A"}, 1, stamps[0])])
        rb = push_batch(central, b.ctx, [op("update", "clients", cid, {"name": "B"}, 1, stamps[1])])
        row = get(central, "clients", org_id, cid)
        outcomes.append((ra[0]["status"], rb[0]["status"], row.name, row.version))
    assert outcomes[0] == outcomes[1] == ("applied", "conflict", "B", 3)


def test_feed_pages_and_cursor(central, device):
    push_batch(central, device.ctx, [op("create", "clients", f"c{i}", {"name": f"n{i}"})
                                     for i in range(25)])  # fmt: skip
    seen, cursor = [], 0
    with central.read() as s:
        while True:
            entries, cursor, more = read_feed(s, device.org_id, after=cursor, limit=10)
            seen += [e.seq for e in entries]
            if not more:
                break
    assert seen == list(range(1, 26)) and cursor == 25
