"""What the central app needs, made once by whoever starts it (CLI, tests, benchmark)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from apikit.ratelimit import Buckets
from central.blobs import CentralBlobs
from central.enroll import TokenKey
from central.feed import FeedRecorder
from central.notify import FeedNotifier
from central.quotas import OpsQuota
from central.replica import ReadRouter
from central.settings import CentralSettings
from core.db import Store
from core.site import open_store


def open_central_store(url: str, *, pool_size: int = 20) -> Store:
    """The central database, migrated, with the feed recorder on the one write path."""
    if not url.startswith("postgresql"):
        raise ValueError("the central server runs on PostgreSQL (DATABASE_URL=postgresql://...)")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return open_store(url, recorder_factory=FeedRecorder, pool_size=pool_size)


@dataclass
class CentralContext:
    settings: CentralSettings
    store: Store
    notifier: FeedNotifier | None = None
    device_key: TokenKey = field(init=False)
    admin_key: TokenKey = field(init=False)
    reads: ReadRouter = field(init=False)  # feed reads and snapshots: replica or primary
    ops_quota: OpsQuota = field(init=False)
    blobs: CentralBlobs = field(init=False)  # attachment bytes (file system or S3)
    # Admin logins: per e-mail (10 at once, then one every 5 s) and all together (each
    # costs an argon2 hash); the durable lockout is core.identity.throttle.
    login_buckets: Buckets = field(default_factory=lambda: Buckets(0.2, 10))
    login_global: Buckets = field(default_factory=lambda: Buckets(10.0, 20))

    def __post_init__(self) -> None:
        secret = (self.settings.jwt_secret or secrets.token_urlsafe(48)).encode()
        if len(secret) < 32:
            # HS256 with a short key: brute-forcing the key is the easy attack.
            raise RuntimeError("STRUCTURA_CENTRAL_JWT_SECRET needs at least 32 characters")
        self.device_key = TokenKey(secret, self.settings.device_token_minutes, "central-device")
        self.admin_key = TokenKey(secret, self.settings.admin_token_minutes, "central-admin")
        self.reads = ReadRouter.open(
            self.store, self.settings.database_replica_url,
            pool_size=self.settings.db_pool_size, wait_seconds=self.settings.replica_wait_seconds,
        )  # fmt: skip
        self.ops_quota = OpsQuota(self.settings.quota_ops_per_minute)
        self.blobs = CentralBlobs.from_settings(self.settings)
        if self.notifier is None:
            # Its LISTEN connection is the first to see PostgreSQL go away: the pool's
            # connections are then replaced before the pulls it wakes use them.
            self.notifier = FeedNotifier(self.store.url, on_lost=self.store.engine.dispose)

    @classmethod
    def open(cls, settings: CentralSettings) -> CentralContext:
        if not settings.database_url:
            raise RuntimeError("set DATABASE_URL to the central PostgreSQL database")
        store = open_central_store(settings.database_url, pool_size=settings.db_pool_size)
        return cls(settings=settings, store=store)
