"""One script per page: a page's ES module and everything it imports, joined on the
server at start-up (no npm, no build step).

On a 150 ms shop-floor link each request costs a round trip, and the browser opens at
most six HTTP/1.1 connections to the site: a page of fifteen modules waited three
waves of round trips even with ``modulepreload``. A bundle is one request.

Indentation and whole-line comments are left out (see ``_trim``). The join is
deliberately small, for the module syntax the pages use: named imports
from relative paths (``import { a, b as c } from "./x.js"``), ``export`` in front of a
declaration and ``export { a, b as c }``. Each module becomes a function scope run
once, in the order the browser would evaluate it (depth first, in import order), that
returns its exports; an import becomes a ``const`` taken from that object. That holds
while no module reassigns an exported binding and the graph has no cycle; anything the
join does not understand (a cycle, ``export let``, ``export default``, ``import *``,
``import()``, ``import.meta``) raises :class:`Unbundleable`, and the page is then
served its modules one by one as before.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

_IMPORT = re.compile(
    r"""^import\s*\{([^}]*)\}\s*from\s*["'](\.{1,2}/[^"']+)["']\s*;?[ \t]*$""", re.M
)
_BARE_IMPORT = re.compile(r"""^import\s*["'](\.{1,2}/[^"']+)["']\s*;?[ \t]*$""", re.M)
_EXPORT_LIST = re.compile(r"^export\s*\{([^}]*)\}\s*;?[ \t]*$", re.M)
_EXPORT_DECL = re.compile(
    r"^export\s+((?:async\s+)?function\s*\*?\s*([A-Za-z_$][\w$]*)|(?:const|class)\s+([A-Za-z_$][\w$]*))",
    re.M,
)
# What the join does not handle; seen anywhere, the page falls back to plain modules.
_UNSUPPORTED = re.compile(
    r"^\s*(?:import\b(?!\s*[{\"'(])|export\s+(?:let|var|default|\*)\b)|\bimport\s*\(|\bimport\.meta\b",
    re.M,
)
_NAME = re.compile(r"^[A-Za-z_$][\w$]*$")


class Unbundleable(ValueError):
    """The module graph uses syntax the join does not handle."""


@dataclass(frozen=True)
class Bundle:
    text: bytes
    digest: str  # of the text: names the bundle's URL for good
    modules: tuple[str, ...]  # paths under the root, in evaluation order


def _pairs(spec: str, where: Path) -> list[tuple[str, str]]:
    """``a, b as c`` -> [(a, a), (b, c)] (name in the other module, local name)."""
    out = []
    for part in spec.split(","):
        words = part.split()
        if not words:
            continue
        if len(words) == 1:
            out.append((words[0], words[0]))
        elif len(words) == 3 and words[1] == "as":
            out.append((words[0], words[2]))
        else:
            raise Unbundleable(f"{where}: cannot read {part.strip()!r}")
        if not all(_NAME.match(w) for w in out[-1]):
            raise Unbundleable(f"{where}: cannot read {part.strip()!r}")
    return out


def _trim(text: str) -> str:
    """Without indentation, blank lines and whole-line comments: a quarter fewer bytes
    on the wire. Line by line, so only where no line can be inside a string or a
    template literal (every line has an even number of backquotes, none ends in a
    backslash); otherwise the module is left as it is."""
    lines = text.split("\n")
    if any(line.count("`") % 2 or line.endswith("\\") for line in lines):
        return text
    out: list[str] = []
    in_comment = False
    for line in lines:
        bare = line.strip()
        if in_comment:
            if "*/" in bare and bare.find("*/") != len(bare) - 2:
                return text  # code after the comment's end: not something to cut
            in_comment = "*/" not in bare
            continue
        if bare.startswith("/*"):
            in_comment = not bare.endswith("*/") or bare == "/*/"
            if in_comment and "*/" in bare:
                return text
            if not in_comment and bare.index("*/", 2) != len(bare) - 2:
                return text  # code after the comment on the same line
            continue
        if not bare or (bare.startswith("//") and "*/" not in bare):
            continue
        out.append(bare)
    return text if in_comment else "\n".join(out)


def _var(rel: str) -> str:
    return "__m_" + re.sub(r"[^A-Za-z0-9_]", "_", rel)


def build(root: Path, entry: Path) -> Bundle:
    """The bundle of ``entry`` (a module under ``root``) and every module it imports."""
    root = root.resolve()
    order: list[Path] = []
    state: dict[Path, str] = {}  # "open" while its imports are walked, then "done"

    def target(current: Path, rel: str) -> Path:
        path = (current.parent / rel).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise Unbundleable(f"{current}: {rel} is not a module under {root}")
        return path

    def visit(path: Path) -> None:
        if state.get(path) == "done":
            return
        if state.get(path) == "open":
            raise Unbundleable(f"import cycle through {path}")
        state[path] = "open"
        text = path.read_text(encoding="utf-8")
        if _UNSUPPORTED.search(text):
            raise Unbundleable(f"{path}: {_UNSUPPORTED.search(text)!r}")
        found = [(m.start(), m.group(2)) for m in _IMPORT.finditer(text)]
        found += [(m.start(), m.group(1)) for m in _BARE_IMPORT.finditer(text)]
        for _, rel in sorted(found):  # the browser's order: as the imports are written
            visit(target(path, rel))
        state[path] = "done"
        order.append(path)

    visit(entry.resolve())
    parts = ["// One file for this page: its modules joined by local_api/web/bundle.py.\n"]
    for path in order:
        parts.append(_wrap(root, path, exports=path != order[-1]))
    text = "".join(parts).encode()
    return Bundle(
        text=text,
        digest=hashlib.blake2b(text, digest_size=8).hexdigest(),
        modules=tuple(p.relative_to(root).as_posix() for p in order),
    )


def _wrap(root: Path, path: Path, exports: bool) -> str:
    rel = path.relative_to(root).as_posix()
    text = path.read_text(encoding="utf-8")
    names: list[tuple[str, str]] = []  # (local name, exported name)

    def imported(m: re.Match[str]) -> str:
        dep = _var((path.parent / m.group(2)).resolve().relative_to(root).as_posix())
        fields = ", ".join(
            name if name == local else f"{name}: {local}"
            for name, local in _pairs(m.group(1), path)
        )
        # Same line count as the import it replaces, so line numbers stay close.
        return f"const {{ {fields} }} = {dep};" + "\n" * m.group(0).count("\n")

    def listed(m: re.Match[str]) -> str:
        names.extend(_pairs(m.group(1), path))
        return ""

    def declared(m: re.Match[str]) -> str:
        name = m.group(2) or m.group(3)
        names.append((name, name))
        return m.group(1)

    text = _trim(_IMPORT.sub(imported, text))
    text = _BARE_IMPORT.sub("", text)
    text = _EXPORT_LIST.sub(listed, text)
    text = _EXPORT_DECL.sub(declared, text)
    if re.search(r"^\s*(?:import|export)\b", text, re.M):
        raise Unbundleable(f"{path}: an import or export the join does not handle")
    returned = ", ".join(local if local == out else f"{out}: {local}" for local, out in names)
    head = f"// --- {rel} ---\n"
    if not exports:  # the page's own script: nothing imports it
        return f"{head}{{\n{text}\n}}\n"
    return f"{head}const {_var(rel)} = (() => {{\n{text}\nreturn {{ {returned} }};\n}})();\n"
