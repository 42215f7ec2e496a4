"""Every rule code the core can raise has a message in English and Spanish on each
edge (the web pages and the desktop), and each message names only parameters the
rule gives."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from desktop.i18n import RULES

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("core/factory/rules.py", "core/documents.py", "core/writes.py",
           "core/factory/actions.py", "core/attachments/rules.py",
           "core/attachments/service.py", "core/attachments/sniff.py",
           "core/attachments/blobs.py", "central/blobs.py")  # fmt: skip


def _raised() -> dict[str, set[str]]:
    """code -> parameter names, read from the ``refuse(...)`` calls."""
    out: dict[str, set[str]] = {}
    for rel in SOURCES:
        text = (ROOT / rel).read_text(encoding="utf-8")
        for m in re.finditer(r'refuse\(\s*"([a-z_]+)"(.*?)\)\s*(?:#|\n)', text, re.S):
            params = set(re.findall(r"(\w+)=", m.group(2))) - {"status", "field"}
            out.setdefault(m.group(1), set()).update(params)
        for code in re.findall(r'RuleBroken\("([a-z_]+)"', text):
            out.setdefault(code, set()).add("field_name")
    return out


CODES = _raised()


def test_the_rules_are_found() -> None:
    assert {"machine_busy", "machine_stopped", "short_close_reason_required",
            "quantity_below_produced", "module_disabled"} <= set(CODES)  # fmt: skip


@pytest.mark.parametrize("lang", ["en", "es"])
def test_web_and_desktop_word_every_rule(lang: str) -> None:
    web = json.loads((ROOT / f"local_api/web/i18n/{lang}.json").read_text(encoding="utf-8"))
    for code, params in CODES.items():
        for text in (web[f"rule.{code}"], RULES[code][0 if lang == "en" else 1]):
            named = set(re.findall(r"\{(\w+)\}", text))
            assert named <= params | {"from", "to"}, (code, named - params)
