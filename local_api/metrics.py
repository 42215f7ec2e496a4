"""The site API's metrics: the shared HTTP ones (``apikit.observe``) plus the outbox
(what waits to reach the central server), its age, open conflicts, the sync cursor and
the agent's state, read from the database at each scrape."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client.metrics_core import Metric

from apikit.observe import GaugeSource, Metrics, gauge, install_metrics, install_probes
from apikit.observe import seconds_since as _age

OUTBOX_STATES = ("pending", "acked", "sent")


def site_source(context: Any) -> GaugeSource:
    """Reads ``context.store`` and ``context.sync_status`` at each scrape (tests swap the
    store of a running app)."""

    def collect() -> Iterable[Metric]:
        from sqlalchemy import func, select

        from core.clock import utcnow
        from core.models import ConflictRecord, OutboxEntry, SyncState

        with context.store.read() as s:
            rows = s.execute(
                select(OutboxEntry.status, func.count(), func.min(OutboxEntry.created_at))
                .where(OutboxEntry.status.in_(OUTBOX_STATES))
                .group_by(OutboxEntry.status)
            ).all()
            conflicts = s.scalar(select(func.count()).where(ConflictRecord.resolved_at.is_(None)))
            cursor = s.get(SyncState, "cursor")
            verified = s.get(SyncState, "last_verify")
        counts = {status: float(count) for status, count, _ in rows}
        oldest = next((first for st, _, first in rows if st == "pending" and first), None)
        yield gauge(
            "structura_outbox_ops",
            "Local changes not yet settled with the central server, by status",
            [({"status": st}, counts.get(st, 0.0)) for st in OUTBOX_STATES],
        )
        age = 0.0 if oldest is None else _age(utcnow(), oldest)
        yield gauge("structura_outbox_oldest_pending_seconds",
                    "Age of the oldest change waiting to be pushed (0: none waits)",
                    [({}, age)])  # fmt: skip
        yield gauge("structura_sync_open_conflicts", "Conflicts nobody resolved yet",
                    [({}, float(conflicts or 0))])  # fmt: skip
        yield gauge("structura_sync_cursor", "Feed position this site has applied",
                    [({}, float((cursor.value if cursor else 0) or 0))])  # fmt: skip
        # Rows found differing from the central copy by the last verify (0: in step; it
        # repairs what it can, so a value that stays up needs a person).
        last = (verified.value if verified else None) or {}
        yield gauge("structura_sync_divergent_rows",
                    "Rows the last verify found differing from the central copy",
                    [({}, float(last.get("differences") or 0))])  # fmt: skip
        sync_status = context.sync_status
        if sync_status is not None:
            state = str((sync_status() or {}).get("state") or "unknown")
            yield gauge("structura_sync_agent_state", "1 for the agent's state",
                        [({"state": state}, 1.0)])  # fmt: skip

    return collect


def observe_site(app: Any, context: Any, *, access: bool = False) -> Metrics:
    """Probes, request ids and ``/metrics`` for a site's API; no access line by default
    (a LAN server's log would be mostly tablet polls; ``structura site serve
    --access-log`` has uvicorn's)."""
    metrics = Metrics()
    metrics.add_source(site_source(context))
    install_probes(app, lambda: context.store)
    return install_metrics(app, metrics, access=access)
