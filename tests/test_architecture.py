"""Imports point one way: desktop, local_api, sync_agent, central -> core.

The source is parsed with ``ast`` rather than imported, so the check needs none of
the optional dependencies and sees imports inside functions and ``TYPE_CHECKING``
blocks too. A violation is reported as ``path:line: module imports name``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PACKAGES = ("core", "local_api", "sync_agent", "central", "desktop")
# Scanned only for the rule that nothing outside desktop/ imports desktop.
OTHER_SCANNED = ("migrations",)

WEB = ("fastapi", "starlette", "uvicorn")

# package -> top-level modules it must not import
FORBIDDEN: dict[str, frozenset[str]] = {
    "core": frozenset({"local_api", "sync_agent", "central", "desktop", "PySide6", *WEB}),
    "sync_agent": frozenset({"central", "desktop"}),
    "local_api": frozenset({"central", "desktop", "sync_agent", "PySide6"}),
    "central": frozenset({"desktop", "PySide6"}),
}
# Nothing imports desktop except desktop itself.
for _package in (*PACKAGES, *OTHER_SCANNED):
    if _package != "desktop":
        FORBIDDEN[_package] = FORBIDDEN.get(_package, frozenset()) | {"desktop"}


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    module: str  # dotted, absolute

    @property
    def top(self) -> str:
        return self.module.split(".", 1)[0]


def _module_parts(path: Path, root: Path) -> list[str]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return parts


def _resolve_relative(path: Path, root: Path, level: int, module: str | None) -> str:
    parts = _module_parts(path, root)
    package = parts if path.name == "__init__.py" else parts[:-1]
    base = package[: len(package) - (level - 1)] if level - 1 <= len(package) else []
    return ".".join([*base, *([module] if module else [])])


def _string_arg(call: ast.Call) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def imports_in(path: Path, root: Path) -> list[Import]:
    """Every module a file imports, including ``importlib.import_module("x")`` literals."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(path, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _resolve_relative(path, root, node.level, node.module)
            else:
                base = node.module or ""
            if base:
                found.append(Import(path, node.lineno, base))
            else:  # `from .. import desktop` at the top level
                found += [Import(path, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            target = _string_arg(node)
            if name in {"import_module", "__import__"} and target and not target.startswith("."):
                found.append(Import(path, node.lineno, target))
    return found


def python_files(root: Path, package: str) -> list[Path]:
    return sorted(p for p in (root / package).rglob("*.py") if "__pycache__" not in p.parts)


def find_violations(
    root: Path, packages: tuple[str, ...] = (*PACKAGES, *OTHER_SCANNED)
) -> list[str]:
    violations: list[str] = []
    for package in packages:
        forbidden = FORBIDDEN.get(package, frozenset())
        for path in python_files(root, package):
            try:
                imports = imports_in(path, root)
            except SyntaxError as exc:
                violations.append(f"{path.relative_to(root)}:{exc.lineno}: cannot parse: {exc.msg}")
                continue
            for imp in imports:
                if imp.top in forbidden:
                    violations.append(
                        f"{path.relative_to(root)}:{imp.line}: {package} imports {imp.module}"
                    )
    return violations


def test_packages_exist_and_are_scanned() -> None:
    for package in PACKAGES:
        assert (ROOT / package / "__init__.py").is_file(), f"{package}/ is not a package"
        assert python_files(ROOT, package), f"no Python files found under {package}/"


def test_imports_point_one_way() -> None:
    violations = find_violations(ROOT)
    listing = "\n".join(violations)
    assert not violations, f"Imports must point one way (design/architecture.md):\n{listing}"


@pytest.mark.parametrize(
    ("relpath", "source", "expected"),
    [
        (
            "core/bad.py",
            "import os\nfrom desktop.app import main\n",
            "core/bad.py:2: core imports desktop.app",
        ),
        (
            "core/sub/bad.py",
            "def f():\n    import fastapi\n",
            "core/sub/bad.py:2: core imports fastapi",
        ),
        ("core/bad.py", "from PySide6 import QtCore\n", "core/bad.py:1: core imports PySide6"),
        ("core/bad.py", "from .. import desktop\n", "core/bad.py:1: core imports desktop"),
        (
            "sync_agent/x.py",
            "from ..central import hub\n",
            "sync_agent/x.py:1: sync_agent imports central",
        ),
        (
            "local_api/x.py",
            "import sync_agent.agent\n",
            "local_api/x.py:1: local_api imports sync_agent.agent",
        ),
        (
            "central/x.py",
            "import importlib\nimportlib.import_module('desktop.main')\n",
            "central/x.py:2: central imports desktop.main",
        ),
        (
            "migrations/env.py",
            "import desktop\n",
            "migrations/env.py:1: migrations imports desktop",
        ),
    ],
)
def test_checker_reports_violations(
    tmp_path: Path, relpath: str, source: str, expected: str
) -> None:
    target = tmp_path / relpath
    target.parent.mkdir(parents=True)
    target.write_text(source)
    assert find_violations(tmp_path) == [expected]


@pytest.mark.parametrize(
    ("relpath", "source"),
    [
        (
            "core/ok.py",
            "import sqlalchemy\nfrom core.errors import NotFound\nfrom . import models\n",
        ),
        ("central/ok.py", "from local_api.app import create_app\nimport fastapi\n"),
        ("desktop/ok.py", "from PySide6 import QtWidgets\nfrom desktop.main import run\n"),
        ("sync_agent/ok.py", "import httpx\nfrom core import errors\n"),
    ],
)
def test_checker_allows_the_intended_direction(tmp_path: Path, relpath: str, source: str) -> None:
    target = tmp_path / relpath
    target.parent.mkdir(parents=True)
    target.write_text(source)
    assert find_violations(tmp_path) == []
