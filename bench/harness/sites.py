"""Real site processes for the fault and attack suites (and bench/bench_faults.py):
``structura site serve`` in a subprocess on 127.0.0.1 over a site store in its own data
directory, so that ``kill -9`` kills exactly what a power cut would.

Tokens are minted in the test process with the site's signing key (passed to the
server as ``STRUCTURA_JWT_SECRET``), so no test pays for argon2 unless it is about
logging in.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import writes
from core.db import Store, sqlite_url
from core.identity import auth
from core.identity.security import hash_secret
from core.models import User
from core.site import SiteInfo, ensure_site, open_store

JWT_SECRET = "hardening-" + "k" * 48
ADMIN_PIN = "2468"
ADMIN_PASSWORD = "tarnished silver pony"
STORE_FILE = "site.sqlite3"


def structura_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("structura")
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-c", "import sys; from core.cli import main; sys.exit(main())"]


@dataclass
class SiteData:
    """A data directory holding a site store with one admin (PIN and password)."""

    data_dir: Path
    site: SiteInfo
    admin_id: str
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def db_path(self) -> Path:
        return self.data_dir / STORE_FILE

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRUCTURA_")}
        env.update(
            STRUCTURA_DATA_DIR=str(self.data_dir),
            STRUCTURA_JWT_SECRET=JWT_SECRET,
            STRUCTURA_ACCESS_TOKEN_MINUTES="600",
            STRUCTURA_ANNOUNCE="0",
            STRUCTURA_HTTPS="0",  # plain HTTP asked for explicitly (HTTPS is the default)
            STRUCTURA_ALLOWED_HOSTS='["127.0.0.1","localhost"]',
            STRUCTURA_CORS_ORIGINS='["http://office.example"]',
            STRUCTURA_LOG_LEVEL="DEBUG",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    def policy(self) -> auth.TokenPolicy:
        return auth.TokenPolicy(
            key=auth.SigningKey(JWT_SECRET.encode()), issuer=self.site.site_id, access_minutes=600
        )

    def mint(self, user_id: str | None = None) -> dict[str, str]:
        """Access + refresh tokens for a user of the store (default: the admin)."""
        store = Store(sqlite_url(self.db_path))
        try:
            with store.write() as s:
                user = s.get(User, (self.site.org_id, user_id or self.admin_id))
                if user is None:
                    raise LookupError(f"no user {user_id or self.admin_id} in {self.db_path}")
                pair = auth.issue_tokens(s, self.policy(), user, "bench-device")
        finally:
            store.dispose()
        return {"access_token": pair.access_token, "refresh_token": pair.refresh_token}


_HASHES: dict[str, str] = {}


def _hash(secret: str) -> str:
    if secret not in _HASHES:
        _HASHES[secret] = hash_secret(secret)
    return _HASHES[secret]


def make_site(
    data_dir: Path, template: Path | None = None, *, org_name: str = "Acme Framing"
) -> SiteData:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / STORE_FILE
    if template is not None:
        shutil.copyfile(template, path)
        store = Store(sqlite_url(path))
    else:
        store = open_store(sqlite_url(path))
    try:
        site = ensure_site(store, org_name=org_name, site_name="Plant Norte")
        with store.write() as s:
            admin = writes.create(
                s,
                actor=writes.Actor.system(site.org_id),
                entity="users",
                data={"name": "Ada Admin", "role": "admin", "email": "ada@example.com"},
                hashed_secrets={"pin": _hash(ADMIN_PIN), "password": _hash(ADMIN_PASSWORD)},
            )
        return SiteData(data_dir, site, admin.id)
    finally:
        store.dispose()


class SiteProcess:
    """``structura site serve`` on 127.0.0.1, any free port. ``kill9()`` is SIGKILL."""

    def __init__(
        self,
        data: SiteData,
        *,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        preexec_fn: Any = None,
    ) -> None:
        self.data = data
        self.args = args or []
        self.env = env
        self.preexec_fn = preexec_fn
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.fingerprint: str | None = None
        self.stderr_chunks: list[str] = []
        self._reader: threading.Thread | None = None

    def start(self, timeout: float = 60.0) -> SiteProcess:
        cmd = [
            *structura_cmd(),
            "site",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--api-rate",
            "100000",
            *self.args,
        ]
        self.proc = subprocess.Popen(
            cmd,
            env=self.env or self.data.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # a kill of the group cannot reach pytest
            preexec_fn=self.preexec_fn,
        )
        # stderr drained in a thread, kept for the no-secret-in-logs check.
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith("certificate fingerprint "):
                self.fingerprint = line.split()[-1]
            if line.startswith("serving ") and " on " in line:
                self.url = line.rsplit(" on ", 1)[1].strip()
                return self
        self.kill9()
        raise RuntimeError("site did not start:\n" + self.stderr_text()[-3000:])

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_chunks.append(line)

    def stderr_text(self) -> str:
        return "".join(self.stderr_chunks)

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self._reap()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
        self._reap()

    def _reap(self) -> None:
        if self.proc is not None:
            self.proc.wait(15)
            if self._reader is not None:
                self._reader.join(5)
            for f in (self.proc.stdout, self.proc.stderr):
                if f is not None:
                    f.close()
            self.proc = None

    def __enter__(self) -> SiteProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def integrity(db_path: Path) -> str:
    """``PRAGMA integrity_check`` on a store nobody has open (recovers the WAL)."""
    conn = sqlite3.connect(db_path)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def versions(db_path: Path, table: str, org_id: str) -> dict[str, int]:
    conn = sqlite3.connect(db_path)
    try:
        rows = conn.execute(f"SELECT id, version FROM {table} WHERE org_id = ?", (org_id,))
        return {r[0]: int(r[1]) for r in rows}
    finally:
        conn.close()


def counts(db_path: Path, *tables: str) -> dict[str, int]:
    conn = sqlite3.connect(db_path)
    try:
        return {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables}
    finally:
        conn.close()


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}
