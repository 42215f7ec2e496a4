"""Settlement arithmetic: worked examples checked by hand, and the same through the store."""

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from core import writes
from core.tour.finance import CostLine, compute_settlement, finance_totals, settlement
from core.writes import Actor

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
    cost = CostLine(D(100), "USD", True, label="backline hire", id="c1", type="backline")
    s = example(costs=[cost], home_currency="EUR")
    assert not s.complete
    codes = [w["code"] for w in s.warnings]
    assert codes == ["cost_without_rate", "fee_without_home_rate"]
    named = s.warnings[0]["params"]
    assert named == {"cost_id": "c1", "type": "backline", "label": "backline hire",
                     "amount": "100", "currency": "USD", "to": "GBP"}  # fmt: skip
    assert s.unconverted_costs == {"USD": D(100)}  # the money is still in sight
    assert s.net_home is None
    assert s.costs == D(0)
    assert s.as_json()["unconverted_costs"] == {"USD": "100"}


def test_rate_entered_on_the_show_counts_the_cost():
    cost = CostLine(D(500), "USD", False, id="c1", type="transport")
    s = example(costs=[cost], rates={"USD": "0.80"})
    assert s.complete and s.warnings == [] and s.unconverted_costs == {}
    assert s.costs == D(400)  # 500 USD x 0.80
    own = CostLine(D(500), "USD", False, fx_rate=D("0.5"), id="c2", type="transport")
    assert example(costs=[own], rates={"USD": "0.80"}).costs == D(250)  # the cost's own wins


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


def test_usd_cost_without_rate_marks_settlement_and_totals_incomplete(store, tour):
    actor, show = tour
    with store.write() as s:
        cost = writes.create(
            s,
            actor=actor,
            entity="show_costs",
            data={"show_id": show.id, "type": "hotel", "amount": "500", "currency": "USD",
                  "description": "Hotel Tokyo"},
        )  # fmt: skip
        cost_id = cost.id
    with store.read() as s:
        result = settlement(s, org_id=actor.org_id, show_id=show.id)
        month = finance_totals(s, org_id=actor.org_id, group_by="month")[0]
    assert result["complete"] is False
    assert result["warnings"][0]["code"] == "cost_without_rate"
    assert result["warnings"][0]["params"]["cost_id"] == cost_id
    assert result["warnings"][0]["params"]["label"] == "Hotel Tokyo"
    assert result["unconverted_costs"] == {"USD": "500.0000"}
    assert result["net"] == "3000.00"  # counted without it, and said so
    assert month["complete"] is False and month["incomplete"] == 1
    assert month["warnings"][0]["code"] == "cost_without_rate"
    assert month["warnings"][0]["params"]["show_id"] == show.id
    assert month["warnings"][0]["params"]["date"] == "2026-12-04"

    # The office enters the rate on the show: the cost is counted, nothing is missing.
    with store.write() as s:
        writes.update(s, actor=actor, entity="shows", id=show.id, data={"fx_rates": {"usd": "0.8"}})
    with store.read() as s:
        result = settlement(s, org_id=actor.org_id, show_id=show.id)
        month = finance_totals(s, org_id=actor.org_id, group_by="month")[0]
    assert result["complete"] is True and result["warnings"] == []
    assert result["costs"] == "2900.00" and result["net"] == "2600.00"  # 2500 + 500 x 0.8
    assert month["complete"] is True and month["warnings"] == []


@pytest.mark.parametrize(
    ("rates", "field"),
    [
        ({"USD": "0"}, "fx_rates.USD"),
        ({"USD": "-1"}, "fx_rates.USD"),
        ({"XYZ": "1.1"}, "fx_rates.XYZ"),
        ({"USD": "abc"}, "fx_rates.USD"),
    ],
)
def test_show_rates_are_positive_decimals_keyed_by_iso_currency(store, tour, rates, field):
    actor, show = tour
    with pytest.raises(writes.Invalid) as err, store.write() as s:
        writes.update(s, actor=actor, entity="shows", id=show.id, data={"fx_rates": rates})
    assert err.value.details[0]["field"].startswith(field.split(".")[0])
    with store.read() as s:
        assert s.get(type(show), (actor.org_id, show.id)).fx_rates is None  # nothing written


def test_unticked_production_box_is_saved_as_not_production(store, tour):
    actor, show = tour
    with store.write() as s:
        off = writes.create(
            s,
            actor=actor,
            entity="show_costs",
            data={"show_id": show.id, "type": "sound", "amount": 10, "currency": "GBP",
                  "is_production": False},
        )  # fmt: skip
        assert off.is_production is False
