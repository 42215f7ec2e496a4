"""Translations for the web pages: one JSON file per language, the same keys in each.

The server renders page shells in one language and hands the same table to the page
scripts (as a JSON data block, which CSP does not treat as a script), so text made in
the browser and text rendered here come from one place.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from apikit.words import rule_words

LANGUAGES = ("es", "en")
DEFAULT = "es"  # the users' own default (core.identity.schemas)
_DIR = Path(__file__).parent / "i18n"


@cache
def strings(lang: str) -> dict[str, str]:
    """The pages' table: their own strings, and the rules of the work as ``rule.<code>``
    from the catalogue every edge shares (``apikit.words``)."""
    table: dict[str, str] = json.loads((_DIR / f"{lang}.json").read_text(encoding="utf-8"))
    return table | {f"rule.{code}": text for code, text in rule_words(lang).items()}


def pick_language(cookie: str | None, accept_language: str | None) -> str:
    """The language chosen on this browser (cookie set by the switch or at login), else
    the best match from Accept-Language, else the default."""
    if cookie in LANGUAGES:
        return cookie
    best: tuple[float, str] | None = None
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGUAGES:
            continue
        q = 1.0
        for p in params.split(";"):
            name, _, value = p.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0 and (best is None or q > best[0]):
            best = (q, primary)
    return best[1] if best else DEFAULT


@cache
def zone_cities(lang: str) -> bytes:
    """{"Europe/Lisbon": "Lisboa", ...}: each time zone as the city people know it, in
    ``lang`` (Babel's CLDR names), so a page says "20:00 (hora de Lisboa)"."""
    import zoneinfo

    from babel.dates import get_timezone, get_timezone_location

    out = {}
    for tz in sorted(zoneinfo.available_timezones()):
        if "/" not in tz or tz.startswith(("Etc/", "SystemV/", "US/")):
            continue
        try:
            city = get_timezone_location(get_timezone(tz), lang, return_city=True)
        except (LookupError, ValueError):
            continue
        out[tz] = city.split("/")[-1]
    return json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode()
