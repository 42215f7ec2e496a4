"""Time, ids and the hybrid logical clock.

Wall clocks of sites are not trusted for ordering (guarantee 10 in docs/sync.md); the HLC is only
recorded with each operation so people can see when an edit was made and for tie-breaks
that the protocol documents.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def uuid7() -> str:
    """A time-ordered UUIDv7 (RFC 9562) as text: sortable ids keep B-tree inserts local."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


class HybridClock:
    """Hybrid logical clock: (physical ms, counter) that never goes backwards.

    Encoded as a fixed-width string so that text order equals clock order.
    """

    def __init__(self, node: str = "") -> None:
        self._lock = threading.Lock()
        self._wall = 0
        self._counter = 0
        self.node = node

    def now(self) -> str:
        with self._lock:
            pt = time.time_ns() // 1_000_000
            if pt > self._wall:
                self._wall, self._counter = pt, 0
            else:
                self._counter += 1
            return self._encode()

    def observe(self, stamp: str) -> None:
        """Advance past a stamp received from elsewhere (keeps causality across sites)."""
        wall, counter = decode_hlc(stamp)
        with self._lock:
            if wall > self._wall or (wall == self._wall and counter > self._counter):
                self._wall, self._counter = wall, counter

    def _encode(self) -> str:
        return f"{self._wall:013d}-{self._counter:05d}-{self.node}"


def decode_hlc(stamp: str) -> tuple[int, int]:
    wall, counter, *_ = stamp.split("-", 2)
    return int(wall), int(counter)
