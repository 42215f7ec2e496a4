"""Long work off the UI thread: a worker thread with a progress dialog and Cancel.

The work is a plain function ``fn(progress, cancelled)``; it reports ``progress(done,
total)`` from its thread (delivered to the dialog as a queued signal) and checks
``cancelled()`` now and then. The window keeps painting and answering meanwhile.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

from desktop.i18n import tr
from desktop.presenters.export import Cancelled  # one kind of Cancel for all long work

__all__ = ["Cancelled", "LongWork", "write_in_background"]

Work = Callable[[Callable[[int, int], None], Callable[[], bool]], Any]
PROGRESS_EVERY_S = 0.1  # a progress signal at most this often: the window repaints, no more


class _NoFullCollections:
    """While long work runs, no full garbage collection: one walks every object made
    since start-up while holding the GIL (26-59 ms each, several a minute during a
    100k-row export, measured), and the window's thread waits for the GIL meanwhile.
    The young generations are still collected, which is where an export's short-lived
    cycles die; the old thresholds come back when the last long work ends."""

    def __init__(self) -> None:
        self.running = 0
        self.saved: tuple[int, int, int] | None = None

    def enter(self) -> None:
        import gc

        self.running += 1
        if self.running == 1:
            self.saved = gc.get_threshold()
            gc.set_threshold(self.saved[0], self.saved[1], 1_000_000)

    def leave(self) -> None:
        import gc

        self.running -= 1
        if self.running == 0 and self.saved is not None:
            gc.set_threshold(*self.saved)
            self.saved = None


_GC = _NoFullCollections()


class _Worker(QThread):
    progressed = Signal(int, int)
    finished_with = Signal(object, object)  # result, error

    def __init__(self, fn: Work, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.fn = fn
        self.cancel_event = threading.Event()

    def run(self) -> None:
        # Not niced: a low-priority thread that holds the GIL when the scheduler passes
        # it over keeps the window waiting for the GIL (priority inversion).
        last = 0.0

        def progress(done: int, total: int) -> None:
            # Each signal is a queued call and a repaint of the dialog on the window's
            # thread: a flood of them (one per 500 rows) is work taken from the window.
            nonlocal last
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY_S or (total and done >= total):
                last = now
                self.progressed.emit(done, total)

        try:
            result = self.fn(progress, self.cancel_event.is_set)
        except Exception as exc:  # reported to the window, which words it
            self.finished_with.emit(None, exc)
        else:
            self.finished_with.emit(result, None)


class LongWork(QObject):
    """One background job with its dialog. ``done`` carries (result, error)."""

    done = Signal(object, object)

    def __init__(self, parent: QWidget | None, title: str, fn: Work) -> None:
        super().__init__(parent)
        self.worker = _Worker(fn, self)
        self.dialog = QProgressDialog(title, tr("Cancel"), 0, 0, parent)
        self.dialog.setWindowTitle(title)
        self.dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.dialog.setMinimumDuration(400)  # quick work shows no dialog at all
        self.dialog.setAutoClose(False)
        self.dialog.setAutoReset(False)
        self.dialog.canceled.connect(self.cancel)
        self.worker.progressed.connect(self._progress)
        self.worker.finished_with.connect(self._finished)
        self.result: Any = None
        self.error: BaseException | None = None
        self.finished = False

    def start(self) -> LongWork:
        _GC.enter()
        # Starts the dialog's clock: it shows after minimumDuration even when the work
        # reports nothing for a while (an export process still starting up).
        self.dialog.setValue(0)
        self.worker.start()
        return self

    def cancel(self) -> None:
        self.worker.cancel_event.set()

    def _progress(self, done: int, total: int) -> None:
        from desktop.models.formatting import number

        title = self.dialog.windowTitle()
        if total > 0:
            self.dialog.setMaximum(total)
            self.dialog.setValue(min(done, total))
            if total > 10:  # rows; a printout's three steps are not worth counting
                title = tr("{title} {done} of {total}", title=title, done=number(done),
                           total=number(total))  # fmt: skip
        elif done:
            title = f"{title} {number(done)}"
        self.dialog.setLabelText(title)

    def wait(self) -> None:
        """Until done and delivered (tests; the window never waits)."""
        from PySide6.QtCore import QCoreApplication

        self.worker.wait()
        while not self.finished:
            QCoreApplication.processEvents()

    def _finished(self, result: Any, error: BaseException | None) -> None:
        self.worker.wait()
        _GC.leave()
        self.result, self.error, self.finished = result, error, True
        self.dialog.reset()  # stops its clock: quick work never pops an empty window
        self.dialog.close()
        self.done.emit(result, error)


def write_in_background(
    parent: QWidget,
    title: str,
    build: Callable[[], Any],
    write: Callable[[Any, Path], Any],
    target: Path,
    *,
    open_after: bool = False,
    on_error: Callable[[BaseException], None] | None = None,
    wait: bool = False,
) -> LongWork:
    """A printout or sheet made off the window's thread: ``build()`` gathers what to
    print (SQL, HTML), then ``write(built, part)`` lays it out to a ``.part`` file that
    is renamed to ``target`` at the end, so Cancel (checked between the steps) or a
    failure leaves no half-written file. ``open_after`` opens the result in the system
    viewer. The returned LongWork's ``result`` is the target path."""
    part = target.with_name(f".{target.name}.part")

    def work(progress: Callable[[int, int], None], cancelled: Callable[[], bool]) -> Path:
        progress(0, 3)
        built = build()
        if cancelled():
            raise Cancelled()
        progress(1, 3)
        try:
            write(built, part)
            if cancelled():
                raise Cancelled()
            os.replace(part, target)
        finally:
            part.unlink(missing_ok=True)
        progress(3, 3)
        return target

    def done(result: Any, error: BaseException | None) -> None:
        if error is not None and not isinstance(error, Cancelled) and on_error is not None:
            on_error(error)
        elif error is None and open_after:
            from PySide6.QtCore import QUrl
            from PySide6.QtGui import QDesktopServices

            QDesktopServices.openUrl(QUrl.fromLocalFile(str(result)))

    job = LongWork(parent, title, work)
    job.done.connect(done)
    job.start()
    if wait:
        job.wait()
    return job
