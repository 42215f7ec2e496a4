"""Settings of the central server (one object, made once at start-up, passed in)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.settings import TextList, default_data_dir, text_list

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
    # secrets; workers are uvicorn processes. With several workers their request counts
    # meet in metrics_dir (prometheus_client's multiprocess mode; a private temporary
    # directory when empty), so any worker answers a scrape with the sum.
    env: str = Field(
        default="development",
        validation_alias=AliasChoices("STRUCTURA_ENV", "STRUCTURA_CENTRAL_ENV"),
    )
    workers: int = 1
    metrics_token: str = ""
    metrics_dir: str = ""
    access_log: bool = True
    # The same request hardening as the site API: Host allowlist (empty: the host of
    # public_url and loopback, for the container's health check; with no public_url
    # either, any host — said at start-up), body limit (a push batch of 500 ops is a
    # few hundred KB), CORS only for listed origins (central admins' browser tools).
    allowed_hosts: TextList = Field(default_factory=list)
    max_body_bytes: int = 16 * 1024 * 1024
    cors_origins: TextList = Field(default_factory=list)
    _text_list = field_validator("cors_origins", "allowed_hosts", mode="before")(text_list)
    # Console (/console): a site none of whose devices was seen for this long is shown
    # (and counted on /metrics) as silent. The public URL and certificate fingerprint go
    # into enrolment QR codes; empty: the URL the admin's browser used, no fingerprint.
    console_silent_minutes: float = 15.0
    public_url: str = ""
    tls_fingerprint: str = ""
    # Read replica (streaming, hot standby) for pulls and snapshots; empty: the primary.
    # A pull waits up to replica_wait_seconds for the replica to replay the writes it
    # must see (the pushing device's own, the position that woke it), then reads the
    # primary instead.
    database_replica_url: str = Field(
        default="",
        validation_alias=AliasChoices("DATABASE_REPLICA_URL",
                                      "STRUCTURA_CENTRAL_DATABASE_REPLICA_URL"),
    )  # fmt: skip
    replica_wait_seconds: float = 2.0
    # Per-organisation quotas, so one noisy organisation cannot starve the others:
    # pushed ops per minute (0: no limit) and snapshot rows (0: no limit). Counted per
    # worker process; with N workers an organisation gets up to N times the figure.
    quota_ops_per_minute: int = 0
    quota_snapshot_rows: int = 0
    # Attachment bytes (central.blobs): a directory on this server (also where uploads
    # accumulate while in progress), or an S3-compatible bucket (credentials from the
    # usual AWS_* variables). Quota: bytes each organisation may hold (0: no limit; an
    # organisation's attachment_limits.quota_bytes overrides it).
    blob_dir: Path = Field(default_factory=lambda: default_data_dir() / "central-blobs")
    blob_s3_bucket: str = ""
    blob_s3_prefix: str = "blobs/"
    blob_s3_endpoint_url: str = ""
    blob_s3_region: str = ""
    blob_quota_bytes: int = Field(default=0, ge=0)

    def effective_allowed_hosts(self) -> list[str]:
        """The Host names answered: the listed ones, else public_url's host and
        loopback, else any (``*``)."""
        if self.allowed_hosts:
            return list(self.allowed_hosts)
        if self.public_url:
            from urllib.parse import urlsplit

            from core.tls import allowed_host_names

            host = urlsplit(self.public_url).hostname
            if host:
                return allowed_host_names([host.lower(), "localhost", "127.0.0.1", "::1"])
        return ["*"]

    @model_validator(mode="after")
    def _production_secrets(self) -> CentralSettings:
        if self.env != "production":
            return self
        if not self.metrics_token:
            # /metrics describes the whole server: in production it needs a token.
            # Without one configured it is closed (a random token nobody knows).
            import secrets

            self.metrics_token = "closed-" + secrets.token_urlsafe(32)
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
