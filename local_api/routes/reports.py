"""Finance and OEE reports and the tour calendar. The arithmetic is ``core.tour.finance``,
``core.factory.oee`` and ``core.tour.calendar``; each route's dependency checks the
module and the role once.

(No ``from __future__ import annotations``: FastAPI reads the handlers' annotations.)
"""

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict

from apikit.problems import AUTHED, responses
from apikit.rows import IdPath, json_response
from core.errors import Invalid
from core.registry import FACTORY_READERS, OFFICE, TOUR_READERS
from core.writes import Actor
from local_api.deps import ContextDep, gate


class SettlementWarning(BaseModel):
    """Why a settlement is incomplete, as a code and its parameters (worded by clients):
    ``cost_without_rate`` (cost_id, type, label, amount, currency, to) or
    ``fee_without_home_rate`` (currency, to)."""

    code: str
    params: dict[str, Any]


class Settlement(BaseModel):
    """Gross, withholding, booking and management commissions, costs and net of a show
    (see domain.md); amounts are decimal strings. ``complete`` is false when a cost or
    the fee has no stored rate; the warnings name it and ``unconverted_costs`` holds the
    amounts left out of C, per currency."""

    model_config = ConfigDict(extra="allow")
    show_id: str
    complete: bool
    warnings: list[SettlementWarning]
    unconverted_costs: dict[str, str]


class ReportRow(BaseModel):
    model_config = ConfigDict(extra="allow")


def _check_range(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and end <= start:
        raise Invalid(
            "the period must end after it starts",
            details=[{"field": "end", "message": "must be after start"}],
        )


def allowed(entity: str, roles: frozenset[str], what: str) -> Any:
    """The route's one check: the entity's module is on and the role may ``what``."""
    return gate(entity, roles, what)


Settler = Annotated[Actor, allowed("shows", OFFICE, "see settlements")]
FinanceReader = Annotated[Actor, allowed("shows", OFFICE, "see finance reports")]
OeeReader = Annotated[Actor, allowed("machines", FACTORY_READERS, "see OEE reports")]
CalendarReader = Annotated[Actor, allowed("shows", TOUR_READERS, "see the tour calendar")]
Start = Annotated[AwareDatetime | None, Query()]
End = Annotated[AwareDatetime | None, Query()]

router = APIRouter(tags=["reports"])


@router.get(
    "/api/shows/{id}/settlement",
    response_model=Settlement,
    responses=responses(*AUTHED, 404, 422),
    summary="Settlement of one show",
)
def settlement(id: IdPath, actor: Settler, ctx: ContextDep) -> Any:
    from core.tour import finance

    with ctx.store.read() as s:
        return json_response(finance.settlement(s, org_id=actor.org_id, show_id=id))


@router.get(
    "/api/reports/finance",
    response_model=list[ReportRow],
    responses=responses(*AUTHED, 422),
    summary="Show totals per month, tour or currency (home currency)",
)
def finance_totals(
    actor: FinanceReader,
    ctx: ContextDep,
    group_by: Literal["month", "tour", "currency"] = "month",
    start: Start = None,
    end: End = None,
) -> Any:
    _check_range(start, end)
    from core.tour import finance

    with ctx.store.read() as s:
        return json_response(
            finance.finance_totals(s, org_id=actor.org_id, group_by=group_by, start=start, end=end)
        )


@router.get(
    "/api/reports/oee",
    response_model=list[ReportRow],
    responses=responses(*AUTHED, 422),
    summary="OEE per machine per shift, day or range",
)
def oee(
    actor: OeeReader,
    ctx: ContextDep,
    period: Literal["shift", "day", "range"] = "day",
    start: Start = None,
    end: End = None,
    machine_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Any:
    _check_range(start, end)
    from core.factory import oee as oee_mod

    with ctx.store.read() as s:
        return json_response(
            oee_mod.oee_report(
                s, org_id=actor.org_id, period=period, start=start, end=end, machine_id=machine_id
            )
        )


@router.get(
    "/api/calendar",
    response_model=list[ReportRow],
    responses=responses(*AUTHED, 422),
    summary="Shows, travel and other days in one list (default: the next 90 days)",
)
def calendar(actor: CalendarReader, ctx: ContextDep, start: Start = None, end: End = None) -> Any:
    from core.serial import to_json

    items = _calendar(ctx, actor, start, end)
    return json_response([{k: to_json(v) for k, v in i.items()} for i in items])


@router.get(
    "/api/calendar.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}, **responses(*AUTHED, 422)},
    summary="The same calendar as iCalendar (RFC 5545), for phones and office calendars",
)
def calendar_ics(
    actor: CalendarReader, ctx: ContextDep, start: Start = None, end: End = None
) -> Response:
    from core.tour.calendar import to_ical

    body = to_ical(_calendar(ctx, actor, start, end), calendar_name=ctx.site.org_name)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="structura.ics"'},
    )


def _calendar(ctx: Any, actor: Actor, start: datetime | None, end: datetime | None) -> list[Any]:
    from core.clock import utcnow
    from core.tour.calendar import calendar_items

    start = start or utcnow() - timedelta(days=1)
    end = end or start + timedelta(days=90)
    _check_range(start, end)
    if end - start > timedelta(days=731):
        raise Invalid(
            "a calendar covers at most two years",
            details=[{"field": "end", "message": "range too long"}],
        )
    with ctx.store.read() as s:
        return calendar_items(s, org_id=actor.org_id, start=start, end=end)
