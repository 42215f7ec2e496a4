"""Per-organisation quotas on the sync hub, so one noisy organisation cannot starve the
others: pushed ops per minute and rows per snapshot (central settings; 0 = no limit).

Ops per minute is a token bucket per organisation (capacity one minute's worth, refilled
continuously): a push that would take more ops than are left is refused whole with 429
and how long until it fits (``Retry-After``), before anything is written. Buckets live in
the worker process: with N workers an organisation may get up to N times the figure,
which is the price of needing no shared state on the hot path.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from core.errors import RateLimited


class QuotaExceeded(RateLimited):
    code = "quota_exceeded"


class OpsQuota:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # org -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, org_id: str, ops: int) -> None:
        if self.per_minute <= 0 or ops <= 0:
            return
        rate = self.per_minute / 60.0
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(org_id, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - at) * rate)
            if ops > self.per_minute:
                raise QuotaExceeded(
                    f"a push of {ops} ops is over this organisation's {self.per_minute} "
                    "ops per minute; push smaller batches",
                    retry_after=60.0,
                    details=[{"field": "ops", "message": f"at most {self.per_minute}"}],
                )
            if tokens < ops:
                self._buckets[org_id] = (tokens, now)
                wait = (ops - tokens) / rate
                raise QuotaExceeded(
                    f"this organisation is over its quota of {self.per_minute} ops per minute",
                    retry_after=wait,
                    details=[{"field": "ops", "message": f"{self.per_minute} per minute"}],
                )
            self._buckets[org_id] = (tokens - ops, now)


def check_snapshot_rows(session: object, org_id: str, limit: int) -> None:
    """Refuse a snapshot larger than the quota before streaming it (a count per table
    from the organisation's index; cheaper than the snapshot it protects)."""
    if limit <= 0:
        return
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from core.registry import registry

    assert isinstance(session, Session)
    total = 0
    for spec in registry().values():
        table = getattr(spec.model, "__table__")  # noqa: B009 - a mapped class
        total += int(
            session.scalar(select(func.count()).select_from(table).where(table.c.org_id == org_id))
            or 0
        )
        if total > limit:
            raise QuotaExceeded(
                f"this organisation's snapshot is over its quota of {limit} rows; ask the "
                "operator to raise STRUCTURA_CENTRAL_QUOTA_SNAPSHOT_ROWS",
                retry_after=3600.0,
                details=[{"field": "snapshot", "message": f"at most {limit} rows"}],
            )
