"""The deployment files: what can be checked without a container engine or systemd as
PID 1 here — parse them, check what they reference exists, run the commands they name
through the real argument parser, verify the units with systemd-analyze, and run the
central backup/restore scripts against a real PostgreSQL."""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from central.settings import CentralSettings
from core.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "packaging"
SCRIPTS = sorted(PKG.rglob("*.sh"))
UNITS = sorted((PKG / "systemd").glob("*.service")) + sorted((PKG / "systemd").glob("*.timer"))


def parses(words: list[str]) -> None:
    """The command line is one the real ``structura`` parser accepts."""
    args = build_parser().parse_args(words)
    assert callable(args.func)


def unit(path: Path) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    # systemd allows a key more than once (Environment=); keep the last for lookups.
    cp.read_string(path.read_text())
    return cp


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_are_valid_bash_and_executable(script: Path):
    subprocess.run(["bash", "-n", str(script)], check=True)
    assert os.access(script, os.X_OK)


def test_compose_file():
    doc = yaml.safe_load((PKG / "central" / "compose.yaml").read_text())
    services = doc["services"]
    assert set(services) == {"db", "migrate", "central"}
    central = services["central"]
    assert central["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert central["depends_on"]["db"]["condition"] == "service_healthy"
    assert "/readyz" in " ".join(central["healthcheck"]["test"])
    assert services["db"]["healthcheck"]["test"][1].startswith("pg_isready")
    assert (
        "pgdata:/var/lib/postgresql/data" in services["db"]["volumes"]
        and "pgdata" in doc["volumes"]
    )
    assert central["read_only"] and central["cap_drop"] == ["ALL"]
    env = central["environment"]
    assert env["STRUCTURA_ENV"] == "production"
    # Secrets only from the environment / .env, and compose stops when they are missing.
    assert env["STRUCTURA_CENTRAL_JWT_SECRET"].startswith("${STRUCTURA_CENTRAL_JWT_SECRET:?")
    assert "${POSTGRES_PASSWORD:?" in services["db"]["environment"]["POSTGRES_PASSWORD"]
    build = services["migrate"]["build"]
    assert (PKG / "central" / build["context"] / build["dockerfile"]).resolve() == (
        PKG / "central" / "Dockerfile"
    )
    for svc in ("migrate", "central"):
        parses(services[svc]["command"])


def test_dockerfile():
    text = (PKG / "central" / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) == 2  # build stage + runtime stage
    for src in re.findall(r"^COPY (?!--from)(.+?) \S+$", text, re.M):
        for path in src.split():
            assert (ROOT / path).exists(), f"Dockerfile copies missing {path}"
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and not user[-1].startswith(("root", "0"))
    entry = re.search(r'^ENTRYPOINT \["structura"\]', text, re.M)
    cmd = re.search(r"^CMD (\[.*\])$", text, re.M)
    assert entry and cmd
    parses(yaml.safe_load(cmd.group(1)))
    assert "STRUCTURA_ENV=production" in text


def test_env_example_is_refused_in_production(monkeypatch):
    """The example secrets must never run a production server."""
    values = dict(
        line.split("=", 1)
        for line in (PKG / "central" / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    monkeypatch.setenv("STRUCTURA_ENV", "production")
    monkeypatch.setenv("STRUCTURA_CENTRAL_JWT_SECRET", values["STRUCTURA_CENTRAL_JWT_SECRET"])
    url = f"postgresql+psycopg://structura:{values['POSTGRES_PASSWORD']}@db:5432/structura"
    monkeypatch.setenv("DATABASE_URL", url)
    with pytest.raises(ValueError, match=r"JWT_SECRET.*example password"):
        CentralSettings()


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_systemd_units(path: Path, tmp_path: Path):
    cp = unit(path)
    if path.suffix == ".service":
        svc = cp["Service"]
        assert svc["User"] == "structura" and svc["NoNewPrivileges"] == "yes"
        assert svc["ProtectSystem"] == "strict" and "/var/lib/structura" in svc["ReadWritePaths"]
        assert svc["CapabilityBoundingSet"] == ""
        for line in path.read_text().splitlines():
            if line.startswith(("ExecStart=", "ExecStartPre=")):
                words = shlex.split(line.split("=", 1)[1])
                assert words[0] == "/opt/structura/bin/structura"
                parses([w.replace("${DATABASE_URL}", "postgresql://x/y") for w in words[1:]])
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    # verify wants the binaries to exist: point them at /bin/true in a copy.
    for other in UNITS:
        text = other.read_text().replace("/opt/structura/bin/structura", "/bin/true")
        (tmp_path / other.name).write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", str(tmp_path / path.name)],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert not result.stderr.strip(), result.stderr


def test_site_unit_exposure_is_low(tmp_path: Path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    for name in ("structura-site.service", "structura-central.service"):
        text = (PKG / "systemd" / name).read_text().replace("/opt/structura/bin/structura",
                                                             "/bin/true")  # fmt: skip
        (tmp_path / name).write_text(text)
        out = subprocess.run(["systemd-analyze", "security", "--offline=yes",
                              str(tmp_path / name)], capture_output=True, text=True)  # fmt: skip
        level = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out.stdout)
        assert level, out.stdout + out.stderr
        assert float(level.group(1)) <= 2.0, f"{name}: exposure {level.group(1)}"


def test_desktop_entry_and_icon():
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read(PKG / "desktop" / "structura.desktop")
    entry = cp["Desktop Entry"]
    assert entry["Type"] == "Application" and entry["Icon"] == "structura"
    assert entry["Categories"].endswith(";")
    parses(shlex.split(entry["Exec"])[1:])
    svg = ET.parse(PKG / "desktop" / "structura.svg").getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg" and svg.get("viewBox") == "0 0 256 256"


def test_bundle_spec_collects_what_the_app_reads_from_disk():
    spec = (PKG / "desktop" / "structura.spec").read_text()
    for needed in ('copy_metadata("structura")', '"migrations"', '"web/**/*"', '"desktop"'):
        assert needed in spec
    assert (PKG / "desktop" / "structura_main.py").is_file()


@pytest.mark.pg
def test_central_backup_and_restore_scripts(pg_url: str, tmp_path: Path):
    from sqlalchemy import func, select

    from central.context import open_central_store
    from central.enroll import create_org
    from core.models import Organisation

    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("pg_dump/pg_restore not installed")
    store = open_central_store(pg_url)
    try:
        with store.write() as s:
            create_org(s, name="Before", modules=["factory"])
        env = {**os.environ, "DATABASE_URL": pg_url}
        for _ in range(3):
            out = subprocess.run(["bash", str(PKG / "central" / "backup.sh"), str(tmp_path), "2"],
                                 env=env, capture_output=True, text=True, check=True)  # fmt: skip
        dumps = sorted(tmp_path.glob("central-*.dump"))
        assert 1 <= len(dumps) <= 2  # retention (two runs within one second share a name)
        with store.write() as s:
            create_org(s, name="After", modules=["tour"])
        store.dispose()
        refused = subprocess.run(["bash", str(PKG / "central" / "restore.sh"), str(dumps[-1])],
                                 env=env, capture_output=True, text=True)  # fmt: skip
        assert refused.returncode == 2 and "--yes" in refused.stderr
        subprocess.run(["bash", str(PKG / "central" / "restore.sh"), str(dumps[-1]), "--yes"],
                       env=env, capture_output=True, text=True, check=True)  # fmt: skip
        with store.read() as s:
            names = set(s.scalars(select(Organisation.name)))
            assert "Before" in names and "After" not in names
            assert s.scalar(select(func.count()).select_from(Organisation)) == len(names)
        assert out.stdout.startswith(str(tmp_path))
    finally:
        store.dispose()
