"""Every rule code the core can raise has a message in English and Spanish in the
catalogue every edge shares (``apikit.words``), each message names only parameters the
rule gives, and the edges word a rule from it: the web pages' table, the desktop and
the console's conflict pages. Every conflict reason code is worded too."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from apikit.words import conflict_template, conflict_words, field_words, rule_words
from core.sync import reasons

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
def test_every_rule_is_worded_once_for_every_edge(lang: str) -> None:
    from desktop import i18n as desktop_i18n
    from local_api.web.i18n import strings

    words = rule_words(lang)
    web = strings(lang)
    own = json.loads((ROOT / f"local_api/web/i18n/{lang}.json").read_text(encoding="utf-8"))
    assert not [k for k in own if k.startswith("rule.")], "rules are worded in apikit/words.json"
    desktop_i18n.set_language(lang)
    try:
        for code, params in CODES.items():
            text = words[code]
            named = set(re.findall(r"\{(\w+)\}", text))
            assert named <= params | {"from", "to"}, (code, named - params)
            assert web[f"rule.{code}"] == text
            filled = {p: f"<{p}>" for p in named}
            assert desktop_i18n.rule_text(code, filled) == text.format(**filled)
    finally:
        desktop_i18n.set_language("en")


def test_the_two_languages_differ_and_name_the_same_parameters() -> None:
    for section in (rule_words, conflict_words):
        en, es = section("en"), section("es")
        assert en.keys() == es.keys()
        for key in en:
            assert en[key] != es[key], key
            assert set(re.findall(r"\{(\w+)\}", en[key])) == set(
                re.findall(r"\{(\w+)\}", es[key])
            ), key


@pytest.mark.parametrize("lang", ["en", "es"])
def test_every_conflict_reason_is_worded(lang: str) -> None:
    for kind, code in [("field", c) for c in reasons.CODES] + [("rejected", "other")]:
        key = reasons.key_of(kind, reasons.Reason(code))
        assert conflict_template(lang, key), key
    for kind in ("field", "deleted", "rejected", "unique", "rule"):
        assert conflict_template(lang, f"kind.{kind}")


def test_a_reason_reads_back_in_each_language_and_old_prose_as_it_was() -> None:
    stored = reasons.encode(reasons.KEPT_LATER, base=4)
    es = reasons.describe("field", stored, lambda k: conflict_template("es", k))
    en = reasons.describe("field", stored, lambda k: conflict_template("en", k))
    assert "versión 4" in es and "version 4" in en and es != en
    rule = reasons.encode("machine_busy", machine="Roll 1", job="OF-7")
    assert reasons.describe("rule", rule, lambda k: conflict_template("es", k)) == (
        "Roll 1 está ocupada con la orden OF-7; hay que pausarla primero."
    )
    refused = reasons.encode("quota_gone", message="over the limit")
    spanish = reasons.describe("rejected", refused, lambda k: conflict_template("es", k))
    assert spanish == "El servidor central rechazó este cambio (quota_gone): over the limit"
    old = "changed on two sites"
    assert reasons.describe("field", old, lambda k: None) == old
    assert reasons.describe("field", None, lambda k: None) == ""


def test_every_field_is_named_in_both_languages() -> None:
    """Every column of the registry's entities has a label in the shared catalogue, in
    words (no API name showing through in Spanish)."""
    from core.registry import registry

    en, es = field_words("en"), field_words("es")
    for spec in registry().values():
        for name in [c.name for c in spec.model.__table__.c]:
            assert name in en and name in es, name
            assert "_" not in es[name] and es[name] != name, (name, es[name])


# Second-person forms, either register: the shared words are shown by the web pages and
# the console, which say "tú", and by the desktop, which says "usted", so they say
# neither ("hay que pausarla primero", "se admiten fotos").
_SECOND_PERSON = re.compile(
    r"\b(usted|tu|tus|su rol|páusela|páusala|termine|termina la|póngala|ponla|use|usa una|"
    r"indique|envíe|envía|cambie|cambia el|fusiónelo|fusiónalo|descártelo|"
    r"descártalo|pulse|pulsa|elija|elige|escriba|escribe|revise|revisa)\b",
    re.IGNORECASE,
)


def test_the_shared_spanish_words_take_no_side_on_tu_or_usted() -> None:
    words = {**rule_words("es"), **conflict_words("es")}
    taking_sides = {k: v for k, v in words.items() if _SECOND_PERSON.search(v)}
    assert taking_sides == {}
