"""Charts on QtCharts: revenue by month, OEE by machine and day, downtime by reason as
a Pareto (largest first, cumulative share reaching 100 %)."""

from __future__ import annotations

from typing import Any

import pytest

from desktop.views.main_window import MainWindow

pytestmark = pytest.mark.qt


def test_charts_page_feeds_qtcharts(session: Any, demo: Any, qtbot: Any) -> None:
    from PySide6.QtCharts import QBarSeries, QLineSeries

    window = MainWindow(session)
    qtbot.addWidget(window)
    page = window.open("charts")
    revenue = page.revenue.chart.series()
    assert revenue and isinstance(revenue[0], QBarSeries) and revenue[0].barSets()[0].count()
    oee = page.oee.chart.series()
    assert oee and all(isinstance(s, QLineSeries) for s in oee)
    assert {s.name() for s in oee} == set(page.oee.lines)
    bars = page.downtime.bars
    assert bars and [v for _, v in bars] == sorted((v for _, v in bars), reverse=True)
    cumulative = next(s for s in page.downtime.chart.series() if isinstance(s, QLineSeries))
    assert abs(cumulative.at(cumulative.count() - 1).y() - 100) < 1e-6
