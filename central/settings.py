"""Settings of the central server (one object, made once at start-up, passed in)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Values from the examples (packaging/central/.env.example, docs): fine on a laptop,
# refused in production.
EXAMPLE_SECRETS = frozenset({"", "change-me", "changeme", "secret", "password", "structura"})


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
    # Deployment (packaging/central): STRUCTURA_ENV=production refuses example or weak
    # secrets; workers are uvicorn processes; a metrics dir lets any worker report all.
    env: str = Field(
        default="development",
        validation_alias=AliasChoices("STRUCTURA_ENV", "STRUCTURA_CENTRAL_ENV"),
    )
    workers: int = 1
    metrics_token: str = ""
    metrics_dir: str = ""
    access_log: bool = True
    # The same request hardening as the site API: Host allowlist (set the public name
    # in production), body limit (a push batch of 500 ops is a few hundred KB), CORS
    # only for listed origins (central admins' browser tools).
    allowed_hosts: list[str] = Field(default_factory=lambda: ["*"])
    max_body_bytes: int = 16 * 1024 * 1024
    cors_origins: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _production_secrets(self) -> CentralSettings:
        if self.env != "production":
            return self
        from sqlalchemy.engine import make_url

        problems = []
        if len(self.jwt_secret) < 32 or self.jwt_secret.lower() in EXAMPLE_SECRETS:
            problems.append("STRUCTURA_CENTRAL_JWT_SECRET must be set to 32+ random characters")
        if not self.database_url:
            problems.append("DATABASE_URL is not set")
        elif (make_url(self.database_url).password or "").lower() in EXAMPLE_SECRETS - {""}:
            problems.append("DATABASE_URL uses the example password")
        if self.metrics_token and self.metrics_token.lower() in EXAMPLE_SECRETS:
            problems.append("STRUCTURA_CENTRAL_METRICS_TOKEN is an example value")
        if problems:
            raise ValueError("production settings refused: " + "; ".join(problems))
        return self
