"""Show settlement and finance totals.

Settlement of a show, all in the fee's currency:
    W = G x wht%;  B = G x booking%;  M = mgmt% x (G, or G - production costs);
    C = sum of the show's costs;  N = G - W - B - M - C
then converted to the home currency at the rate stored on the show. Each component is
rounded to the currency's minor unit (half up, as accountants do) before the net is
formed, so the lines a person adds up by hand give exactly the net shown.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import NotFound
from core.iso import minor_units
from core.models import FinanceRule, Organisation, Show, ShowCost
from core.tour.timezones import local_date

HUNDRED = Decimal(100)


def money(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class CostLine:
    amount: Decimal  # in the cost's own currency
    currency: str
    is_production: bool
    fx_rate: Decimal | None = None  # into the show's currency (the cost's own rate)
    label: str = ""
    id: str = ""
    type: str = ""


def warning(code: str, **params: Any) -> dict[str, Any]:
    """A coded settlement warning: each edge words it in its language from the code
    and the parameters (the cost named by id, type, amount and currency)."""
    return {"code": code, "params": params}


@dataclass
class Settlement:
    currency: str
    gross: Decimal
    wht: Decimal
    booking: Decimal
    mgmt_base: str
    mgmt_base_amount: Decimal
    mgmt: Decimal
    costs: Decimal
    production_costs: Decimal
    net: Decimal
    home_currency: str
    fx_rate: Decimal | None
    net_home: Decimal | None
    gross_home: Decimal | None
    complete: bool = True
    # Coded warnings ({"code", "params"}); any warning makes the settlement incomplete.
    warnings: list[dict[str, Any]] = field(default_factory=list)
    # Costs that could not be counted, per currency, so the missing money stays visible.
    unconverted_costs: dict[str, Decimal] = field(default_factory=dict)
    lines: list[dict[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["unconverted_costs"] = {k: format(v, "f") for k, v in self.unconverted_costs.items()}
        return {k: (format(v, "f") if isinstance(v, Decimal) else v) for k, v in out.items()}


def compute_settlement(
    *,
    gross: Decimal,
    currency: str,
    wht_pct: Decimal,
    booking_pct: Decimal,
    mgmt_pct: Decimal,
    mgmt_base: str = "gross",
    costs: Iterable[CostLine] = (),
    home_currency: str | None = None,
    fx_rate: Decimal | None = None,
    rates: Mapping[str, Decimal | str] | None = None,
) -> Settlement:
    """``rates``: the show's rates into ``currency`` for costs paid in other currencies
    ({"USD": "0.92"}); a cost's own ``fx_rate`` wins over them. A cost with neither is
    not counted in C, and the settlement says so (incomplete, with the cost named)."""
    warnings: list[dict[str, Any]] = []
    unconverted: dict[str, Decimal] = defaultdict(Decimal)
    total_costs = Decimal(0)
    production = Decimal(0)
    for cost in costs:
        amount = cost.amount
        if cost.currency != currency:
            rate = cost.fx_rate
            if rate is None and rates and rates.get(cost.currency) is not None:
                rate = Decimal(str(rates[cost.currency]))
            if rate is None:
                warnings.append(
                    warning(
                        "cost_without_rate",
                        cost_id=cost.id,
                        type=cost.type,
                        label=cost.label,
                        amount=format(cost.amount, "f"),
                        currency=cost.currency,
                        to=currency,
                    )
                )
                unconverted[cost.currency] += cost.amount
                continue
            amount = cost.amount * rate
        amount = money(amount, currency)
        total_costs += amount
        if cost.is_production:
            production += amount
    gross = money(gross, currency)
    wht = money(gross * wht_pct / HUNDRED, currency)
    booking = money(gross * booking_pct / HUNDRED, currency)
    base_amount = gross - production if mgmt_base == "gross_less_production" else gross
    mgmt = money(base_amount * mgmt_pct / HUNDRED, currency)
    net = gross - wht - booking - mgmt - total_costs
    home = home_currency or currency
    rate = Decimal(1) if home == currency else fx_rate
    if rate is None:
        warnings.append(warning("fee_without_home_rate", currency=currency, to=home))
    net_home = money(net * rate, home) if rate is not None else None
    gross_home = money(gross * rate, home) if rate is not None else None
    lines = [
        {"label": "gross", "formula": "G", "amount": format(gross, "f")},
        {"label": "withholding", "formula": f"G x {wht_pct}%", "amount": format(wht, "f")},
        {"label": "booking", "formula": f"G x {booking_pct}%", "amount": format(booking, "f")},
        {
            "label": "management",
            "formula": f"{mgmt_pct}% x {'(G - production)' if base_amount != gross else 'G'}",
            "amount": format(mgmt, "f"),
        },
        {"label": "costs", "formula": "sum of costs", "amount": format(total_costs, "f")},
        {"label": "net", "formula": "G - W - B - M - C", "amount": format(net, "f")},
    ]
    return Settlement(
        currency=currency,
        gross=gross,
        wht=wht,
        booking=booking,
        mgmt_base=mgmt_base,
        mgmt_base_amount=base_amount,
        mgmt=mgmt,
        costs=total_costs,
        production_costs=production,
        net=net,
        home_currency=home,
        fx_rate=rate,
        net_home=net_home,
        gross_home=gross_home,
        complete=not warnings,
        warnings=warnings,
        unconverted_costs=dict(unconverted),
        lines=lines,
    )


def _rule(session: Session, org_id: str, owner_id: str | None) -> tuple[str, str]:
    """(mgmt_base, home_currency): the owner's rule, else the organisation's, else gross."""
    rules = session.scalars(
        select(FinanceRule).where(FinanceRule.org_id == org_id, FinanceRule.deleted_at.is_(None))
    ).all()
    by_user = {r.user_id: r for r in rules}
    rule = by_user.get(owner_id) if owner_id else None
    rule = rule or by_user.get(None)
    if rule is not None:
        return rule.mgmt_base, rule.home_currency
    org = session.get(Organisation, org_id)
    return "gross", (org.home_currency if org else "EUR")


def _show_costs(session: Session, org_id: str, show_ids: list[str]) -> dict[str, list[CostLine]]:
    out: dict[str, list[CostLine]] = defaultdict(list)
    if not show_ids:
        return out
    stmt = select(ShowCost).where(
        ShowCost.org_id == org_id, ShowCost.show_id.in_(show_ids), ShowCost.deleted_at.is_(None)
    )
    for c in session.scalars(stmt):
        label = c.description or c.type
        out[c.show_id].append(
            CostLine(c.amount, c.currency, c.is_production, c.fx_rate, label, c.id, c.type)
        )
    return out


def settle_show(session: Session, show: Show, costs: list[CostLine]) -> Settlement:
    mgmt_base, home = _rule(session, show.org_id, show.owner_id)
    return compute_settlement(
        gross=show.fee,
        currency=show.currency,
        wht_pct=show.wht_pct,
        booking_pct=show.booking_pct,
        mgmt_pct=show.mgmt_pct,
        mgmt_base=mgmt_base,
        costs=costs,
        home_currency=home,
        fx_rate=show.fx_rate,
        rates=show.fx_rates,
    )


def settlement(session: Session, *, org_id: str, show_id: str) -> dict[str, Any]:
    show = session.get(Show, (org_id, show_id))
    if show is None or show.deleted_at is not None:
        raise NotFound(f"shows '{show_id}' not found")
    costs = _show_costs(session, org_id, [show_id])[show_id]
    result = settle_show(session, show, costs).as_json()
    result["show_id"] = show_id
    return result


def _group_key(show: Show, group_by: str) -> str:
    if group_by == "tour":
        return show.tour or "-"
    if group_by == "currency":
        return show.currency
    day = local_date(show.starts_at, show.tz)
    return f"{day.year:04d}-{day.month:02d}"


def finance_totals(
    session: Session,
    *,
    org_id: str,
    group_by: str = "month",
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[dict[str, Any]]:
    """Totals per month, tour or currency. Month and tour totals are in the home currency;
    shows with no stored rate are counted apart (``unconverted``), never guessed.
    Canceled shows are left out."""
    if group_by not in ("month", "tour", "currency"):
        raise ValueError(group_by)
    stmt = select(Show).where(
        Show.org_id == org_id, Show.deleted_at.is_(None), Show.status != "canceled"
    )
    if start is not None:
        stmt = stmt.where(Show.starts_at >= start)
    if end is not None:
        stmt = stmt.where(Show.starts_at < end)
    shows = list(session.scalars(stmt.order_by(Show.starts_at)))
    costs = _show_costs(session, org_id, [s.id for s in shows])
    groups: dict[str, dict[str, Any]] = {}
    for show in shows:
        st = settle_show(session, show, costs[show.id])
        key = _group_key(show, group_by)
        g = groups.setdefault(
            key,
            {
                "key": key,
                "shows": 0,
                "currency": None,
                "gross": Decimal(0),
                "net": Decimal(0),
                "costs": Decimal(0),
                "unconverted": defaultdict(Decimal),
                "incomplete": 0,
                "complete": True,
                "warnings": [],
            },
        )
        g["shows"] += 1
        if not st.complete:
            # The group's total lacks something: say which show and which cost.
            g["incomplete"] += 1
            g["complete"] = False
            day = local_date(show.starts_at, show.tz).isoformat()
            for w in st.warnings:
                params = {"show_id": show.id, "city": show.city, "date": day, **w["params"]}
                g["warnings"].append(warning(w["code"], **params))
        if group_by == "currency":
            g["currency"] = show.currency
            g["gross"] += st.gross
            g["net"] += st.net
            g["costs"] += st.costs
        elif st.net_home is None:
            g["unconverted"][show.currency] += st.net
        else:
            g["currency"] = st.home_currency
            g["gross"] += st.gross_home or Decimal(0)
            g["net"] += st.net_home
            g["costs"] += money(st.costs * (st.fx_rate or Decimal(1)), st.home_currency)
    out = []
    for g in groups.values():
        g["unconverted"] = {k: format(v, "f") for k, v in g["unconverted"].items()}
        for k in ("gross", "net", "costs"):
            g[k] = format(g[k], "f")
        out.append(g)
    return sorted(out, key=lambda g: g["key"])
