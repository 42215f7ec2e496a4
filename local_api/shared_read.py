"""Single-flight reads for screens many clients poll at once (the machine board).

Every board on the floor asks for the same cards. Computing them once per change set and
handing the result to everyone waiting keeps the cost flat in the number of screens,
without ever serving a result older than the request: a request is answered by a
computation that *started after the last change the requester could have seen*
(changes bump ``generation`` from the store's change fan-out, which runs after commit and
before the writer gets its answer, so read-your-writes holds).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from core.sync.notices import ChangeNotice


class SharedRead:
    def __init__(
        self,
        compute: Callable[[], Any],
        watch: frozenset[str] | None = None,
        max_age: float | None = None,
    ) -> None:
        self.compute = compute
        self.watch = watch
        self.max_age = max_age  # results also age out (the board's OEE moves with time)
        self._cond = threading.Condition()
        self.generation = 0
        self._result: tuple[int, float, Any] | None = None  # (generation, at, value)
        self._running: int | None = None  # generation of the computation in flight

    def on_changes(self, notices: Sequence[ChangeNotice]) -> None:
        """Subscriber of ``Store.changes``; an empty batch just invalidates."""
        if self.watch is None or any(n.entity in self.watch for n in notices):
            with self._cond:
                self.generation += 1

    def get(self) -> Any:
        import time

        with self._cond:
            wanted = self.generation
            while True:
                r = self._result
                if (
                    r is not None
                    and r[0] >= wanted
                    and (self.max_age is None or time.monotonic() - r[1] < self.max_age)
                ):
                    return r[2]
                if self._running is None:
                    break
                if self._running >= wanted:
                    # A computation that started after our last visible change: share it.
                    self._cond.wait()
                    r = self._result
                    if r is not None and r[0] >= wanted:
                        return r[2]
                    continue
                self._cond.wait()  # an older one is running; then start ours
            self._running = gen = self.generation
        try:
            value = self.compute()
        except BaseException:
            with self._cond:
                self._running = None
                self._cond.notify_all()
            raise
        with self._cond:
            self._result = (gen, time.monotonic(), value)
            self._running = None
            self._cond.notify_all()
        return value
