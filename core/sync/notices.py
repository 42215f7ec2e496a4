"""What a committed write tells the rest of the process: one ``ChangeNotice`` per changed
row, handed to every subscriber by the store's one ``ChangePublisher`` after commit.

The live change stream (browsers), the sync agent (wakes its pusher) and the desktop (its
Qt bridge) all subscribe here; nothing else carries changes around. A notice is queued
on the write's unit of work (``core.sync.unit``) and published only once the
transaction has committed and is durable, so a rolled-back transaction or savepoint is
never announced.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

log = logging.getLogger(__name__)

# create/update/delete: a write made here through ``core.writes``; sync: a row the
# sync agent pulled from the central server and applied.
NoticeKind = Literal["create", "update", "delete", "sync"]
NoticeSource = Literal["local", "sync"]


class ChangeNotice(BaseModel):
    """One committed row change. Carries no row values: a listener that needs the row
    reads it through its own permission checks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entity: str
    id: str
    kind: NoticeKind
    version: int
    org_id: str
    source: NoticeSource = "local"

    def event_data(self) -> dict[str, str | int]:
        """What the live stream sends a browser (no organisation, no source)."""
        return {"entity": self.entity, "id": self.id, "kind": self.kind, "version": self.version}


Subscriber = Callable[[Sequence[ChangeNotice]], None]


class ChangePublisher:
    """The one fan-out of committed changes, owned by a ``Store``. Thread-safe.

    Subscribers run in the writer's thread, right after its commit is durable and before
    the writer gets its answer (read-your-writes for caches that listen); the sync
    agent's pulled pages and push answers are published once committed, without
    waiting for their fsync (``Store.write(replayable=True)``). Keep them short;
    one that raises is logged and never undoes the acknowledged write or starves the
    others.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: tuple[Subscriber, ...] = ()

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Hear every committed batch of notices; returns the function that unsubscribes."""
        with self._lock:
            self._subscribers = (*self._subscribers, fn)
        return lambda: self.unsubscribe(fn)

    def unsubscribe(self, fn: Subscriber) -> None:
        with self._lock:
            subs = list(self._subscribers)
            if fn in subs:
                subs.remove(fn)
            self._subscribers = tuple(subs)

    @property
    def subscribers(self) -> tuple[Subscriber, ...]:
        return self._subscribers

    def hand_over(self, other: ChangePublisher) -> tuple[Subscriber, ...]:
        """Move every subscriber to ``other`` (a process that swaps its store keeps its
        listeners); returns them."""
        with self._lock:
            subs, self._subscribers = self._subscribers, ()
        for fn in subs:
            other.subscribe(fn)
        return subs

    def publish(self, notices: Sequence[ChangeNotice]) -> None:
        if not notices:
            return
        for fn in self._subscribers:  # a snapshot: subscribing meanwhile is safe
            try:
                fn(notices)
            except Exception:  # a listener must never undo an acknowledged write
                log.exception("change subscriber failed")
