"""Store changes into the Qt thread.

The store calls its listeners in the writer's thread (a uvicorn worker for a LAN
browser, the sync agent's thread for pulled changes, or this thread for the desktop's
own writes). A signal emitted from another thread is queued to the receivers' thread, so
models only ever change in the GUI thread.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from core.db import Store


class ChangeBridge(QObject):
    # list of {"entity", "id", "kind", "version", "org_id"}
    changed = Signal(list)

    def __init__(self, store: Store, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self._hooked = False

    def start(self) -> None:
        if not self._hooked:
            self.store.listeners.append(self._hear)
            self._hooked = True

    def stop(self) -> None:
        if self._hooked and self._hear in self.store.listeners:
            self.store.listeners.remove(self._hear)
        self._hooked = False

    def _hear(self, changes: list[dict[str, Any]]) -> None:
        # Copied: the writer keeps no reference, and the receiver may run much later.
        self.changed.emit([dict(c) for c in changes])

    def entities(self, changes: list[dict[str, Any]]) -> set[str]:
        return {c.get("entity", "") for c in changes}
