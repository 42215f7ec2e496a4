"""Words every edge shares, in English and Spanish: the rules of the work, the
reasons of sync conflicts and the names of fields (``words.json``).

``core`` gives a code and its parameters, never a sentence: a refused change
(``core.rules.refuse``) or a conflict record's reason (``core.sync.reasons``). The
site's pages, the desktop and the central console word those codes from this one
catalogue, so the shop floor, the office and a central admin read the same sentence
for the same event. Parameters are in braces.

Keys: ``rules`` by rule code; ``conflicts`` by ``kind.<kind>``, ``choice.<choice>``
and the reason keys of ``core.sync.reasons.key_of`` (``reason.<code>``,
``refused.<code>``, ``refused.other``); ``fields`` by stored field name (every column
of the registry's entities: a test keeps it whole).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

LANGUAGES = ("en", "es")


@cache
def _catalogue() -> dict[str, dict[str, dict[str, str]]]:
    data: Any = json.loads(Path(__file__).with_name("words.json").read_text(encoding="utf-8"))
    return dict(data)


def _in(section: str, lang: str) -> dict[str, str]:
    pick = lang if lang in LANGUAGES else "en"
    return {key: texts[pick] for key, texts in _catalogue()[section].items()}


@cache
def rule_words(lang: str) -> dict[str, str]:
    """rule code -> template in ``lang`` (English for a language the catalogue lacks)."""
    return _in("rules", lang)


@cache
def conflict_words(lang: str) -> dict[str, str]:
    """conflict key (``kind.field``, ``reason.kept_later``, ...) -> template."""
    return _in("conflicts", lang)


def conflict_template(lang: str, key: str) -> str | None:
    """The template for a key of ``core.sync.reasons.key_of``: ``rule.<code>`` from
    the rules, the others from the conflict words."""
    if key.startswith("rule."):
        return rule_words(lang).get(key.removeprefix("rule."))
    return conflict_words(lang).get(key)


def conflict_kind(kind: str, lang: str) -> str:
    """What kind of conflict, in words ("Same field changed on two sides")."""
    return conflict_words(lang).get(f"kind.{kind}", kind)


def entity_label(name: str, lang: str) -> str:
    """An entity's name in ``lang`` (the registry's label; an unknown one as itself)."""
    from core.registry import registry

    spec = registry().get(name)
    return name if spec is None else spec.label[1 if lang == "es" else 0]


@cache
def field_words(lang: str) -> dict[str, str]:
    """stored field name -> its label (``phone`` -> "Teléfono")."""
    return _in("fields", lang)


def field_label(name: str, lang: str) -> str:
    """A field's label in ``lang``; one the catalogue lacks (a field added since) is
    derived from its name (``machine_id`` -> "Machine")."""
    found = field_words(lang).get(name)
    if found is not None:
        return found
    text = (name.removesuffix("_id") or name).replace("_", " ")
    return text[:1].upper() + text[1:]
