"""Country and currency codes from the maintained packages, as the shows' fields see them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from core import iso
from core.tour.finance import money
from core.tour.schemas import ShowCostFields, ShowFields


def _show(**over: Any) -> dict[str, Any]:
    return {
        "city": "Caracas",
        "country": "VE",
        "starts_at": datetime(2026, 6, 1, 20, tzinfo=UTC),
        "fee": Decimal("1000"),
        "currency": "VED",
        **over,
    }


@pytest.mark.parametrize("code", ["VED", "VES", "XCG", "ZWG", "SLE", "EUR", "JPY", "XAD"])
def test_current_currencies_are_accepted(code: str) -> None:
    assert ShowFields.model_validate(_show(currency=code.lower())).currency == code
    assert iso.is_currency(code)


def _error(model: Any, data: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(ValidationError) as exc:
        model.model_validate(data)
    (err,) = exc.value.errors(include_url=False)
    return dict(err)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("BGN", "currency_withdrawn"),  # the euro since 2026
        ("ANG", "currency_withdrawn"),  # replaced by XCG
        ("VEF", "currency_withdrawn"),
        ("HRK", "currency_withdrawn"),
        ("XAU", "currency_not_money"),  # gold: no minor units
        ("XTS", "currency_not_money"),  # reserved for testing
        ("CLF", "currency_not_money"),  # a fund code
        ("ZZZ", "currency_code"),
        ("EURO", "currency_code"),
    ],
)
def test_other_currency_codes_are_refused_with_their_reason(code: str, kind: str) -> None:
    err = _error(
        ShowCostFields, {"show_id": "s1", "type": "hotel", "amount": "1", "currency": code}
    )
    assert err["type"] == kind
    assert err["ctx"] == {"code": code}
    assert code in err["msg"]
    assert not iso.is_currency(code)


@pytest.mark.parametrize(
    ("code", "kind"),
    [("AN", "country_withdrawn"), ("YU", "country_withdrawn"), ("XK", "country_code"),
     ("EU", "country_code"), ("ESP", "country_code")],
)  # fmt: skip
def test_country_codes(code: str, kind: str) -> None:
    assert ShowFields.model_validate(_show(country="ss")).country == "SS"
    err = _error(ShowFields, _show(country=code))
    assert (err["type"], err["ctx"]) == (kind, {"code": code})


def test_minor_units_follow_iso_4217_and_round_money() -> None:
    assert [iso.minor_units(c) for c in ("IQD", "JPY", "EUR", "VED", "KWD", "CLP")] == [
        3, 0, 2, 2, 3, 0,
    ]  # fmt: skip
    # CLDR would show IQD without decimals; the ISO minor unit is what money rounds to.
    assert money(Decimal("10.0005"), "IQD") == Decimal("10.001")
    assert money(Decimal("10.5"), "JPY") == Decimal("11")
    # A row written before a code was withdrawn still rounds sensibly.
    assert iso.minor_units("BGN") == 2


def test_localized_names() -> None:
    assert iso.country_name("US", "es") == "Estados Unidos"
    assert iso.country_name("DE", "en") == "Germany"
    assert iso.currency_name("EUR", "es") == "euro"
    assert iso.currency_name("JPY", "en") == "Japanese Yen"
    # CLDR has no Spanish name for VED yet: English rather than nothing.
    assert iso.currency_name("VED", "es") == iso.currency_name("VED", "en") != "VED"
    assert iso.country_name("AN", "en")  # withdrawn, still named
    assert iso.currency_name("QQQ") == "QQQ"
