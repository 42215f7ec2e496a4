"""QR codes as Qt images, drawn from qrcode's module matrix (no Pillow needed)."""

from __future__ import annotations

import qrcode
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap


def qr_image(text: str, *, scale: int = 6, border: int = 2) -> QImage:
    code = qrcode.QRCode(border=border, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(text)
    code.make(fit=True)
    matrix = code.get_matrix()
    size = len(matrix) * scale
    image = QImage(size, size, QImage.Format.Format_RGB32)
    # A QR code must be dark on light whatever the theme, or phones cannot read it.
    image.fill(QColor("white"))
    painter = QPainter(image)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("black"))
    for y, line in enumerate(matrix):
        for x, dark in enumerate(line):
            if dark:
                painter.drawRect(x * scale, y * scale, scale, scale)
    painter.end()
    return image


def qr_pixmap(text: str, *, scale: int = 6) -> QPixmap:
    return QPixmap.fromImage(qr_image(text, scale=scale))
