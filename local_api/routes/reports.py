"""Finance and OEE reports. The arithmetic is ``core.finance`` and ``core.oee``."""

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict

from core.errors import Invalid
from core.registry import FACTORY_READERS, OFFICE, TOUR_READERS, registry
from core.services.writes import Actor
from local_api.deps import Deps, check_role
from local_api.problems import AUTHED, responses
from local_api.routes.entities import json_response

IdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


class Settlement(BaseModel):
    """Gross, withholding, booking and management commissions, costs and net of a show
    (see domain.md); amounts are decimal strings."""

    model_config = ConfigDict(extra="allow")
    show_id: str


class ReportRow(BaseModel):
    model_config = ConfigDict(extra="allow")


def _check_range(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and end <= start:
        raise Invalid(
            "the period must end after it starts",
            details=[{"field": "end", "message": "must be after start"}],
        )


def router(deps: Deps) -> APIRouter:
    ctx = deps.context
    reg = registry()
    r = APIRouter(tags=["reports"])
    current = deps.current_actor

    @r.get(
        "/api/shows/{id}/settlement",
        response_model=Settlement,
        responses=responses(*AUTHED, 404, 422),
        summary="Settlement of one show",
    )
    def settlement(id: IdPath, actor: Annotated[Actor, Depends(current)]) -> Any:
        deps.module_enabled(reg["shows"])
        check_role(actor, OFFICE, "see settlements")
        from core import finance

        with ctx.store.read() as s:
            return json_response(finance.settlement(s, org_id=actor.org_id, show_id=id))

    @r.get(
        "/api/reports/finance",
        response_model=list[ReportRow],
        responses=responses(*AUTHED, 422),
        summary="Show totals per month, tour or currency (home currency)",
    )
    def finance_totals(
        actor: Annotated[Actor, Depends(current)],
        group_by: Literal["month", "tour", "currency"] = "month",
        start: Annotated[AwareDatetime | None, Query()] = None,
        end: Annotated[AwareDatetime | None, Query()] = None,
    ) -> Any:
        deps.module_enabled(reg["shows"])
        check_role(actor, OFFICE, "see finance reports")
        _check_range(start, end)
        from core import finance

        with ctx.store.read() as s:
            return json_response(
                finance.finance_totals(
                    s, org_id=actor.org_id, group_by=group_by, start=start, end=end
                )
            )

    @r.get(
        "/api/reports/oee",
        response_model=list[ReportRow],
        responses=responses(*AUTHED, 422),
        summary="OEE per machine per shift, day or range",
    )
    def oee(
        actor: Annotated[Actor, Depends(current)],
        period: Literal["shift", "day", "range"] = "day",
        start: Annotated[AwareDatetime | None, Query()] = None,
        end: Annotated[AwareDatetime | None, Query()] = None,
        machine_id: Annotated[str | None, Query(max_length=64)] = None,
    ) -> Any:
        deps.module_enabled(reg["machines"])
        check_role(actor, FACTORY_READERS, "see OEE reports")
        _check_range(start, end)
        from core import oee as oee_mod

        with ctx.store.read() as s:
            return json_response(
                oee_mod.oee_report(
                    s,
                    org_id=actor.org_id,
                    period=period,
                    start=start,
                    end=end,
                    machine_id=machine_id,
                )
            )

    @r.get(
        "/api/calendar",
        response_model=list[ReportRow],
        responses=responses(*AUTHED, 422),
        summary="Shows, travel and other days in one list (default: the next 90 days)",
    )
    def calendar(
        actor: Annotated[Actor, Depends(current)],
        start: Annotated[AwareDatetime | None, Query()] = None,
        end: Annotated[AwareDatetime | None, Query()] = None,
    ) -> Any:
        from core.serial import to_json

        items = _calendar(actor, start, end)
        return json_response([{k: to_json(v) for k, v in i.items()} for i in items])

    @r.get(
        "/api/calendar.ics",
        response_class=Response,
        responses={200: {"content": {"text/calendar": {}}}} | responses(*AUTHED, 422),
        summary="The same calendar as iCalendar (RFC 5545), for phones and office calendars",
    )
    def calendar_ics(
        actor: Annotated[Actor, Depends(current)],
        start: Annotated[AwareDatetime | None, Query()] = None,
        end: Annotated[AwareDatetime | None, Query()] = None,
    ) -> Response:
        from core.calendar import to_ical

        body = to_ical(_calendar(actor, start, end), calendar_name=ctx.site.org_name)
        return Response(
            body,
            media_type="text/calendar; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="structura.ics"'},
        )

    def _calendar(actor: Actor, start: datetime | None, end: datetime | None) -> list[Any]:
        deps.module_enabled(reg["shows"])
        check_role(actor, TOUR_READERS, "see the tour calendar")
        from core.calendar import calendar_items
        from core.clock import utcnow

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

    return r
