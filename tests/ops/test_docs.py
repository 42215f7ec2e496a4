"""Every ``structura ...`` command line in docs/*.md parses with the real argument
parser: documented commands exist, with the options the docs give them.

Lines come from fenced code blocks (with ``\\`` continuations joined, comments and
pipes cut off) and from inline code spans. A ``structura`` word counts as the command
only when a real subcommand (or a global option) follows it, so paths such as
``/var/lib/structura`` or a user named ``structura`` are not mistaken for one. Inside
``docker compose run --rm central ...`` the words after the service name are the
command's (the image's entry point is ``structura``)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from core.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "docs").glob("*.md"))
SHELL_STOP = {"|", "||", "&&", ";", ">", ">>", "<", "2>&1", "&"}


def top_level_commands() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return set(sub.choices)  # type: ignore[arg-type]


COMMANDS = top_level_commands()


def snippets(text: str) -> list[str]:
    out: list[str] = []
    in_block = False
    block: list[str] = []
    for line in text.splitlines():
        if line.strip().startswith("```"):
            if in_block:
                out += _join(block)
                block = []
            in_block = not in_block
            continue
        if in_block:
            block.append(line)
        else:
            out += re.findall(r"`([^`]*(?:structura|docker compose run)[^`]*)`", line)
    return [s for s in out if "structura" in s or "docker compose run" in s]


def _join(lines: list[str]) -> list[str]:
    joined, buf = [], ""
    for line in lines:
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
        else:
            joined.append(buf + line)
            buf = ""
    if buf:
        joined.append(buf)
    return joined


def command_lines(snippet: str) -> list[list[str]]:
    try:
        words = shlex.split(snippet, comments=True)
    except ValueError:
        return []
    found = []
    for i, word in enumerate(words):
        rest = words[i + 1 :]
        if word == "structura" or word.endswith("/bin/structura"):
            args = rest
        elif words[i : i + 5] == ["docker", "compose", "run", "--rm", "central"]:
            args = words[i + 5 :]
        else:
            continue
        cut = next((n for n, w in enumerate(args) if w in SHELL_STOP), len(args))
        args = args[:cut]
        if args and (args[0] in COMMANDS or args[0] == "--data-dir"):
            found.append(args)
    return found


def documented() -> list[tuple[str, list[str]]]:
    seen: dict[str, tuple[str, list[str]]] = {}
    for doc in DOCS:
        for snippet in snippets(doc.read_text()):
            for args in command_lines(snippet):
                if "--help" in args or "-h" in args:
                    continue
                seen.setdefault(" ".join(args), (doc.name, args))
    return list(seen.values())


CASES = documented()


def test_the_docs_document_commands():
    names = {doc for doc, _ in CASES}
    assert {"operator-guide.md"} <= names
    assert len(CASES) >= 20
    firsts = {args[0] for _, args in CASES}
    assert {"backup", "central", "sync", "db", "site", "desktop", "demo"} <= firsts


@pytest.mark.parametrize(("doc", "args"), CASES, ids=[" ".join(a) for _, a in CASES])
def test_documented_command_parses(doc: str, args: list[str]):
    parser = build_parser()
    try:
        parsed = parser.parse_args(args)
    except SystemExit as exc:  # argparse's way of refusing
        pytest.fail(f"{doc}: `structura {' '.join(args)}` does not parse ({exc})")
    assert callable(parsed.func)


def test_extraction_is_not_fooled():
    text = """
```sh
sudo useradd --system --home-dir /var/lib/structura --shell /usr/sbin/nologin structura
sudo -u postgres createdb --owner structura structura
DATABASE_URL=x /opt/structura/bin/structura db upgrade --url "$DATABASE_URL"  # migrate
structura sync once | tee log
docker compose run --rm central central create-org Acme
structura central create-site \\
    Acme "Plant 1"
```
and `structura backup list` inline.
"""
    found = [a for s in snippets(text) for a in command_lines(s)]
    assert ["db", "upgrade", "--url", "$DATABASE_URL"] in found
    assert ["sync", "once"] in found
    assert ["central", "create-org", "Acme"] in found
    assert ["central", "create-site", "Acme", "Plant 1"] in found
    assert ["backup", "list"] in found
    assert all(a[0] in COMMANDS for a in found)
