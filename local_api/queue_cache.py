"""Each operator's queue ("my jobs"), kept pre-encoded between the changes that touch it.

Tablets poll their operator's queue constantly, and most writes (progress on one job)
change no other operator's queue. A committed ``jobs`` notice only records the job id;
the next request resolves the recorded ids with one indexed query (who the jobs are
assigned to now) and drops the queues of those operators and of every operator whose
cached queue held one of the jobs (a job taken away, completed or deleted). A queue is
recomputed on its owner's next request (``compute``).

Notices are taken in the writer's thread before the writer is answered, and each request
resolves every notice taken before it, so an operator always sees their own write.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from sqlalchemy import Select, bindparam, select

from core.models import Job
from core.sync.notices import ChangeNotice

MAX_QUEUES = 5_000  # operators remembered; beyond that the cache starts over
MAX_RESOLVE = 500  # more changed jobs at once (a sync batch): start over instead


class QueueCache:
    def __init__(self, context: Any, compute: Callable[[Any, Any], list[dict[str, Any]]]) -> None:
        self.context = context  # store and site are read from it each time (rebinding)
        self.compute = compute  # (store, actor) -> the queue's rows as JSON
        self._lock = threading.Lock()
        self._build = threading.Lock()
        self._pending: set[tuple[str, str]] = set()  # (org, job id)
        self._reset = False
        # (org, user) -> (encoded queue, ids of the jobs in it)
        self._queues: dict[tuple[str, str], tuple[bytes, frozenset[str]]] = {}
        self.computed = 0  # for tests: how many queues were recomputed

    def subscribe(self) -> Callable[[], None]:
        return self.context.store.changes.subscribe(self.on_changes)

    def on_changes(self, notices: Sequence[ChangeNotice]) -> None:
        with self._lock:
            if not notices:
                self._reset = True
            self._pending.update((n.org_id, n.id) for n in notices if n.entity == "jobs")

    def get(self, actor: Any) -> bytes:
        key = (actor.org_id, actor.user_id)
        with self._build:
            with self._lock:
                pending, self._pending = self._pending, set()
                reset, self._reset = self._reset, False
            if reset or len(pending) > MAX_RESOLVE:
                self._queues.clear()
            elif pending:
                self._drop(pending)
            hit = self._queues.get(key)
            if hit is not None:
                return hit[0]
            rows = self.compute(self.context.store, actor)
            body = orjson.dumps(rows)
            if len(self._queues) >= MAX_QUEUES:
                self._queues.clear()
            self._queues[key] = (body, frozenset(r["id"] for r in rows))
            self.computed += 1
            return body

    def _drop(self, pending: set[tuple[str, str]]) -> None:
        by_org: dict[str, list[str]] = {}
        for org, job in sorted(pending):
            by_org.setdefault(org, []).append(job)
        stale: set[tuple[str, str]] = set()
        with self.context.store.read() as s:
            for org, jobs in by_org.items():
                held = (k for k, (_, ids) in self._queues.items() if not ids.isdisjoint(jobs))
                stale.update(k for k in held if k[0] == org)
                found = s.connection().execute(_assigned(), {"org": org, "ids": jobs})
                stale.update((org, u) for (operators,) in found for u in operators or ())
        for k in stale:
            self._queues.pop(k, None)


@functools.cache
def _assigned() -> Select[Any]:
    """Whose queues the given jobs are in now. By the whole primary key: by id alone
    SQLite could use no index and read every job of the store after each progress report
    (3.7 ms with 20,000 completed jobs, against 0.1 ms). Built once."""
    j = Job.__table__.c
    return select(j.operator_ids).where(
        j.org_id == bindparam("org"), j.id.in_(bindparam("ids", expanding=True))
    )
