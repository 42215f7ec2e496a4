"""Country and currency codes, their names in Spanish and English, and currency minor units.

Three maintained packages, each for what it is the reference of:

- ``pycountry`` (Debian's iso-codes): ISO 3166-1 alpha-2 countries, and ISO 3166-3 for
  codes that were withdrawn (``AN``, ``YU``...).
- ``iso4217``: the ISO 4217 table as published by its maintenance agency, with the minor
  units money is rounded to (``IQD`` 3, ``JPY`` 0). CLDR's "digits" are a display habit
  and differ for a dozen currencies, so they are not used for rounding current codes.
- ``Babel`` (CLDR): localized names, and the names and digits of currencies that ISO no
  longer lists (``BGN`` since the euro, ``ANG`` since ``XCG``), so old rows still read
  and round.

A code is *current* when the standard lists it today. A currency is accepted only when it
is money one can be paid in: fund codes (``CLF``, ``USN``) and units without minor units
(gold ``XAU``, ``XDR``, the test code ``XTS``) are *special*. *Withdrawn* codes are
refused for new values but stay readable. Tables are built on first use, not at import.
"""

from __future__ import annotations

from functools import cache
from typing import Literal

Status = Literal["current", "withdrawn", "special", "unknown"]
Lang = Literal["en", "es"]


@cache
def _countries() -> frozenset[str]:
    import pycountry

    return frozenset(c.alpha_2 for c in pycountry.countries)


@cache
def _withdrawn_countries() -> dict[str, str]:
    import pycountry

    return {
        c.alpha_2: c.name for c in pycountry.historic_countries if c.alpha_2 not in _countries()
    }


@cache
def _iso4217() -> dict[str, tuple[int | None, bool, str]]:
    """ISO 4217 list one: code -> (minor units or None for "N.A.", is a fund, name)."""
    import iso4217

    table: dict[str, tuple[int | None, bool, str]] = {}
    for entry in iso4217.raw_xml.findall("CcyTbl/CcyNtry"):
        code, units, name = entry.find("Ccy"), entry.find("CcyMnrUnts"), entry.find("CcyNm")
        if code is None or code.text is None or units is None or name is None:
            continue  # a territory without a universal currency (Antarctica)
        digits = (units.text or "").strip()
        table[code.text.strip()] = (
            int(digits) if digits.isdigit() else None,
            name.get("IsFund") == "true",
            (name.text or "").strip(),
        )
    return table


@cache
def _currencies() -> frozenset[str]:
    return frozenset(
        c for c, (units, fund, _) in _iso4217().items() if units is not None and not fund
    )


def country_status(code: str) -> Status:
    if code in _countries():
        return "current"
    return "withdrawn" if code in _withdrawn_countries() else "unknown"


def currency_status(code: str) -> Status:
    if code in _currencies():
        return "current"
    if code in _iso4217():
        return "special"
    # CLDR keeps names for former currencies (and a couple of market codes like CNH that
    # ISO never listed); either way not a code to write today, but a row may carry one.
    if code in _names("en", "c"):
        return "withdrawn"
    return "unknown"


def is_country(code: str) -> bool:
    return code in _countries()


def is_currency(code: str) -> bool:
    return code in _currencies()


@cache
def _names(lang: str, kind: Literal["c", "t"]) -> dict[str, str]:
    from babel import Locale

    loc = Locale.parse(lang)
    return dict(loc.currencies) if kind == "c" else dict(loc.territories)


def country_name(code: str, lang: Lang = "en") -> str:
    """The country's name in ``lang`` (CLDR); a withdrawn code gets its ISO 3166-3 name."""
    return (
        _names(lang, "t").get(code)
        or _names("en", "t").get(code)
        or _withdrawn_countries().get(code)
        or code
    )


def currency_name(code: str, lang: Lang = "en") -> str:
    """The currency's name in ``lang`` (CLDR), else in English, else ISO's own name.

    CLDR lags ISO by a release or so (``VED`` has no Spanish name yet), so a new code
    falls back rather than showing nothing.
    """
    iso = _iso4217().get(code)
    return (
        _names(lang, "c").get(code)
        or _names("en", "c").get(code)
        or (iso[2] if iso else "")
        or code
    )


def minor_units(currency: str) -> int:
    """Decimal places money in ``currency`` is rounded to: ISO 4217's minor units for a
    current code, CLDR's digits for a withdrawn one (and CLDR's default, 2, otherwise)."""
    iso = _iso4217().get(currency)
    if iso is not None and iso[0] is not None:
        return iso[0]
    from babel.numbers import get_currency_precision

    return get_currency_precision(currency)
