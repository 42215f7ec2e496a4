"""Queries for the tables run in one reader thread, not on the window's thread.

A table asks for a window of rows or a count with ``submit(fn, deliver)``: ``fn`` runs in
the reader thread (SQLite releases the GIL while it steps, so the window keeps
painting); ``deliver(result)`` runs back on the window's thread through a queued signal.
One thread for every table, first come first served: the table that asked last is the
one on screen, and the queries are short (a page of rows, a count), so a queue of them
drains in a moment. A query that fails is logged and delivers nothing (the table keeps
what it shows).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)


class _Courier(QObject):
    """Lives on the window's thread; a signal emitted from the reader thread is queued."""

    arrived = Signal(object, object)  # deliver, result


class Reader:
    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Callable[[Any], None]] | None]
        self._jobs = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._courier = _Courier()
        self._courier.arrived.connect(self._deliver)
        self._busy = 0
        self._lock = threading.Lock()

    def submit(self, fn: Callable[[], Any], deliver: Callable[[Any], None]) -> None:
        with self._lock:
            self._busy += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="table-reader",
                                                daemon=True)  # fmt: skip
                self._thread.start()
        self._jobs.put((fn, deliver))

    @property
    def busy(self) -> bool:
        """Jobs queued, running, or run but not yet delivered."""
        return self._busy > 0

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, deliver = job
            try:
                result = fn()
            except Exception:  # the table keeps what it shows; one line says why
                log.exception("a table query failed")
                self._courier.arrived.emit(None, None)
                continue
            self._courier.arrived.emit(deliver, result)

    def _deliver(self, deliver: Callable[[Any], None] | None, result: Any) -> None:
        with self._lock:
            self._busy -= 1
        if deliver is not None:
            try:
                deliver(result)
            except RuntimeError:  # the table was closed while its query ran
                log.debug("a table went away before its rows arrived")


_READER: Reader | None = None


def reader() -> Reader:
    """The one reader thread (made on first use, on the window's thread)."""
    global _READER
    if _READER is None:
        _READER = Reader()
    return _READER
