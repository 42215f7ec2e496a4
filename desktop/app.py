"""``structura desktop``: the office window on the site store, hosting the site's
services in the same process.

Order of things: settings → QApplication (language, theme) → the store (first-run
dialog if there is none) → SiteHost.start (API, then announcement, then agent) → the
window. On quit, the reverse: window gone → bridge unhooked → SiteHost.stop.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from core.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Running:
    """Everything one run of the desktop holds, for tests and the benchmark."""

    app: Any
    session: Any
    host: Any
    bridge: Any
    window: Any

    def shutdown(self) -> None:
        """Reverse order of start; safe to call twice."""
        if self.bridge is not None:
            self.bridge.stop()
            self.bridge = None
        if self.host is not None:
            self.host.stop()
            self.host = None


def qt_app(argv: list[str] | None = None) -> Any:
    from PySide6.QtWidgets import QApplication

    from desktop.i18n import detect_language, set_language
    from desktop.theme import apply_theme, follow_os

    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
        app.setApplicationName("Structura")
        app.setOrganizationName("Structura")
        apply_theme(app)
        follow_os(app)
        set_language(detect_language())
    return app


def first_run(settings: Settings, *, interactive: bool) -> tuple[Any, Any] | None:
    """Ask where and what (interactive), or set up a default site (smoke runs)."""
    from desktop.setup import SetupChoice, create_site, enrol

    if interactive:
        from desktop.views.first_run import FirstRunDialog

        dialog = FirstRunDialog(settings.data_dir)
        if not dialog.exec():
            return None
        choice = dialog.choice()
    else:
        choice = SetupChoice(data_dir=settings.data_dir, org_name=settings.site_name,
                             site_name=settings.site_name)  # fmt: skip
    store, site = create_site(settings, choice)  # enrols first when given a code
    if choice.legacy_files:
        _import_with_progress(store, site, choice.legacy_files)
    if choice.central_url and not choice.enrolment_code:
        enrol(store, choice.central_url, "")
    return store, site


def _import_with_progress(store: Any, site: Any, files: list[Any]) -> None:
    from PySide6.QtCore import QCoreApplication, Qt
    from PySide6.QtWidgets import QMessageBox, QProgressDialog

    from desktop.i18n import tr
    from desktop.setup import import_legacy

    dialog = QProgressDialog(tr("Importing…"), "", 0, 100)
    dialog.setCancelButton(None)  # an import is one transaction: all or nothing
    dialog.setWindowModality(Qt.WindowModality.ApplicationModal)
    dialog.setMinimumDuration(0)

    def progress(stage: str, done: int, total: int) -> None:
        dialog.setLabelText(f"{tr('Importing…')} {stage}")
        dialog.setMaximum(max(total, 1))
        dialog.setValue(min(done, max(total, 1)))
        QCoreApplication.processEvents()

    try:
        report = import_legacy(store, site, files, progress=progress)
    except Exception as exc:
        dialog.close()
        QMessageBox.warning(None, tr("Something went wrong"), str(exc))
        return
    dialog.close()
    refused = len(getattr(report, "refused", []))
    QMessageBox.information(
        None, "Structura", f"{getattr(report, 'total_imported', 0)} imported, {refused} refused"
    )


def start(settings: Settings, *, interactive: bool = True, port: int | None = None,
          host_services: bool = True, announce: bool | None = None) -> Running | None:  # fmt: skip
    """Everything up to a shown window. None if the user cancelled the first run."""
    from desktop.bridge import ChangeBridge
    from desktop.host import SiteHost
    from desktop.session import Session, office_user
    from desktop.setup import open_existing
    from desktop.views.main_window import MainWindow

    app = qt_app()
    opened = open_existing(settings) or first_run(settings, interactive=interactive)
    if opened is None:
        return None
    store, site = opened
    session = Session(store, site, office_user(store, site))
    host = SiteHost(settings, store, site, port=port, announce=announce)
    bridge = ChangeBridge(store)
    bridge.start()
    window = MainWindow(session, bridge=bridge, host=host)
    running = Running(app, session, host, bridge, window)
    app.aboutToQuit.connect(running.shutdown)
    window.show()
    if host_services:
        # After the window: the services' imports (web stack) then overlap with the
        # first paint instead of delaying it. Writes never wait for them.
        host.start(background=True)
    return running


def run(settings: Settings, *, smoke: bool = False) -> int:
    if smoke:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    began = time.perf_counter()
    running = start(settings, interactive=not smoke, port=0 if smoke else None,
                    announce=False if smoke else None)  # fmt: skip
    if running is None:
        return 1
    if smoke:
        return _smoke(running, began)
    return int(running.app.exec())


def _smoke(running: Running, began: float) -> int:
    """Open everything, check the API answers, close in order; print what happened."""
    import httpx

    window = running.window
    running.host.wait_started()
    for key in list(window._factories):
        window.open(key)
    running.app.processEvents()
    ok = True
    url = running.host.server.url if running.host.server is not None else None
    if url:
        reply = httpx.get(f"{url}/api/health", timeout=5)
        print(f"api {url}/api/health -> {reply.status_code}")
        ok = reply.status_code == 200
    print(f"window up in {time.perf_counter() - began:.2f} s; pages: {len(window.pages)}")
    for step in running.host.steps:
        print(f"  {step.name}: {step.state} {step.detail}")
    window.close()
    running.shutdown()
    return 0 if ok else 1
