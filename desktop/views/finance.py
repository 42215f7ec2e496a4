"""Finance totals per period and currency, and the charts people would rather look at
than read: revenue per month and OEE per machine over the last two weeks."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.i18n import tr
from desktop.models.formatting import money
from desktop.presenters.finance import (
    downtime_by_reason,
    oee_per_machine,
    revenue_per_month,
    totals,
)
from desktop.views.charts import ChartWidget

RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
HEADERS = ("Period", "Currency", "Shows count", "Gross fee", "Costs", "Net", "")


class FinancePage(QWidget):
    def __init__(self, session: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("page_finance")
        self.session = session
        self.period = QComboBox()
        self.period.setObjectName("period")
        for key in ("month", "quarter", "year", "currency"):
            self.period.addItem(tr({"month": "Month", "quarter": "Quarter", "year": "Year",
                                    "currency": "Currency"}[key]), key)  # fmt: skip
        self.period.currentIndexChanged.connect(lambda _i: self.refresh())
        self.table = QTableWidget(0, len(HEADERS))
        self.table.setObjectName("totals")
        self.table.setHorizontalHeaderLabels([tr(h) for h in HEADERS])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        top = QHBoxLayout()
        top.addWidget(QLabel(tr("Period")))
        top.addWidget(self.period)
        top.addStretch(1)
        self.warnings = QLabel()
        self.warnings.setObjectName("financeWarnings")
        self.warnings.setWordWrap(True)
        self.warnings.setStyleSheet("color: #b00020;")
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table)
        layout.addWidget(self.warnings)
        self.refresh()

    def refresh(self) -> None:
        rows = totals(self.session, period=self.period.currentData() or "month")
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            cells = (row.period, row.currency, str(row.shows), money(row.gross),
                     money(row.costs), money(row.net), row.note)  # fmt: skip
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text + (" ⚠" if c == 5 and not row.complete else ""))
                if 2 <= c <= 5:
                    item.setTextAlignment(RIGHT)
                if row.warnings:
                    item.setToolTip("\n".join(row.warnings))
                self.table.setItem(r, c, item)
        lines = [f"{row.period}: {w}" for row in rows for w in row.warnings]
        self.warnings.setText("\n".join(lines))
        self.warnings.setVisible(bool(lines))

    def export(self, path: str | None = None, *, wait: bool = False) -> Any:
        """Finance export (Ctrl+E): the totals as shown, with the organisation's name,
        to Excel or CSV. A few hundred rows at most, so written at once."""
        if path is None:
            from PySide6.QtWidgets import QFileDialog

            path, _ = QFileDialog.getSaveFileName(self, tr("Export"), "finance.xlsx",
                                                  "Excel (*.xlsx);;CSV (*.csv)")  # fmt: skip
            if not path:
                return None
        from desktop.presenters.export import write_table

        def text(item: QTableWidgetItem | None) -> str:
            return item.text() if item is not None else ""

        cols = range(self.table.columnCount())
        head = [text(self.table.horizontalHeaderItem(c)) for c in cols]
        rows = [[text(self.table.item(r, c)) for c in cols] for r in range(self.table.rowCount())]
        title = f"{self.session.site.org_name} · {tr('Finance')} · {self.period.currentText()}"
        return write_table(path, title, head, rows)

    def apply_changes(self, changes: list[dict[str, Any]]) -> None:
        if any(c.get("entity") in ("shows", "show_costs", "finance_rules") for c in changes):
            self.refresh()


class ChartsPage(QWidget):
    def __init__(self, session: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("page_charts")
        self.session = session
        self.revenue = ChartWidget(tr("Revenue per month"))
        self.revenue.setObjectName("revenueChart")
        self.oee = ChartWidget(tr("OEE per machine"), percent=True)
        self.oee.setObjectName("oeeChart")
        self.downtime = ChartWidget(tr("Downtime by reason (hours)"), pareto=True)
        self.downtime.setObjectName("downtimeChart")
        layout = QVBoxLayout(self)
        if session.has("tour"):
            layout.addWidget(self.revenue)
        else:
            self.revenue.hide()
        if session.has("factory"):
            layout.addWidget(self.oee)
            layout.addWidget(self.downtime)
        else:
            self.oee.hide()
            self.downtime.hide()
        self.refresh()

    def refresh(self) -> None:
        if self.session.has("tour"):
            self.revenue.set_bars(revenue_per_month(self.session))
        if self.session.has("factory"):
            self.oee.set_lines(oee_per_machine(self.session))
            self.downtime.set_bars(downtime_by_reason(self.session))

    def apply_changes(self, changes: list[dict[str, Any]]) -> None:
        if any(c.get("entity") in ("shows", "show_costs", "events", "downtimes")
               for c in changes):  # fmt: skip
            self.refresh()
