"""Issue 20 (5) and the key-length finding of (7): secrets at rest. A site started
from a normal shell (umask 022) keeps its data directory, store, backups and key
files private, warns about any it had to fix, and stores its device secret only
sealed with a key outside the store. Real ``structura`` subprocesses."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from bench.harness.sites import SiteData, SiteProcess, structura_cmd
from core.db import Store, sqlite_url

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _umask_022() -> None:
    os.umask(0o022)


@pytest.mark.slow  # a real site serve and a backup CLI under umask 022
def test_a_start_under_umask_022_leaves_everything_private(site_data: SiteData) -> None:
    data = site_data
    # As an older version (or a copy with cp) would have left them: open to others.
    data.data_dir.chmod(0o755)
    data.db_path.chmod(0o644)
    env = data.env()
    env.pop("STRUCTURA_JWT_SECRET")  # the site makes its own key file
    proc = SiteProcess(data, env=env, preexec_fn=_umask_022).start()
    try:
        import httpx

        assert httpx.get(proc.url + "/api/health", timeout=10).status_code == 200
    finally:
        proc.stop()
    log = proc.stderr_text()
    assert "was readable by other users" in log
    assert _mode(data.data_dir) == 0o700
    for name in ("site.sqlite3", "site.sqlite3-wal", "site.sqlite3-shm", "jwt-signing.key"):
        p = data.data_dir / name
        if p.exists():
            assert _mode(p) == 0o600, (name, oct(_mode(p)))
    assert (data.data_dir / "jwt-signing.key").exists()
    # A backup made from a shell with umask 022 is private too.
    r = subprocess.run(
        [*structura_cmd(), "backup", "create"],
        env=data.env(),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_umask_022,
    )
    assert r.returncode == 0, r.stderr
    backups = data.data_dir / "backups"
    assert _mode(backups) == 0o700
    files = list(backups.iterdir())
    assert files and all(_mode(f) == 0o600 for f in files)


@pytest.mark.slow  # a whole structura demo CLI run
def test_a_fresh_store_is_private_from_creation(tmp_path: Path) -> None:
    r = subprocess.run(
        [*structura_cmd(), "demo"],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("STRUCTURA_")},
            "STRUCTURA_DATA_DIR": str(tmp_path / "d"),
        },
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_umask_022,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert _mode(tmp_path / "d") == 0o700
    assert _mode(tmp_path / "d" / "site.sqlite3") == 0o600


def test_the_device_secret_is_stored_only_sealed(
    site_data: SiteData, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from core.site import get_state
    from sync_agent.agent import IDENTITY_KEY, SyncAgent
    from sync_agent.inbound import set_key

    monkeypatch.setenv("STRUCTURA_CONFIG_DIR", str(tmp_path / "config"))
    secret = "device-secret-" + "q" * 40
    store = Store(sqlite_url(site_data.db_path))
    try:
        # A store from before sealing: the secret in clear...
        with store.write() as s:
            ident = {"central_url": "http://127.0.0.1:9", "device_id": "d-1",
                     "device_secret": secret, "org_id": site_data.site.org_id}  # fmt: skip
            set_key(s, IDENTITY_KEY, ident)
        agent = SyncAgent(store)
        assert agent.client.device_secret == secret
        # ...is sealed in place when the agent starts.
        sealed = get_state(store, IDENTITY_KEY)["device_secret"]
        assert sealed.startswith("sealed:v1:") and secret not in sealed
    finally:
        store.dispose()
    assert _mode(tmp_path / "config" / "site-secrets.key") == 0o600
    # Nothing of the clear value is left in the file (once SQLite reuses free pages).
    import sqlite3

    conn = sqlite3.connect(site_data.db_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("VACUUM")
    conn.close()
    assert secret.encode() not in site_data.db_path.read_bytes()
    # Without the key (the store copied to another machine) the secret is not usable.
    monkeypatch.setenv("STRUCTURA_CONFIG_DIR", str(tmp_path / "elsewhere"))
    store = Store(sqlite_url(site_data.db_path))
    try:
        assert SyncAgent(store).client.device_secret is None
    finally:
        store.dispose()


@pytest.mark.slow  # a CLI start; tests/compat/test_settings_cli.py keeps one bad-setting start fast
def test_a_short_signing_key_is_refused(site_data: SiteData) -> None:
    env = site_data.env()
    env["STRUCTURA_JWT_SECRET"] = "x"
    r = subprocess.run(
        [*structura_cmd(), "site", "serve", "--port", "0", "--no-announce"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "too short" in r.stderr
