"""Store changes into the Qt thread.

The bridge is one subscriber of the store's change fan-out (``Store.changes``), which
calls it in the writer's thread (a uvicorn worker for a LAN browser, the sync agent's
thread for pulled changes, or this thread for the desktop's own writes). A signal
emitted from another thread is queued to the receivers' thread, so models only ever
change in the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QObject, Signal

from core.db import Store
from core.sync.notices import ChangeNotice


class ChangeBridge(QObject):
    # list of ChangeNotice.model_dump(): {"entity", "id", "kind", "version", "org_id",
    # "source"} — plain dicts, which the views filter with .get().
    changed = Signal(list)

    def __init__(self, store: Store, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        if self._unsubscribe is None:
            self._unsubscribe = self.store.changes.subscribe(self._hear)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _hear(self, notices: Sequence[ChangeNotice]) -> None:
        # Plain copies: the receiver runs later, in another thread.
        self.changed.emit([n.model_dump() for n in notices])

    def entities(self, changes: list[dict[str, Any]]) -> set[str]:
        return {c.get("entity", "") for c in changes}
