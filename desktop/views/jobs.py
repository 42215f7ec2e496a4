"""Jobs: each machine's queue (drag to reorder, start/pause/complete, print a ticket)
and the full jobs table."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import select

from core.models import Machine
from core.registry import registry
from desktop.i18n import entity_label, tr
from desktop.models.job_queue import QUEUE_LIMIT, JobQueueModel
from desktop.presenters.errors import user_message
from desktop.presenters.jobs import JobsPresenter
from desktop.presenters.printing import job_ticket_html, write_pdf
from desktop.views.entity_page import EntityPage
from desktop.views.long_work import write_in_background


class QueueView(QWidget):
    def __init__(self, session: Any, presenter: JobsPresenter,
                 parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.session = session
        self.presenter = presenter
        self.machine = QComboBox()
        self.machine.setObjectName("machine")
        self.model = JobQueueModel(session, on_reorder=self._reorder, parent=self)
        self.table = QTableView()
        self.table.setObjectName("queue")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setDragDropMode(QAbstractItemView.DragDropMode.DragDrop)
        self.table.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.table.setDragDropOverwriteMode(False)
        self.table.setDropIndicatorShown(True)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.message = QLabel()
        self.message.setObjectName("message")
        buttons = QHBoxLayout()
        for text, slot in ((tr("Start job"), self.start), (tr("Pause job"), self.pause),
                           (tr("Complete job"), self.complete),
                           (tr("Print ticket"), self.print_ticket)):  # fmt: skip
            b = QPushButton(text)
            b.clicked.connect(slot)
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(QLabel(entity_label(registry()["machines"])))
        top.addWidget(self.machine, 1)
        layout.addLayout(top)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        layout.addWidget(self.message)
        self.presenter.failed.connect(lambda m: self.message.setText(f"{m.title} {m.text}"))
        self.model.modelReset.connect(self._note_truncated)
        self.machine.currentIndexChanged.connect(
            lambda _i: self.model.set_machine(self.machine.currentData())
        )
        self.load_machines()

    def _note_truncated(self) -> None:
        if self.model.truncated:
            self.message.setText(tr("Showing the first {n} open jobs", n=QUEUE_LIMIT))

    def load_machines(self) -> None:
        current = self.machine.currentData()
        with self.session.read() as s:
            rows = s.execute(
                select(Machine.id, Machine.name)
                .where(Machine.org_id == self.session.org_id, Machine.deleted_at.is_(None))
                .order_by(Machine.name)
            ).all()
        self.machine.blockSignals(True)
        self.machine.clear()
        for id_, name in rows:
            self.machine.addItem(name, id_)
        i = self.machine.findData(current)
        self.machine.setCurrentIndex(max(i, 0))
        self.machine.blockSignals(False)
        self.model.set_machine(self.machine.currentData())

    def _reorder(self, machine_id: str, ids: list[str], slots: list[int]) -> None:
        if not self.presenter.reorder(machine_id, ids, slots):
            self.model.refresh()

    def selected_job(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.model.job(rows[0].row())["id"]

    def start(self) -> None:
        if job := self.selected_job():
            self.presenter.start(job)

    def pause(self) -> None:
        if job := self.selected_job():
            self.presenter.pause(job)

    def complete(self) -> None:
        if job := self.selected_job():
            self.presenter.complete(job)

    def print_ticket(self, path: str | None = None, *, wait: bool = False) -> Any:
        """The ticket as a PDF, made in a worker thread (LongWork; ``result`` is the
        path); without ``path`` it opens in the system's viewer."""
        job = self.selected_job()
        if job is None:
            return None
        target = Path(path) if path else Path(tempfile.mkdtemp()) / f"job-{job}.pdf"
        session = self.session
        return write_in_background(
            self, tr("Printing…"), lambda: job_ticket_html(session, job),
            lambda html, part: write_pdf(html, part, title=f"Job {job}"), target,
            open_after=path is None, wait=wait,
            on_error=self._print_failed,
        )  # fmt: skip

    def _print_failed(self, error: BaseException) -> None:
        msg = user_message(error)
        self.message.setText(f"{msg.title} {msg.text}".strip())

    def apply_changes(self, changes: list[dict[str, Any]]) -> None:
        if any(c.get("entity") == "machines" and c.get("kind") != "update" for c in changes):
            self.load_machines()
        self.model.apply_changes(changes)


class JobsPage(QWidget):
    def __init__(self, session: Any, *, undo: Any = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("page_jobs")
        self.presenter = JobsPresenter(session, undo=undo, parent=self)
        self.queue = QueueView(session, self.presenter)
        # Newest first: ids are UUIDv7 (time-ordered) and the primary key index serves
        # this order, so the first page of 100,000 jobs comes in a millisecond; the
        # registry's "sequence" order means little across machines and needs a sort.
        self.all = EntityPage(session, "jobs", undo=undo, sort="-id")
        self.tabs = QTabWidget()
        self.tabs.addTab(self.queue, tr("Queue"))
        self.tabs.addTab(self.all, tr("All jobs"))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        self.status = self.all.status

    def focus_search(self) -> None:
        self.tabs.setCurrentWidget(self.all)
        self.all.focus_search()

    def new_record(self) -> None:
        self.tabs.setCurrentWidget(self.all)
        self.all.new_record()

    def save(self) -> bool:
        return self.all.save()

    def export(self, path: str | None = None, *, wait: bool = False) -> Any:
        return self.all.export(path, wait=wait)

    def apply_changes(self, changes: list[dict[str, Any]]) -> None:
        self.queue.apply_changes(changes)
        self.all.apply_changes(changes)
