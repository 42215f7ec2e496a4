"""Small bar and line charts drawn with QPainter (QtCharts is not in
PySide6-Essentials, and these two charts need little)."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

PALETTE = ["#3d7eff", "#2e9e44", "#d99a00", "#d64545", "#8e5cd9", "#1aa3a3", "#b35c1e"]


def nice_top(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 x 10^n at or above ``value``: round axis labels."""
    if value <= 0:
        return 1.0
    exp = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * 10**exp >= value:
            return step * 10**exp
    return 10 ** (exp + 1)


class ChartWidget(QWidget):
    """``set_bars([(label, value)])`` or ``set_lines({name: [(label, value)]})``."""

    def __init__(self, title: str = "", *, percent: bool = False,
                 parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.title = title
        self.percent = percent
        self.bars: list[tuple[str, float]] = []
        self.lines: dict[str, list[tuple[str, float]]] = {}
        self.setMinimumSize(320, 220)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_bars(self, bars: list[tuple[str, float]]) -> None:
        self.bars, self.lines = list(bars), {}
        self.update()

    def set_lines(self, lines: dict[str, list[tuple[str, float]]]) -> None:
        self.lines, self.bars = {k: list(v) for k, v in lines.items()}, []
        self.update()

    def _fmt(self, v: float) -> str:
        if self.percent:
            return f"{v * 100:.0f}%"
        if abs(v) >= 1_000_000:
            return f"{v / 1_000_000:.1f}M"
        if abs(v) >= 1_000:
            return f"{v / 1_000:.0f}k"
        return f"{v:.0f}"

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        text = pal.text().color()
        p.fillRect(self.rect(), pal.base())
        p.setPen(text)
        p.drawText(QRectF(8, 4, self.width() - 16, 20), Qt.AlignmentFlag.AlignLeft, self.title)
        legend_h = 18 if self.lines else 0
        plot = QRectF(48, 30 + legend_h, self.width() - 60, self.height() - 64 - legend_h)
        values = [v for _, v in self.bars] + [v for s in self.lines.values() for _, v in s]
        if not values or plot.width() < 20 or plot.height() < 20:
            p.drawText(plot, Qt.AlignmentFlag.AlignCenter, "—")
            p.end()
            return
        top = 1.0 if self.percent else nice_top(max(values))
        grid = QColor(pal.mid().color())
        for i in range(5):
            y = plot.bottom() - plot.height() * i / 4
            p.setPen(QPen(grid, 0.5, Qt.PenStyle.DotLine))
            p.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            p.setPen(text)
            p.drawText(QRectF(0, y - 8, 44, 16), Qt.AlignmentFlag.AlignRight,
                       self._fmt(top * i / 4))  # fmt: skip
        if self.bars:
            self._paint_bars(p, plot, top, text)
        else:
            self._paint_lines(p, plot, top, text)
        p.end()

    def _paint_bars(self, p: QPainter, plot: QRectF, top: float, text: QColor) -> None:
        n = len(self.bars)
        slot = plot.width() / n
        step = max(1, int(40 / slot) + 1)  # label every nth bar when crowded
        for i, (label, v) in enumerate(self.bars):
            h = plot.height() * max(v, 0) / top
            bar = QRectF(plot.left() + i * slot + slot * 0.15, plot.bottom() - h, slot * 0.7, h)
            p.fillRect(bar, QColor(PALETTE[0]))
            if i % step == 0:
                p.setPen(text)
                p.drawText(QRectF(plot.left() + i * slot - 10, plot.bottom() + 2, slot + 20, 16),
                           Qt.AlignmentFlag.AlignHCenter, label)  # fmt: skip

    def _paint_lines(self, p: QPainter, plot: QRectF, top: float, text: QColor) -> None:
        labels = sorted({lab for s in self.lines.values() for lab, _ in s})
        pos = {lab: i for i, lab in enumerate(labels)}
        n = max(len(labels) - 1, 1)
        x_of = lambda lab: plot.left() + plot.width() * pos[lab] / n  # noqa: E731
        step = max(1, len(labels) // 7)
        p.setPen(text)
        for i, lab in enumerate(labels):
            if i % step == 0:
                p.drawText(
                    QRectF(x_of(lab) - 30, plot.bottom() + 2, 60, 16),
                    Qt.AlignmentFlag.AlignHCenter,
                    lab[5:] if len(lab) == 10 else lab,
                )
        lx = plot.left()
        for k, (name, series) in enumerate(sorted(self.lines.items())):
            colour = QColor(PALETTE[k % len(PALETTE)])
            path = QPainterPath()
            for j, (lab, v) in enumerate(series):
                pt = QPointF(x_of(lab), plot.bottom() - plot.height() * min(max(v, 0), top) / top)
                path.moveTo(pt) if j == 0 else path.lineTo(pt)
            p.setPen(QPen(colour, 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawPath(path)
            p.fillRect(QRectF(lx, 30, 10, 10), colour)
            p.setPen(text)
            width = p.fontMetrics().horizontalAdvance(name) + 24
            p.drawText(QRectF(lx + 14, 26, width, 16), Qt.AlignmentFlag.AlignLeft, name)
            lx += width
