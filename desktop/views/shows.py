"""Shows: the list (with the record form), a month calendar of shows, travel and other
days, and the settlement of the selected show with its arithmetic."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QFont
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.i18n import tr
from desktop.presenters.calendar import month_grid, month_items
from desktop.presenters.printing import day_sheet_html, write_pdf
from desktop.presenters.settlement import SettlementView, settlement_view
from desktop.views.entity_page import EntityPage

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
        self.notes.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.costs)
        layout.addWidget(self.notes)
        self.view: SettlementView | None = None

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

    def clear(self) -> None:
        self.view = None
        self.title.clear()
        self.table.setRowCount(0)
        self.costs.clear()
        self.notes.clear()


class CalendarView(QWidget):
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
        self.refresh()

    def shift(self, months: int) -> None:
        m = self.year * 12 + self.month - 1 + months
        self.year, self.month = m // 12, m % 12 + 1
        self.refresh()

    def go_to(self, day: date) -> None:
        self.year, self.month = day.year, day.month
        self.refresh()

    def refresh(self) -> None:
        from desktop.i18n import language

        self.label.setText(f"{self.year}-{self.month:02d}")
        self.grid.setHorizontalHeaderLabels(WEEKDAYS[language()].split())
        items = month_items(self.session, self.year, self.month)
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

    def print_day_sheet(self, day: date | None = None, path: str | None = None) -> Path | None:
        day = day or self.selected_day() or date.today()
        target = Path(path) if path else Path(tempfile.mkdtemp()) / f"day-{day}.pdf"
        write_pdf(day_sheet_html(self.session, day), target, title=f"Day sheet {day}")
        if path is None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(target)))
        return target


class ShowsPage(QWidget):
    def __init__(self, session: Any, *, undo: Any = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("page_shows")
        self.session = session
        self.list = EntityPage(session, "shows", undo=undo, columns=SHOW_COLUMNS)
        self.calendar = CalendarView(session)
        self.settlement = SettlementPanel()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.list, tr("List"))
        self.tabs.addTab(self.calendar, tr("Calendar"))
        self.tabs.addTab(self.settlement, tr("Settlement"))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        self.status = self.list.status
        self.list.presenter.loaded.connect(self._show_settlement)

    def _show_settlement(self) -> None:
        show_id = self.list.presenter.row_id
        if show_id is None:
            self.settlement.clear()
            return
        self.settlement.show_view(settlement_view(self.session, show_id))

    def focus_search(self) -> None:
        self.tabs.setCurrentWidget(self.list)
        self.list.focus_search()

    def new_record(self) -> None:
        self.tabs.setCurrentWidget(self.list)
        self.list.new_record()

    def save(self) -> bool:
        return self.list.save()

    def export(self, path: str | None = None) -> int:
        return self.list.export(path)

    def apply_changes(self, changes: list[dict[str, Any]]) -> None:
        self.list.apply_changes(changes)
        if any(c.get("entity") in ("shows", "travel", "calendar_entries") for c in changes):
            self.calendar.refresh()
        if any(c.get("entity") in ("shows", "show_costs", "finance_rules") for c in changes):
            self._show_settlement()
