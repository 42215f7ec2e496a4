"""Issue 20 (7): the smaller findings, each against the real thing. CSV cells that a
Spanish Excel (splitting on ``;``) would run as formulas, look-alike user names and
e-mails, and a plain-HTTP central URL for a host that is not this machine. The XLSX
side of the export sanitiser is tests/desktop/test_presenters.py."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.harness.sites import SiteData, SiteProcess, bearer, make_site
from core import exports

CYRILLIC_A = "\u0410"  # looks like Latin "A"
CYRILLIC_a = "\u0430"


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[tuple[SiteProcess, SiteData, dict[str, str]]]:
    data = make_site(tmp_path_factory.mktemp("small") / "site", sqlite_template)
    proc = SiteProcess(data).start()
    yield proc, data, bearer(data.mint())
    proc.stop()


@pytest.mark.parametrize(
    "text, safe",
    [
        ("=1+1", "'=1+1"),
        ('x;=HYPERLINK("http://evil")', 'x;\'=HYPERLINK("http://evil")'),
        ("a,@SUM(1)", "a,'@SUM(1)"),
        ("  =cmd", "'  =cmd"),
        ("\uff1d1+1", "'\uff1d1+1"),  # full-width equals sign
        ("-12.5", "-12.5"),
        ("+34 600 000 000", "'+34 600 000 000"),
        ("Plain; text, here", "Plain; text, here"),
        ("-", "'-"),
    ],
)
def test_the_sanitiser(text: str, safe: str) -> None:
    assert exports.neutralise(text) == safe


def _cells(text: str, delimiter: str) -> list[str]:
    return [c for row in csv.reader(io.StringIO(text), delimiter=delimiter) for c in row]


def test_a_semicolon_formula_does_not_survive_the_csv_export(
    site: tuple[SiteProcess, SiteData, dict[str, str]],
) -> None:
    proc, _, auth = site
    evil = 'Acme;=HYPERLINK("http://evil.example","x")'
    with httpx.Client(base_url=proc.url, headers=auth, timeout=10) as http:
        assert http.post("/api/clients", json={"name": evil}).status_code == 201
        r = http.get("/api/clients", params={"format": "csv"}, headers={"Accept": "text/csv"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    # Opened as a Spanish Excel would (";") and as an English one (","): no cell runs.
    for delimiter in (";", ","):
        cells = _cells(r.text, delimiter)
        assert any("HYPERLINK" in c for c in cells)
        assert not [c for c in cells if c.lstrip()[:1] in ("=", "+", "@")], delimiter


@pytest.mark.parametrize(
    "field, real, fake",
    [
        ("name", "Ana Ruiz", f"{CYRILLIC_A}na Ruiz"),
        ("email", "ana@example.com", f"{CYRILLIC_a}na@example.com"),
    ],
)
def test_look_alike_users_are_refused(
    site: tuple[SiteProcess, SiteData, dict[str, str]], field: str, real: str, fake: str
) -> None:
    proc, _, auth = site
    base = {"name": "Somebody", "role": "operator"}
    with httpx.Client(base_url=proc.url, headers=auth, timeout=10) as http:
        first = http.post("/api/users", json={**base, field: real})
        assert first.status_code == 201, first.text
        r = http.post("/api/users", json={**base, field: fake})
        assert r.status_code == 422, r.text
        assert "lookalike" in r.text
        # The same name again is no look-alike (two people may share a name).
        if field == "name":
            assert http.post("/api/users", json={**base, "name": real}).status_code == 201


def test_a_name_in_one_foreign_alphabet_is_fine(
    site: tuple[SiteProcess, SiteData, dict[str, str]],
) -> None:
    proc, _, auth = site
    with httpx.Client(base_url=proc.url, headers=auth, timeout=10) as http:
        r = http.post("/api/users", json={"name": "Дмитрий Иванов", "role": "crew"})
        assert r.status_code == 201, r.text
        r = http.post("/api/users", json={"name": "María José Núñez", "role": "crew"})
        assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    "url, refused",
    [
        ("http://central.example.com", True),
        ("http://192.168.1.10:8480", True),
        ("ftp://central.example.com", True),
        ("http://127.0.0.1:8480", False),
        ("http://localhost:8480", False),
        ("http://[::1]:8480", False),
        ("https://central.example.com", False),
    ],
)
def test_plain_http_central_only_on_this_machine(url: str, refused: bool, tmp_path: Path) -> None:
    from core.db import sqlite_url
    from core.site import open_store
    from sync_agent.agent import enroll_site
    from sync_agent.client import Refused

    store = open_store(sqlite_url(tmp_path / "e.sqlite3"))
    try:
        if refused:
            with pytest.raises(Refused, match="https"):
                enroll_site(store, url, "CODE")
        else:
            from core.tls import plain_http_refused

            assert plain_http_refused(url) is None
    finally:
        store.dispose()
