"""The machine board, kept up to date card by card and served as pre-encoded JSON.

Every screen on the floor polls the board, and every write (a fifth of the floor's
traffic) used to throw the whole board away, so most board requests recomputed every
card and summed the day's production events. Here a committed change only marks what it
touches:

- a ``machines`` row: that machine's card;
- a ``jobs`` row: the job's machine, any card showing the job, and every card's queue
  length (one grouped count; a job may have moved between machines);
- ``alerts`` and ``downtimes`` rows: their machine's card;
- a production record (a production report, or a production event of the older
  shape): added once to its machine's counters for today, then that card.

The next request recomputes only the marked cards (``core.factory.actions.board`` with
``machine_ids`` and the counters as ``production``) and re-encodes the list once;
requests in between get the same bytes and an ETag (``If-None-Match`` answers 304).
All cards are recomputed every ``max_age`` seconds because OEE moves with the clock, and
from scratch (counters too) at midnight UTC or after a batch it cannot attribute (an
empty batch, a deleted production record). None of this costs more with the number of
the day's events: the counters are read once per day and process.

Notices are taken in the writer's thread after commit and before the writer is
answered, and every request resolves all notices taken before it, so a client always
sees its own write.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time as clock
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.db import Store
from core.models import Alert, Downtime, Event, Job, ProductionReport
from core.sync.notices import ChangeNotice

Totals = tuple[Decimal, Decimal]
ProductionRows = Callable[[Session, str, datetime, Sequence[str] | None], Iterable[tuple[Any, ...]]]


def event_production(
    session: Session, org_id: str, since: datetime, ids: Sequence[str] | None
) -> Iterable[tuple[Any, ...]]:
    """(id, machine_id, produced, scrap) of production events since ``since``; of the
    given ids only, when there are some."""
    from core.factory.oee import PRODUCTION  # (the factory modules load on first use)

    p = Event.payload
    stmt = select(
        Event.id, p["machine_id"].as_string(), p["qty"].as_string(), p["scrap"].as_string()
    ).where(Event.org_id == org_id, Event.type == PRODUCTION, Event.deleted_at.is_(None))
    if ids is None:
        return session.execute(stmt.where(Event.at >= since))
    # By primary key, the day checked here: with the day in the WHERE clause SQLite
    # prefers the (org, at) index and walks the whole day.
    rows = session.execute(stmt.add_columns(Event.at).where(Event.id.in_(list(ids))))
    return [r[:4] for r in rows if r[4] >= since]


def report_production(
    session: Session, org_id: str, since: datetime, ids: Sequence[str] | None
) -> Iterable[tuple[Any, ...]]:
    """(id, machine_id, produced, scrap) of the reports since ``since`` that count as
    production (``core.factory.oee.counted_reports``, as the OEE report counts them)."""
    # The quantities are added here: a sum in SQL would come back as the stored scaled
    # integer, not through the column type.
    params: dict[str, Any] = {"org": org_id}
    if ids is None:
        params["since"] = since
    else:
        params["ids"] = list(ids)
    rows = session.connection().execute(_report_rows(ids is not None), params)
    return [(id_, m, good + bad, bad) for id_, m, good, bad, at in rows if at >= since]


@functools.cache
def _report_rows(by_id: bool) -> Select[Any]:
    """The day's counted reports, or the given ones: built once (after a write, the board
    reads the new report's amounts; building the statement cost as much as running it)."""
    from core.factory.oee import counted_reports  # (the factory modules load on first use)

    r = ProductionReport.__table__.c
    stmt = select(r.id, r.machine_id, r.good_qty, r.scrap_qty, r.at).where(
        *counted_reports(bindparam("org"))
    )
    if by_id:
        return stmt.where(r.id.in_(bindparam("ids", expanding=True)))
    return stmt.where(r.at >= bindparam("since"))


@functools.cache
def _job_places() -> Select[Any]:
    """Where the given jobs are now (machine, status)."""
    j = Job.__table__.c
    return select(j.id, j.machine_id, j.status).where(
        j.org_id == bindparam("org"), j.id.in_(bindparam("ids", expanding=True))
    )


@dataclass(frozen=True)
class DailySource:
    """Where a machine's production of the day comes from: the entity whose notices
    carry it and how to read its rows."""

    entity: str = "events"
    rows: ProductionRows = event_production


# Progress is recorded as production reports; events of type PRODUCTION are what older
# tablets and the compatibility API still send. Both count, as in core.factory.oee.
DAILY = (DailySource(), DailySource("production_reports", report_production))


@dataclass(frozen=True)
class Encoded:
    body: bytes
    etag: str


class BoardCache:
    def __init__(
        self,
        context: Any,
        compute: Callable[..., list[dict[str, Any]]],
        *,
        max_age: float = 5.0,
        daily: Sequence[DailySource] = DAILY,
    ) -> None:
        # The app's context (store and site are read from it each time: tests and the
        # desktop rebind an app to another store, handing the subscribers over).
        self.context = context
        self.compute = compute  # core.factory.actions.board
        self.max_age = max_age
        self.daily = {source.entity: source for source in daily}
        self._lock = threading.Lock()  # pending notices
        self._build = threading.Lock()  # one recomputation at a time
        self._pending: dict[str, set[str]] = {}
        self._everything = True
        self._cards: dict[str, dict[str, Any]] = {}
        self._encoded: Encoded | None = None
        self._refreshed = 0.0
        self._day: Any = None
        self._counted: set[tuple[str, str]] = set()
        self._production: dict[str, Totals] = {}
        # job id -> (machine, in a queue) as last seen in a notice: a progress report on
        # a job that stays put needs no queue recount.
        self._jobs: dict[str, tuple[str, bool]] = {}
        self.full_builds = 0  # for tests: how often everything was recomputed

    @property
    def store(self) -> Store:
        store: Store = self.context.store
        return store

    @property
    def org_id(self) -> str:
        org: str = self.context.site.org_id
        return org

    def subscribe(self) -> Callable[[], None]:
        return self.store.changes.subscribe(self.on_changes)

    def on_changes(self, notices: Sequence[ChangeNotice]) -> None:
        with self._lock:
            if not notices:
                self._everything = True
            for n in notices:
                if n.org_id != self.org_id:
                    continue
                if n.entity in self.daily and n.kind != "create":
                    # A record changed or deleted: its amount may already be counted.
                    self._everything = True
                self._pending.setdefault(n.entity, set()).add(n.id)

    def get(self) -> Encoded:
        with self._build:
            with self._lock:
                pending, self._pending = self._pending, {}
                everything, self._everything = self._everything, False
            now = utcnow()
            if now.date() != self._day:
                everything = True
            if everything:
                self._rebuild(now)
            elif pending or clock.monotonic() - self._refreshed > self.max_age:
                self._apply(pending, now)
            assert self._encoded is not None
            return self._encoded

    def cards(self) -> list[dict[str, Any]]:
        """The current cards as objects (for a view that adds to them, e.g. a board
        screen's running stops); decoded from the one encoding, so it is the same board."""
        decoded: list[dict[str, Any]] = orjson.loads(self.get().body)
        return decoded

    # -- recomputation ---------------------------------------------------------------

    def _rebuild(self, now: datetime) -> None:
        midnight = datetime.combine(now.date(), time(), UTC)
        with self.store.read() as s:
            self._counted = set()
            self._production = {}
            self._jobs = {}
            for source in self.daily.values():
                self._count(source.entity, source.rows(s, self.org_id, midnight, None))
            cards = self.compute(s, org_id=self.org_id, now=now, production=self._production)
        self._day = now.date()
        self._cards = {c["id"]: c for c in cards}
        self.full_builds += 1
        self._encode()

    def _count(self, entity: str, rows: Iterable[tuple[Any, ...]]) -> set[str]:
        touched = set()
        for id_, machine_id, qty, scrap in rows:
            if (entity, id_) in self._counted or machine_id is None:
                continue
            self._counted.add((entity, id_))
            made, bad = self._production.get(machine_id, (Decimal(0), Decimal(0)))
            self._production[machine_id] = (made + _amount(qty), bad + _amount(scrap))
            touched.add(machine_id)
        return touched

    def _apply(self, pending: dict[str, set[str]], now: datetime) -> None:
        midnight = datetime.combine(now.date(), time(), UTC)
        stale = clock.monotonic() - self._refreshed > self.max_age
        with self.store.read() as s:
            machines = set(pending.get("machines", ()))
            jobs = pending.get("jobs")
            moved = False
            if jobs:
                from core.factory.schemas import ACTIVE

                seen = (
                    s.connection()
                    .execute(_job_places(), {"org": self.org_id, "ids": list(jobs)})
                    .all()
                )
                for id_, machine, status in seen:
                    place = (machine, status in ACTIVE)
                    moved = moved or self._jobs.get(id_) != place
                    self._jobs[id_] = place
                    machines.add(machine)
                moved = moved or len(seen) < len(jobs)  # deleted from under us
                machines |= {m for m, c in self._cards.items() if _shows(c, jobs)}
            for model, entity in ((Alert, "alerts"), (Downtime, "downtimes")):
                ids = pending.get(entity)
                if ids:
                    machines |= set(
                        s.scalars(
                            select(model.machine_id).where(
                                model.org_id == self.org_id, model.id.in_(list(ids))
                            )
                        )
                    )
            for source in self.daily.values():
                made = pending.get(source.entity)
                if made:
                    rows = source.rows(s, self.org_id, midnight, sorted(made))
                    machines |= self._count(source.entity, rows)
            machines.discard(None)
            if stale:
                which: set[str] | None = None
            elif machines:
                which = machines
            else:
                which = set()
            if which is None or which:
                cards = self.compute(
                    s, org_id=self.org_id, now=now, machine_ids=which, production=self._production
                )
                if which is None:
                    self._cards = {}
                for m in which or ():
                    self._cards.pop(m, None)
                self._cards.update((c["id"], c) for c in cards)
            if moved and which is not None:
                # A job entered or left a machine's queue (or is new to this cache): the
                # other machines' counts may have changed too.
                self._queue_lengths(s)
        self._encode()

    def _queue_lengths(self, s: Session) -> None:
        from core.factory.schemas import ACTIVE

        counts = dict(
            s.execute(
                select(Job.machine_id, func.count())
                .where(Job.org_id == self.org_id, Job.deleted_at.is_(None))
                .where(Job.status.in_(ACTIVE))
                .group_by(Job.machine_id)
            ).all()
        )
        for m, card in self._cards.items():
            card["queue_length"] = int(counts.get(m, 0))

    def _encode(self) -> None:
        cards = sorted(self._cards.values(), key=lambda c: c["name"])
        body = orjson.dumps(cards)
        if self._encoded is None or body != self._encoded.body:
            tag = hashlib.blake2b(body, digest_size=12).hexdigest()
            self._encoded = Encoded(body, f'"{tag}"')
        self._refreshed = clock.monotonic()


def _shows(card: dict[str, Any], jobs: set[str]) -> bool:
    return any((card.get(k) or {}).get("id") in jobs for k in ("current_job", "next_job"))


def _amount(value: Any) -> Decimal:
    """A stored quantity; events written before payloads were checked may hold anything,
    and one bad row must not take the whole board down (it counts as nothing)."""
    try:
        amount = Decimal(value or 0)
    except (ArithmeticError, TypeError, ValueError):
        return Decimal(0)
    return amount if amount.is_finite() else Decimal(0)
