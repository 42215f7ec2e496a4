"""A show's settlement with the arithmetic visible: each line says what it is, how it
was computed and how much, so a tour manager can check it with a calculator.

The numbers come from ``core.tour.finance`` (the same function the API and reports use).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.models import Show, ShowCost
from desktop.i18n import tr
from desktop.models.formatting import display_at, format_decimal, money

LABELS = {
    "gross": "Gross fee",
    "withholding": "Withholding tax",
    "booking": "Booking agency",
    "management": "Management",
    "costs": "Costs",
    "net": "Net",
}


WARNINGS = {
    "cost_without_rate": "Cost not counted: {label} {amount} has no rate to {to}; "
    "enter the {currency} rate on the show",
    "fee_without_home_rate": "No rate from {currency} to {to} on the show: the net in {to} "
    "is missing",
}


def warning_text(w: dict[str, Any]) -> str:
    """A coded settlement warning (core.tour.finance) in the user's language."""
    params = dict(w.get("params") or {})
    if "amount" in params and "currency" in params:
        params["amount"] = money(params["amount"], str(params["currency"]))
    text = tr(WARNINGS.get(str(w.get("code")), str(w.get("code"))), **params)
    if params.get("city"):  # finance totals name the show too
        text = f"{params['city']} {params.get('date', '')}: {text}"
    return text


@dataclass
class SettlementLine:
    label: str
    formula: str
    amount: str
    emphasis: bool = False


@dataclass
class SettlementView:
    title: str
    currency: str
    lines: list[SettlementLine]
    costs: list[tuple[str, str, bool]] = field(default_factory=list)  # type, amount, prod.
    home: str = ""
    warnings: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    complete: bool = True

    def as_text(self) -> str:
        out = [self.title]
        out += [f"{ln.label:<24} {ln.formula:<28} {ln.amount:>16}" for ln in self.lines]
        return "\n".join(out)


def _tidy(formula: str) -> str:
    """15.0000% -> 15%, 12.5000% -> 12.5% (the stored scale is not the user's)."""
    text = re.sub(
        r"(\d+(?:\.\d+)?)%", lambda m: format_decimal(Decimal(m.group(1))) + " %", formula
    )
    return text.replace("sum of costs", tr("sum of costs")).replace("production", tr("production"))


def settlement_view(session: Any, show_id: str) -> SettlementView:
    from core.tour.finance import settlement

    with session.read() as s:
        data = settlement(s, org_id=session.org_id, show_id=show_id)
        show = s.get(Show, (session.org_id, show_id))
        parts = [show.city, show.venue, display_at(show.starts_at, show.tz)]
        title = " · ".join(p for p in parts if p)
        # A cost left out for want of a rate is marked where the costs are listed too.
        missing = {w["params"].get("cost_id") for w in data.get("warnings", [])
                   if w.get("code") == "cost_without_rate"}  # fmt: skip
        costs = [
            (c.type, money(c.amount, c.currency) + (" ⚠" if c.id in missing else ""),
             c.is_production)
            for c in s.query(ShowCost).filter(
                ShowCost.org_id == session.org_id, ShowCost.show_id == show_id,
                ShowCost.deleted_at.is_(None)).order_by(ShowCost.type)
        ]  # fmt: skip
    cur = data["currency"]
    lines = []
    for ln in data.get("lines", []):
        formula = _tidy(ln["formula"])
        if ln["label"] == "costs" and Decimal(data.get("production_costs", "0")):
            formula += f" ({tr('of which production')} {money(data['production_costs'], cur)})"
        lines.append(
            SettlementLine(
                tr(LABELS.get(ln["label"], ln["label"])),
                formula,
                money(ln["amount"], cur),
                ln["label"] in ("gross", "net"),
            )
        )
    home = ""
    if data.get("net_home") is not None and data.get("home_currency") != cur:
        home = (f"{tr('Net')} = {money(data['net'], cur)} x {data['fx_rate']} = "
                f"{money(data['net_home'], data['home_currency'])}")  # fmt: skip
    warnings = [warning_text(w) for w in data.get("warnings", [])]
    if not data.get("complete", True):
        warnings.insert(0, tr("Incomplete settlement"))
    return SettlementView(title, cur, lines, costs, home, warnings, data,
                          bool(data.get("complete", True)))  # fmt: skip
