"""Finance and OEE reports. The arithmetic is ``core.finance`` and ``core.oee``."""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict

from core.errors import Invalid
from core.registry import FACTORY_READERS, OFFICE, registry
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

    return r
