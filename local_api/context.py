"""Everything the API needs, made once by whoever starts it (CLI, desktop, tests) and
passed to ``create_app``. Nothing here runs at import time."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.db import Store
from core.errors import Unauthenticated
from core.services import auth
from core.services.writes import Actor
from core.settings import Settings
from core.site import SiteInfo, open_store, site_info

log = logging.getLogger(__name__)

KEY_FILE = "jwt-signing.key"


@dataclass
class Limits:
    """In-memory rate limits (token buckets; a process restart forgets them, which is
    fine: they smooth bursts, the durable lockout lives in the database)."""

    # Per authenticated user and device. A floor terminal makes a few requests a second.
    api_rate: float = 50.0
    api_burst: float = 200.0
    # Login attempts per account (whatever the outcome), on top of the failure lockout.
    login_rate: float = 0.5
    login_burst: float = 10.0
    # All logins together: each costs an argon2 hash, this keeps a flood from eating CPU.
    login_global_rate: float = 20.0
    login_global_burst: float = 40.0


def load_signing_key(settings: Settings) -> auth.SigningKey:
    """The configured secret, or a random one kept in data_dir with mode 0600."""
    if settings.jwt_secret:
        return auth.SigningKey(settings.jwt_secret.encode())
    path: Path = settings.data_dir / KEY_FILE
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_bytes().strip()
        if len(secret) < 32:
            raise RuntimeError(f"signing key file {path} is too short") from None
        if os.name == "posix" and path.stat().st_mode & 0o077:
            log.warning("signing key file %s is readable by others; fixing mode", path)
            path.chmod(0o600)
        return auth.SigningKey(secret)
    secret = secrets.token_urlsafe(48).encode()
    with os.fdopen(fd, "wb") as fh:
        fh.write(secret)
    log.info("created a new token signing key in %s", path.parent)
    return auth.SigningKey(secret)


@dataclass
class AppContext:
    settings: Settings
    store: Store
    site: SiteInfo
    jwt_key: auth.SigningKey
    broadcaster: Any | None = None
    sync_status: Callable[[], dict[str, Any]] | None = None
    limits: Limits = field(default_factory=Limits)
    sessions: auth.SessionCache = field(default_factory=auth.SessionCache)
    # Called with every committed change list (after the context's own bookkeeping).
    change_hooks: list[Callable[[list[dict[str, Any]]], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        # A changed user (deactivated, new role) must not keep its cached session state.
        self.store.listeners.append(self._on_changes)

    def _on_changes(self, changes: list[dict[str, Any]]) -> None:
        if any(c.get("entity") == "users" for c in changes):
            self.sessions.clear()
        for hook in list(self.change_hooks):
            hook(changes)

    @classmethod
    def open(cls, settings: Settings, **kwargs: Any) -> AppContext:
        store = open_store(settings.store_url())
        info = site_info(store)
        if info is None:
            store.dispose()
            raise RuntimeError(
                f"the store at {settings.store_url()} belongs to no site yet "
                "(run `structura demo` or set one up from the desktop app)"
            )
        return cls(
            settings=settings, store=store, site=info, jwt_key=load_signing_key(settings), **kwargs
        )

    @property
    def token_policy(self) -> auth.TokenPolicy:
        return auth.TokenPolicy(
            key=self.jwt_key,
            issuer=self.site.site_id,
            access_minutes=self.settings.access_token_minutes,
            refresh_days=self.settings.refresh_token_days,
        )

    def authenticate(self, token: str) -> auth.Claims:
        """Access token to claims, checking the user is still active and the login not
        ended (cached for a few seconds). Raises Unauthenticated."""
        claims = auth.decode_access(self.jwt_key, token, issuer=self.site.site_id)
        if claims.org_id != self.site.org_id:
            raise Unauthenticated("token of another organisation")

        def load() -> tuple[bool, str | None]:
            with self.store.read() as s:
                return auth.session_state(s, claims)

        ok, role = self.sessions.get(claims, load)
        if not ok:
            raise Unauthenticated("this login has ended")
        if role != claims.role:
            raise Unauthenticated("your role has changed; log in again")
        return claims

    def verify_token(self, token: str) -> Actor:
        """Token to Actor, for the live stream (which reads the token itself)."""
        return self.authenticate(token).actor()

    def close(self) -> None:
        if self._on_changes in self.store.listeners:
            self.store.listeners.remove(self._on_changes)
