"""Epochs of the central server: restores that lose nothing (guarantee 12).

A restore from an older dump brings back an older feed, older rows and an older record
of applied ops; sites still hold what came after. Each organisation's history is cut
into epochs (``sync_epochs``): the first begins the first time a site asks, and a new one
begins when the server is known to be restored — by ``structura central restore-epoch``
after a restore, or found out on its own: a site whose cursor is past the restored feed
head, or whose cursor's entry the feed no longer has (its mark), shows that the feed
went back. A plain ``pg_restore`` is therefore noticed by the first site that had synced
past the dump.

A site that meets a new epoch gives back (re-pushes, in order) its whole outbox history:
the ops the restored server answered before are answered again from ``applied_ops``
(exactly once), the ones it lost are applied now. It then re-reads the feed from the
epoch's ``head`` (``sync_agent.agent.SyncAgent.recover``).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import and_, bindparam, func, literal_column, null, select, text
from sqlalchemy.orm import Session, aliased

from central import counter
from central.counter import feed_head
from core.clock import utcnow, uuid7
from core.db import Store
from core.errors import DomainError
from core.models import ConflictRecord, FeedEntry, Organisation, SyncEpoch, SyncVerification
from core.sync import wire
from core.sync.models import FeedCounter


def current(session: Session, org_id: str) -> SyncEpoch | None:
    return session.scalars(
        select(SyncEpoch)
        .where(SyncEpoch.org_id == org_id)
        .order_by(SyncEpoch.started_at.desc(), SyncEpoch.epoch.desc())
        .limit(1)
    ).first()


def begin(session: Session, org_id: str, reason: str, *, head: int | None = None) -> SyncEpoch:
    """Start a new epoch for the organisation at ``head`` (default: its feed head now)."""
    rec = SyncEpoch(
        org_id=org_id, epoch=uuid7(), started_at=utcnow(),
        head=feed_head(session, org_id) if head is None else head, reason=reason[:200],
    )  # fmt: skip
    session.add(rec)
    session.flush()
    session.info.setdefault(_BEGUN, set()).add(rec.epoch)
    return rec


_BEGUN = "structura.epochs_begun"


def begun_here(session: Session, rec: SyncEpoch) -> bool:
    """Whether ``rec`` was begun in this session's transaction (not yet committed)."""
    return rec.epoch in session.info.get(_BEGUN, ())


RESTORED = "the feed's table was re-created: restored from a dump"


def note_counter(session: Session, org_id: str, seen: counter.Counter) -> SyncEpoch | None:
    """What a use of the counter found (the row locked): after a restore, a new epoch at
    the restored feed's head; a stamp that does not match is written either way."""
    rec = begin(session, org_id, RESTORED, head=seen.head) if seen.restored else None
    if seen.stale and seen.stamp is not None:
        counter.set_stamp(session, org_id, seen.stamp)
    return rec


def _restored(session: Session, org_id: str) -> tuple[SyncEpoch | None, int]:
    """The epoch begun now if the counter shows a restore no one has noticed yet, and
    the feed head the counter showed (the check below needs it: one read, not two)."""
    seen = counter.read(session, org_id)
    if seen is not None and seen.stale:
        seen = counter.read(session, org_id, lock=True)  # one finder among those racing
        if seen is not None and seen.stale:
            return note_counter(session, org_id, seen), seen.last
    return None, 0 if seen is None else seen.last


def begin_all(session: Session, reason: str = "restored (restore-epoch)") -> list[SyncEpoch]:
    """``structura central restore-epoch``: a new epoch for every organisation."""
    orgs = session.scalars(select(Organisation.id).order_by(Organisation.id)).all()
    out = []
    for org_id in orgs:
        seen = counter.read(session, org_id, lock=True)
        if seen is not None and seen.stale and seen.stamp is not None:
            counter.set_stamp(session, org_id, seen.stamp)  # declared: not found out again
        out.append(begin(session, org_id, reason))
    return out


def info(rec: SyncEpoch) -> wire.EpochInfo:
    return wire.EpochInfo(id=rec.epoch, head=rec.head)


def parse_cursor(value: str | None) -> tuple[int, str | None] | None:
    """The ``CURSOR;MARK`` header, or None when absent or malformed."""
    if not value:
        return None
    cursor, _, mark = value.partition(";")
    try:
        return int(cursor), (mark or None)
    except ValueError:
        return None


@cache
def _state(pg: bool) -> Any:
    """What ``check`` reads, in one statement: the counter (with the table's stamp),
    the current epoch and the feed entry at the site's cursor. Three statements were
    three round trips and most of a millisecond each in Python, on every push and pull."""
    e = aliased(SyncEpoch)
    latest = (
        select(e.epoch)
        .where(e.org_id == bindparam("org"))
        .order_by(e.started_at.desc(), e.epoch.desc())
        .limit(1)
        .scalar_subquery()
    )
    table = literal_column(counter.TABLE_OID) if pg else null()
    return (
        select(
            FeedCounter.last_seq,
            FeedCounter.stamp,
            table,
            SyncEpoch,
            FeedEntry.entity,
            FeedEntry.entity_id,
            FeedEntry.version,
            FeedEntry.op_id,
        )
        .select_from(Organisation)
        .outerjoin(FeedCounter, FeedCounter.org_id == Organisation.id)
        .outerjoin(SyncEpoch, and_(SyncEpoch.org_id == Organisation.id, SyncEpoch.epoch == latest))
        .outerjoin(
            FeedEntry,
            and_(FeedEntry.org_id == Organisation.id, FeedEntry.seq == bindparam("after")),
        )
        .where(Organisation.id == bindparam("org"))
    )


def check(
    session: Session, org_id: str, site_epoch: str | None, cursor: tuple[int, str | None] | None
) -> SyncEpoch:
    """The organisation's current epoch, begun now if there is none, or if the site —
    which synced in the current epoch — holds a feed position the feed does not: the
    server went back (restored from an older dump)."""
    after = cursor[0] if cursor is not None else 0
    found = session.execute(
        _state(counter.on_pg(session)), {"org": org_id, "after": after}
    ).one_or_none()
    if found is None:
        return _check(session, org_id, site_epoch, cursor)  # no such organisation: as ever
    last, stamp, table, rec, *entry = found
    seen = None if last is None else counter.seen(int(last), stamp, table)
    if seen is not None and seen.stale:
        return _check(session, org_id, site_epoch, cursor)  # a restore to note: the rare path
    mark = None if entry[0] is None else tuple(entry)
    return _decide(session, org_id, site_epoch, cursor, rec, 0 if seen is None else seen.last,
                   mark)  # fmt: skip


def _check(
    session: Session, org_id: str, site_epoch: str | None, cursor: tuple[int, str | None] | None
) -> SyncEpoch:
    """``check`` one statement at a time, where a restore may have to be noted."""
    found, head = _restored(session, org_id)
    if found is not None:
        return found
    rec = current(session, org_id)
    entry = None
    if cursor is not None and cursor[0] > 0:
        e = session.get(FeedEntry, (org_id, cursor[0]))
        entry = None if e is None else (e.entity, e.entity_id, e.version, e.op_id)
    return _decide(session, org_id, site_epoch, cursor, rec, head, entry)


def _decide(
    session: Session,
    org_id: str,
    site_epoch: str | None,
    cursor: tuple[int, str | None] | None,
    rec: SyncEpoch | None,
    head: int,
    entry: tuple[str, str, int, str | None] | None,
) -> SyncEpoch:
    """The rest of ``check``, from what it read: ``head`` the feed's head, ``entry``
    (entity, id, version, op id) the feed's entry at the site's cursor, if any."""
    if rec is None:
        return begin(session, org_id, "first contact")
    if site_epoch != rec.epoch or cursor is None:
        return rec  # a site in an older epoch recovers; nothing to find out here
    after, mark = cursor
    if after <= 0:
        return rec
    reason = None
    if after > head:
        reason = f"feed head {head} below a site's cursor {after}"
    elif mark is not None and (entry is None or not wire.marks_match(mark, *entry)):
        reason = f"feed entry {after} is not the one a site saw"
    if reason is None:
        return rec
    # Sites finding it out together begin one epoch, not one each.
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": "epoch:" + org_id})
    now = current(session, org_id)
    if now is not None and now.epoch != rec.epoch:
        return now
    return begin(session, org_id, reason)


def record_verification(
    store: Store, org_id: str, device_id: str, report: wire.VerifyReport
) -> None:
    with store.write() as s:
        rec = s.get(SyncVerification, device_id)
        if rec is None:
            rec = SyncVerification(device_id=device_id, org_id=org_id)
            s.add(rec)
        rec.org_id, rec.at = org_id, utcnow()
        rec.differences, rec.repaired, rec.rows = report.differences, report.repaired, report.rows


def sync_health(session: Session, org_id: str) -> dict[str, object]:
    """For the central admin API and console: the epochs (restores found out or
    declared), each site's last verify, and the open conflicts by kind."""
    eps = session.scalars(
        select(SyncEpoch).where(SyncEpoch.org_id == org_id).order_by(SyncEpoch.started_at)
    ).all()
    checks = session.scalars(
        select(SyncVerification).where(SyncVerification.org_id == org_id)
    ).all()
    kinds = session.execute(
        select(ConflictRecord.kind, func.count())
        .where(ConflictRecord.org_id == org_id, ConflictRecord.resolved_at.is_(None))
        .group_by(ConflictRecord.kind)
    ).all()
    return {
        "epochs": [{"epoch": e.epoch, "started_at": e.started_at.isoformat(), "head": e.head,
                    "reason": e.reason} for e in eps],
        "verifications": [{"device_id": v.device_id, "at": v.at.isoformat(),
                           "differences": v.differences, "repaired": v.repaired,
                           "rows": v.rows} for v in checks],
        "open_conflicts": {k: n for k, n in kinds},
        "divergent_devices": sum(1 for v in checks if v.differences),
    }  # fmt: skip


class EpochChanged(DomainError):
    """A push from a site that synced in an older epoch: it must give back what the
    restored server lacks (its outbox history, in order) before anything else."""

    code = "epoch_changed"
    status = 409

    def __init__(self, rec: SyncEpoch) -> None:
        super().__init__(
            f"the central server was restored (epoch {rec.epoch} began at feed position "
            f"{rec.head}); re-push the outbox history and re-read the feed",
            details=[{"field": "epoch", "message": rec.epoch},
                     {"field": "head", "message": str(rec.head)}],
        )  # fmt: skip
