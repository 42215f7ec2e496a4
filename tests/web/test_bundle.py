"""The pages' script bundles (local_api/web/bundle.py), without a browser: every page
joins, the join keeps ES module meaning for the syntax the pages use (checked by
running a joined graph in Node when it is installed), and anything else falls back."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from local_api.web import bundle
from local_api.web.pages import STATIC, page_bundle, page_scripts

NODE = shutil.which("node")


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_every_page_is_one_bundle() -> None:
    assert page_scripts() >= {"board", "jobs", "login", "day"}
    for page in page_scripts():
        b = page_bundle(page)
        assert b is not None, page
        assert b.modules[-1] == f"pages/{page}.js"
        text = b.text.decode()
        assert "\nimport " not in text and "\nexport " not in text


@pytest.mark.skipif(NODE is None, reason="node not installed")
def test_every_bundle_parses(tmp_path: Path) -> None:
    for page in page_scripts():
        b = page_bundle(page)
        assert b is not None
        path = tmp_path / f"{page}.mjs"
        path.write_bytes(b.text)
        out = subprocess.run([NODE, "--check", str(path)], capture_output=True, text=True)
        assert out.returncode == 0, (page, out.stderr)


@pytest.mark.skipif(NODE is None, reason="node not installed")
def test_join_keeps_module_meaning(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "log.js": "export const seen = [];\n",
            "a.js": (
                'import { seen } from "./log.js";\n'
                "// a comment\n"
                "const hidden = 1; // same name in b.js: each module has its own scope\n"
                'seen.push("a");\n'
                "export function twice(x) { return 2 * x + hidden - 1; }\n"
                "export const label = `a ${hidden}`;\n"
                "export class Box { constructor(v) { this.v = v; } }\n"
            ),
            "b.js": (
                'import { seen } from "./log.js";\n'
                'import {\n  twice as double,\n  Box,\n} from "./a.js";\n'
                "const hidden = 10;\n"
                'seen.push("b");\n'
                "function triple(x) { return 3 * x; }\n"
                "export { triple, double as twice, hidden as ten };\n"
                "export const boxed = new Box(hidden);\n"
            ),
            "pages/main.js": (
                'import { seen } from "../log.js";\n'
                'import { twice, triple, ten, boxed } from "../b.js";\n'
                'import { label } from "../a.js";\n'
                "/* block\n   comment */\n"
                "const text = `${seen.join()} ${twice(2)} ${triple(2)} ${ten} ${boxed.v}`;\n"
                "console.log(text, label);\n"
            ),
        },
    )
    b = bundle.build(tmp_path, tmp_path / "pages" / "main.js")
    assert b.modules == ("log.js", "a.js", "b.js", "pages/main.js")  # the browser's order
    path = tmp_path / "out.mjs"
    path.write_bytes(b.text)
    out = subprocess.run([NODE, str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "a,b 4 6 10 10 a 1"


@pytest.mark.parametrize(
    "text",
    [
        "export default 1;\n",
        "export let x = 1;\n",
        'import * as m from "./m.js";\n',
        'import m from "./m.js";\n',
        'const m = await import("./m.js");\n',
        "console.log(import.meta.url);\n",
        'export * from "./m.js";\n',
        'import { x } from "/abs.js";\n',
    ],
)
def test_what_the_join_does_not_handle_falls_back(tmp_path: Path, text: str) -> None:
    write(tmp_path, {"m.js": "export const x = 1;\n", "pages/p.js": text})
    with pytest.raises(bundle.Unbundleable):
        bundle.build(tmp_path, tmp_path / "pages" / "p.js")


def test_cycles_fall_back(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "a.js": 'import { b } from "./b.js";\nexport const a = 1;\n',
            "b.js": 'import { a } from "./a.js";\nexport const b = 2;\n',
            "pages/p.js": 'import { a } from "../a.js";\n',
        },
    )
    with pytest.raises(bundle.Unbundleable, match="cycle"):
        bundle.build(tmp_path, tmp_path / "pages" / "p.js")


def test_trim_leaves_template_literals_across_lines_alone() -> None:
    text = "const a = `one\n    // not a comment\n  two`;\n"
    assert bundle._trim(text) == text
    assert bundle._trim("  // c\n  const b = 1; \n\n/* x\n */\nb;\n") == "const b = 1;\nb;"


def test_early_reads_match_what_the_board_asks_for() -> None:
    """The shell starts the board's first reads (early.js); api.js only takes an answer
    for exactly the same path, so these must be the paths board.js really asks for."""
    from local_api.web.pages import PAGES

    reads = PAGES["board"].first_reads
    board = (STATIC / "js" / "pages" / "board.js").read_text()
    stops = (STATIC / "js" / "stops.js").read_text()
    assert reads[0] == "/api/board" and 'api("/api/board")' in board
    assert 'listAll("downtimes", { ended_at__isnull: "true", sort: "started_at" })' in stops
    # listAll's query: limit first, then the parameters in order (URLSearchParams).
    assert reads[1] == "/api/downtimes?limit=200&ended_at__isnull=true&sort=started_at"
