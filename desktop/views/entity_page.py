"""A page for one entity: search, a status filter, the lazy table, and beside it the
record form with its history. The same page serves every entity in the registry."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QItemSelection, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.registry import registry
from desktop.i18n import choice_label, entity_label, rows_text, tr
from desktop.models.entity_table import EntityTableModel
from desktop.models.formatting import cell_text, number
from desktop.presenters.errors import UserMessage, user_message
from desktop.presenters.fields import field_specs
from desktop.presenters.form import ConflictChoice, FormPresenter
from desktop.presenters.history import history
from desktop.views.conflict_dialog import ConflictDialog
from desktop.views.form import FormWidget

# Entities whose records carry files (core.attachments.schemas.OWNERS).
ATTACHABLE = frozenset({"jobs", "downtimes", "machines", "shows", "travel"})


class EntityPage(QWidget):
    status = Signal(str)

    def __init__(
        self,
        session: Any,
        entity: str,
        *,
        undo: Any = None,
        columns: Any = None,
        highlighter: Any = None,
        sort: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName(f"page_{entity}")
        self.session = session
        self.spec = registry()[entity]
        # Background: the table's queries run in the reader thread, never on this one.
        self.model = EntityTableModel(session, entity, columns=columns, highlighter=highlighter,
                                      sort=sort, background=True, parent=self)  # fmt: skip
        self.presenter = FormPresenter(session, entity, undo=undo, parent=self)
        self.ask_conflict = self._ask_conflict  # replaced in tests to answer the dialog
        self.ask_unsaved = self._ask_unsaved  # likewise: "save" | "discard" | "cancel"
        self.confirm_delete = self._confirm_delete
        self.undo = undo
        self._shown_id: str | None = None

        self.search = QLineEdit()
        self.search.setObjectName("search")
        self.search.setPlaceholderText(tr("Search…"))
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.model.set_search)
        self.filter = QComboBox()
        self.filter.setObjectName("filter")
        self._filter_field = self._status_field()
        if self._filter_field:
            self.filter.addItem(tr("All"), None)
            for c in self._filter_field.choices:
                self.filter.addItem(choice_label(c), c)
            self.filter.currentIndexChanged.connect(
                lambda _i: self.model.set_filter(self._filter_field.name,
                                                 self.filter.currentData()))  # fmt: skip
        else:
            self.filter.hide()
        self.count = QLabel()
        self.count.setObjectName("count")

        self.empty_hint = QLabel()
        self.empty_hint.setObjectName("emptyHint")
        self.empty_hint.setWordWrap(True)
        self.empty_hint.hide()
        self.table = QTableView()
        self.table.setObjectName("table")
        self.table.setModel(self.model)
        # No indicator first: enabling sorting would otherwise re-query sorted by column 0
        # right after the first load (the entity's default order is what we want).
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(24)
        # Column widths from the first rows only (sizing reads every cell it considers).
        self.table.verticalHeader().setResizeContentsPrecision(40)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.selectionModel().selectionChanged.connect(self._selected)
        self.model.modelReset.connect(self._update_count)
        self.model.rowsInserted.connect(self._update_count)
        self.model.rowsRemoved.connect(self._update_count)
        self.model.totalChanged.connect(self._update_count)
        self._waiting_row: int | None = None
        self.model.dataChanged.connect(self._arrived)
        self.model.modelReset.connect(self._after_reset)

        self.form = FormWidget(self.presenter)
        self.history = QListWidget()
        self.history.setObjectName("history")
        side_tabs = QTabWidget()
        side_tabs.addTab(self.form, entity_label(self.spec))
        side_tabs.addTab(self.history, tr("History"))
        # A job's drawings, a stop's photos, a show's rider, a leg's boarding passes.
        self.files: Any = None
        if self.spec.name in ATTACHABLE and "attachments" in registry():
            from desktop.views.attachments import AttachmentsPanel

            self.files = AttachmentsPanel(session, undo=undo)
            self.files.status.connect(self.status)
            side_tabs.addTab(self.files, tr("Files"))
            self.presenter.loaded.connect(
                lambda: self.files.show_for(self.spec.name, self.presenter.row_id)
            )
        self.side_tabs = side_tabs
        self.save_button = QPushButton(tr("Save"))
        self.save_button.setObjectName("save")
        self.save_button.clicked.connect(self.save)
        new_button = QPushButton(tr("New"))
        new_button.clicked.connect(self.new_record)
        delete_button = QPushButton(tr("Delete"))
        delete_button.clicked.connect(self.delete_record)
        self.message = QLabel()
        self.message.setObjectName("message")
        self.message.setWordWrap(True)
        if self.presenter.read_only:
            for b in (self.save_button, new_button, delete_button):
                b.setEnabled(False)

        top = QHBoxLayout()
        top.addWidget(self.search, 3)
        top.addWidget(self.filter, 1)
        top.addWidget(self.count)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addLayout(top)
        lv.addWidget(self.empty_hint)
        lv.addWidget(self.table)
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.addWidget(side_tabs)
        rv.addWidget(self.message)
        buttons = QHBoxLayout()
        buttons.addWidget(new_button)
        buttons.addWidget(delete_button)
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        rv.addLayout(buttons)
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(splitter)

        self.presenter.failed.connect(self._failed)
        self.presenter.saved.connect(self._saved)
        self.presenter.conflicted.connect(self._conflicted)
        # A message says something about the record as it is: gone once that changes.
        self.presenter.loaded.connect(self.message.clear)
        self.presenter.fieldError.connect(self._edited)
        if undo is not None:
            undo.undone.connect(self._undone)
        self.presenter.new()
        self._update_count()
        self._fit_columns()

    # -- wiring --------------------------------------------------------------------------

    def _status_field(self) -> Any:
        for f in field_specs(self.spec):
            if f.kind == "choice" and f.name in ("status", "severity", "kind", "type"):
                return f
        return None

    def _fit_columns(self) -> None:
        # Size to the first page only: resizeColumnsToContents on a big model is slow.
        header = self.table.horizontalHeader()
        for c in range(self.model.columnCount()):
            want = max(self.table.sizeHintForColumn(c), header.sectionSizeHint(c)) + 12
            header.resizeSection(c, max(70, min(240, want)))

    def _update_count(self) -> None:
        # known_total, not total: ``total`` would count at once, before the first paint.
        n = self.model.known_total
        self.count.setText(rows_text(n))
        # An empty page says what to do next instead of showing a bare grid.
        empty = n == 0 and self.model.rowCount() == 0
        if empty and self.search.text().strip():
            self.empty_hint.setText(tr("Nothing matches the search. Clear it to see all."))
        elif empty and not self.presenter.read_only:
            self.empty_hint.setText(tr("No {what} yet. Press New (Ctrl+N) to add the first, "
                                       "fill in the form and Save.",
                                       what=entity_label(self.spec).lower()))  # fmt: skip
        elif empty:
            self.empty_hint.setText(tr("Nothing recorded yet: entries appear here as they "
                                       "happen."))  # fmt: skip
        self.empty_hint.setVisible(empty)

    def _selected(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = {i.row() for i in selected.indexes()}
        if rows:
            self._open_row(min(rows))

    def _after_reset(self) -> None:
        # A new order or search: the record in the form stays selected if it is among
        # the rows read (otherwise nothing is, rather than some other row).
        self._waiting_row = None
        self._select_id(self.presenter.row_id)

    def _arrived(self, *_: Any) -> None:
        if self._waiting_row is not None:
            self._open_row(self._waiting_row)

    def _open_row(self, row: int) -> None:
        # Not row_id(): a row whose page is still on its way (Ctrl+End on 100,000
        # rows) would be read here, on the window's thread. Its page's arrival opens it.
        row_id = self.model.ready_row_id(row)
        self._waiting_row = row if row_id is None and row < self.model.rowCount() else None
        if not row_id or row_id == self.presenter.row_id:
            return
        if not self.leave_record():
            self._select_id(self.presenter.row_id)  # stay on the edited record
            return
        if self.presenter.load(row_id):
            self._show_history(row_id)

    def leave_record(self) -> bool:
        """May the form show something else? Asks when there are unsaved edits."""
        if self.presenter.read_only or not self.presenter.dirty:
            return True
        answer = self.ask_unsaved()
        if answer == "save":
            return self.presenter.save()
        return answer == "discard"

    def show_record(self, row_id: str) -> bool:
        """Open ``row_id`` in the form (from a calendar item, a related list, the trash)."""
        if row_id == self.presenter.row_id:
            return True
        if not self.leave_record():
            return False
        if not self.presenter.load(row_id):
            return False
        self._select_id(row_id)
        self._show_history(row_id)
        return True

    def _ask_unsaved(self) -> str:
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle(tr("Unsaved changes"))
        box.setText(tr("You have changed this record. Save the changes before leaving it?"))
        save = box.addButton(tr("Save"), QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton(tr("Discard"), QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(tr("Cancel"), QMessageBox.ButtonRole.RejectRole)
        box.exec()
        clicked = box.clickedButton()
        return "save" if clicked is save else "discard" if clicked is discard else "cancel"

    def _select_id(self, row_id: str | None) -> None:
        row = self.model.row_of(row_id) if row_id else -1
        blocker = self.table.selectionModel().blockSignals(True)
        try:
            if row < 0:
                self.table.clearSelection()
            else:
                self.table.selectRow(row)
        finally:
            self.table.selectionModel().blockSignals(blocker)

    def _edited(self, _name: str, _message: str) -> None:
        if self.message.text() == tr("Saved"):
            self.message.clear()

    def _undone(self, rows: list[tuple[str, str]]) -> None:
        if (self.spec.name, self.presenter.row_id) in rows and not self.presenter.dirty:
            self.presenter.load(self.presenter.row_id or "")
            self._show_history(self.presenter.row_id or "")
        if any(entity == self.spec.name for entity, _ in rows):
            self.model.refresh()

    def _show_history(self, row_id: str) -> None:
        self._shown_id = row_id
        self.history.clear()
        for item in history(self.session, self.spec.name, row_id):
            self.history.addItem(f"{cell_text(item.at)} · {item.who} · "
                                 f"{tr(item.action)} · {item.summary()}")  # fmt: skip

    def _failed(self, msg: UserMessage) -> None:
        self.message.setStyleSheet("color: #d64545;")
        self.message.setText(f"{msg.title}\n{msg.text}".strip())

    def _saved(self, row_id: str) -> None:
        self.message.setStyleSheet("")
        self.message.setText(tr("Saved"))
        self.status.emit(tr("Saved"))
        self._show_history(row_id)

    def _conflicted(self, choice: ConflictChoice) -> None:
        keep = self.ask_conflict(choice)
        if keep is None:
            self.presenter.load(choice.id)
        else:
            self.presenter.resolve(keep)

    def _ask_conflict(self, choice: ConflictChoice) -> set[str] | None:
        dialog = ConflictDialog(choice.rows, parent=self)
        return dialog.keep_mine() if dialog.exec() else None

    # -- actions (also the window's shortcuts) ------------------------------------------

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def new_record(self) -> None:
        if not self.leave_record():
            return
        self.table.clearSelection()
        self.presenter.new()
        self.message.clear()
        self.history.clear()

    def save(self) -> bool:
        return self.presenter.save()

    def delete_record(self) -> bool:
        if self.presenter.is_new or not self.confirm_delete():
            return False
        if not self.presenter.delete():
            return False
        self.history.clear()
        self.message.setStyleSheet("")
        self.message.setText(tr("Deleted — it can be restored from the Trash"))
        self.status.emit(tr("Deleted — it can be restored from the Trash"))
        return True

    def _confirm_delete(self) -> bool:
        where = tr("It goes to the Trash, where it can be restored.")
        text = f"{tr('Delete this record?')}\n{where}"
        answer = QMessageBox.question(self, tr("Delete"), text)
        return answer == QMessageBox.StandardButton.Yes

    def export(self, path: str | None = None, *, wait: bool = False) -> Any:
        """Export every matching row in a worker thread (progress, Cancel); the window
        stays usable. Returns the LongWork (``wait``: block until done, for tests)."""
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self, tr("Export"), f"{self.spec.name}.xlsx", "Excel (*.xlsx);;CSV (*.csv)"
            )
            if not path:
                return None
        from desktop.i18n import language
        from desktop.presenters.export import (
            PROCESS_FROM_ROWS,
            Cancelled,
            ExportRequest,
            export_in_process,
            export_rows,
            in_a_process,
        )
        from desktop.views.long_work import LongWork

        spec, columns, query = self.spec, self.model.columns, self.model.query_args()
        total = self.model.known_total
        target = path
        # A big export runs in its own interpreter (no GIL shared with the window);
        # a small one in the worker thread, which starts at once.
        request = ExportRequest(
            url=self.session.store.url, org_id=self.session.org_id, entity=spec.name,
            columns=list(columns), filters=dict(query["filters"]), sort=query["sort"],
            search=self.model.search_text, path=target, total=total, language=language(),
        )  # fmt: skip

        counted, model = self.model.counted, self.model

        def work(progress: Any, cancelled: Any) -> int:
            # Exported before the table's count arrived: counted here, in the worker.
            n = total if counted else model.count_rows(query)
            if n >= PROCESS_FROM_ROWS and in_a_process():
                request.total = n
                return export_in_process(request, progress=progress, cancelled=cancelled)
            return export_rows(self.session, spec, columns, query, target, total=n,
                               progress=progress, cancelled=cancelled)  # fmt: skip

        def done(n: Any, error: Any) -> None:
            if isinstance(error, Cancelled):
                self.status.emit(tr("Export cancelled"))
            elif error is not None:
                self._failed(user_message(error))
            else:
                self.status.emit(tr("Exported {n} rows to {path}", n=number(n), path=target))

        job = LongWork(self, tr("Exporting…"), work)
        job.done.connect(done)
        self._export_job = job.start()
        if wait:
            job.wait()
        return job

    def apply_changes(self, changes: list[dict[str, Any]]) -> None:
        self.model.apply_changes(changes)
        if self.files is not None:
            self.files.apply_changes(changes)
        mine = any(c.get("entity") == self.spec.name and c.get("id") == self.presenter.row_id
                   for c in changes)  # fmt: skip
        # The record and its history follow what happened elsewhere.
        if mine and not self.presenter.dirty and self.presenter.load(self.presenter.row_id or ""):
            self._show_history(self.presenter.row_id or "")
