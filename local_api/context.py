"""Everything the API needs, made once by whoever starts it (CLI, desktop, tests) and
passed to ``create_app``. Nothing here runs at import time."""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.attachments.blobs import BlobStore, site_blob_store
from core.attachments.service import Limits as AttachmentLimits
from core.db import Store
from core.errors import Unauthenticated
from core.identity import auth
from core.settings import Settings
from core.site import SiteInfo, open_store, site_info
from core.sync.notices import ChangeNotice
from core.writes import Actor

log = logging.getLogger(__name__)

KEY_FILE = "jwt-signing.key"
TOKEN_CACHE_SIZE = 10_000  # verified access tokens kept (one per login and device)


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
    # Refresh per presented token (cheap: one indexed read), never shared with logins.
    refresh_rate: float = 1.0
    refresh_burst: float = 10.0


def load_signing_key(settings: Settings) -> auth.SigningKey:
    """The configured secret, or a random one kept in data_dir with mode 0600."""
    if settings.jwt_secret:
        try:
            return auth.SigningKey(settings.jwt_secret.encode())
        except auth.WeakKey:
            raise RuntimeError(
                f"STRUCTURA_JWT_SECRET is too short: use at least {auth.MIN_KEY_BYTES} random "
                "characters (or leave it empty and a key file is made)"
            ) from None
    from core.private import private_dir

    path: Path = private_dir(settings.data_dir) / KEY_FILE
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
    _tokens: dict[str, auth.Claims] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # A changed user (deactivated, new role) must not keep its cached session state.
        self.store.changes.subscribe(self._on_changes)
        from core.identity import pins

        # Whoever serves the API (site serve, the desktop) records the PIN-only choice in
        # the store, so every writer enforces unique PINs while it holds.
        pins.set_enabled(self.store, self.settings.pin_only_login)

    def _on_changes(self, notices: Sequence[ChangeNotice]) -> None:
        if any(n.entity == "users" for n in notices):
            self.sessions.clear()

    @classmethod
    def open(cls, settings: Settings, **kwargs: Any) -> AppContext:
        from core.private import check_site_files

        store = open_store(settings.store_url())
        # Whatever the umask the site was started under: private files, and a clear
        # warning in the log for each one that had been open to other users.
        check_site_files(settings)
        # Temporary files of uploads a crash interrupted (never a blob under a real name).
        site_blob_store(settings.data_dir).clean_temp()
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
    def blobs(self) -> BlobStore:
        """The site's attachment bytes (``<data_dir>/blobs``)."""
        return site_blob_store(self.settings.data_dir)

    def attachment_limits(self) -> AttachmentLimits:
        return AttachmentLimits(
            max_bytes=self.settings.attachment_max_bytes,
            max_pixels=self.settings.attachment_max_pixels,
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
        claims = self._verified(token)

        def load() -> tuple[bool, str | None]:
            with self.store.read() as s:
                return auth.session_state(s, claims)

        ok, role = self.sessions.get(claims, load)
        if not ok:
            raise Unauthenticated("this login has ended")
        if role != claims.role:
            raise Unauthenticated("your role has changed; log in again")
        return claims

    def _verified(self, token: str) -> auth.Claims:
        """A token's signature and claims, verified once and remembered until it expires
        (a dict lookup instead of an HMAC and a JSON parse per request). Whether the login
        still holds is checked on every request all the same, through ``sessions``."""
        now = time.time()
        hit = self._tokens.get(token)
        if hit is not None and hit.expires_at > now:
            return hit
        claims = auth.decode_access(self.jwt_key, token, issuer=self.site.site_id)
        if claims.org_id != self.site.org_id:
            raise Unauthenticated("token of another organisation")
        if len(self._tokens) >= TOKEN_CACHE_SIZE:
            # Expired ones first; if every entry is live, start over (a burst of logins).
            self._tokens = {t: c for t, c in self._tokens.items() if c.expires_at > now}
            if len(self._tokens) >= TOKEN_CACHE_SIZE:
                self._tokens = {}
        self._tokens[token] = claims
        return claims

    def verify_token(self, token: str) -> Actor:
        """Token to Actor, for the live stream (which reads the token itself)."""
        return self.authenticate(token).actor()

    def close(self) -> None:
        self.store.changes.unsubscribe(self._on_changes)
