"""Settings of the central server (one object, made once at start-up, passed in)."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CentralSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STRUCTURA_CENTRAL_", extra="ignore")

    # The PostgreSQL database: DATABASE_URL, as deployments conventionally name it.
    database_url: str = Field(
        default="",
        validation_alias=AliasChoices("DATABASE_URL", "STRUCTURA_CENTRAL_DATABASE_URL"),
    )
    host: str = "0.0.0.0"
    port: int = 8480
    # Signing key of device and admin access tokens. Empty: a random key per process;
    # devices then simply fetch a new token after a restart (they hold a refresh secret).
    jwt_secret: str = ""
    device_token_minutes: int = 15
    admin_token_minutes: int = 60
    # Long-poll: the longest a pull waits for news (below common proxy idle timeouts).
    max_wait_seconds: float = 25.0
    max_pull: int = 5000
    db_pool_size: int = 20
    log_level: str = "INFO"
