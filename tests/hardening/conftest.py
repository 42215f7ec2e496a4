"""Fixtures of the hardening suites: site data directories and ``structura site serve``
subprocesses (bench/harness/sites.py), an in-process central app on PostgreSQL, and a
tiny filesystem for the disk-full test."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.harness.sites import SiteData, SiteProcess, make_site


@pytest.fixture
def site_data(tmp_path: Path, sqlite_template: Path) -> SiteData:
    return make_site(tmp_path / "site", sqlite_template)


@pytest.fixture
def site_proc(site_data: SiteData) -> Iterator[SiteProcess]:
    proc = SiteProcess(site_data).start()
    yield proc
    proc.stop()


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs of our own (we run as root in CI). ``mount`` is the real thing: the
    kernel answers ENOSPC exactly where a full disk would. Where mounting is not
    permitted the test is skipped with that reason, rather than faking ENOSPC."""
    mnt = tmp_path / f"tiny-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
