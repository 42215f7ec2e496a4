"""Property-based test of the whole sync (guarantees 1, 2, 4, 5, 6).

The central server on a real PostgreSQL and three sites on their own SQLite files make
random creates, updates and deletes of a few shared rows; sites are partitioned and
healed, push replies are lost after the central commit, old batches are pushed again
(duplicated and shuffled); the central database is dumped and later restored from that
dump with a plain ``pg_restore`` (guarantee 12: the sites find it out and give back what
it lacks). At the end everyone is healed and syncs twice (and verifies, after a restore:
changes made only on the central server after the dump cannot come back), then:

- every site equals the central copy row for row (data, tombstone, and sync_version
  unless the central server was restored: versions went back with it);
- every op a site acknowledged was answered exactly once, and each of its values is in
  the central history of the row (audit) or in a conflict record — never silently lost;
- no op took effect twice, no deleted row came back.

``STRUCTURA_SYNC_EXAMPLES`` raises the number of examples (the long run in
``bench/bench_sync.py --property``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import select

from core import writes
from core.db import sqlite_url
from core.errors import DomainError
from core.models import AppliedOp, AuditEntry, ConflictRecord, FeedEntry, OutboxEntry
from core.registry import spec_for
from core.serial import row_to_json
from core.site import open_store
from core.writes import Actor
from sync_agent.client import EpochChanged, Offline
from tests.pg_fixture import libpq_url
from tests.sync.conftest import new_org

pytestmark = [pytest.mark.pg, pytest.mark.slow]

EXAMPLES = int(os.environ.get("STRUCTURA_SYNC_EXAMPLES", "20"))
# The suite runs the same examples every time (a failure in CI is reproducible, and a
# change is judged by what it changed); the long run (``python -m bench.bench_sync
# --property N``) explores at random. Random runs on 2026-12-02 found convergence
# failures after a central restore, since fixed (docs/dev-notes.md, "The sync failure
# after a central restore").
RANDOM = os.environ.get("STRUCTURA_SYNC_RANDOM") == "1"
N_SITES = 3
IDS = {"clients": ["c0", "c1"], "shows": ["s0"]}
FIELDS = {"clients": ["name", "phone"], "shows": ["city", "venue"]}
VALUES = ["a", "b", "c"]
COMPARED = {
    "clients": ("name", "tax_id", "contact", "email", "phone", "address"),
    "shows": ("city", "country", "venue", "starts_at", "fee", "currency", "tour", "status"),
}


def base_data(entity: str, value: str) -> dict:
    if entity == "clients":
        return {"name": value}
    return {"city": value, "country": "FR", "starts_at": "2026-05-01T20:00:00+00:00",
            "fee": "100", "currency": "EUR"}  # fmt: skip


class DropReplies(httpx.BaseTransport):
    """Delivers a push, then loses its reply (the central server has committed)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        resp = self.inner.handle_request(request)
        if request.url.path.endswith("/api/sync/push"):
            raise httpx.ReadError("reply lost", request=request)
        return resp


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated SQLite file: copying it is much faster than migrating."""
    path = tmp_path_factory.mktemp("tpl") / "site.sqlite3"
    open_store(sqlite_url(path)).dispose()
    return path


@pytest.mark.parametrize("restores", [False, True], ids=["faults", "faults-and-central-restores"])
def test_sync_converges_and_loses_nothing(
    hub, tmp_path: Path, template: Path, restores: bool
) -> None:
    counter = iter(range(10**6))

    class Sync(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            n = next(counter)
            self.org_id = new_org(hub.store, f"org{n}")
            self.sites = []
            self.partitioned = [False] * N_SITES
            self.batches: list[tuple[int, list, list]] = []
            self.dump: Path | None = None
            self.restored = False
            for i in range(N_SITES):
                path = tmp_path / f"ex{n}-site{i}.sqlite3"
                shutil.copy(template, path)
                store, agent = hub.new_site(tmp_path, self.org_id, f"ex{n}-site{i}",
                                            path=path)  # fmt: skip
                self._record_pushes(i, agent)
                self.sites.append((store, agent))

        def _record_pushes(self, i: int, agent) -> None:
            real = agent.client.push

            def push(ops):
                results = real(ops)
                self.batches.append((i, list(ops), list(results)))
                return results

            agent.client.push = push
            agent.real_push = real

        def _actor(self) -> Actor:
            return Actor(org_id=self.org_id, user_id=None, role="admin")

        def _write(self, store, fn) -> None:
            try:
                with store.write() as s:
                    fn(s)
            except DomainError:
                pass  # refused locally (e.g. row deleted here): nothing acknowledged

        # --- edits -------------------------------------------------------------------

        @rule(site=st.integers(0, N_SITES - 1), entity=st.sampled_from(list(IDS)),
              k=st.integers(0, 2), value=st.sampled_from(VALUES))  # fmt: skip
        def create(self, site, entity, k, value):
            rid = IDS[entity][k % len(IDS[entity])]
            store = self.sites[site][0]
            with store.read() as s:
                if s.get(spec_for(entity).model, (self.org_id, rid)) is not None:
                    return
            self._write(
                store,
                lambda s: writes.create(
                    s, actor=self._actor(), entity=entity, data=base_data(entity, value), id=rid
                ),
            )

        @rule(
            site=st.integers(0, N_SITES - 1),
            entity=st.sampled_from(list(IDS)),
            k=st.integers(0, 2),
            f=st.integers(0, 2),
            value=st.sampled_from(VALUES),
        )
        def update(self, site, entity, k, f, value):  # fmt: skip
            rid = IDS[entity][k % len(IDS[entity])]
            field = FIELDS[entity][f % len(FIELDS[entity])]
            self._write(
                self.sites[site][0],
                lambda s: writes.update(
                    s, actor=self._actor(), entity=entity, id=rid, data={field: value}
                ),
            )

        @rule(
            site=st.integers(0, N_SITES - 1), entity=st.sampled_from(list(IDS)), k=st.integers(0, 2)
        )
        def delete(self, site, entity, k):  # fmt: skip
            rid = IDS[entity][k % len(IDS[entity])]
            self._write(
                self.sites[site][0],
                lambda s: writes.delete(s, actor=self._actor(), entity=entity, id=rid),
            )

        @rule(
            entity=st.sampled_from(list(IDS)),
            k=st.integers(0, 2),
            f=st.integers(0, 2),
            value=st.sampled_from(VALUES),
            kill=st.booleans(),
        )
        def central_edit(self, entity, k, f, value, kill):  # fmt: skip
            rid = IDS[entity][k % len(IDS[entity])]
            field = FIELDS[entity][f % len(FIELDS[entity])]
            actor = Actor.system(self.org_id)
            with hub.store.read() as s:
                exists = s.get(spec_for(entity).model, (self.org_id, rid)) is not None
            if not exists:
                fn = lambda s: writes.create(  # noqa: E731
                    s, actor=actor, entity=entity, data=base_data(entity, value), id=rid
                )
            elif kill:
                fn = lambda s: writes.delete(s, actor=actor, entity=entity, id=rid)  # noqa: E731
            else:
                fn = lambda s: writes.update(  # noqa: E731
                    s, actor=actor, entity=entity, id=rid, data={field: value}
                )
            self._write(hub.store, fn)

        # --- the network -------------------------------------------------------------

        @rule(site=st.integers(0, N_SITES - 1))
        def sync(self, site):
            if not self.partitioned[site]:
                self.sites[site][1].sync_once()

        @staticmethod
        def _or_recover(agent, step) -> None:
            """As the running agent's loop does: a new epoch means recovering first."""
            try:
                step()
            except EpochChanged as exc:
                agent.recover(exc.info)

        @rule(site=st.integers(0, N_SITES - 1))
        def pull_only(self, site):
            """The running agent pulls on its own thread, between pushes."""
            if not self.partitioned[site]:
                agent = self.sites[site][1]
                self._or_recover(agent, agent.pull_available)

        @rule()
        def central_dump(self):
            if self.dump is None:
                self.dump = tmp_path / f"{self.org_id}.dump"
                subprocess.run(["pg_dump", "-Fc", "-f", str(self.dump), libpq_url(hub.store.url)],
                               check=True)  # fmt: skip

        @rule()
        def central_restore(self):
            """The central server restored from the dump (older than what the sites
            hold), with a plain pg_restore: no command tells anyone."""
            if not restores or self.dump is None or self.restored:
                return
            hub.store.engine.dispose()
            subprocess.run(["pg_restore", "--clean", "--if-exists", "-d",
                            libpq_url(hub.store.url), str(self.dump)], check=True)  # fmt: skip
            hub.store.engine.dispose()
            self.restored = True
            event("central restored from an older dump")
            self.batches = []  # their answers were given by the server before the restore

        @rule(site=st.integers(0, N_SITES - 1))
        def push_reply_lost(self, site):
            if self.partitioned[site]:
                return
            agent = self.sites[site][1]
            real = agent.client.http
            agent.client.http = httpx.Client(transport=DropReplies(hub.transport),
                                             base_url=hub.url)  # fmt: skip
            try:
                self._or_recover(agent, agent.push_pending)
            except Offline:
                pass
            finally:
                agent.client.http = real

        @rule(data=st.data())
        def replay_old_batch(self, data):
            """A duplicated or reordered delivery of an earlier batch: same answers."""
            if not self.batches:
                return
            i, ops, results = data.draw(st.sampled_from(self.batches))
            order = data.draw(st.permutations(range(len(ops))))
            try:
                again = self.sites[i][1].real_push([ops[j] for j in order])
            except EpochChanged:
                return  # this site has not met the restore yet: it recovers first
            assert again == [results[j] for j in order]

        @rule(site=st.integers(0, N_SITES - 1))
        def partition(self, site):
            self.partitioned[site] = True

        @rule(site=st.integers(0, N_SITES - 1))
        def heal(self, site):
            self.partitioned[site] = False

        @invariant()
        def sites_never_lose_local_pending_edits(self):
            for store, _ in self.sites:
                with store.read() as s:
                    bad = s.scalars(select(OutboxEntry).where(
                        OutboxEntry.status.notin_(("pending", "acked", "sent", "done"))
                    )).all()  # fmt: skip
                assert not bad

        def teardown(self) -> None:
            try:
                self.partitioned = [False] * N_SITES
                for _ in range(2):
                    for _store, agent in self.sites:
                        agent.sync_once()
                if self.restored:
                    for _store, agent in self.sites:
                        agent.verify()
                    # What a verify gave back reaches the others at their next sync.
                    for _store, agent in self.sites:
                        agent.sync_once()
                self.check_converged()
                self.check_nothing_lost()
            finally:
                for store, agent in self.sites:
                    agent.client.close()
                    store.dispose()

        # --- the end state -----------------------------------------------------------

        def rows(self, store) -> dict:
            out = {}
            with store.read() as s:
                for entity, cols in COMPARED.items():
                    model = spec_for(entity).model
                    for r in s.scalars(select(model).where(model.org_id == self.org_id)):
                        j = row_to_json(r)
                        out[(entity, r.id)] = (
                            {c: j[c] for c in cols},
                            # A delete given back after a restore is made again, later.
                            j["deleted_at"] if not self.restored else bool(j["deleted_at"]),
                            j["sync_version"] if not self.restored else None,
                        )
            return out

        def check_converged(self) -> None:
            central = self.rows(hub.store)
            for n, (store, agent) in enumerate(self.sites):
                assert self.rows(store) == central, f"site {n} differs from central"
                assert agent.status()["pending_ops"] == 0

        def check_nothing_lost(self) -> None:
            with hub.store.read() as s:
                answered = dict(s.execute(select(AppliedOp.op_id, AppliedOp.result).where(
                    AppliedOp.org_id == self.org_id)).all())  # fmt: skip
                audit = s.scalars(select(AuditEntry).where(
                    AuditEntry.org_id == self.org_id)).all()  # fmt: skip
                conflicts = s.scalars(select(ConflictRecord).where(
                    ConflictRecord.org_id == self.org_id)).all()  # fmt: skip
                deleted = set(s.execute(select(FeedEntry.entity, FeedEntry.entity_id).where(
                    FeedEntry.org_id == self.org_id, FeedEntry.deleted)).all())  # fmt: skip
            ops_in_audit = [a.op_id for a in audit if a.op_id]
            assert len(ops_in_audit) == len(set(ops_in_audit)), "an op took effect twice"
            history: dict[tuple, list] = {}
            for a in audit:
                for f, change in (a.changes or {}).items():
                    history.setdefault((a.entity, a.entity_id, f), []).append(change[1])
            kept: dict[str, list[dict]] = {}
            for c in conflicts:
                kept.setdefault(c.op_id, []).extend([c.losing_values, c.winning_values])
            for store, _ in self.sites:
                with store.read() as s:
                    ops = s.scalars(select(OutboxEntry)).all()
                for op in ops:
                    assert op.status == "done"
                    assert op.op_id in answered, "an acknowledged op never reached central"
                    if not self.restored:  # a lost op is answered anew after a restore
                        assert op.result == answered[op.op_id]
                    for f, v in (op.fields or {}).items():
                        seen = v in history.get((op.entity, op.entity_id, f), [])
                        in_conflict = any(d.get(f) == v for d in kept.get(op.op_id, []))
                        assert seen or in_conflict, f"value {f}={v!r} of {op.op_id} lost"
            final = self.rows(hub.store)
            for key in deleted:
                assert final[key][1] not in (None, False), f"{key} came back after being deleted"

    run_state_machine_as_test(
        Sync,
        settings=settings(
            max_examples=EXAMPLES, stateful_step_count=40, deadline=None,
            suppress_health_check=list(HealthCheck), derandomize=not RANDOM,
        ),
    )  # fmt: skip
