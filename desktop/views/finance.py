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
from desktop.presenters.finance import oee_per_machine, revenue_per_month, totals
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
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table)
        self.refresh()

    def refresh(self) -> None:
        rows = totals(self.session, period=self.period.currentData() or "month")
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            cells = (row.period, row.currency, str(row.shows), money(row.gross),
                     money(row.costs), money(row.net), row.note)  # fmt: skip
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if 2 <= c <= 5:
                    item.setTextAlignment(RIGHT)
                self.table.setItem(r, c, item)

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
        layout = QVBoxLayout(self)
        if session.has("tour"):
            layout.addWidget(self.revenue)
        else:
            self.revenue.hide()
        if session.has("factory"):
            layout.addWidget(self.oee)
        else:
            self.oee.hide()
        self.refresh()

    def refresh(self) -> None:
        if self.session.has("tour"):
            self.revenue.set_bars(revenue_per_month(self.session))
        if self.session.has("factory"):
            self.oee.set_lines(oee_per_machine(self.session))

    def apply_changes(self, changes: list[dict[str, Any]]) -> None:
        if any(c.get("entity") in ("shows", "show_costs", "events", "downtimes")
               for c in changes):  # fmt: skip
            self.refresh()
