"""Job actions from the office: reorder a machine's queue, start, pause, complete.

Reordering writes ``sequence`` (10, 20, 30, … so a later insert fits between two) for
each job whose value changes, in one transaction, against the versions the queue was
loaded with: if a tablet touched one of those jobs meanwhile, nothing is written and the
queue reloads.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal
from sqlalchemy import select

from core import writes
from core.errors import Conflict, DomainError
from core.factory import actions as factory_ops
from core.models import Job
from core.writes import Actor
from desktop.presenters.errors import user_message
from desktop.presenters.undo import Undoable, UndoPresenter

STEP = 10


class JobsPresenter(QObject):
    failed = Signal(object)  # UserMessage
    done = Signal(str)  # a short status line

    def __init__(
        self, session: Any, *, undo: UndoPresenter | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.undo = undo

    def reorder(
        self, machine_id: str, ordered_ids: list[str], slots: list[int] | None = None
    ) -> bool:
        """Write ``sequence`` so the jobs run in ``ordered_ids`` order. ``slots``: the
        sequence values to hand out (the ones these jobs hold now); if they are not all
        distinct, the jobs are renumbered 10, 20, 30, …"""
        if not slots or len(set(slots)) != len(ordered_ids):
            slots = [pos * STEP for pos in range(1, len(ordered_ids) + 1)]
        undoables: list[Undoable] = []
        try:
            with self.session.write() as s:
                jobs = {
                    j.id: j
                    for j in s.scalars(
                        select(Job).where(Job.org_id == self.session.org_id,
                                          Job.id.in_(ordered_ids))
                    )
                }  # fmt: skip
                for seq, job_id in zip(sorted(slots), ordered_ids, strict=True):
                    job = jobs.get(job_id)
                    if job is None or job.machine_id != machine_id:
                        raise Conflict(f"job '{job_id}' is no longer on this machine")
                    if job.sequence != seq:
                        before = job.sequence
                        row = writes.update(s, actor=self.session.actor, entity="jobs",
                                            id=job_id, data={"sequence": seq},
                                            version=job.version)  # fmt: skip
                        undoables.append(
                            Undoable(
                                "jobs",
                                row.id,
                                "update",
                                {"sequence": before},
                                row.version,
                                "reorder",
                            )
                        )
        except DomainError as exc:
            self.failed.emit(user_message(exc))
            return False
        if self.undo is not None:  # only once committed; one drag is one undo step
            self.undo.record_step(undoables)
        self.done.emit("queue reordered")
        return True

    def _act(self, fn: Any, job_id: str, **kwargs: Any) -> bool:
        try:
            with self.session.write() as s:
                fn(s, actor=self._floor_actor(), job_id=job_id, **kwargs)
        except DomainError as exc:
            self.failed.emit(user_message(exc))
            return False
        return True

    def _floor_actor(self) -> Actor:
        return self.session.actor

    def start(self, job_id: str) -> bool:
        return self._act(factory_ops.start_job, job_id)

    def pause(self, job_id: str) -> bool:
        return self._act(factory_ops.pause_job, job_id)

    def complete(
        self, job_id: str, produced: Any = None, scrap: Any = 0, reason: str | None = None
    ) -> bool:
        """Complete a job; ``produced`` defaults to what is still outstanding. Below the
        quantity the rules ask for ``reason`` (a short close)."""
        if produced is None:
            with self.session.read() as s:
                job = s.get(Job, (self.session.org_id, job_id))
                if job is None:
                    return False
                produced = max(job.quantity - job.produced_qty, 0)
        return self._act(
            factory_ops.complete_job, job_id, produced=produced, scrap=scrap, reason=reason
        )

    def reopen(self, job_id: str) -> bool:
        return self._act(factory_ops.reopen_job, job_id)

    def end_stop(self, machine_id: str) -> bool:
        """End the machine's open stop (its status follows: running again or idle)."""
        try:
            with self.session.write() as s:
                factory_ops.end_machine_downtime(s, actor=self._floor_actor(),
                                                 machine_id=machine_id)  # fmt: skip
        except DomainError as exc:
            self.failed.emit(user_message(exc))
            return False
        self.done.emit("stop ended")
        return True
