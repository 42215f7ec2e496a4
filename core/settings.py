"""One settings object, loaded once at start-up and passed in (never read at import)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# A list setting from the environment: "a,b" (as the old apps' .env files wrote it) or
# a JSON list '["a","b"]'.
TextList = Annotated[list[str], NoDecode]


def text_list(value: Any) -> Any:
    """``a,b`` or ``["a","b"]`` from the environment -> a list (other values unchanged)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a JSON list ({exc.msg})") from None
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class SettingsError(Exception):
    """A setting that cannot be used; the message names it (one line for the operator)."""


def default_data_dir() -> Path:
    """The platform's per-user data directory."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "structura"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STRUCTURA_", env_file=None, extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    # Empty: the site store in data_dir. A full SQLAlchemy URL selects another database
    # (the central server takes DATABASE_URL, see central.settings).
    database_url: str = ""
    host: str = "0.0.0.0"
    port: int = 8470
    site_name: str = "Structura"
    # Signing key for access tokens. Empty: a random key is made on first run and kept in
    # data_dir with owner-only permissions (never in the repository or the logs).
    jwt_secret: str = ""
    access_token_minutes: int = 15
    refresh_token_days: int = 14
    cors_origins: TextList = Field(default_factory=list)
    # Host headers the API answers (DNS rebinding: a hostile page in a LAN browser must
    # not reach the API through a name it controls). Empty: this machine's own names
    # and addresses (core.tls.local_names); ["*"] turns the check off.
    allowed_hosts: TextList = Field(default_factory=list)
    max_body_bytes: int = 1_048_576
    # Attachments (core.attachments): the largest file and image accepted, for every
    # organisation of this store (an organisation may narrow them, never widen them);
    # the bytes live in data_dir/blobs.
    attachment_max_bytes: int = Field(default=25 * 1024 * 1024, ge=1)
    attachment_max_pixels: int = Field(default=60_000_000, ge=1)
    central_url: str = ""
    announce: bool = True
    # Serve the LAN API over TLS with the site's self-signed certificate (core.tls);
    # clients pin its fingerprint from the QR code or the zeroconf announcement.
    # Plain HTTP only when asked: STRUCTURA_HTTPS=0 or `site serve --http`.
    https: bool = True
    log_level: str = "INFO"
    # Online backups of the site store (core.backup): every N hours (0: only on demand,
    # `structura backup create`), newest `backup_keep` kept, in backup_dir (default:
    # data_dir/backups).
    backup_hours: float = 0.0
    backup_keep: int = 14
    backup_dir: Path | None = None
    # Compatibility APIs for the old browser apps (local_api.compat):
    # - PIN-only login ({pin} without a user): off unless set; while on, PINs are unique.
    pin_only_login: bool = False
    # - the old factory app has no refresh: its access tokens last a shift.
    compat_token_hours: int = Field(default=12, ge=1, le=24)
    # - self-registration of the tour app (POST /compat/tour/api/auth/register): off
    #   unless a role is given for the new accounts.
    tour_register_role: Literal["", "crew", "office"] = ""
    # A built browser app served by the site itself (same origin, no CORS needed).
    frontend_dir: Path | None = None
    # (the LAN pages are at /app; build the old app with `vite build --base /frontend/`)
    frontend_path: str = Field(default="/frontend", pattern=r"^/[A-Za-z0-9._~-]+$")

    _text_list = field_validator("cors_origins", "allowed_hosts", mode="before")(text_list)

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Settings from the environment, or ``SettingsError`` naming the bad one."""
        try:
            return cls(**overrides)
        except ValidationError as exc:
            raise SettingsError(describe(exc, cls.model_config.get("env_prefix", ""))) from None

    @property
    def store_path(self) -> Path:
        return self.data_dir / "site.sqlite3"

    def effective_allowed_hosts(self) -> list[str]:
        if self.allowed_hosts:
            return list(self.allowed_hosts)
        from core.tls import allowed_host_names, local_names

        names = local_names()
        if self.host not in ("", "0.0.0.0", "::"):
            names.append(self.host.lower())
        return allowed_host_names(names)

    def store_url(self) -> str:
        if self.database_url:
            return self.database_url
        from core.db import sqlite_url

        return sqlite_url(self.store_path)


def describe(exc: ValidationError, prefix: str) -> str:
    """One line per bad setting, with its environment variable's name."""
    parts = []
    for err in exc.errors(include_url=False):
        name = str(err["loc"][0]) if err["loc"] else "?"
        parts.append(f"setting {prefix}{name.upper()}: {err['msg']}")
    return "; ".join(parts)
