"""Token buckets in memory, keyed by who is asking — never by client IP: a whole shop
floor sits behind one address, and an IP limit would let one bad tablet starve it.

Keys: ``user:<id>:<device>`` for API calls, ``login:<account>`` for login attempts, and
one global login bucket that caps argon2 work. Buckets are forgotten on restart and
pruned when idle; the durable failure lockout is in ``core.identity.auth``.
"""

from __future__ import annotations

import threading
import time

from core.errors import RateLimited


class Buckets:
    def __init__(self, rate: float, burst: float, *, max_keys: int = 50_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, float]] = {}  # key -> (tokens, last time)

    def take(self, key: str, cost: float = 1.0) -> float:
        """Take ``cost`` tokens; return 0 if allowed, else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._state.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= cost:
                self._state[key] = (tokens - cost, now)
                return 0.0
            self._state[key] = (tokens, now)
            if len(self._state) > self.max_keys:
                self._prune(now)
            return (cost - tokens) / self.rate if self.rate > 0 else 3600.0

    def check(self, key: str, what: str = "requests") -> None:
        wait = self.take(key)
        if wait:
            raise RateLimited(f"too many {what}; slow down", retry_after=wait)

    def reset(self) -> None:
        with self._lock:
            self._state.clear()

    def _prune(self, now: float) -> None:
        # A bucket idle long enough to be full again carries no information.
        full_after = self.burst / self.rate if self.rate > 0 else 0
        self._state = {k: v for k, v in self._state.items() if now - v[1] < full_after}
