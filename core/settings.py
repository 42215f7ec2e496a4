"""One settings object, loaded once at start-up and passed in (never read at import)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    cors_origins: list[str] = Field(default_factory=list)
    allowed_hosts: list[str] = Field(default_factory=lambda: ["*"])
    max_body_bytes: int = 1_048_576
    central_url: str = ""
    announce: bool = True
    # Serve the LAN API over TLS with the site's self-signed certificate (core.tls);
    # clients pin its fingerprint from the QR code or the zeroconf announcement.
    https: bool = False
    log_level: str = "INFO"
    # Online backups of the site store (core.backup): every N hours (0: only on demand,
    # `structura backup create`), newest `backup_keep` kept, in backup_dir (default:
    # data_dir/backups).
    backup_hours: float = 0.0
    backup_keep: int = 14
    backup_dir: Path | None = None

    @property
    def store_path(self) -> Path:
        return self.data_dir / "site.sqlite3"

    def store_url(self) -> str:
        if self.database_url:
            return self.database_url
        from core.db import sqlite_url

        return sqlite_url(self.store_path)
