"""The legacy import: exports -> rows through the one write path, in one transaction.

- Rows keep their legacy ids and go through the one write path with the system actor
  (``core.writes.create_many`` for an entity whose rules allow checking its rows as a
  set, ``create`` row by row otherwise), so each gets its audit entry and outbox entry
  and syncs like any other.
- Order follows the references: users, clients, projects, machines (without their
  current job), jobs, then the machines' current job, inventory, alerts, messages,
  events; shows, then their costs.
- Idempotent: a row whose id is already in the store is skipped and counted as already
  present, never overwritten; if its stored fields differ from the file it is listed
  in ``ImportReport.differs`` so a person can decide.
- Atomic: everything is written in one ``store.write()`` transaction; any exception,
  Ctrl-C or a killed process leaves the store as it was. Rows the import refuses are
  refused before anything of theirs is added to the session, so a refusal never
  breaks the transaction.
- PINs are hashed up front in a thread pool (argon2 releases the GIL) and passed as
  ``hashed_secrets``; the plaintext never reaches the write path, the row, the audit
  log, the outbox, ``extra`` or a log line.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import writes
from core.db import Store
from core.errors import Conflict, DomainError, Invalid, RuleBroken
from core.identity.security import hash_secret
from core.legacy.files import Export
from core.legacy.mapping import MappedRow, RowRefused, map_row
from core.legacy.report import ImportReport, Progress, Refusal
from core.registry import EntitySpec, spec_for
from core.rules import IMPORT
from core.serial import normalise, to_json
from core.sync.unit import unit_of

log = logging.getLogger(__name__)

ORDER = (
    "users",
    "clients",
    "projects",
    "machines",
    "jobs",
    "inventory",
    "alerts",
    "messages",
    "events",
    "shows",
    "show_costs",
)
# Rows refused with their parent: child entity -> (reference field, parent entity).
PARENTS = {"show_costs": ("show_id", "shows")}
PROGRESS_EVERY = 500
_CHUNK = 500  # ids per IN (...) query, well under SQLite's variable limit
_SET = 5_000  # rows per create_many: bounded memory, the lookups still few

ProgressFn = Callable[[Progress], None]


class _Pending:
    __slots__ = ("file", "hashed", "index", "row")

    def __init__(self, row: MappedRow, file: str, index: int) -> None:
        self.row = row
        self.file = file
        self.index = index
        self.hashed: dict[str, str] = {}


def map_exports(
    exports: Sequence[Export], report: ImportReport, *, now: datetime
) -> dict[str, list[_Pending]]:
    """Map every row; refuse what cannot be mapped and later duplicates of an id."""
    out: dict[str, list[_Pending]] = {e: [] for e in ORDER}
    for entity in ORDER:
        seen: set[str] = set()
        dropped: set[str] = set()
        for export in exports:
            fname = export.path.name
            for index, raw in enumerate(export.tables.get(entity, ())):
                if not isinstance(raw, dict):
                    report.refuse(Refusal(entity, None, "row", "not an object", fname, index))
                    continue
                raw_id = raw.get("id")
                key = str(raw_id).strip() if raw_id is not None else None
                if key and key in seen:
                    report.refuse(
                        Refusal(
                            entity,
                            key,
                            "id",
                            "duplicate id: an earlier row has the same id; the first is kept",
                            fname,
                            index,
                        )
                    )
                    continue
                if key:
                    seen.add(key)
                try:
                    row = map_row(entity, raw, now=now)
                except RowRefused as exc:
                    report.refuse(Refusal(entity, key, exc.field, exc.message, fname, index))
                    continue
                dropped.update(row.dropped)
                out[entity].append(_Pending(row, fname, index))
        for key in sorted(dropped):
            report.warnings.append(f"{entity}: dropped field '{key}' (looks like a secret)")
    return out


def _existing(session: Session, entity: str, org_id: str, ids: Iterable[str]) -> dict[str, Any]:
    model = spec_for(entity).model
    ids = list(ids)
    found: dict[str, Any] = {}
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        stmt = select(model).where(model.org_id == org_id, model.id.in_(chunk))
        found.update((r.id, r) for r in session.scalars(stmt))
    return found


def _existing_ids(store: Store, org_id: str, pending: dict[str, list[_Pending]]) -> set[str]:
    with store.read() as session:
        ids = [p.row.id for p in pending["users"]]
        return set(_existing(session, "users", org_id, ids))


def _refuse_shared_pins(
    store: Store, pending: dict[str, list[_Pending]], report: ImportReport, skip: set[str]
) -> None:
    """While PIN-only login is on, PINs are unique: a user of the files whose PIN an
    earlier user of the files has is refused (the write path cannot check hashes)."""
    from core.identity.pins import enabled

    with store.read() as s:
        if not enabled(s):
            return
    seen: set[str] = set()
    kept: list[_Pending] = []
    for p in pending["users"]:
        pin = p.row.secrets.get("pin")
        if p.row.id not in skip and pin is not None and pin in seen:
            report.refuse(
                Refusal("users", p.row.id, p.row.legacy_field("pin"),
                        "already in use (PIN-only login needs unique PINs)", p.file, p.index)
            )  # fmt: skip
            continue
        if pin is not None:
            seen.add(pin)
        kept.append(p)
    pending["users"] = kept


def hash_secrets(
    pending: list[_Pending],
    *,
    skip: set[str],
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Hash the plaintext secrets of rows to be created, in parallel; drop the plaintext."""
    jobs = [
        (p, name, secret)
        for p in pending
        if p.row.id not in skip
        for name, secret in p.row.secrets.items()
    ]
    for p in pending:
        p.row.secrets = {}  # from here on only hashes exist
    if not jobs:
        return 0
    workers = workers or min(8, max(2, (os.cpu_count() or 2) * 2))
    digests = 0
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pin-hash") as pool:
        for (p, name, _), digest in zip(
            jobs, pool.map(hash_secret, [j[2] for j in jobs]), strict=True
        ):
            p.hashed[name] = digest
            digests += 1
            if progress and digests % 50 == 0:
                progress(digests)
    jobs.clear()
    return digests


def _refusal_from(exc: DomainError, pending: _Pending) -> Refusal:
    row = pending.row
    details = exc.details if isinstance(exc.details, list) else []
    pairs = [(row.legacy_field(d.get("field", "")), d.get("message", "")) for d in details]
    if not pairs:
        pairs = [("row", exc.message)]
    if len(pairs) == 1:
        field, message = pairs[0]
    else:
        field = pairs[0][0]
        message = "; ".join(f"{f}: {m}" for f, m in pairs)
    return Refusal(row.entity, row.id, field, message, pending.file, pending.index)


def _differences(entity: str, row: MappedRow, stored: Any) -> list[str]:
    spec = spec_for(entity)
    try:
        values = normalise(spec.model, writes.validate_create(spec, row.data))
        # Derived fields are computed by the store (a job's produced quantity is the
        # sum of its reports), not what the file says.
        given = {k: values[k] for k in row.data if k in values and k not in spec.rules.derived}
    except Invalid:
        given = dict(row.data)
    said = (stored.extra or {}).get(ADAPTED_KEY) or {}
    return sorted(
        k
        for k, v in given.items()
        if k not in spec.secret_inputs
        and hasattr(stored, k)
        and getattr(stored, k) != v
        and not (k in said and said[k] == to_json(v))
    )


# What the old apps allowed and the rules of the work do not, and how the import keeps
# such a row rather than refuse it: a past state is history, not a change made now. The
# report lists each adapted row among its warnings.
ADAPTED_KEY = "legacy_values"
_ADAPTED = {
    "short_close_reason_required": "completed below its quantity in the old app: "
    "imported with short_close_reason 'legacy'",
    "machine_busy": "in progress beside another job on its machine: imported as PAUSED",
    "machine_unavailable": "in progress on a machine that is not up: imported as PAUSED",
    "machine_stopped": "in progress on a stopped machine: imported as PAUSED",
}


def _legacy_state(entity: str, data: dict[str, Any], exc: RuleBroken) -> dict[str, Any] | None:
    if entity != "jobs" or exc.code not in _ADAPTED:
        return None
    if exc.code == "short_close_reason_required":
        return {**data, "short_close_reason": "legacy"}
    return {**data, "status": "PAUSED"}


class _Run:
    def __init__(
        self,
        session: Session,
        org_id: str,
        report: ImportReport,
        total: int,
        progress: ProgressFn | None,
        done: int,
    ) -> None:
        self.session = session
        self.actor = writes.Actor.system(org_id)
        self.org_id = org_id
        self.report = report
        self.total = total
        self.progress = progress
        self.done = done
        self.refused: dict[str, set[str]] = {e: set() for e in ORDER}
        # Strong references keep created rows in the session's (weak) identity map, so
        # the write path's reference checks find them without a query.
        self.keep: list[Any] = []

    def tick(self, stage: str, force: bool = False) -> None:
        self.done += 1
        if self.progress and (force or self.done % PROGRESS_EVERY == 0):
            self.progress(Progress(stage, self.done, self.total))

    def entity(
        self, entity: str, pending: list[_Pending], *, omit: tuple[str, ...] = ()
    ) -> list[_Pending]:
        """Create the rows of one entity; returns the ones created."""
        report = self.report
        stored = _existing(self.session, entity, self.org_id, (p.row.id for p in pending))
        parent = PARENTS.get(entity)
        created: list[_Pending] = []
        spec = spec_for(entity)
        # An entity whose rules allow it is written as one set (the write path's bulk
        # form); the others row by row, each row seeing the ones before it.
        batch: list[_Pending] | None = [] if writes.batch_safe(spec) else None
        if batch is None:
            self._preload_refs(spec, pending)
        for p in pending:
            row = p.row
            self.tick(entity)
            if row.id in stored:
                report.count(report.already_present, entity)
                diff = _differences(entity, row, stored[row.id])
                if diff:
                    report.differs.append({"entity": entity, "id": row.id, "fields": diff})
                continue
            if parent and row.data.get(parent[0]) in self.refused[parent[1]]:
                self._refuse(
                    Refusal(
                        entity,
                        row.id,
                        row.legacy_field(parent[0]),
                        f"parent {parent[1].removesuffix('s')} refused",
                        p.file,
                        p.index,
                    )
                )
                continue
            data = {k: v for k, v in row.data.items() if k not in omit} if omit else row.data
            if batch is not None:
                batch.append(p)
                self.done -= 1  # counted once its set is written (_create_set)
                continue
            try:
                obj = self._create(entity, p, data)
            except Conflict as exc:
                if exc.current is not None:  # written meanwhile by someone else
                    report.count(report.already_present, entity)
                    continue
                self._refuse(_refusal_from(exc, p))
                continue
            except DomainError as exc:
                self._refuse(_refusal_from(exc, p))
                continue
            self.keep.append(obj)
            report.count(report.imported, entity)
            created.append(p)
        if batch:
            created += self._create_set(entity, batch)
        if self.progress:
            self.progress(Progress(entity, self.done, self.total))
        return created

    def _preload_refs(self, spec: EntitySpec, pending: list[_Pending]) -> None:
        """Load the rows that rows written one by one point at, a few queries per
        target, and hold them: the write path's reference checks then find them in the
        session (its identity map holds rows weakly, and rows written as a set are not
        in it) instead of one query per reference."""
        wanted: dict[str, set[str]] = {}
        for p in pending:
            data = p.row.data
            for fname, target in spec.refs.items():
                if isinstance(ref := data.get(fname), str):
                    wanted.setdefault(target, set()).add(ref)
            for fname, target in spec.list_refs.items():
                refs = data.get(fname)
                if isinstance(refs, list):
                    wanted.setdefault(target, set()).update(r for r in refs if isinstance(r, str))
        for target, ids in wanted.items():
            self.keep.extend(_existing(self.session, target, self.org_id, ids).values())

    def _create_set(self, entity: str, batch: list[_Pending]) -> list[_Pending]:
        report = self.report
        created: list[_Pending] = []
        for start in range(0, len(batch), _SET):
            part = batch[start : start + _SET]
            new = [
                writes.NewRow(p.row.data, p.row.id, p.row.extra or None, p.hashed or None)
                for p in part
            ]
            results = writes.create_many(
                self.session, actor=self.actor, entity=entity, rows=new, known_new=True,
                origin=IMPORT,
            )  # fmt: skip
            for p, result in zip(part, results, strict=True):
                if isinstance(result, Conflict) and result.current is not None:
                    report.count(report.already_present, entity)
                elif isinstance(result, DomainError):
                    self._refuse(_refusal_from(result, p))
                else:
                    report.count(report.imported, entity)
                    created.append(p)
            # Progress moves as sets are written, not as rows are read into them (a
            # bar at 100 % while 50,000 events are still being written).
            self.done += len(part)
            if self.progress:
                self.progress(Progress(entity, self.done, self.total))
        return created

    def _create(self, entity: str, p: _Pending, data: dict[str, Any]) -> Any:
        def create(values: dict[str, Any], extra: dict[str, Any] | None = None) -> Any:
            return writes.create(
                self.session,
                actor=self.actor,
                entity=entity,
                data=values,
                id=p.row.id,
                extra=extra or p.row.extra or None,
                hashed_secrets=p.hashed or None,
                # _existing() above looked every id up in this transaction.
                known_new=True,
                origin=IMPORT,
            )

        try:
            return create(data)
        except RuleBroken as exc:
            adapted = _legacy_state(entity, data, exc)
            if adapted is None:
                raise
            # The row keeps what the old app said, in extra (and a re-import compares
            # the file with that, not with the adapted value).
            said = {k: data.get(k) for k in adapted if adapted[k] != data.get(k)}
            obj = create(adapted, {**(p.row.extra or {}), ADAPTED_KEY: said})
            self.report.warnings.append(f"{entity} {p.row.id}: {exc.code}; {_ADAPTED[exc.code]}")
            return obj

    def _refuse(self, refusal: Refusal) -> None:
        self.report.refuse(refusal)
        if refusal.id is not None:
            self.refused[refusal.entity].add(refusal.id)

    def link_current_jobs(self, machines: list[tuple[str, str]]) -> None:
        """Machines and jobs point at each other: the current job is set once jobs exist."""
        for machine_id, job_id in machines:
            try:
                writes.update(
                    self.session,
                    actor=self.actor,
                    entity="machines",
                    id=machine_id,
                    data={"current_job_id": job_id},
                )
            except DomainError:
                self.report.warnings.append(
                    f"machines {machine_id}: current job '{job_id}' was not imported; left empty"
                )


def run_import(
    store: Store,
    exports: Sequence[Export],
    *,
    org_id: str,
    progress: ProgressFn | None = None,
    hash_workers: int | None = None,
    now: datetime | None = None,
) -> ImportReport:
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    report = ImportReport(files=[str(e.path) for e in exports], org_id=org_id)
    pending = map_exports(exports, report, now=now)
    total = sum(len(v) for v in pending.values())
    present_users = _existing_ids(store, org_id, pending)
    secrets = sum(len(p.row.secrets) for p in pending["users"] if p.row.id not in present_users)
    total += secrets

    def hashed(n: int) -> None:
        if progress:
            progress(Progress("hashing", n, total))

    _refuse_shared_pins(store, pending, report, present_users)
    hash_secrets(pending["users"], skip=present_users, workers=hash_workers, progress=hashed)

    with store.write() as session:
        # Every reference is checked by the write path; the database checks them again
        # at commit, so a job and its opening report need not be flushed one by one.
        unit_of(session).defer_foreign_keys(session)
        run = _Run(session, org_id, report, total, progress, secrets)
        links: list[tuple[str, str]] = []
        for entity in ORDER:
            omit = ("current_job_id",) if entity == "machines" else ()
            created = run.entity(entity, pending[entity], omit=omit)
            if entity == "machines":
                # Only machines created now: a machine already present is never touched.
                links = [
                    (p.row.id, p.row.data["current_job_id"])
                    for p in created
                    if p.row.data.get("current_job_id")
                ]
            elif entity == "jobs":
                run.link_current_jobs(links)
            pending[entity] = []  # free memory as we go
    report.seconds = time.perf_counter() - started
    log.info(
        "legacy import: %d imported, %d already present, %d refused",
        report.total_imported,
        sum(report.already_present.values()),
        len(report.refused),
    )
    return report
