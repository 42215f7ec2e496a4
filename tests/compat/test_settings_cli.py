"""Start-up with the old apps' settings: the comma form of CORS works (the compat
fixture serves with it), a setting that cannot be read stops with one line naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from central.settings import CentralSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("name", "value"),
    # A CLI start each: one stays in the fast loop, the others are slow.
    [("STRUCTURA_CORS_ORIGINS", '["http://a.example"'),
     pytest.param("STRUCTURA_PORT", "eighty", marks=pytest.mark.slow),
     pytest.param("STRUCTURA_TOUR_REGISTER_ROLE", "admin", marks=pytest.mark.slow)],
)  # fmt: skip
def test_a_bad_setting_stops_site_serve_with_one_line(
    tmp_path: Path, name: str, value: str
) -> None:
    env = {**os.environ, name: value, "STRUCTURA_ANNOUNCE": "false"}
    proc = subprocess.run(
        [sys.executable, "-m", "core.cli", "--data-dir", str(tmp_path), "site", "serve",
         "--host", "127.0.0.1", "--port", "0"],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=env,
    )  # fmt: skip
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"structura: error: setting {name}:"), lines[0]


def test_central_cors_takes_the_comma_form_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRUCTURA_CENTRAL_CORS_ORIGINS", "http://a.example, http://b.example")
    assert CentralSettings().cors_origins == ["http://a.example", "http://b.example"]
