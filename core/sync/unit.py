"""The unit of work: everything a write transaction collects besides the rows themselves.

The one write path appends audit and outbox rows (written in bulk at flush), queues
central feed entries (positions are assigned at commit) and change notices (published
after commit); bulk loaders keep strong references to rows they preloaded and index
rows made but not flushed yet. All of it lives on one typed object per session instead
of ad-hoc session keys, and there is ONE way to undo what a rolled-back savepoint
collected: ``rollback_to`` of the mark taken when the savepoint began, driven by the
session's own transaction events, so no caller has to remember it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import Session, SessionTransaction

from core.rowload import insert_rows
from core.sync.notices import ChangeNotice


@dataclass(frozen=True)
class Mark:
    """Where each collection stood when a savepoint began."""

    inserts: tuple[tuple[type, int], ...]
    feed: int
    notices: int
    pulled: int


@dataclass
class UnitOfWork:
    # The store's recorder (outbox on a site, feed on the central server); None on a
    # read session.
    recorder: Any = None
    # Outbox and audit rows as plain values, one multi-row INSERT per table at flush:
    # as ORM objects they would cost more than the rows they describe.
    inserts: dict[type, list[dict[str, Any]]] = field(default_factory=dict)
    # Central feed entries waiting for their positions (``central.feed``).
    feed: list[dict[str, Any]] = field(default_factory=list)
    # What to tell subscribers once the transaction has committed.
    notices: list[ChangeNotice] = field(default_factory=list)
    # Rows created (or re-keyed) here and maybe not flushed yet, by lookup key; see
    # ``core.writes._made_here``. Candidates only: callers re-check the live object.
    made_here: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    # (model, primary key) of rows a caller locked in bulk (``SELECT .. FOR UPDATE``).
    locked: set[tuple[type, tuple[str, str]]] = field(default_factory=set)
    # Strong references: the identity map holds rows weakly, and a bulk preload is
    # worthless if its rows are collected before the per-row lookups.
    kept: list[Any] = field(default_factory=list)
    # Per-transaction caches of the rules hook (``core.writes.check_module``,
    # ``core.documents.site_code``, the factory's queue tails): cleared when a savepoint
    # rolls back, since what they remember may have been written in it.
    org_modules: dict[str, frozenset[str] | None] = field(default_factory=dict)
    site_code: str | None = None
    queue_tails: dict[tuple[str, str | None], Any] = field(default_factory=dict)
    # Document counters in use (``core.documents.next_number``), held strongly: the
    # identity map's weak reference let a flushed counter go, and each number then
    # cost a query that first flushed every pending row.
    doc_counters: dict[tuple[str, str], Any] = field(default_factory=dict)
    # Foreign keys are checked at commit in this transaction (``defer_foreign_keys``):
    # a row may then be inserted before the row it points at, so the write path need
    # not flush each pending row a new row refers to.
    fk_at_commit: bool = False
    # Rows the sync agent pulled and wrote directly, looked at once the whole page is in
    # (``sync_agent.inbound.after_pull``): (spec, row, values before or None if new, op).
    pulled: list[tuple[Any, Any, dict[str, Any] | None, str | None]] = field(default_factory=list)
    # Hashes whose bytes the caller stored in the blob store for this transaction
    # (``core.attachments.service``): an attachment row is made only with its bytes.
    blobs_stored: set[str] = field(default_factory=set)
    _savepoints: list[tuple[SessionTransaction, Mark]] = field(default_factory=list)

    # -- collecting ------------------------------------------------------------------

    def buffer_insert(self, model: type, values: dict[str, Any]) -> None:
        self.inserts.setdefault(model, []).append(values)

    def notice(self, notice: ChangeNotice) -> None:
        self.notices.append(notice)

    def defer_foreign_keys(self, session: Session) -> None:
        """Check foreign keys at commit for the rest of this transaction, where the
        store can (SQLite's ``defer_foreign_keys``, reset when the transaction ends). The
        write path has checked every reference itself by then; the database's check
        stays as the safety net, and a violation still fails the commit."""
        if session.get_bind().dialect.name == "sqlite":
            session.execute(text("PRAGMA defer_foreign_keys = ON"))
            self.fk_at_commit = True

    def keep(self, rows: Iterable[Any]) -> None:
        self.kept.extend(rows)

    def drain_inserts(self, session: Session) -> None:
        buffers, self.inserts = self.inserts, {}
        for model, rows in buffers.items():
            # Not the ORM's bulk mode: it would also fetch the new primary keys, which
            # nobody needs here.
            insert_rows(session, model, rows)

    # -- the one savepoint-rollback path ---------------------------------------------

    def mark(self) -> Mark:
        return Mark(
            inserts=tuple((m, len(rows)) for m, rows in self.inserts.items()),
            feed=len(self.feed),
            notices=len(self.notices),
            pulled=len(self.pulled),
        )

    def rollback_to(self, mark: Mark) -> None:
        """Forget what was collected after ``mark``: it belonged to a rolled-back
        savepoint. Rows made in it are gone from the database too; rows made before it
        were flushed when it began (a savepoint always starts with a flush), so the index
        of unflushed rows is simply cleared."""
        kept = dict(mark.inserts)
        self.inserts = {m: rows[: kept[m]] for m, rows in self.inserts.items() if kept.get(m)}
        del self.feed[mark.feed :]
        del self.notices[mark.notices :]
        del self.pulled[mark.pulled :]
        self.made_here.clear()
        self.org_modules.clear()
        self.queue_tails.clear()
        self.doc_counters.clear()
        self.site_code = None

    def _savepoint_began(self, transaction: SessionTransaction) -> None:
        # Savepoints that ended (released) are dropped as new ones begin.
        self._savepoints = [(t, m) for t, m in self._savepoints if t.is_active]
        self._savepoints.append((transaction, self.mark()))

    def _savepoint_rolled_back(self, transaction: SessionTransaction) -> None:
        for i, (t, mark) in enumerate(self._savepoints):
            if t is transaction:
                del self._savepoints[i:]
                self.rollback_to(mark)
                return


class UnitSession(Session):
    """A session that carries its unit of work (the store's sessionmakers make these)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unit = UnitOfWork()


def unit_of(session: Session) -> UnitOfWork:
    unit = getattr(session, "unit", None)
    if unit is None:
        raise TypeError("not a store session (sessions come from Store.read()/write())")
    return unit


def _drain(session: Session, *_: Any) -> None:
    unit = getattr(session, "unit", None)
    if unit is not None and unit.inserts:
        unit.drain_inserts(session)


def _began(session: Session, transaction: SessionTransaction) -> None:
    unit = getattr(session, "unit", None)
    if unit is not None and transaction.nested:
        unit._savepoint_began(transaction)


def _rolled_back(session: Session, transaction: SessionTransaction) -> None:
    unit = getattr(session, "unit", None)
    if unit is not None and transaction.nested:
        unit._savepoint_rolled_back(transaction)


def install() -> None:
    """Hook the unit of work into every ``UnitSession`` (once): buffered inserts are
    written on every flush and before commit; savepoints mark and roll back."""
    hooks = (
        ("before_flush", _drain),
        ("before_commit", _drain),
        ("after_transaction_create", _began),
        ("after_soft_rollback", _rolled_back),
    )
    for name, fn in hooks:
        if not event.contains(UnitSession, name, fn):
            event.listen(UnitSession, name, fn)
