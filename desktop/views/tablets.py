"""Where tablets connect: the LAN address of the embedded server and a QR code of it,
and the tablets paired so far, each of which the office can unpair (a lost or stolen
tablet: its key stops working at once).

When the local API could not start, the page says why in words and offers the way out
(another port) instead of staying blank."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.i18n import tr
from desktop.qr import qr_pixmap

SERVICES = {"local API": "Local API", "announcement": "Announcement", "sync agent": "Sync agent"}
STATES = {"started": "running", "skipped": "not configured", "failed": "failed",
          "stopped": "stopped"}  # fmt: skip
PROBLEMS = {
    "port_in_use": ("The LAN port {port} is already in use",
                    "Another program (or another Structura) is listening on it. Tablets "
                    "cannot connect until the local API runs on a free port."),
    "port_denied": ("The LAN port {port} cannot be used",
                    "This computer does not allow Structura to listen on it. Choose a port "
                    "above 1024."),
    "store_locked": ("The data store is locked",
                     "Another program holds the site's data file. Close it and start "
                     "Structura again."),
    "central_unreachable": ("The central server cannot be reached",
                            "Work continues here; changes are sent when it answers again."),
    "failed": ("The local API could not start", "{detail}"),
}  # fmt: skip


class TabletsPage(QWidget):
    status = Signal(str)

    def __init__(self, host: Any, parent: QWidget | None = None, session: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("page_tablets")
        self.host = host
        self.session = session
        self.code: str | None = None
        self.pair_button = QPushButton(tr("Pair a tablet"))
        self.pair_button.setObjectName("pair")
        self.pair_button.clicked.connect(self.pair)
        self.pair_button.setEnabled(session is not None)
        self.code_label = QLabel()
        self.code_label.setObjectName("pairing_code")
        self.code_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.address = QLabel()
        self.address.setObjectName("address")
        self.address.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.address.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        self.address.setFont(font)
        self.qr = QLabel()
        self.qr.setObjectName("qr")
        self.problem = QLabel()
        self.problem.setObjectName("problem")
        self.problem.setWordWrap(True)
        self.problem.setMaximumWidth(560)
        self.problem.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.other_port = QPushButton()
        self.other_port.setObjectName("otherPort")
        self.other_port.clicked.connect(self.use_other_port)
        self._offered: int | None = None
        self.services = QLabel()
        self.services.setObjectName("services")
        self.hint = QLabel(tr("Scan to open the shop floor pages"))
        self.devices_title = QLabel(f"<b>{tr('Paired tablets')}</b>")
        self.devices = QListWidget()
        self.devices.setObjectName("devices")
        self.devices.setMinimumWidth(480)
        self.devices.setMaximumHeight(180)
        self.devices.currentItemChanged.connect(lambda *_: self._can_unpair())
        self.unpair_button = QPushButton(tr("Unpair"))
        self.unpair_button.setObjectName("unpair")
        self.unpair_button.clicked.connect(self.unpair)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        for w in (self.hint, self.qr, self.address, self.pair_button, self.code_label,
                  self.problem, self.other_port, self.services, self.devices_title,
                  self.devices, self.unpair_button):  # fmt: skip
            layout.addWidget(w, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(2)
        for w in (self.devices_title, self.devices, self.unpair_button):
            w.setVisible(session is not None)
        self.refresh()
        self.load_devices()

    def load_devices(self) -> None:
        """The tablets paired (or waiting for their code), newest first."""
        if self.session is None:
            return
        from datetime import datetime

        from core.identity.devices import list_devices
        from desktop.models.formatting import display

        with self.session.read() as s:
            rows = list_devices(s, org_id=self.session.actor.org_id)
        self.devices.clear()
        for row in reversed(rows):
            if row["revoked_at"]:
                state = tr("unpaired")
            elif not row["paired"]:
                state = tr("waiting for its code")
            elif row["last_seen_at"]:
                seen = datetime.fromisoformat(row["last_seen_at"])
                state = tr("last seen {when}", when=display(seen))
            else:
                state = tr("paired")
            item = QListWidgetItem(f"{row['name']} · {state}")
            item.setData(Qt.ItemDataRole.UserRole, None if row["revoked_at"] else row["id"])
            self.devices.addItem(item)
        if not rows:
            empty = QListWidgetItem(tr("No tablet paired yet"))
            empty.setData(Qt.ItemDataRole.UserRole, None)
            self.devices.addItem(empty)
        self._can_unpair()

    def _can_unpair(self) -> None:
        item = self.devices.currentItem()
        self.unpair_button.setEnabled(
            item is not None and item.data(Qt.ItemDataRole.UserRole) is not None
        )

    def unpair(self, *, confirm: bool = True) -> None:
        item = self.devices.currentItem()
        device_id = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if device_id is None or self.session is None:
            return
        if confirm:
            answer = QMessageBox.question(
                self, tr("Unpair"),
                tr("Unpair this tablet? It must be paired again to log in without limits"),
            )  # fmt: skip
            if answer != QMessageBox.StandardButton.Yes:
                return
        from core.identity.devices import revoke_device

        with self.session.write() as s:
            revoke_device(s, actor=self.session.actor, device_id=device_id)
        self.load_devices()
        self.status.emit(tr("Tablet unpaired"))

    def pair(self) -> None:
        """A one-time pairing code (core.identity.devices), shown as text and inside
        the QR code: the tablet that scans it is paired and never locked out by wrong
        PINs typed elsewhere."""
        from datetime import datetime

        from core.identity.devices import CODE_MINUTES, start_pairing

        name = f"{tr('Tablet')} {datetime.now():%Y-%m-%d %H:%M}"
        with self.session.write() as s:
            p = start_pairing(s, actor=self.session.actor, name=name)
        self.code = p.code
        self.load_devices()
        self.code_label.setText(
            tr("Pairing code")
            + f": {p.code[:5]}-{p.code[5:]} "
            + tr("(valid {minutes} minutes, once)", minutes=CODE_MINUTES)
        )
        self.refresh()

    def refresh(self) -> None:
        host = self.host
        url = host.url if host is not None else None
        failed = host.step("local API") if host is not None and hasattr(host, "step") else None
        if failed is not None and failed.state != "failed":
            failed = None
        self.problem.setVisible(failed is not None)
        self.other_port.setVisible(False)
        self.hint.setVisible(bool(url))
        if url:
            self.address.setText(url)
            from core.tls import pairing_url

            # The pairing code, when one was made, rides in the QR with the fingerprint.
            link = pairing_url(url, getattr(host, "fingerprint", None), self.code)
            self.qr.setPixmap(qr_pixmap(link, scale=7))
        elif failed is not None:
            self.address.setText(tr("Server") + ": " + tr("not available"))
            self.qr.clear()
            title, text = PROBLEMS.get(failed.code, PROBLEMS["failed"])
            port = host.wanted_port
            self.problem.setText(f"<b>{tr(title, port=port)}</b><br>"
                                 f"{tr(text, detail=failed.detail)}")  # fmt: skip
            if failed.code in ("port_in_use", "port_denied"):
                from desktop.host import free_port

                self._offered = free_port(host.host or host.settings.host)
                self.other_port.setText(tr("Use port {port}", port=self._offered))
                self.other_port.setVisible(True)
        elif host is not None and getattr(host, "starting", False):
            self.address.setText(tr("The local API is starting…"))
            self.qr.clear()
        else:
            self.address.setText(tr("Server") + ": " + tr("not available"))
            self.qr.clear()
        steps = getattr(host, "steps", [])
        lines = []
        for name, label in SERVICES.items():
            st = next((s for s in reversed(steps) if s.name == name), None)
            state = tr(STATES.get(st.state, st.state)) if st else tr("stopped")
            lines.append(f"{tr(label)}: {state}")
        self.services.setText("\n".join(lines))

    def use_other_port(self) -> bool:
        """Start the local API on the offered free port (kept in the settings' place
        for this run; the operator guide says how to make it permanent)."""
        if self._offered is None or self.host is None:
            return False
        ok = bool(self.host.retry_server(self._offered))
        self.refresh()
        if ok:
            self.status.emit(f"{tr('Tablets connect at')} {self.host.url}")
        return ok
