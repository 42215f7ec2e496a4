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

from core.runtime import keep_responsive
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
    lock: Any = None  # the data folder's instance lock (QLockFile)

    def shutdown(self) -> None:
        """Reverse order of start; safe to call twice."""
        if self.bridge is not None:
            self.bridge.stop()
            self.bridge = None
        if self.host is not None:
            self.host.stop()
            self.host = None
        if self.lock is not None:
            self.lock.unlock()
            self.lock = None


def keep_window_responsive() -> None:
    """The window shares the GIL with worker threads (exports, printouts, the table
    reader, the LAN API): the process-wide settings of ``core.runtime`` keep its waits
    short (measured during a 100k-row export, docs/benchmarks.md: full collections were
    50-480 ms pauses of the window; with a 1 ms switch interval the longest stall went
    from 150-250 ms to 60-70 ms at load 4.5 on two cores, for no loss in export time)."""
    keep_responsive()


def qt_app(argv: list[str] | None = None) -> Any:
    from PySide6.QtWidgets import QApplication

    from desktop.i18n import detect_language, set_language
    from desktop.theme import apply_theme, chosen_scheme, follow_os

    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
        app.setApplicationName("Structura")
        app.setOrganizationName("Structura")
        apply_theme(app, chosen_scheme())
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


def import_in_background(parent: Any, store: Any, site: Any, files: list[Any]) -> Any:
    """The legacy import in a worker thread with progress and Cancel (LongWork). The
    import is one transaction: Cancel (checked at each progress step) rolls all of it
    back, so nothing is half-imported."""
    from desktop.i18n import tr
    from desktop.setup import import_legacy
    from desktop.views.long_work import Cancelled, LongWork

    def work(progress: Any, cancelled: Any) -> Any:
        def step(_stage: str, done: int, total: int) -> None:
            if cancelled():
                raise Cancelled()
            progress(done, total)

        return import_legacy(store, site, files, progress=step)

    return LongWork(parent, tr("Importing…"), work).start()


def _import_with_progress(store: Any, site: Any, files: list[Any]) -> None:
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QMessageBox

    from desktop.i18n import tr
    from desktop.presenters.errors import user_message
    from desktop.views.long_work import Cancelled

    job = import_in_background(None, store, site, files)
    loop = QEventLoop()
    job.done.connect(lambda *_: loop.quit())
    if not job.finished:
        loop.exec()  # the progress dialog paints and answers Cancel meanwhile
    if isinstance(job.error, Cancelled):
        QMessageBox.information(None, "Structura", tr("Import cancelled: nothing was imported."))
        return
    if job.error is not None:
        msg = user_message(job.error)
        QMessageBox.warning(None, msg.title, msg.text)
        return
    report = job.result
    QMessageBox.information(
        None, "Structura",
        tr("{n} imported, {m} refused", n=getattr(report, "total_imported", 0),
           m=len(getattr(report, "refused", []))),
    )  # fmt: skip


def _open_store(settings: Settings, *, interactive: bool) -> tuple[Any, Any] | None:
    """The store and the data folder's lock, or None (cancelled, or a start-up problem
    the user chose to quit on). A known problem (already open, store locked, newer
    schema) is explained in a window with Try again / Quit, and logged in one line."""
    from desktop.setup import open_existing
    from desktop.views.startup_problem import (
        StartupProblemDialog,
        classify,
        probe_store,
        take_instance_lock,
    )

    lock = None
    while True:
        try:
            if settings.store_path.exists() and not settings.database_url:
                lock = lock or take_instance_lock(settings.data_dir)
                probe_store(settings.store_path)
            opened = open_existing(settings) or first_run(settings, interactive=interactive)
            if opened is None:
                break
            if lock is None and not settings.database_url:  # a first run made it now
                lock = take_instance_lock(settings.data_dir)
            return opened, lock
        except Exception as exc:
            problem = classify(exc, settings.data_dir)
            if problem is None:
                raise
            log.warning("start-up stopped: %s (%s)", problem.code, problem.detail)
            if not interactive:
                print(f"{problem.title}. {problem.text}", file=sys.stderr)
                break
            if StartupProblemDialog(problem).exec() != StartupProblemDialog.DialogCode.Accepted:
                break
    if lock is not None:
        lock.unlock()
    return None


def start(settings: Settings, *, interactive: bool = True, port: int | None = None,
          host_services: bool = True, announce: bool | None = None) -> Running | None:  # fmt: skip
    """Everything up to a shown window. None if the user cancelled the first run."""
    from desktop.bridge import ChangeBridge
    from desktop.host import SiteHost
    from desktop.session import Session, office_user
    from desktop.views.main_window import MainWindow

    app = qt_app()
    got = _open_store(settings, interactive=interactive)
    if got is None:
        return None
    (store, site), lock = got
    session = Session(store, site, office_user(store, site))
    host = SiteHost(settings, store, site, port=port, announce=announce)
    bridge = ChangeBridge(store)
    bridge.start()
    window = MainWindow(session, bridge=bridge, host=host)
    running = Running(app, session, host, bridge, window, lock)
    app.aboutToQuit.connect(running.shutdown)
    window.show()
    keep_window_responsive()
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
