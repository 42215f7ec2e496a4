"""Start-up problems explained in a window, before there is a main window to show.

The same pattern as a LAN port in use on the Tablets page: a title that says what
happened, a sentence that says what to do, a button for the way out (Try again, or
Quit), one log line and no traceback. Three situations stop the start:

- Structura is already open with this data (another instance holds the data folder's
  lock file, ``QLockFile``; a crashed instance's stale lock is taken over);
- the store is locked by another program (SQLite busy: a copy or a backup holding the
  file); found by a short probe, so the window does not sit blank for the 30 s busy
  timeout first;
- the central server cannot be reached while joining the organisation (first run with
  an enrolment code);
- the store was made by a newer release (an Alembic revision this release does not
  know, ``core.migrate.SchemaTooNew``): nothing is touched, and there is no retry.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.i18n import tr

log = logging.getLogger(__name__)

LOCK_NAME = "desktop.lock"
PROBE_SECONDS = 2.0  # a normal write holds the file for milliseconds

PROBLEMS = {
    "already_open": ("Structura is already open with this data",
                     "Another Structura window (process {pid}) is using the data in {path}. "
                     "Switch to that window, or close it and press Try again."),
    "store_locked": ("The data store is locked",
                     "Another program is holding the data file {path} (a copy or a backup "
                     "in progress?). Wait for it to finish or close it, then press Try "
                     "again."),
    "schema_too_new": ("This data was made by a newer Structura",
                       "The data in {path} was last opened by a newer release of "
                       "Structura. This release cannot read it safely and has changed "
                       "nothing. Install the newer release on this computer to open it."),
    "central_unreachable": ("The central server cannot be reached",
                            "Joining the organisation needs it this once: check its address "
                            "and the network, then press Try again."),
}  # fmt: skip


class AlreadyOpen(RuntimeError):
    code = "already_open"

    def __init__(self, pid: int) -> None:
        super().__init__(f"another instance (pid {pid}) holds the data folder's lock")
        self.pid = pid


@dataclass
class StartupProblem:
    code: str
    params: dict[str, Any] = field(default_factory=dict)
    retry: bool = True
    detail: str = ""  # the technical words, for a support call (selectable, small)

    @property
    def title(self) -> str:
        return tr(PROBLEMS[self.code][0], **self.params)

    @property
    def text(self) -> str:
        return tr(PROBLEMS[self.code][1], **self.params)


def take_instance_lock(data_dir: Path) -> Any:
    """The data folder's lock (a ``QLockFile`` to keep while running), or AlreadyOpen."""
    from PySide6.QtCore import QLockFile

    data_dir.mkdir(parents=True, exist_ok=True)
    lock = QLockFile(str(data_dir / LOCK_NAME))
    lock.setStaleLockTime(0)  # stale only when its process is gone, never by age
    if lock.tryLock(0):
        return lock
    info = lock.getLockInfo()  # PySide6: (pid, hostname, appname)
    pid = next((v for v in info if isinstance(v, int) and not isinstance(v, bool)), 0)
    raise AlreadyOpen(pid)


def probe_store(path: Path, seconds: float = PROBE_SECONDS) -> None:
    """Raise sqlite3.OperationalError ("database is locked") at once when another
    program holds the store: a read, then a write lock taken and given back."""
    if not path.exists():
        return
    conn = sqlite3.connect(path, timeout=seconds, isolation_level=None)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def classify(exc: BaseException, data_dir: Path) -> StartupProblem | None:
    """The problem ``exc`` is, in words a person can act on; None for anything else
    (a bug: the caller lets it raise)."""
    from core.migrate import SchemaTooNew
    from desktop.host import failure_code

    where = str(data_dir)
    if isinstance(exc, AlreadyOpen):
        return StartupProblem("already_open", {"pid": exc.pid, "path": where}, detail=str(exc))
    if isinstance(exc, SchemaTooNew):
        detail = f"schema {exc.found}; this release knows {exc.known}"
        return StartupProblem("schema_too_new", {"path": where}, retry=False, detail=detail)
    code = failure_code(exc)
    if code in ("store_locked", "central_unreachable"):
        return StartupProblem(code, {"path": where}, detail=str(exc).splitlines()[0])
    return None


class StartupProblemDialog(QDialog):
    """Says what stops the start; ``exec()`` is Accepted for Try again."""

    def __init__(self, problem: StartupProblem, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("startupProblem")
        self.setWindowTitle("Structura")
        self.setMinimumWidth(480)
        self.problem = problem
        self.title = QLabel(f"<b>{problem.title}</b>")
        self.title.setObjectName("problemTitle")
        self.title.setWordWrap(True)
        self.text = QLabel(problem.text)
        self.text.setObjectName("problemText")
        self.text.setWordWrap(True)
        # The technical words as they came (for a support call), under a word that says so.
        self.detail = QLabel(f"{tr('Details')}: {problem.detail}" if problem.detail else "")
        self.detail.setObjectName("problemDetail")
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail.setStyleSheet("font-size: 8.5pt;")
        self.detail.setVisible(bool(problem.detail))
        buttons = QDialogButtonBox()
        self.retry_button: QPushButton | None = None
        if problem.retry:
            accept = QDialogButtonBox.ButtonRole.AcceptRole
            self.retry_button = buttons.addButton(tr("Try again"), accept)
            self.retry_button.setObjectName("tryAgain")
            self.retry_button.setDefault(True)
        self.quit_button = buttons.addButton(tr("Quit"), QDialogButtonBox.ButtonRole.RejectRole)
        self.quit_button.setObjectName("quit")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.text)
        layout.addWidget(self.detail)
        layout.addSpacing(8)
        layout.addWidget(buttons)
