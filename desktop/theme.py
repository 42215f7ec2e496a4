"""Follow the operating system's light or dark scheme.

Fusion is used everywhere so both palettes look the same on every platform; the
palette is swapped when the OS scheme changes while the app runs.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

# Status colours readable on both palettes.
STATUS_COLORS = {
    "RUNNING": "#2e9e44",
    "IDLE": "#8a8f98",
    "MAINTENANCE": "#d99a00",
    "ERROR": "#d64545",
    "OFFLINE": "#555b66",
}
LOW_STOCK = {"light": "#fde2e1", "dark": "#5a2624"}


def is_dark() -> bool:
    app = QGuiApplication.instance()
    if app is None:
        return False
    scheme = QGuiApplication.styleHints().colorScheme()
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    # Unknown (offscreen, old desktops): judge by the palette's window colour.
    return QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


def dark_palette() -> QPalette:
    p = QPalette()
    base, alt, text = QColor("#1f2227"), QColor("#2a2e35"), QColor("#e6e6e6")
    p.setColor(QPalette.ColorRole.Window, alt)
    p.setColor(QPalette.ColorRole.WindowText, text)
    p.setColor(QPalette.ColorRole.Base, base)
    p.setColor(QPalette.ColorRole.AlternateBase, alt)
    p.setColor(QPalette.ColorRole.Text, text)
    p.setColor(QPalette.ColorRole.Button, alt)
    p.setColor(QPalette.ColorRole.ButtonText, text)
    p.setColor(QPalette.ColorRole.ToolTipBase, base)
    p.setColor(QPalette.ColorRole.ToolTipText, text)
    p.setColor(QPalette.ColorRole.Highlight, QColor("#3d7eff"))
    p.setColor(QPalette.ColorRole.HighlightedText, QColor("white"))
    p.setColor(QPalette.ColorRole.PlaceholderText, QColor("#8a8f98"))
    p.setColor(QPalette.ColorRole.Link, QColor("#6ea2ff"))
    return p


def apply_theme(app: QApplication, scheme: str | None = None) -> str:
    """Apply the scheme (``light``/``dark``; default: what the OS says). Returns it."""
    app.setStyle("Fusion")
    if scheme is None:
        os_scheme = QGuiApplication.styleHints().colorScheme()
        scheme = "dark" if os_scheme == Qt.ColorScheme.Dark else "light"
    app.setPalette(dark_palette() if scheme == "dark" else app.style().standardPalette())
    app.setProperty("structura_scheme", scheme)
    return scheme


def current_scheme() -> str:
    app = QGuiApplication.instance()
    value = app.property("structura_scheme") if app is not None else None
    return value if value in ("light", "dark") else ("dark" if is_dark() else "light")


def chosen_scheme() -> str | None:
    """The scheme the user picked with View → Dark mode (None: follow the OS)."""
    from PySide6.QtCore import QSettings

    value = QSettings().value("theme")
    return value if value in ("light", "dark") else None


def choose_scheme(app: QApplication, scheme: str | None) -> str:
    """Apply and remember the user's choice (None goes back to following the OS)."""
    from PySide6.QtCore import QSettings

    settings = QSettings()
    if scheme is None:
        settings.remove("theme")
    else:
        settings.setValue("theme", scheme)
    return apply_theme(app, scheme)


def follow_os(app: QApplication) -> None:
    """Follow the OS while the user has not chosen a scheme of their own."""
    QGuiApplication.styleHints().colorSchemeChanged.connect(
        lambda _s: apply_theme(app, chosen_scheme())
    )
