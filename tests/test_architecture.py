"""Imports point one way: desktop, local_api, sync_agent, central -> apikit -> core;
migrations -> core. ``central`` and ``local_api`` never import each other, ``core``
imports nothing above it, nothing imports ``desktop``, and there is no import cycle
between top-level packages nor between the modules of ``core``.

The source is parsed with ``ast`` rather than imported, so the check needs none of
the optional dependencies and sees imports inside functions and ``TYPE_CHECKING``
blocks too (a lazy import is still a dependency: it only hides a cycle until the
function runs). A violation is reported as ``path:line: module imports name``; a cycle
as ``cycle: a -> b -> a`` with the import that closes each step.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PACKAGES = ("core", "apikit", "local_api", "sync_agent", "central", "desktop")
OTHER_SCANNED = ("migrations",)
OURS = frozenset({*PACKAGES, *OTHER_SCANNED})

WEB = ("fastapi", "starlette", "uvicorn", "prometheus_client")
ABOVE_CORE = frozenset(OURS - {"core"})

# package -> top-level modules it must not import
FORBIDDEN: dict[str, frozenset[str]] = {
    "core": frozenset({*ABOVE_CORE, "PySide6", *WEB}),
    "apikit": frozenset({*ABOVE_CORE - {"apikit"}, "PySide6"}),
    "sync_agent": frozenset({"central", "local_api", "desktop", "migrations"}),
    "local_api": frozenset({"central", "desktop", "sync_agent", "migrations", "PySide6"}),
    "central": frozenset({"local_api", "desktop", "sync_agent", "migrations", "PySide6"}),
    "migrations": frozenset(ABOVE_CORE - {"migrations"}),
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


def _module_index(root: Path, package: str) -> dict[str, Path]:
    index = {}
    for path in python_files(root, package):
        index[".".join(_module_parts(path, root))] = path
    return index


def _edges(root: Path, path: Path, node: ast.AST, index: dict[str, Path]) -> list[str]:
    """The modules of ``index`` an import statement names (``from a import b`` names the
    module a.b when there is one, else a)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in index]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = _resolve_relative(path, root, node.level, node.module) if node.level else node.module
    found = []
    for alias in node.names:
        sub = f"{base}.{alias.name}" if base else alias.name
        if sub in index:
            found.append(sub)
        elif base in index:
            found.append(str(base))
    return found


def package_cycles(
    root: Path, packages: tuple[str, ...] = (*PACKAGES, *OTHER_SCANNED)
) -> list[str]:
    """Cycles in the graph of top-level packages (a package imports another when any of
    its files does)."""
    graph: dict[str, dict[str, str]] = {p: {} for p in packages}
    for package in packages:
        for path in python_files(root, package):
            for imp in imports_in(path, root):
                if imp.top in graph and imp.top != package:
                    where = f"{path.relative_to(root)}:{imp.line}"
                    graph[package].setdefault(imp.top, where)
    return _cycles(graph)


def module_cycles(root: Path, package: str = "core") -> list[str]:
    """Cycles between the modules of one package."""
    index = _module_index(root, package)
    graph: dict[str, dict[str, str]] = {m: {} for m in index}
    for module, path in index.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for target in _edges(root, path, node, index):
                where = f"{path.relative_to(root)}:{node.lineno}"
                for step in (*_parents_run_first(module, target, index), target):
                    if step != module:
                        graph[module].setdefault(step, where)
    return _cycles(graph)


def _parents_run_first(module: str, target: str, index: dict[str, Path]) -> list[str]:
    """Importing ``a.b.c`` runs the ``__init__`` of ``a.b`` first: an edge to each parent
    package of the target, except those the importer lives in (already running)."""
    parts = target.split(".")
    parents = [".".join(parts[:i]) for i in range(1, len(parts))]
    return [p for p in parents if p in index and not (module == p or module.startswith(p + "."))]


def _cycles(graph: dict[str, dict[str, str]]) -> list[str]:
    """One cycle per strongly connected component (Tarjan), reported as the path round
    it with the import that makes each step."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        order[v] = low[v] = len(order)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in graph:
                continue
            if w not in order:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], order[w])
        if low[v] == order[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in order:
            visit(v)
    return [_describe(graph, set(c)) for c in components]


def _describe(graph: dict[str, dict[str, str]], members: set[str]) -> str:
    # Walk from the smallest member along edges inside the component back to it (BFS).
    start = min(members)
    previous: dict[str, str] = {}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v]):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                steps = [*reversed(path), start]
                hops = [f"{a} -> {b} ({graph[a][b]})" for a, b in pairwise(steps)]
                return "cycle: " + ", ".join(hops)
            if w in members and w not in previous and w != start:
                previous[w] = v
                queue.append(w)
    return "cycle: " + " <-> ".join(sorted(members))


def test_packages_exist_and_are_scanned() -> None:
    for package in PACKAGES:
        assert (ROOT / package / "__init__.py").is_file(), f"{package}/ is not a package"
        assert python_files(ROOT, package), f"no Python files found under {package}/"


def test_imports_point_one_way() -> None:
    violations = find_violations(ROOT)
    listing = "\n".join(violations)
    assert not violations, f"Imports must point one way (docs/dev-notes.md):\n{listing}"


def test_no_import_cycle_between_packages() -> None:
    cycles = package_cycles(ROOT)
    assert not cycles, "\n".join(cycles)


def test_no_import_cycle_inside_core() -> None:
    cycles = module_cycles(ROOT, "core")
    assert not cycles, "\n".join(cycles)


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
        (
            "central/app.py",
            "from local_api import problems, security\n",
            "central/app.py:1: central imports local_api",
        ),
        (
            "central/data_routes.py",
            "from local_api.routes.entities import json_response\n",
            "central/data_routes.py:1: central imports local_api.routes.entities",
        ),
        (
            "local_api/x.py",
            "def f():\n    from central.metrics import observe_central\n",
            "local_api/x.py:2: local_api imports central.metrics",
        ),
        ("core/x.py", "from apikit.rows import etag\n", "core/x.py:1: core imports apikit.rows"),
        (
            "core/migrate.py",
            "def _script():\n    from migrations import alembic_config\n",
            "core/migrate.py:2: core imports migrations",
        ),
        ("core/x.py", "import prometheus_client\n", "core/x.py:1: core imports prometheus_client"),
        (
            "apikit/x.py",
            "from local_api.deps import CurrentActor\n",
            "apikit/x.py:1: apikit imports local_api.deps",
        ),
        ("apikit/x.py", "import central.app\n", "apikit/x.py:1: apikit imports central.app"),
        (
            "migrations/env.py",
            "from apikit import problems\n",
            "migrations/env.py:1: migrations imports apikit",
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
        ("central/ok.py", "from apikit.problems import AUTHED\nimport fastapi\n"),
        ("apikit/ok.py", "from core.errors import Invalid\nimport prometheus_client\n"),
        ("local_api/ok.py", "from apikit.rows import json_response\nfrom core import queries\n"),
        ("migrations/env.py", "from core.models import Base\n"),
        ("desktop/ok.py", "from PySide6 import QtWidgets\nfrom desktop.main import run\n"),
        ("sync_agent/ok.py", "import httpx\nfrom core import errors\n"),
    ],
)
def test_checker_allows_the_intended_direction(tmp_path: Path, relpath: str, source: str) -> None:
    target = tmp_path / relpath
    target.parent.mkdir(parents=True)
    target.write_text(source)
    assert find_violations(tmp_path) == []


def _tree(root: Path, files: dict[str, str]) -> Path:
    for relpath, source in files.items():
        target = root / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source)
    return root


def test_cycle_checker_reports_a_package_cycle(tmp_path: Path) -> None:
    # The cycle this layout had: core ran the migrations by importing the package
    # (lazily), and migrations/env.py imports core.
    root = _tree(tmp_path, {
        "core/__init__.py": "",
        "core/migrate.py": "def _script():\n    from migrations import alembic_config\n",
        "migrations/__init__.py": "",
        "migrations/env.py": "from core.models import Base\n",
        "local_api/app.py": "from core import errors\n",
    })  # fmt: skip
    assert package_cycles(root) == [
        "cycle: core -> migrations (core/migrate.py:2), migrations -> core (migrations/env.py:1)"
    ]


def test_cycle_checker_reports_a_longer_package_cycle(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "apikit/problems.py": "from core.errors import Invalid\n",
        "core/errors.py": "def f():\n    import local_api.deps\n",
        "local_api/deps.py": "from apikit import problems\n",
        "central/app.py": "from apikit import problems\n",
    })  # fmt: skip
    (cycle,) = package_cycles(root)
    assert cycle == (
        "cycle: apikit -> core (apikit/problems.py:1), core -> local_api (core/errors.py:2), "
        "local_api -> apikit (local_api/deps.py:1)"
    )


def test_cycle_checker_reports_a_module_cycle_inside_core(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "core/__init__.py": "",
        "core/writes.py": "from core import registry\n",
        "core/registry.py": "from core.sync.rules import merge\n",
        "core/sync/__init__.py": "",
        "core/sync/rules.py": "def merge():\n    from ..writes import create\n",
        "core/errors.py": "",
    })  # fmt: skip
    assert module_cycles(root, "core") == [
        "cycle: core.registry -> core.sync.rules (core/registry.py:1), "
        "core.sync.rules -> core.writes (core/sync/rules.py:2), "
        "core.writes -> core.registry (core/writes.py:1)"
    ]


def test_cycle_checker_sees_the_package_init_an_import_runs(tmp_path: Path) -> None:
    # core.factory.models imports core.models.base, which runs core/models/__init__.py
    # first, which imports core.factory.models: a cycle Python reports only when
    # core.factory.models happens to be imported before core.models.
    root = _tree(tmp_path, {
        "core/__init__.py": "",
        "core/models/__init__.py": "from core.factory.models import Job\n",
        "core/models/base.py": "",
        "core/factory/__init__.py": "",
        "core/factory/models.py": "from core.models.base import Base\n",
    })  # fmt: skip
    assert module_cycles(root, "core") == [
        "cycle: core.factory.models -> core.models (core/factory/models.py:1), "
        "core.models -> core.factory.models (core/models/__init__.py:1)"
    ]


def test_cycle_checker_accepts_a_tree_without_cycles(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "core/__init__.py": "",
        "core/errors.py": "",
        "core/writes.py": "from core.errors import Invalid\nfrom . import errors\n",
        "apikit/rows.py": "from core import writes\n",
        "local_api/app.py": "from apikit import rows\nfrom core.writes import Actor\n",
        "central/app.py": "from apikit import rows\n",
        "migrations/env.py": "from core.writes import Actor\n",
    })  # fmt: skip
    assert package_cycles(root) == [] and module_cycles(root, "core") == []


def test_benchmarks_do_not_import_tests_and_the_product_imports_neither() -> None:
    """bench/ is run outside pytest, so it must not lean on test code: what both need
    lives in bench/harness/. The product imports neither bench nor tests."""
    rules = {"bench": {"tests"}, **{p: {"tests", "bench"} for p in (*PACKAGES, "migrations")}}
    found: list[str] = []
    for package, banned in rules.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    names = [node.module]
                else:
                    continue
                found += [
                    f"{path.relative_to(ROOT)}:{node.lineno}: {package} imports {name}"
                    for name in names
                    if name.split(".", 1)[0] in banned
                ]
    assert (ROOT / "bench" / "harness" / "__init__.py").is_file()
    assert not found, "\n".join(found)
