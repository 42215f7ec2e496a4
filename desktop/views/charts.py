"""Charts on QtCharts (PySide6-Addons, the same version as PySide6-Essentials): bars for
totals per category, lines for series over days. The axes, legend, hover and theme come
from the library; this module only feeds it and formats values in the user's language.

``set_bars([(label, value)])`` or ``set_lines({name: [(label, value)]})``; with
``pareto=True`` the bars are sorted largest first with the cumulative share as a line.
"""

from __future__ import annotations

from PySide6.QtCharts import (
    QBarCategoryAxis,
    QBarSeries,
    QBarSet,
    QChart,
    QChartView,
    QLineSeries,
    QValueAxis,
)
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QSizePolicy, QVBoxLayout, QWidget

from desktop.theme import current_scheme


def nice_top(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2, 2.5 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    import math

    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exp:
            return float(step * exp)
    return float(10 * exp)


def _short_day(label: str) -> str:
    """'2026-11-20' -> '20 nov' / '20 Nov' (a day axis has no room for the year)."""
    from datetime import date

    from babel.dates import format_date

    from desktop.i18n import language

    try:
        return str(format_date(date.fromisoformat(label), "d MMM", locale=language()))
    except ValueError:
        return label


class ChartWidget(QWidget):
    def __init__(self, title: str = "", *, percent: bool = False, pareto: bool = False,
                 parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.title = title
        self.percent = percent
        self.pareto = pareto
        self.bars: list[tuple[str, float]] = []
        self.lines: dict[str, list[tuple[str, float]]] = {}
        self.chart = QChart()
        self.chart.setTitle(title)
        self.chart.setAnimationOptions(QChart.AnimationOption.NoAnimation)
        self.chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        self.view = QChartView(self.chart)
        self.view.setRenderHint(QPainter.RenderHint.Antialiasing)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self.setMinimumSize(320, 220)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def _reset(self) -> None:
        self.chart.removeAllSeries()
        for axis in self.chart.axes():
            self.chart.removeAxis(axis)
        dark = current_scheme() == "dark"
        self.chart.setTheme(QChart.ChartTheme.ChartThemeDark if dark
                            else QChart.ChartTheme.ChartThemeLight)  # fmt: skip
        self.chart.setTitle(self.title)

    def _value_axis(self, top: float) -> QValueAxis:
        axis = QValueAxis()
        axis.setRange(0, nice_top(top))
        axis.setLabelFormat("%.0f%%" if self.percent else "%.0f")
        return axis

    def set_bars(self, bars: list[tuple[str, float]]) -> None:
        bars = sorted(bars, key=lambda b: -b[1]) if self.pareto else list(bars)
        self.bars, self.lines = bars, {}
        self._reset()
        scale = 100.0 if self.percent else 1.0
        values = QBarSet(self.title)
        for _label, v in bars:
            # Whole numbers on the bars (a revenue of 8001.84 reads 8002).
            values.append(round(v * scale) if v * scale >= 100 else round(v * scale, 1))
        series = QBarSeries()
        series.append(values)
        series.setLabelsVisible(len(bars) <= 12)
        self.chart.addSeries(series)
        x = QBarCategoryAxis()
        x.append([label for label, _ in bars])
        y = self._value_axis(max((v * scale for _, v in bars), default=0))
        self.chart.addAxis(x, Qt.AlignmentFlag.AlignBottom)
        self.chart.addAxis(y, Qt.AlignmentFlag.AlignLeft)
        series.attachAxis(x)
        series.attachAxis(y)
        self.chart.legend().setVisible(False)
        if self.pareto and bars:
            total = sum(v for _, v in bars) or 1.0
            cumulative = QLineSeries()
            cumulative.setName("%")
            running = 0.0
            for i, (_label, v) in enumerate(bars):
                running += v
                cumulative.append(QPointF(i, 100 * running / total))
            self.chart.addSeries(cumulative)
            share = QValueAxis()
            share.setRange(0, 100)
            share.setLabelFormat("%.0f%%")
            self.chart.addAxis(share, Qt.AlignmentFlag.AlignRight)
            cumulative.attachAxis(x)
            cumulative.attachAxis(share)

    def set_lines(self, lines: dict[str, list[tuple[str, float]]]) -> None:
        self.lines, self.bars = {k: list(v) for k, v in lines.items()}, []
        self._reset()
        scale = 100.0 if self.percent else 1.0
        labels = sorted({label for pts in self.lines.values() for label, _ in pts})
        where = {label: i for i, label in enumerate(labels)}
        x = QBarCategoryAxis()
        x.append([_short_day(label) for label in labels])
        top = max((v * scale for pts in self.lines.values() for _, v in pts), default=0)
        y = self._value_axis(top)
        self.chart.addAxis(x, Qt.AlignmentFlag.AlignBottom)
        self.chart.addAxis(y, Qt.AlignmentFlag.AlignLeft)
        for name, pts in self.lines.items():
            series = QLineSeries()
            series.setName(name)
            for label, v in pts:
                series.append(QPointF(where[label], v * scale))
            self.chart.addSeries(series)
            series.attachAxis(x)
            series.attachAxis(y)
        self.chart.legend().setVisible(True)
