"""Machines board: a card per machine, coloured by status, redrawn when any change
reaches the store (a tablet starting a job, a pulled change)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import (
    QLabel,
    QListView,
    QMenu,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from desktop.i18n import tr
from desktop.models.board import CARD_ROLE, BoardModel
from desktop.models.formatting import display
from desktop.presenters.jobs import JobsPresenter
from desktop.theme import STATUS_COLORS

CARD = QSize(250, 150)


def _qty(text: str | None) -> str:
    return display(Decimal(text)) if text else "0"


class CardDelegate(QStyledItemDelegate):
    def sizeHint(self, option: QStyleOptionViewItem, index: Any) -> QSize:
        return CARD

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:  # fmt: skip
        card = index.data(CARD_ROLE)
        if not card:
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = option.palette
        r = option.rect.adjusted(6, 6, -6, -6)
        status_colour = QColor(STATUS_COLORS.get(card["status"], "#888"))
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.setPen(QPen(pal.highlight().color() if selected else pal.mid().color(),
                            2 if selected else 1))  # fmt: skip
        painter.setBrush(pal.base())
        painter.drawRoundedRect(r, 8, 8)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(status_colour)
        painter.drawRoundedRect(QRect(r.left(), r.top(), 8, r.height()), 4, 4)
        x, w = r.left() + 18, r.width() - 26
        painter.setPen(pal.text().color())
        bold = QFont(option.font)
        bold.setBold(True)
        bold.setPointSizeF(option.font.pointSizeF() * 1.15)
        painter.setFont(bold)
        painter.drawText(QRect(x, r.top() + 8, w, 22), Qt.AlignmentFlag.AlignLeft, card["name"])
        painter.setFont(option.font)
        painter.setPen(status_colour)
        painter.drawText(QRect(x, r.top() + 32, w, 18), Qt.AlignmentFlag.AlignLeft,
                         f"● {status_line(card)}")  # fmt: skip
        painter.setPen(pal.text().color())
        job = card.get("current_job")
        line = job["title"] if job else "—"
        painter.drawText(
            QRect(x, r.top() + 54, w, 18),
            Qt.AlignmentFlag.AlignLeft,
            painter.fontMetrics().elidedText(line, Qt.TextElideMode.ElideRight, w),
        )
        if job:
            progress = min(100.0, float(job.get("progress") or 0))
            bar = QRect(x, r.top() + 78, w, 8)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(pal.alternateBase())
            painter.drawRoundedRect(bar, 4, 4)
            painter.setBrush(status_colour)
            painter.drawRoundedRect(QRect(bar.left(), bar.top(), int(w * progress / 100), 8), 4, 4)
            painter.setPen(pal.text().color())
            painter.drawText(QRect(x, r.top() + 90, w, 18), Qt.AlignmentFlag.AlignLeft,
                             f"{progress:.0f} % · {_qty(job['produced_qty'])} / "
                             f"{_qty(job['quantity'])} {job['unit']}")  # fmt: skip
        nxt = card.get("next_job")
        oee = card.get("oee_today")
        foot = f"{tr('queue')} {card['queue_length']}"
        if nxt:
            foot += f" · {tr('next')}: {nxt['title']}"
        if oee is not None:
            foot += f" · OEE {float(oee) * 100:.0f} %"
        if card.get("open_alerts"):
            foot += f" · ⚠ {card['open_alerts']}"
        painter.setPen(pal.placeholderText().color())
        painter.drawText(
            QRect(x, r.bottom() - 24, w, 18),
            Qt.AlignmentFlag.AlignLeft,
            painter.fontMetrics().elidedText(foot, Qt.TextElideMode.ElideRight, w),
        )
        painter.restore()


def status_line(card: dict[str, Any]) -> str:
    """The machine's state: its open stop (reason and since when) when it has one."""
    stop = card.get("stop")
    if not stop:
        return tr(card["status"])
    since = datetime.fromisoformat(stop["since"]).astimezone().strftime("%H:%M")
    return tr("stopped: {reason} since {since}", reason=tr(stop["reason"]), since=since)


class BoardPage(QWidget):
    def __init__(self, session: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("page_board")
        self.model = BoardModel(session, self)
        self.jobs = JobsPresenter(session, parent=self)
        self.view = QListView()
        self.view.setObjectName("board")
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setMovement(QListView.Movement.Static)
        self.view.setUniformItemSizes(True)
        self.view.setSpacing(4)
        self.view.setItemDelegate(CardDelegate(self.view))
        self.view.setModel(self.model)
        # A stopped machine's card offers to end the stop (as the tablets' button does).
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._menu)
        self.message = QLabel()
        self.message.setObjectName("board_message")
        self.jobs.failed.connect(lambda msg: self.message.setText(msg.text))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.view)
        layout.addWidget(self.message)

    def end_stop(self, row: int) -> bool:
        card = self.model.card(row)
        ok = self.jobs.end_stop(card["id"])
        if ok:
            self.message.setText("")
            self.model.refresh()
        return ok

    def _menu(self, pos: Any) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid() or not self.model.card(index.row()).get("stop"):
            return
        menu = QMenu(self)
        menu.addAction(tr("End stop"), lambda: self.end_stop(index.row()))
        menu.exec(self.view.viewport().mapToGlobal(pos))

    def apply_changes(self, changes: list[dict[str, Any]]) -> None:
        self.model.apply_changes(changes)
