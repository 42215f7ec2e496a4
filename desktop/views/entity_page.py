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
from desktop.i18n import entity_label, tr
from desktop.models.entity_table import EntityTableModel
from desktop.presenters.errors import UserMessage
from desktop.presenters.export import export_rows
from desktop.presenters.fields import field_specs
from desktop.presenters.form import ConflictChoice, FormPresenter
from desktop.presenters.history import history
from desktop.views.conflict_dialog import ConflictDialog
from desktop.views.form import FormWidget


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
        self.model = EntityTableModel(session, entity, columns=columns, highlighter=highlighter,
                                      sort=sort, parent=self)  # fmt: skip
        self.presenter = FormPresenter(session, entity, undo=undo, parent=self)
        self.ask_conflict = self._ask_conflict  # replaced in tests to answer the dialog

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
                self.filter.addItem(c, c)
            self.filter.currentIndexChanged.connect(
                lambda _i: self.model.set_filter(self._filter_field.name,
                                                 self.filter.currentData()))  # fmt: skip
        else:
            self.filter.hide()
        self.count = QLabel()
        self.count.setObjectName("count")

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
        self.model.totalChanged.connect(self._update_count)

        self.form = FormWidget(self.presenter)
        self.history = QListWidget()
        self.history.setObjectName("history")
        side_tabs = QTabWidget()
        side_tabs.addTab(self.form, entity_label(self.spec))
        side_tabs.addTab(self.history, tr("History"))
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
        self.count.setText(tr("{n} rows", n=f"{self.model.known_total:,}"))

    def _selected(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = {i.row() for i in selected.indexes()}
        if not rows:
            return
        row_id = self.model.row_id(min(rows))
        if row_id and self.presenter.load(row_id):
            self._show_history(row_id)

    def _show_history(self, row_id: str) -> None:
        self.history.clear()
        for item in history(self.session, self.spec.name, row_id):
            self.history.addItem(f"{item.at.astimezone():%Y-%m-%d %H:%M} · {item.who} · "
                                 f"{item.kind} v{item.version}  {item.summary()}")  # fmt: skip

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
        self.table.clearSelection()
        self.presenter.new()
        self.message.clear()
        self.history.clear()

    def save(self) -> bool:
        return self.presenter.save()

    def delete_record(self) -> None:
        if self.presenter.is_new:
            return
        answer = QMessageBox.question(self, tr("Delete"), tr("Delete") + "?")
        if answer == QMessageBox.StandardButton.Yes:
            self.presenter.delete()

    def export(self, path: str | None = None) -> int:
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self, tr("Export"), f"{self.spec.name}.xlsx", "Excel (*.xlsx);;CSV (*.csv)"
            )
            if not path:
                return 0
        n = export_rows(self.session, self.spec, self.model.columns, self.model.query_args(),
                        path)  # fmt: skip
        self.status.emit(tr("Exported {n} rows to {path}", n=n, path=path))
        return n

    def apply_changes(self, changes: list[dict[str, Any]]) -> None:
        self.model.apply_changes(changes)
        if any(c.get("entity") == self.spec.name and c.get("id") == self.presenter.row_id
               for c in changes) and not self.presenter.dirty:  # fmt: skip
            self.presenter.load(self.presenter.row_id or "")
