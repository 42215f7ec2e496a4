"""Where tablets connect: the LAN address of the embedded server and a QR code of it."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from desktop.i18n import tr
from desktop.qr import qr_pixmap


class TabletsPage(QWidget):
    def __init__(self, host: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("page_tablets")
        self.host = host
        self.address = QLabel()
        self.address.setObjectName("address")
        self.address.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.address.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        self.address.setFont(font)
        self.qr = QLabel()
        self.qr.setObjectName("qr")
        self.services = QLabel()
        self.services.setObjectName("services")
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        for w in (QLabel(tr("Scan to open the shop floor pages")), self.qr, self.address,
                  self.services):  # fmt: skip
            layout.addWidget(w, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(2)
        self.refresh()

    def refresh(self) -> None:
        url = self.host.url if self.host is not None else None
        if url:
            self.address.setText(url)
            self.qr.setPixmap(qr_pixmap(self.host.pairing_url or url, scale=7))
        else:
            self.address.setText(tr("Server") + ": " + tr("not available"))
            self.qr.clear()
        steps = getattr(self.host, "steps", [])
        lines = []
        for name in ("local API", "announcement", "sync agent"):
            st = next((s for s in reversed(steps) if s.name == name), None)
            lines.append(f"{name}: {st.state if st else 'stopped'}"
                         + (f" ({st.detail})" if st and st.detail else ""))  # fmt: skip
        self.services.setText("\n".join(lines))
