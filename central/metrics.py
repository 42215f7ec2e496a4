"""The central server's metrics: the shared HTTP ones (``apikit.observe``) plus, per
organisation, the newest feed position and its age, how long since the least recently
seen device fetched a token, active devices, and the long-polls waiting in this worker.

With several workers (``structura central serve --workers N``) the serve command points
prometheus_client's multiprocess mode at a directory (``PROMETHEUS_MULTIPROC_DIR``), so
any worker answers a scrape with the requests of all of them (``prepare_multiprocess``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from prometheus_client import Counter
from prometheus_client.metrics_core import Metric

from apikit.observe import GaugeSource, Metrics, gauge, install_metrics, install_probes
from apikit.observe import seconds_since as _age


def central_source(
    store: Any, waiters: Callable[[], int] | None = None, silent_after: float = 900.0
) -> GaugeSource:
    def collect() -> Iterable[Metric]:
        from sqlalchemy import func, select

        from core.clock import utcnow
        from core.models import Device, FeedCounter, FeedEntry

        now = utcnow()
        with store.read() as s:
            positions = s.execute(select(FeedCounter.org_id, FeedCounter.last_seq)).all()
            newest = s.execute(
                select(FeedEntry.org_id, func.max(FeedEntry.committed_at)).group_by(
                    FeedEntry.org_id
                )
            ).all()
            seen = s.execute(
                select(Device.org_id, func.min(Device.last_seen_at), func.count())
                .where(Device.revoked_at.is_(None))
                .group_by(Device.org_id)
            ).all()
        yield gauge("structura_feed_position", "Newest feed position per organisation",
                    [({"org_id": o}, float(n or 0)) for o, n in positions])  # fmt: skip
        yield gauge(
            "structura_feed_newest_age_seconds",
            "Seconds since the newest change entered an organisation's feed",
            [({"org_id": o}, _age(now, t)) for o, t in newest if t is not None],
        )
        yield gauge(
            "structura_device_last_seen_max_age_seconds",
            "Seconds since the least recently seen active device of an organisation "
            "fetched a token (a site that stopped syncing)",
            [({"org_id": o}, _age(now, t)) for o, t, _ in seen if t is not None],
        )
        yield gauge("structura_devices_active", "Enrolled, not revoked devices",
                    [({"org_id": o}, float(n)) for o, _, n in seen])  # fmt: skip
        # The console's sync health, the same figures (central.console.health).
        from central.console.health import metric_rows

        with store.read() as s:
            health = metric_rows(s, silent_after=silent_after)
        yield gauge("structura_sites_silent",
                    "Sites none of whose active devices was seen within the silence threshold",
                    health["silent"])  # fmt: skip
        yield gauge("structura_conflicts_open", "Open conflict records per site",
                    health["conflicts"])  # fmt: skip
        yield gauge("structura_ops_refused", "Operations the central server refused, per site",
                    health["refused"])  # fmt: skip
        if waiters is not None:
            yield gauge("structura_sync_pulls_waiting",
                        "Long-poll pulls waiting for news in this worker",
                        [({}, float(waiters()))])  # fmt: skip

    return collect


def count_pull(app: Any, answer: str) -> None:
    """One pull answered (``answer``: a label of ``structura_sync_pulls``)."""
    counter = getattr(app.state, "pull_answers", None)
    if counter is not None:
        counter.labels(answer).inc()


def notifier_waiters(notifier: Any) -> Callable[[], int]:
    """How many pulls wait on a ``central.notify.FeedNotifier`` (read without its lock:
    a gauge may be a moment old)."""

    def count() -> int:
        waiting = getattr(notifier, "_waiters", None) or {}
        return sum(len(v) for v in list(waiting.values()))

    return count


def observe_central(app: Any, ctx: Any) -> Metrics:
    """Probes, request ids, access lines and ``/metrics`` for the central app."""
    settings = ctx.settings
    metrics = Metrics()
    silent_after = float(getattr(settings, "console_silent_minutes", 15.0)) * 60
    metrics.add_source(central_source(ctx.store, notifier_waiters(ctx.notifier), silent_after))
    # A counter, not a gauge read off the notifier: with several workers the scrape
    # must add up every worker's pulls (multiprocess mode), not show the answering one's.
    app.state.pull_answers = Counter(
        "structura_sync_pulls",
        "Pulls answered, by how: 'read' (the feed read at once had news, or the pull did "
        "not wait), 'memory' (woken by a push in this worker, answered from what it "
        "committed), 'read_after_wake' (woken, the feed read), 'nothing' (the wait ran out)",
        ("answer",),
        registry=metrics.registry,
    )
    install_probes(app, ctx.store)
    return install_metrics(app, metrics, token=settings.metrics_token,
                           access=settings.access_log)  # fmt: skip


def prepare_multiprocess(metrics_dir: str) -> Path:
    """Before starting several workers: the directory their counters go to, emptied
    (files of an earlier run would be added to this one's), in the environment the
    workers inherit. prometheus_client reads ``PROMETHEUS_MULTIPROC_DIR`` when a worker
    imports it, which is why this is the serve command's job and not the app's. With
    no configured directory, a private temporary one."""
    path = Path(metrics_dir) if metrics_dir else Path(tempfile.mkdtemp(prefix="structura-metrics-"))
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("*.db"):
        old.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path


def worker_exited() -> None:
    """A worker stopping: drop its share of the live gauges (requests in flight);
    counters stay, so totals never go down."""
    from prometheus_client import multiprocess

    from apikit.observe import multiprocess_dir

    if multiprocess_dir():
        multiprocess.mark_process_dead(os.getpid())
