"""Docs that are tested (architecture example 10): every command, setting and API route
is documented, the generated API reference is current, and README links resolve."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from core.cli import build_parser
from core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _docs_text() -> str:
    return "\n".join(p.read_text() for p in DOC_FILES)


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[str]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                words = (*prefix, name)
                nested = _commands(sub, words)
                out += nested or [" ".join(words)]
    return out


def test_readme_starts_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block is not None and text.index("```sh") < text.index("\n## ")
    commands = [line for line in block.group(1).splitlines() if line.strip()]
    assert [c.split("#")[0].strip() for c in commands] == [
        "bash scripts/dev run",
        "bash scripts/dev test",
    ]
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'scripts/dev" test' in ci or "scripts/dev test" in ci


def test_every_command_is_documented():
    text = _docs_text()
    missing = [c for c in _commands(build_parser()) if f"structura {c}" not in text]
    assert not missing, f"document these commands: {missing}"


def test_every_setting_is_documented():
    text = (ROOT / "README.md").read_text()
    missing = [
        f"STRUCTURA_{name.upper()}"
        for name in Settings.model_fields
        if f"STRUCTURA_{name.upper()}" not in text
    ]
    assert not missing, f"document these settings in the README: {missing}"


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: p.name)
def test_links_resolve(doc: Path):
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", doc.read_text()):
        if "://" in target:
            continue
        assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"


@pytest.mark.slow
def test_api_reference_is_current():
    from local_api import apidoc

    assert apidoc.main(["--check"]) == 0, "run: python -m local_api.apidoc"
