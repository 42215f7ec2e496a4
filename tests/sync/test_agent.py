"""The agent against the central app in-process: propagation, no echo, rebase,
conflicts on both sides, revocation, schema refusal, lost replies (guarantees 1, 2, 5-10)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from central.enroll import revoke_device
from core import writes
from core.models import Client, ConflictRecord, OutboxEntry
from core.registry import spec_for
from core.serial import row_to_json
from core.site import site_info
from core.sync import wire
from core.sync.wire import SCHEMA_HEADER
from core.writes import Actor
from sync_agent.client import CentralClient, Offline, Refused, Revoked

pytestmark = pytest.mark.pg

DATA = ("name", "tax_id", "contact", "email", "phone", "address", "deleted_at", "sync_version")


def actor(store):
    return Actor(org_id=site_info(store).org_id, user_id=None, role="admin")


def create(store, entity="clients", **data):
    with store.write() as s:
        return writes.create(s, actor=actor(store), entity=entity, data=data).id


def update(store, id, entity="clients", **data):
    with store.write() as s:
        writes.update(s, actor=actor(store), entity=entity, id=id, data=data)


def row(store, id, entity="clients"):
    with store.read() as s:
        r = s.get(spec_for(entity).model, (site_info(store).org_id, id))
        return None if r is None else row_to_json(r)


def outbox(store):
    with store.read() as s:
        return [(o.kind, o.status) for o in s.scalars(select(OutboxEntry))]


def test_change_reaches_the_other_site_and_does_not_echo(hub, org_id, tmp_path):
    a_store, a = hub.new_site(tmp_path, org_id, "A")
    b_store, b = hub.new_site(tmp_path, org_id, "B")
    cid = create(a_store, name="Ana")
    assert a.sync_once()["pushed"] == 1
    b.sync_once()
    assert {k: row(b_store, cid)[k] for k in DATA} == {k: row(a_store, cid)[k] for k in DATA}
    assert row(b_store, cid)["sync_version"] == 1
    assert outbox(b_store) == []  # applying a pulled row writes no outbox entry
    a.sync_once()
    assert outbox(a_store) == [("create", "done")]
    # Nothing goes back and forth once everyone is in step.
    assert a.sync_once()["pushed"] == 0 and b.sync_once() == {
        "bootstrapped": False, "pushed": 0, "pulled": 0}  # fmt: skip


def test_pulled_change_is_rebased_under_pending_local_edit(hub, org_id, tmp_path):
    a_store, a = hub.new_site(tmp_path, org_id, "A")
    b_store, b = hub.new_site(tmp_path, org_id, "B")
    cid = create(a_store, name="Ana")
    a.sync_once()
    b.sync_once()
    update(b_store, cid, phone="222")  # pending on B
    update(a_store, cid, email="a@x.io")
    a.sync_once()
    b.pull_available()
    r = row(b_store, cid)
    assert (r["email"], r["phone"], r["sync_version"]) == ("a@x.io", "222", 2)
    assert outbox(b_store)[-1] == ("update", "pending")  # still pending, on top
    b.sync_once()
    a.sync_once()
    assert row(a_store, cid)["phone"] == "222" and outbox(b_store)[-1] == ("update", "done")


def test_same_field_conflict_is_kept_visible_and_resolvable(hub, org_id, tmp_path):
    a_store, a = hub.new_site(tmp_path, org_id, "A")
    b_store, b = hub.new_site(tmp_path, org_id, "B")
    sid = create(a_store, "shows", city="Lyon", country="FR",
                 starts_at="2026-05-01T20:00:00+00:00", fee="100", currency="EUR")  # fmt: skip
    a.sync_once()
    b.sync_once()
    update(a_store, sid, "shows", city="Paris")
    update(b_store, sid, "shows", city="Nice")
    a.sync_once()
    b.sync_once()  # central_wins: B's Nice loses
    a.sync_once()
    assert row(a_store, sid, "shows")["city"] == row(b_store, sid, "shows")["city"] == "Paris"
    with b_store.read() as s:
        [local] = s.scalars(select(ConflictRecord)).all()
    assert local.losing_values == {"city": "Nice"} and b.status()["open_conflicts"] == 1
    client = b.client
    [remote] = client.conflicts()
    assert remote["id"] == local.id and remote["winning_values"] == {"city": "Paris"}
    resolved = client.resolve(local.id, "mine")
    assert resolved["resolution"]["choice"] == "mine" and client.conflicts() == []
    a.sync_once()
    assert row(a_store, sid, "shows")["city"] == "Nice"


def test_a_change_the_central_server_refuses_is_kept_with_why_in_words(hub, org_id, tmp_path):
    from core.models import Organisation
    from core.sync import reasons
    from desktop import i18n

    a_store, a = hub.new_site(tmp_path, org_id, "A")
    sid = create(a_store, "shows", city="Lyon", country="FR",
                 starts_at="2026-05-01T20:00:00+00:00", fee="100", currency="EUR")  # fmt: skip
    with hub.store.write() as s:  # the tour module is turned off centrally meanwhile
        org = s.get(Organisation, org_id)
        org.modules = [m for m in org.modules if m != "tour"]
    a.sync_once()
    with a_store.read() as s:
        [rec] = s.scalars(select(ConflictRecord)).all()
    assert (rec.kind, rec.entity_id, rec.losing_values["city"]) == ("rejected", sid, "Lyon")
    why = reasons.decode(rec.reason)
    assert why is not None and why.code == "module_disabled" and "tour" in why.params["message"]
    i18n.set_language("es")
    try:
        assert i18n.conflict_text(rec.kind, rec.reason) == (
            "El módulo de este registro no está activado para la organización."
        )
    finally:
        i18n.set_language("en")


def test_a_conflict_resolved_on_a_site_is_closed_on_the_central_server(hub, org_id, tmp_path):
    from core.sync.conflicts import resolve_conflict
    from core.writes import Actor

    a_store, a = hub.new_site(tmp_path, org_id, "A")
    b_store, b = hub.new_site(tmp_path, org_id, "B")
    sid = create(a_store, "shows", city="Lyon", country="FR",
                 starts_at="2026-05-01T20:00:00+00:00", fee="100", currency="EUR")  # fmt: skip
    a.sync_once()
    b.sync_once()
    update(a_store, sid, "shows", city="Paris")
    update(b_store, sid, "shows", city="Nice")
    a.sync_once()
    b.sync_once()
    with b_store.read() as s:
        [local] = s.scalars(select(ConflictRecord)).all()
    office = Actor(org_id=org_id, user_id=None, role="office")
    with b_store.write() as s:  # what the desktop's dialog and the local API do
        resolve_conflict(s, actor=office, conflict_id=local.id, choice="mine")
    assert b.client.conflicts() != []  # not yet told
    b.sync_once()
    assert b.client.conflicts() == []
    with b_store.read() as s:
        assert s.get(ConflictRecord, local.id).forwarded_at is not None
    a.sync_once()
    assert row(a_store, sid, "shows")["city"] == "Nice"
    assert b.forward_resolutions() == 0  # nothing left to tell


def test_revoked_device_is_refused_at_once_and_keeps_its_data(hub, org_id, tmp_path):
    a_store, a = hub.new_site(tmp_path, org_id, "A")
    cid = create(a_store, name="Ana")
    a.sync_once()  # has a valid access token now
    with hub.store.write() as s:
        revoke_device(s, a.device_id)
    create(a_store, name="Later")
    with pytest.raises(Revoked):
        a.sync_once()
    assert a.status()["state"] == "revoked" and a.status()["pending_ops"] == 1
    assert row(a_store, cid)["name"] == "Ana"
    fresh = CentralClient(hub.url, device_id=a.device_id,
                          device_secret="x", http=hub.http)  # fmt: skip
    with pytest.raises(Exception, match=r"wrong secret|revoked"):
        fresh.pull(0)


def test_old_schema_version_is_refused_before_anything_is_written(hub, org_id, tmp_path):
    _, a = hub.new_site(tmp_path, org_id, "A")
    a.sync_once()
    old = CentralClient(hub.url, device_id=a.device_id, http=hub.http,
                        device_secret=a.client.device_secret, schema_version=0)  # fmt: skip
    with pytest.raises(Refused, match="supports schema versions"):
        old.push([wire.Op(op_id="x", entity="clients", entity_id="c", kind="create",
                          base_version=0, fields={"name": "n"})])  # fmt: skip
    resp = hub.http.get("/api/sync/pull", headers={"Authorization": "Bearer x"})
    assert resp.status_code == 426
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert "1..1" in resp.json()["detail"]
    token = a.client._access_token()
    resp = hub.http.post("/api/sync/push", headers={"Authorization": f"Bearer {token}",
                         SCHEMA_HEADER: "99"}, json={"ops": []})  # fmt: skip
    assert resp.status_code == 426 and "too new" in resp.json()["detail"]
    with hub.store.read() as s:
        assert s.get(Client, (org_id, "c")) is None


class DropReplies(httpx.Client):
    """Delivers the request, then loses the reply to the first N pushes."""

    def __init__(self, inner: httpx.Client, drops: int) -> None:
        self.inner, self.drops = inner, drops

    def request(self, method, url, **kw):
        resp = self.inner.request(method, url, **kw)
        if url.endswith("/api/sync/push") and self.drops > 0:
            self.drops -= 1
            raise httpx.ReadError("reply lost")
        return resp

    def close(self):
        pass


def test_lost_push_reply_is_retried_without_double_effect(hub, org_id, tmp_path):
    a_store, a = hub.new_site(tmp_path, org_id, "A")
    b_store, b = hub.new_site(tmp_path, org_id, "B")
    cid = create(a_store, name="Ana")
    a.sync_once()
    b.sync_once()
    update(a_store, cid, name="v2")
    a.client.http = DropReplies(hub.http, drops=2)
    for _ in range(2):
        with pytest.raises(Offline):
            a.push_pending()
    assert a.status()["pending_ops"] == 1 and a.status()["state"] == "offline"
    a.sync_once()
    with hub.store.read() as s:
        central = s.get(Client, (org_id, cid))
        assert (central.name, central.version) == ("v2", 2)  # applied once
    b.sync_once()
    assert row(b_store, cid)["name"] == "v2"
    assert outbox(a_store) == [("create", "done"), ("update", "done")]


def test_echo_before_reply_is_acked_and_not_rebased(hub, org_id, tmp_path):
    """The pull brings our own op back before its push reply was stored; a later edit
    from elsewhere must not be overwritten by re-applying our answered op."""
    a_store, a = hub.new_site(tmp_path, org_id, "A")
    b_store, b = hub.new_site(tmp_path, org_id, "B")
    cid = create(a_store, name="Ana")
    a.sync_once()
    b.sync_once()
    update(a_store, cid, name="from A")
    a.client.http = DropReplies(hub.http, drops=1)
    with pytest.raises(Offline):
        a.push_pending()
    a.client.http = hub.http
    b.sync_once()
    update(b_store, cid, name="from B")
    b.sync_once()
    a.pull_available()  # echo of A's op (acked), then B's version on top
    assert row(a_store, cid)["name"] == "from B"
    a.sync_once()
    assert row(a_store, cid)["name"] == "from B"
    assert outbox(a_store)[-1] == ("update", "done")


def test_site_clock_skewed_by_a_day_changes_nothing(hub, org_id, tmp_path, monkeypatch):
    """Guarantee 10: B writes second with a clock a day behind; arrival order still
    decides (last_arrival), and the skewed stamps are only informative."""
    a_store, a = hub.new_site(tmp_path, org_id, "A")
    b_store, b = hub.new_site(tmp_path, org_id, "B")
    cid = create(a_store, name="Ana")
    a.sync_once()
    b.sync_once()
    update(a_store, cid, name="A edit")
    real = writes.utcnow
    monkeypatch.setattr(writes, "utcnow", lambda: real() - timedelta(days=1))
    import core.clock as clock

    real_ns = clock.time.time_ns
    monkeypatch.setattr(clock.time, "time_ns", lambda: real_ns() - 86_400 * 10**9)
    update(b_store, cid, name="B edit")
    monkeypatch.undo()
    a.sync_once()
    b.sync_once()
    a.sync_once()
    assert row(a_store, cid)["name"] == row(b_store, cid)["name"] == "B edit"
    with b_store.read() as s:
        [c] = s.scalars(select(ConflictRecord)).all()
    assert c.losing_values == {"name": "A edit"}


def test_only_rows_that_name_bytes_wake_the_byte_loop(hub, org_id, tmp_path):
    """The byte loop's look reads every active job and attachment: a push or pull of
    other rows (a client, a progress report's event) must not start it; a job, a machine
    or an attachment going either way does."""
    a_store, a = hub.new_site(tmp_path, org_id, "A")
    _, b = hub.new_site(tmp_path, org_id, "B")
    b.sync_once()
    b._blob_wake.clear()
    create(a_store, name="Ana")
    a._push_and_wake()
    assert not a._blob_wake.is_set()
    assert b.pull_available() == 1
    b._wake_blobs()
    assert not b._blob_wake.is_set()
    create(a_store, entity="machines", name="C1", type="CONFORMADORA")
    a._push_and_wake()
    assert a._blob_wake.is_set()
    assert b.pull_available() == 1
    b._wake_blobs()
    assert b._blob_wake.is_set()


def test_a_push_wakes_the_other_sites_at_once_and_its_own_echo_a_moment_later(
    hub, org_id, tmp_path, monkeypatch
):
    """The pushing site's own long poll (its echo) is answered after ``ECHO_DELAY_S``, so
    it does not compete with the other sites' pulls; a commit by someone else meanwhile
    wakes it at once. Until the echo comes, its answered op stays "sent"."""
    import threading
    import time

    import central.notify

    monkeypatch.setattr(central.notify, "ECHO_DELAY_S", 1.5)
    a_store, a = hub.new_site(tmp_path, org_id, "A")
    b_store, b = hub.new_site(tmp_path, org_id, "B")
    cid = create(a_store, name="Ana")
    a.sync_once()
    b.sync_once()
    done: dict[str, float] = {}

    def poll(name, agent):
        assert agent.pull_available(wait=10) >= 1
        done[name] = time.monotonic()

    def both_polling():
        threads = [threading.Thread(target=poll, args=p) for p in (("A", a), ("B", b))]
        for t in threads:
            t.start()
        _waiting_at_central(hub, 2)
        return threads

    threads = both_polling()
    update(a_store, cid, phone="1")
    t_push = time.monotonic()
    a.push_pending()
    assert outbox(a_store) == [("create", "done"), ("update", "sent")]
    for t in threads:
        t.join(15)
    assert done["B"] - t_push < 1.5 <= done["A"] - t_push  # B at once, A's echo later
    assert row(b_store, cid)["phone"] == "1"
    assert outbox(a_store) == [("create", "done"), ("update", "done")]

    done.clear()
    threads = both_polling()
    update(a_store, cid, phone="2")
    t_push = time.monotonic()
    a.push_pending()
    update(b_store, cid, email="b@example.com")
    b.push_pending()  # someone else's commit: A's poll is answered now, with both
    for t in threads:
        t.join(15)
    assert done["A"] - t_push < 1.5
    assert row(a_store, cid)["email"] == "b@example.com"


def _waiting_at_central(hub, n: int, timeout: float = 10.0) -> None:
    """Until ``n`` long polls wait at the central server (a fixed sleep was too short on
    a loaded machine: the poll then read the push at once, and nothing was woken)."""
    import time

    from central.metrics import notifier_waiters

    count = notifier_waiters(hub.ctx.notifier)
    deadline = time.monotonic() + timeout
    while count() < n:
        assert time.monotonic() < deadline, f"{count()} of {n} polls waiting"
        time.sleep(0.01)


def test_a_pull_woken_by_a_push_in_its_worker_is_answered_from_what_the_push_committed(
    hub, org_id, tmp_path
):
    """No read of the feed: the entries the push just committed, exactly as the feed
    holds them."""
    import threading

    from central.feed import read_feed

    a_store, a = hub.new_site(tmp_path, org_id, "A")
    b_store, b = hub.new_site(tmp_path, org_id, "B")
    cid = create(a_store, name="Ana")
    a.sync_once()
    b.sync_once()
    pages = []
    real_pull = b.client.pull

    def pull(*args, **kw):
        page = real_pull(*args, **kw)
        pages.append((args[0], page))
        return page

    b.client.pull = pull
    notifier = hub.ctx.notifier
    before = notifier.answered_from_memory
    poll = threading.Thread(target=b.pull_available, kwargs={"wait": 10})
    poll.start()
    _waiting_at_central(hub, 1)  # B waits at the central server
    update(a_store, cid, phone="555", email="ana@example.com")
    a.push_pending()
    poll.join(15)
    assert notifier.answered_from_memory == before + 1
    # ...and counted where an operator sees it (with several workers, all of them).
    scrape = hub.http.get("/metrics").text
    assert 'structura_sync_pulls_total{answer="memory"} 1.0' in scrape
    after, page = pages[0]
    assert [e.id for e in page.entries] == [cid] and not page.more
    with hub.store.read() as s:
        stored, nxt, _ = read_feed(s, org_id, after=after, limit=1000)
    assert [e.model_dump() for e in page.entries] == [e.model_dump() for e in stored]
    assert page.next == nxt
    assert row(b_store, cid)["phone"] == "555"


def test_offered_entries_answer_only_a_cursor_they_follow_without_a_gap():
    import asyncio
    import time

    import central.notify as notify
    from core.sync import wire

    def entry(seq):
        return wire.FeedEntry(seq=seq, entity="clients", id=f"c{seq}", version=1, deleted=False,
                              op_id=None, device_id="d1", row={"id": f"c{seq}"})  # fmt: skip

    async def scenario():
        n = notify.FeedNotifier("postgresql://localhost/none")  # never started
        n._offered("org", "d1", [entry(5), entry(6)], time.monotonic())
        assert n.recent_after("org", 4, 10) == ([entry(5), entry(6)], 6, False)
        assert n.recent_after("org", 5, 1) == ([entry(6)], 6, False)
        assert n.recent_after("org", 4, 1) == ([entry(5)], 5, True)
        assert n.recent_after("org", 6, 10) is None  # 7 is not here: read the feed
        assert n.recent_after("org", 3, 10) is None  # 4 is not here
        assert n.recent_after("other", 4, 10) is None
        n._offered("org", "d1", [entry(8)], time.monotonic())
        assert n.recent_after("org", 4, 10) is None  # 7 (another worker's) lies between
        assert n.recent_after("org", 7, 10) == ([entry(8)], 8, False)
        old = time.monotonic() - notify.RECENT_S - 1
        n._offered("org", "d1", [entry(9)], old)
        assert n.recent_after("org", 8, 10) is None  # too old to trust
        n._notified("org", "d2", 12)  # a later commit is known, not offered here
        assert n.recent_after("org", 7, 10) is None  # 8 alone would hide it: read the feed
        assert n.recent_after("org", 4, 1) == ([entry(5)], 5, True)  # "more" says it
        assert n.answered_from_memory == 5

    asyncio.run(scenario())


def test_a_push_in_progress_holds_back_its_notify_for_its_offer():
    """The commit's NOTIFY can reach the loop before the push's offer (a loaded machine):
    it then wakes nobody, the offer does, and pulls are answered from memory. A push
    that fails after its NOTIFY was held back wakes the pulls as it leaves; one that
    fails with nothing held back wakes nobody."""
    import asyncio

    import central.notify as notify

    async def scenario():
        n = notify.FeedNotifier("postgresql://localhost/none")  # never started
        n._loop = asyncio.get_running_loop()
        other = n.subscribe("org", "d2")
        with n.pushing("org", "d1"):
            n._notified("org", "d1", 5)  # this push's commit, first
            assert not other.done()
            n._notified("org", "d3", 4)  # anyone else's commit still wakes at once
            assert other.done()
            other = n.subscribe("org", "d2")
            n.offer("org", "d1", [])  # nothing written: nothing to wake with
        await asyncio.sleep(0)
        assert not other.done()
        try:
            with n.pushing("org", "d1"):
                raise RuntimeError("failed before its commit")
        except RuntimeError:
            pass
        await asyncio.sleep(0)
        assert not other.done()  # no NOTIFY was held back: nobody woken
        try:
            with n.pushing("org", "d1"):
                n._notified("org", "d1", 6)
                raise RuntimeError("failed after its commit")
        except RuntimeError:
            pass
        await asyncio.wait_for(other, 1)  # woken as the push left
        n.unsubscribe("org", other)
        assert n._pushing == {} and n._held == set()
        last = n.subscribe("org", "d2")
        n._notified("org", "d1", 7)  # no push in progress: wakes as before
        assert last.done()

    asyncio.run(scenario())


def test_a_pulled_page_and_a_push_answer_read_rows_by_their_whole_key(hub, org_id, tmp_path):
    """Every query of a site's pull apply and of its push answer that reads a synced
    table uses an index: by id alone (the key is organisation, id) SQLite read the
    whole table — a plant's 100,000 jobs for every page and every push answer."""
    from sqlalchemy import event

    from core.registry import registry

    tables = {spec.model.__table__.name for spec in registry().values()}
    a_store, a = hub.new_site(tmp_path, org_id, "A")
    b_store, b = hub.new_site(tmp_path, org_id, "B")
    cid = create(a_store, name="Ana")
    a.sync_once()
    b.sync_once()
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, params, context, many):
        if statement.lstrip().upper().startswith("SELECT") and not many:
            seen.append((statement, params))

    for store in (a_store, b_store):
        event.listen(store.engine, "before_cursor_execute", record)
    update(a_store, cid, phone="1")
    update(b_store, cid, email="b@example.com")
    a.push_pending()  # A's push answer recorded
    b.pull_available()  # B applies A's change
    b.push_pending()
    a.pull_available()
    for store in (a_store, b_store):
        event.remove(store.engine, "before_cursor_execute", record)
    assert row(b_store, cid)["phone"] == "1" and row(a_store, cid)["email"] == "b@example.com"
    scans = set()
    with a_store.engine.connect() as conn:
        raw = conn.connection.driver_connection
        for statement, params in seen:
            for *_, detail in raw.execute("EXPLAIN QUERY PLAN " + statement, params or ()):
                words = str(detail).split()
                if words[:1] == ["SCAN"] and words[1] in tables:
                    scans.add((words[1], statement.split("\n")[-1][:120]))
    assert not scans


def test_a_listener_that_loses_its_connection_drops_the_pool_and_listens_again(central):
    """PostgreSQL restarted or failed over: the pooled connections are as dead as the
    listener's, and the pulls it wakes next would take them (500s after a restart).
    ``on_lost`` runs once the listener sees its connection gone, and it listens again."""
    import asyncio
    import threading
    import time

    from sqlalchemy import text

    from central.notify import FeedNotifier

    lost = threading.Event()
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()
    notifier = FeedNotifier(central.url, on_lost=lost.set)
    notifier.start(loop)

    def listeners() -> list[int]:
        with central.engine.connect() as conn:
            return list(conn.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN %' "
                "AND pid <> pg_backend_pid() AND datname = current_database()"
            )).scalars())  # fmt: skip

    try:
        (pid,) = listeners()
        with central.engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        assert lost.wait(10), "on_lost was not called"
        deadline = time.monotonic() + 10
        while not [p for p in listeners() if p != pid]:
            assert time.monotonic() < deadline, "the listener did not come back"
            time.sleep(0.1)
    finally:
        notifier.stop()
        loop.call_soon_threadsafe(loop.stop)
        runner.join(5)
        loop.close()


def _statements(engine):
    """The statements SQLAlchemy sends on ``engine`` while the context is open (the
    rows ``core.rowload`` inserts through the driver are not among them)."""
    from contextlib import contextmanager

    from sqlalchemy import event

    @contextmanager
    def watch():
        seen: list[str] = []

        def note(conn, cursor, statement, *args):
            seen.append(" ".join(statement.split())[:90])

        event.listen(engine, "before_cursor_execute", note)
        try:
            yield seen
        finally:
            event.remove(engine, "before_cursor_execute", note)

    return watch()


def test_a_one_op_push_and_a_pull_take_few_statements(hub, org_id, tmp_path):
    """Propagation's time is mostly the central server's statements, each a round trip
    and most of a millisecond of Python (docs/benchmarks.md, "Sync"): the push's lock,
    the organisation's modules and the device are one statement, the epoch check one
    more, the positions and the NOTIFY one, and the pull's transaction reads the device,
    the epoch and the feed with one statement each."""
    a_store, a = hub.new_site(tmp_path, org_id, "A")
    cid = create(a_store, name="Ana")
    a.sync_once()  # the first contact begins the epoch; not what is counted
    update(a_store, cid, phone="1")
    with _statements(hub.store.engine) as pushed:
        assert a.push_pending() == 1
    assert len(pushed) <= 6, "\n".join(pushed)
    assert not any(s.startswith("COPY") for s in pushed)
    with _statements(hub.store.engine) as pulled:
        a.pull_available()
    assert len(pulled) <= 5, "\n".join(pulled)


def test_a_pulled_change_is_shown_without_waiting_for_the_disk_and_a_local_one_after(
    hub, org_id, tmp_path
):
    """A site publishes a pulled page once committed and does not wait for its fsync
    (its cursor is in the same commit, so a power cut loses both and the page is pulled
    again), nor for one after recording a push's answers (pushed again, the ops are
    answered from the central record); its own writes only once durable, as they are
    acknowledged, and their fsync covers what came before them."""
    a_store, a = hub.new_site(tmp_path, org_id, "A")
    b_store, b = hub.new_site(tmp_path, org_id, "B")
    disk = b_store.group_commit
    assert disk is not None
    seen: list[tuple[str, int]] = []
    b.sync_once()  # first contact: B notes the epoch (a durable write of its own)
    b_store.changes.subscribe(lambda notices: seen.append((notices[0].source, disk.fsyncs)))
    cid = create(a_store, name="Ana")
    a.sync_once()
    before = disk.fsyncs
    assert b.pull_available() == 1
    assert seen == [("sync", before)] and disk.fsyncs == before
    seen.clear()
    update(b_store, cid, phone="2")
    assert seen == [("local", before + 1)]
    assert b.push_pending() == 1
    assert disk.fsyncs == before + 1  # the answer's recording waited for no disk
    assert row(b_store, cid)["phone"] == "2"
