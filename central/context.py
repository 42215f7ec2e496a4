"""What the central app needs, made once by whoever starts it (CLI, tests, benchmark)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from central.enroll import TokenKey
from central.feed import FeedRecorder
from central.notify import FeedNotifier
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

    def __post_init__(self) -> None:
        secret = (self.settings.jwt_secret or secrets.token_urlsafe(48)).encode()
        self.device_key = TokenKey(secret, self.settings.device_token_minutes, "central-device")
        self.admin_key = TokenKey(secret, self.settings.admin_token_minutes, "central-admin")
        if self.notifier is None:
            self.notifier = FeedNotifier(self.store.url)

    @classmethod
    def open(cls, settings: CentralSettings) -> CentralContext:
        if not settings.database_url:
            raise RuntimeError("set DATABASE_URL to the central PostgreSQL database")
        store = open_central_store(settings.database_url, pool_size=settings.db_pool_size)
        return cls(settings=settings, store=store)
