"""A real ``structura site serve`` on 127.0.0.1 for the compatibility APIs, with PIN-only
login and tour registration on and CORS set in the comma form the old apps' plans use;
and a runner for the ported clients under Node (``tests/compat/js``)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from core import writes
from core.db import sqlite_url
from core.settings import Settings
from core.site import ensure_site, open_store
from core.writes import Actor
from tests.serving import serving_url

ROOT = Path(__file__).resolve().parents[2]
JS = Path(__file__).resolve().parent / "js"
ADMIN_PIN = "739204"  # new PINs meet the PIN policy (6+ digits, core.identity.pins)
OFFICE_PIN = "582617"
OFFICE_EMAIL = "olga@example.com"
OFFICE_PASSWORD = "correct horse battery"
NODE = shutil.which("node")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class CompatSite:
    url: str
    data_dir: Path
    page_origin: str  # the other origin CORS lets in (the browser test's page)
    ids: dict[str, str] = field(default_factory=dict)

    def native_token(self) -> str:
        r = httpx.post(
            f"{self.url}/api/auth/login",
            json={"email": OFFICE_EMAIL, "password": OFFICE_PASSWORD},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    def native(self, path: str, token: str) -> httpx.Response:
        return httpx.get(
            f"{self.url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def expired_token(self, user_key: str = "olga") -> str:
        """An access token of the site's key that expired an hour ago (the tour app's
        refresh-on-401 needs one; the shortest setting is a minute)."""
        from core.identity import auth
        from core.site import site_info
        from local_api.context import load_signing_key

        store = open_store(sqlite_url(self.data_dir / "site.sqlite3"))
        try:
            info = site_info(store)
            assert info is not None
            with store.read() as s:
                from core.models import User

                user = s.get(User, (info.org_id, self.ids[user_key]))
                token, _ = auth.issue_access(
                    load_signing_key(Settings(data_dir=self.data_dir)),
                    issuer=info.site_id,
                    user=user,
                    device_id=None,
                    session_id=None,
                    minutes=1,
                    now=time.time() - 3600,
                )
        finally:
            store.dispose()
        return token


def _seed(data_dir: Path) -> dict[str, str]:
    store = open_store(sqlite_url(data_dir / "site.sqlite3"))
    try:
        info = ensure_site(store, org_name="Compat Org", site_name="Compat Site")
        system = Actor.system(info.org_id)
        with store.write() as s:
            ana = writes.create(
                s, actor=system, entity="users", id="u-ana",
                data={"name": "Ana", "role": "admin", "pin": ADMIN_PIN},
            )  # fmt: skip
            olga = writes.create(
                s, actor=system, entity="users", id="u-olga",
                data={"name": "Olga", "role": "office", "email": OFFICE_EMAIL,
                      "password": OFFICE_PASSWORD, "pin": OFFICE_PIN},
            )  # fmt: skip
            show = writes.create(
                s, actor=system, entity="shows", id="show-seed",
                data={"city": "Madrid", "country": "ES", "starts_at": "2026-12-04T20:00:00Z",
                      "fee": "12000", "currency": "EUR", "status": "confirmed"},
            )  # fmt: skip
            writes.create(
                s, actor=system, entity="show_costs", id="sc-seed",
                data={"show_id": show.id, "type": "sound", "amount": "900", "currency": "EUR"},
            )  # fmt: skip
        return {"ana": ana.id, "olga": olga.id, "show": show.id}
    finally:
        store.dispose()


@pytest.fixture(scope="session")
def compat_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CompatSite]:
    data_dir = tmp_path_factory.mktemp("compat-site")
    ids = _seed(data_dir)
    page_origin = f"http://127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "STRUCTURA_ANNOUNCE": "false",
        "STRUCTURA_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        "STRUCTURA_PIN_ONLY_LOGIN": "true",
        "STRUCTURA_TOUR_REGISTER_ROLE": "office",
        # The comma form of the old apps' .env files, two origins.
        "STRUCTURA_CORS_ORIGINS": f"http://localhost:5173,{page_origin}",
    }
    cmd = [sys.executable, "-m", "core.cli", "--data-dir", str(data_dir), "site", "serve",
           "--host", "127.0.0.1", "--port", "0"]  # fmt: skip
    log_path = data_dir / "server.log"
    log = log_path.open("w")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT, env=env)
    url = serving_url(proc, 60)
    if url is None:
        proc.kill()
        proc.wait()
        log.close()
        pytest.fail("server did not start: " + log_path.read_text()[-3000:])
    try:
        yield CompatSite(url=url, data_dir=data_dir, page_origin=page_origin, ids=ids)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
        log.close()


def run_node(script: str, env: dict[str, str], timeout: float = 120) -> dict[str, Any]:
    """Run one of the ported clients; its last stdout line is a JSON report."""
    if NODE is None:
        pytest.skip("node is not installed")
    proc = subprocess.run(
        [NODE, str(JS / script)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=JS,
        env={**os.environ, **env},
    )
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert lines, f"{script} printed nothing"
    return dict(json.loads(lines[-1]))
