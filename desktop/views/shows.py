"""Shows: the list (with the record form), a month calendar of shows, travel and other
days, and the settlement of the selected show with its arithmetic."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from core.registry import registry
from desktop.i18n import entity_label, tr
from desktop.models.entity_table import EntityTableModel
from desktop.presenters.calendar import month_grid, month_items
from desktop.presenters.errors import user_message
from desktop.presenters.printing import (
    day_sheet_html,
    settlement_html,
    settlement_xlsx,
    write_pdf,
)
from desktop.presenters.settlement import SettlementView, settlement_view
from desktop.views.entity_page import EntityPage
from desktop.views.long_work import write_in_background

RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
SHOW_COLUMNS = ("starts_at", "city", "country", "venue", "fee", "currency", "status", "tour")
WEEKDAYS = {"en": "Mon Tue Wed Thu Fri Sat Sun", "es": "Lun Mar Mié Jue Vie Sáb Dom"}


class SettlementPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("settlement")
        self.title = QLabel()
        self.title.setObjectName("settlementTitle")
        font = QFont(self.title.font())
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.title.setFont(font)
        self.table = QTableWidget(0, 3)
        self.table.setObjectName("settlementLines")
        self.table.verticalHeader().setVisible(False)
        self.table.setHorizontalHeaderLabels(["", tr("Formula"), tr("Amount")])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.costs = QLabel()
        self.costs.setWordWrap(True)
        self.notes = QLabel()
        self.notes.setObjectName("settlementNotes")
        self.notes.setWordWrap(True)
        self.print_button = QPushButton(tr("Print settlement"))
        self.print_button.setObjectName("printSettlement")
        self.print_button.clicked.connect(lambda: self.print_settlement())
        self.print_button.setEnabled(False)
        self.xlsx_button = QPushButton(tr("Settlement sheet (Excel)"))
        self.xlsx_button.setObjectName("settlementXlsx")
        self.xlsx_button.clicked.connect(lambda: self.save_xlsx())
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.xlsx_button)
        top.addWidget(self.print_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.costs)
        layout.addWidget(self.notes)
        self.view: SettlementView | None = None
        self.session: Any = None
        self.show_id: str | None = None

    def print_settlement(self, path: str | None = None, *, wait: bool = False) -> Any:
        """The settlement as a PDF, made in a worker thread (LongWork; ``result`` is the
        path); without ``path`` it opens in the system's viewer."""
        if self.session is None or self.show_id is None:
            return None
        target = Path(path) if path else Path(tempfile.mkdtemp()) / "settlement.pdf"
        session, show_id, title = self.session, self.show_id, tr("Settlement")
        return write_in_background(
            self, tr("Printing…"), lambda: settlement_html(session, show_id),
            lambda html, part: write_pdf(html, part, title=title), target,
            open_after=path is None, on_error=self._failed, wait=wait,
        )  # fmt: skip

    def save_xlsx(self, path: str | None = None, *, wait: bool = False) -> Any:
        if self.session is None or self.show_id is None:
            return None
        if path is None:
            from PySide6.QtWidgets import QFileDialog

            path, _ = QFileDialog.getSaveFileName(self, tr("Settlement sheet (Excel)"),
                                                  "settlement.xlsx", "Excel (*.xlsx)")  # fmt: skip
            if not path:
                return None
        session, show_id = self.session, self.show_id
        return write_in_background(
            self, tr("Exporting…"), lambda: None,
            lambda _none, part: settlement_xlsx(session, show_id, part), Path(path),
            on_error=self._failed, wait=wait,
        )  # fmt: skip

    def _failed(self, error: BaseException) -> None:
        msg = user_message(error)
        self.notes.setStyleSheet("color: #b00020;")
        self.notes.setText(f"{msg.title} {msg.text}".strip())

    def show_view(self, view: SettlementView) -> None:
        self.view = view
        self.title.setText(view.title)
        self.table.setRowCount(len(view.lines))
        for r, ln in enumerate(view.lines):
            for c, text in enumerate((ln.label, ln.formula, ln.amount)):
                item = QTableWidgetItem(text)
                if c == 2:
                    item.setTextAlignment(RIGHT)
                if ln.emphasis:
                    f = item.font()
                    f.setBold(True)
                    item.setFont(f)
                self.table.setItem(r, c, item)
        self.costs.setText(f"{tr('Costs')}: " + ", ".join(
            f"{t} {a}" + (" (P)" if prod else "") for t, a, prod in view.costs) if view.costs
            else "")  # fmt: skip
        self.notes.setText("\n".join([view.home, *view.warnings]).strip())
        # An incomplete settlement is read in red: some money is not in the net.
        self.notes.setStyleSheet("" if view.complete else "color: #b00020;")

    def clear(self) -> None:
        self.view = None
        self.show_id = None
        self.print_button.setEnabled(False)
        self.title.clear()
        self.table.setRowCount(0)
        self.costs.clear()
        self.notes.clear()


class CalendarView(QWidget):
    open_record = Signal(str, str)  # entity, id: a double-clicked item

    def __init__(self, session: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        today = date.today()
        self.year, self.month = today.year, today.month
        self.label = QLabel()
        prev = QPushButton("◀")
        nxt = QPushButton("▶")
        prev.clicked.connect(lambda: self.shift(-1))
        nxt.clicked.connect(lambda: self.shift(1))
        sheet = QPushButton(tr("Print day sheet"))
        sheet.clicked.connect(lambda: self.print_day_sheet())
        self.grid = QTableWidget(6, 7)
        self.grid.setObjectName("calendar")
        self.grid.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.grid.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.grid.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.grid.verticalHeader().setVisible(False)
        self.grid.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(prev)
        top.addWidget(self.label, 1, Qt.AlignmentFlag.AlignCenter)
        top.addWidget(nxt)
        top.addWidget(sheet)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.grid)
        self.days: dict[tuple[int, int], date] = {}
        self.items: dict[date, list[Any]] = {}
        self.grid.cellDoubleClicked.connect(self.open_cell)
        self.refresh()

    def open_cell(self, row: int, column: int) -> bool:
        """Open the record behind a day's first item (the show before travel and days)."""
        day = self.days.get((row, column))
        items = self.items.get(day, []) if day is not None else []
        if not items:
            return False
        self.open_record.emit(items[0].entity, items[0].id)
        return True

    def shift(self, months: int) -> None:
        m = self.year * 12 + self.month - 1 + months
        self.year, self.month = m // 12, m % 12 + 1
        self.refresh()

    def go_to(self, day: date) -> None:
        self.year, self.month = day.year, day.month
        self.refresh()

    def refresh(self) -> None:
        from babel.dates import format_date

        from desktop.i18n import language

        month = format_date(date(self.year, self.month, 1), "LLLL y", locale=language())
        self.label.setText(month[:1].upper() + month[1:])
        self.grid.setHorizontalHeaderLabels(WEEKDAYS[language()].split())
        items = self.items = month_items(self.session, self.year, self.month)
        weeks = month_grid(self.year, self.month)
        self.grid.setRowCount(len(weeks))
        self.days.clear()
        for r, week in enumerate(weeks):
            for c, d in enumerate(week):
                text = ""
                if d is not None:
                    self.days[(r, c)] = d
                    text = f"{d.day}\n" + "\n".join(i.text for i in items.get(d, []))
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
                self.grid.setItem(r, c, item)

    def selected_day(self) -> date | None:
        return self.days.get((self.grid.currentRow(), self.grid.currentColumn()))

    def print_day_sheet(self, day: date | None = None, path: str | None = None, *,
                        wait: bool = False) -> Any:  # fmt: skip
        """The day sheet as a PDF, made in a worker thread (LongWork; ``result`` is
        the path); without ``path`` it opens in the system's viewer."""
        day = day or self.selected_day() or date.today()
        target = Path(path) if path else Path(tempfile.mkdtemp()) / f"day-{day}.pdf"
        session = self.session
        return write_in_background(
            self, tr("Printing…"), lambda: day_sheet_html(session, day),
            lambda html, part: write_pdf(html, part, title=f"Day sheet {day}"), target,
            open_after=path is None, wait=wait,
        )  # fmt: skip


class RelatedTable(QWidget):
    """The rows of ``entity`` that belong to the selected show (its costs, its travel);
    a double click opens one in its own page."""

    open_record = Signal(str, str)

    def __init__(self, session: Any, entity: str, columns: tuple[str, ...]) -> None:
        super().__init__()
        self.entity = entity
        self.model = EntityTableModel(session, entity, columns=columns, parent=self)
        self.model.set_filter("show_id", "-")  # nothing until a show is chosen
        self.table = QTableView()
        self.table.setObjectName(f"related_{entity}")
        self.table.setModel(self.model)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.doubleClicked.connect(
            lambda i: self.open_record.emit(self.entity, self.model.row_id(i.row()) or "")
        )
        self.empty = QLabel()
        self.empty.setObjectName("emptyHint")
        layout = QVBoxLayout(self)
        layout.addWidget(self.empty)
        layout.addWidget(self.table)

    def show_for(self, show_id: str | None) -> None:
        self.model.set_filter("show_id", show_id or "-")
        none = self.model.total == 0
        self.empty.setVisible(none)
        self.empty.setText(tr("Nothing here yet for this show. Add it in the {page} page.",
                              page=entity_label(registry()[self.entity])))  # fmt: skip


class ShowsPage(QWidget):
    open_record = Signal(str, str)

    def __init__(self, session: Any, *, undo: Any = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("page_shows")
        self.session = session
        self.list = EntityPage(session, "shows", undo=undo, columns=SHOW_COLUMNS)
        self.calendar = CalendarView(session)
        self.settlement = SettlementPanel()
        cost_cols = ("type", "description", "amount", "currency", "is_production")
        self.costs = RelatedTable(session, "show_costs", cost_cols)
        self.travel = RelatedTable(session, "travel", ("kind", "origin", "destination",
                                                       "departs_at", "arrives_at"))  # fmt: skip
        from desktop.views.attachments import AttachmentsPanel

        # The show's rider, contract and plans, beside its costs and travel.
        self.files = AttachmentsPanel(session, undo=undo)
        self.files.status.connect(self.list.status)
        self.day_sheet = QTextBrowser()
        self.day_sheet.setObjectName("daySheet")
        self.tabs = QTabWidget()
        self.tabs.addTab(self.list, tr("List"))
        self.tabs.addTab(self.calendar, tr("Calendar"))
        self.tabs.addTab(self.settlement, tr("Settlement"))
        self.tabs.addTab(self.costs, tr("Costs"))
        self.tabs.addTab(self.travel, tr("Travel"))
        self.tabs.addTab(self.files, tr("Files"))
        self.tabs.addTab(self.day_sheet, tr("Day sheet"))
        for w in (self.calendar, self.costs, self.travel):
            w.open_record.connect(self.open_record)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        self.status = self.list.status
        self.list.presenter.loaded.connect(self._show_settlement)

    def _show_settlement(self) -> None:
        show_id = self.list.presenter.row_id
        self.costs.show_for(show_id)
        self.travel.show_for(show_id)
        self.files.show_for("shows", show_id)
        self._show_day_sheet(show_id)
        if show_id is None:
            self.settlement.clear()
            return
        self.settlement.session, self.settlement.show_id = self.session, show_id
        self.settlement.print_button.setEnabled(True)
        self.settlement.show_view(settlement_view(self.session, show_id))

    def _show_day_sheet(self, show_id: str | None) -> None:
        if show_id is None:
            self.day_sheet.setHtml(f"<p>{tr('Choose a show in the list.')}</p>")
            return
        from core.models import Show
        from core.tour.timezones import local_date

        with self.session.read() as s:
            show = s.get(Show, (self.session.org_id, show_id))
            day = local_date(show.starts_at, show.tz) if show is not None else None
        self.day_sheet.setHtml(day_sheet_html(self.session, day) if day else "")

    def show_record(self, row_id: str) -> bool:
        self.tabs.setCurrentWidget(self.list)
        return self.list.show_record(row_id)

    def focus_search(self) -> None:
        self.tabs.setCurrentWidget(self.list)
        self.list.focus_search()

    def new_record(self) -> None:
        self.tabs.setCurrentWidget(self.list)
        self.list.new_record()

    def save(self) -> bool:
        return self.list.save()

    def export(self, path: str | None = None, *, wait: bool = False) -> Any:
        return self.list.export(path, wait=wait)

    def apply_changes(self, changes: list[dict[str, Any]]) -> None:
        self.list.apply_changes(changes)
        self.files.apply_changes(changes)
        if any(c.get("entity") in ("shows", "travel", "calendar_entries") for c in changes):
            self.calendar.refresh()
        if any(c.get("entity") in ("shows", "show_costs", "finance_rules") for c in changes):
            self._show_settlement()
