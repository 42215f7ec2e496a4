"""Settlement arithmetic: the worked examples of domain.md, and the same through the store."""

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from core.finance import CostLine, compute_settlement, finance_totals, settlement
from core.services import writes
from core.services.writes import Actor

COSTS = [
    CostLine(D(800), "GBP", True, label="sound"),
    CostLine(D(600), "GBP", True, label="light"),
    CostLine(D(1100), "GBP", False, label="transport"),
]


def example(**kw):
    args = dict(gross=D(10000), currency="GBP", wht_pct=D(20), booking_pct=D(10), mgmt_pct=D(15))
    return compute_settlement(**args | kw)


def test_domain_example_manager_on_gross():
    s = example(costs=COSTS)
    assert (s.wht, s.booking, s.costs, s.production_costs) == (D(2000), D(1000), D(2500), D(1400))
    assert s.mgmt == D(1500)
    assert s.net == D(3000)
    assert s.complete


def test_domain_example_manager_on_gross_less_production():
    s = example(costs=COSTS, mgmt_base="gross_less_production")
    assert s.mgmt == D(1290)
    assert s.net == D(3210)


def test_conversion_uses_the_stored_rate_and_rounds_to_the_cent():
    s = example(costs=COSTS, home_currency="EUR", fx_rate=D("1.17345"))
    assert s.net_home == D("3520.35")  # 3000 x 1.17345 = 3520.35
    assert s.net_home.as_tuple().exponent == -2


def test_missing_rate_is_reported_not_guessed():
    s = example(costs=[CostLine(D(100), "USD", True, label="usd-cost")], home_currency="EUR")
    assert not s.complete
    assert any("USD" in w for w in s.warnings)
    assert any("GBP to EUR" in w for w in s.warnings)
    assert s.net_home is None
    assert s.costs == D(0)


def test_zero_decimal_currency_rounds_to_whole_units():
    s = compute_settlement(
        gross=D("1000001"), currency="JPY", wht_pct=D("12.5"), booking_pct=D(0), mgmt_pct=D(0)
    )
    assert s.wht == D(125000)  # 125000.125 rounds to a whole yen
    assert s.net == D(875001)


@pytest.fixture
def tour(store, site):
    actor = Actor(org_id=site.org_id, user_id=None, role="admin")
    with store.write() as s:
        show = writes.create(
            s,
            actor=actor,
            entity="shows",
            data={
                "city": "London",
                "country": "gb",
                "starts_at": "2026-12-04T20:00:00+00:00",
                "tz": "Europe/London",
                "fee": "10000",
                "currency": "GBP",
                "wht_pct": 20,
                "booking_pct": 10,
                "mgmt_pct": 15,
                "fx_rate": "1.2",
                "status": "confirmed",
                "tour": "Winter 26",
            },
        )
        for t, amount in (("sound", 800), ("light", 600), ("transport", 1100)):
            writes.create(
                s,
                actor=actor,
                entity="show_costs",
                data={"show_id": show.id, "type": t, "amount": amount, "currency": "GBP"},
            )
    return actor, show


def test_settlement_from_the_store_uses_production_flags_and_finance_rule(store, tour):
    actor, show = tour
    with store.read() as s:
        result = settlement(s, org_id=actor.org_id, show_id=show.id)
    assert result["net"] == "3000.00" and result["production_costs"] == "1400.00"
    with store.write() as s:
        writes.create(
            s,
            actor=actor,
            entity="finance_rules",
            data={"home_currency": "EUR", "mgmt_base": "gross_less_production"},
        )
    with store.read() as s:
        result = settlement(s, org_id=actor.org_id, show_id=show.id)
    assert result["mgmt"] == "1290.00" and result["net"] == "3210.00"
    assert result["net_home"] == "3852.00"


def test_totals_per_month_tour_and_currency(store, tour):
    actor, _show = tour
    with store.write() as s:
        writes.create(
            s,
            actor=actor,
            entity="shows",
            data={
                "city": "Tokyo",
                "country": "JP",
                "starts_at": "2026-12-10T10:00:00+00:00",
                "fee": "1000000",
                "currency": "JPY",
                "status": "confirmed",
                "tour": "Winter 26",
            },
        )
        writes.create(
            s,
            actor=actor,
            entity="shows",
            data={
                "city": "Paris",
                "country": "FR",
                "starts_at": "2026-12-11T10:00:00+00:00",
                "fee": "5000",
                "currency": "EUR",
                "status": "canceled",
            },
        )
    with store.read() as s:
        by_month = finance_totals(s, org_id=actor.org_id, group_by="month")
        by_cur = finance_totals(s, org_id=actor.org_id, group_by="currency")
        by_tour = finance_totals(
            s, org_id=actor.org_id, group_by="tour", start=datetime(2026, 12, 1, tzinfo=UTC)
        )
    assert [g["key"] for g in by_month] == ["2026-12"]
    dec = by_month[0]
    assert dec["shows"] == 2  # the canceled show is left out
    assert dec["net"] == "3600.00"  # 3000 GBP x 1.2; the JPY show has no rate
    assert dec["unconverted"] == {"JPY": "1000000"}
    assert {g["key"]: g["net"] for g in by_cur} == {"GBP": "3000.00", "JPY": "1000000"}
    assert by_tour[0]["key"] == "Winter 26"
