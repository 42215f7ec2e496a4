"""scripts/check_duplicates.py: pylint's duplicate-code answers, sorted into repeats
across packages (which fail CI) and repeats inside one package (which do not)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dup():
    spec = importlib.util.spec_from_file_location(
        "check_duplicates", ROOT / "scripts" / "check_duplicates.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def _report(*locations: str) -> str:
    text = "Similar lines in 2 files\n" + "\n".join(f"=={loc}" for loc in locations)
    message = {"symbol": "duplicate-code", "message": text + "\n    x = 1\n    y = 2"}
    other = {"symbol": "unused-import", "message": "Unused import os"}
    return json.dumps({"messages": [message, other], "statistics": {}})


def test_blocks_name_files_and_packages(dup) -> None:
    [(blocks, code)] = dup.parse(_report("core.legacy.files:[21:30]", "tests.api.conftest:[3:11]"))
    assert [str(b) for b in blocks] == ["core/legacy/files.py:22-30", "tests/api/conftest.py:4-11"]
    assert [b.package for b in blocks] == ["core/legacy", "tests/api"]
    assert "x = 1" in code
    # A package's own __init__ belongs to that package.
    assert dup.Block("bench.harness", 0, 9).path == "bench/harness/__init__.py"
    assert dup.Block("bench.harness", 0, 9).package == "bench/harness"


@pytest.mark.parametrize(
    ("locations", "fails"),
    [
        (("core.legacy.files:[21:30]", "core.legacy.importer:[45:54]"), False),
        (("core.factory.jobs:[1:10]", "core.tour.events:[1:10]"), True),
        (("bench.harness.pg:[1:10]", "tests.pg_fixture:[1:10]"), True),
    ],
)
def test_only_repeats_across_packages_fail(dup, monkeypatch, capsys, locations, fails) -> None:
    monkeypatch.setattr(dup, "run_pylint", lambda jobs: _report(*locations))
    assert dup.main([]) == (1 if fails else 0)
    out = capsys.readouterr().out
    assert out.startswith("9 similar lines across packages:") is fails
    assert ("no block of 8+ lines repeated across packages" in out) is not fails
