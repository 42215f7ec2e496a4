"""Sync panel: online or not, what waits to be pushed, when it last worked, the last
error, and the conflicts to decide (each opened side by side)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.i18n import field_label, tr
from desktop.presenters.sync import ConflictItem, SyncPresenter, SyncStatus
from desktop.views.conflict_dialog import ConflictDialog

STATE_TEXT = {"online": "Online", "offline": "Offline", "not_enrolled": "Not enrolled",
              "idle": "Connecting…", "error": "Error", "revoked": "Revoked"}  # fmt: skip


def utcnow_text() -> str:
    from core.clock import utcnow

    return utcnow().isoformat()


def _when(at: Any) -> str:
    """An ISO instant from the agent as the office reads it (its language, local time)."""
    from core.fields import parse_utc
    from desktop.models.formatting import cell_text

    try:
        return cell_text(parse_utc(str(at)))
    except Exception:  # an older agent's free text: shown as it came
        return str(at)


def describe(status: SyncStatus) -> str:
    return tr(STATE_TEXT.get(status.state, status.state))


def describe_verify(last: Any) -> str:
    """The last comparison of this site's copy with the central copy (the agent's
    ``last_verify``): a difference must not stay silent."""
    if not isinstance(last, dict):
        return tr("not checked yet")
    at = str(last.get("at") or "")[:16].replace("T", " ")
    if not last.get("differences"):
        return tr("in step with the central copy ({at})", at=at)
    return tr("{n} rows differed, {r} repaired ({at})", n=last["differences"],
              r=last.get("repaired", 0), at=at)  # fmt: skip


class SyncPage(QWidget):
    def __init__(self, presenter: SyncPresenter, *, sync_now: Any = None,
                 parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.setObjectName("page_sync")
        self.presenter = presenter
        self.sync_now = sync_now
        self.ask = self._ask  # replaced in tests to answer the dialog
        self.state = QLabel()
        self.state.setObjectName("syncState")
        self.pending = QLabel()
        self.pending.setObjectName("pending")
        self.last = QLabel()
        self.error = QLabel()
        self.verify = QLabel()
        self.error.setWordWrap(True)
        # Central unreachable: said in words like a port in use on the Tablets page
        # (what happened, that nothing needs doing); the agent retries by itself with
        # backoff, and the technical error stays in the tooltip.
        self.problem = QLabel()
        self.problem.setObjectName("syncProblem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(
            "QLabel#syncProblem { border: 1px solid #c98a00; border-radius: 4px; padding: 8px; }"
        )
        self.problem.hide()
        form = QFormLayout()
        form.addRow(tr("Sync"), self.state)
        form.addRow(tr("Pending changes"), self.pending)
        form.addRow(tr("Last sync"), self.last)
        form.addRow(tr("Last error"), self.error)
        form.addRow(tr("Copy check"), self.verify)
        self.list = QListWidget()
        self.list.setObjectName("conflicts")
        self.list.itemActivated.connect(lambda item: self.resolve(item.data(256)))
        resolve = QPushButton(tr("Resolve…"))
        resolve.clicked.connect(self._resolve_selected)
        now = QPushButton(tr("Sync now"))
        now.setEnabled(sync_now is not None)
        now.clicked.connect(self.run_sync_now)
        buttons = QHBoxLayout()
        buttons.addWidget(now)
        buttons.addStretch(1)
        buttons.addWidget(resolve)
        layout = QVBoxLayout(self)
        layout.addWidget(self.problem)
        layout.addLayout(form)
        layout.addWidget(QLabel(f"<b>{tr('Open conflicts')}</b>"))
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        self.items: list[ConflictItem] = []
        # The agent runs in its own thread; poll its status cheaply.
        self.timer = QTimer(self)
        self.timer.setInterval(3000)
        self.timer.timeout.connect(self.refresh_status)
        self.timer.start()
        presenter.resolved.connect(lambda _id: self.refresh())
        self.refresh()

    def run_sync_now(self) -> None:
        if self.sync_now is None:
            return
        try:
            self.sync_now()
        except Exception as exc:  # the agent's Offline/Refused/...: show, do not crash
            self.refresh_status()
            if type(exc).__name__ == "Offline":
                self._show_unreachable(utcnow_text(), str(exc))
            else:
                self.error.setText(str(exc) or type(exc).__name__)
            return
        self.refresh()

    def refresh_status(self) -> SyncStatus:
        status = self.presenter.status()
        self.state.setText(describe(status))
        self.pending.setText(str(status.pending))
        self.last.setText(_when(status.last_sync) if status.last_sync else tr("never"))
        self.error.setText(status.last_error or tr("none"))
        self.error.setToolTip("")
        if status.state == "offline":
            self._show_unreachable(status.detail.get("last_error_at"), status.last_error or "")
        else:
            self.problem.hide()
        self.verify.setText(describe_verify(status.detail.get("last_verify")))
        return status

    def _show_unreachable(self, since: Any, technical: str) -> None:
        lines = [f"<b>{tr('The central server cannot be reached')}</b>",
                 tr("Work continues here; changes are sent when it answers again."),
                 tr("Structura tries again by itself; nothing needs doing.")]  # fmt: skip
        if since:
            lines.append(tr("Not reachable since {at}", at=_when(since)))
        self.problem.setText("<br>".join(lines))
        self.problem.setToolTip(technical)
        self.problem.show()
        # The field says it in words too; the exception's text is for a support call.
        self.error.setText(tr("The central server cannot be reached"))
        self.error.setToolTip(technical)

    def refresh(self) -> None:
        self.refresh_status()
        self.items = self.presenter.conflicts()
        self.list.clear()
        for c in self.items:
            fields = ", ".join(field_label(n) for n, _, _ in c.rows)
            item = QListWidgetItem(f"{c.label} · {c.entity_id} · {c.kind_text} · {fields}")
            item.setToolTip(c.reason_text)
            item.setData(256, c.id)
            self.list.addItem(item)

    def _resolve_selected(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self.resolve(item.data(256))

    def resolve(self, conflict_id: str) -> bool:
        item = next((c for c in self.items if c.id == conflict_id), None)
        if item is None:
            return False
        keep = self.ask(item)
        if keep is None:
            return False
        return self.presenter.resolve(conflict_id, keep)

    def conflict_dialog(self, item: ConflictItem) -> ConflictDialog:
        """The dialog for one conflict: the record in words, why, field by field."""
        return ConflictDialog(item.rows, title=f"{item.label} · {item.entity_id}",
                              explanation=item.reason_text, parent=self)  # fmt: skip

    def _ask(self, item: ConflictItem) -> set[str] | None:
        dialog = self.conflict_dialog(item)
        return dialog.keep_mine() if dialog.exec() else None

    def apply_changes(self, changes: list[dict[str, Any]]) -> None:
        self.refresh()
