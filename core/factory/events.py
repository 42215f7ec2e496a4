"""Typed payloads of the append-only event log.

Events sync to every site and are never edited, so one bad payload would break every
reader for good (a ``qty`` of ``"abc"`` in a PRODUCTION event made the board and the
OEE report fail). Each event type has a payload model; the write path validates an
event's payload against the model of its type (a pydantic discriminated union) before
it is stored, whatever the entry point. Readers still tolerate rows stored before this
check existed (``safe_quantity``).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from core.fields import RefId, ShortText

# Quantities in an event: finite, not negative, at most a billion (metres or pieces).
EventQuantity = Annotated[Decimal, Field(ge=0, le=10**9, decimal_places=3, allow_inf_nan=False)]
MachineState = Literal["RUNNING", "IDLE", "MAINTENANCE", "ERROR", "OFFLINE"]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    note: ShortText | None = None


class JobEvent(_Payload):
    type: Literal["JOB_STARTED", "JOB_PAUSED", "JOB_COMPLETED", "JOB_REOPENED"]
    job_id: RefId | None = None
    machine_id: RefId | None = None


class MachineStatusEvent(_Payload):
    type: Literal["MACHINE_STATUS"]
    machine_id: RefId | None = None
    status: MachineState | None = None


class ProductionEvent(_Payload):
    """Production as the old apps logged it; new production is a production report."""

    type: Literal["PRODUCTION"]
    job_id: RefId | None = None
    machine_id: RefId
    qty: EventQuantity
    scrap: EventQuantity = Decimal(0)


class DowntimeEvent(_Payload):
    type: Literal["DOWNTIME_STARTED", "DOWNTIME_ENDED"]
    machine_id: RefId
    downtime_id: RefId | None = None
    reason: ShortText | None = None


class LoginEvent(_Payload):
    type: Literal["LOGIN", "LOGOUT"]


class NoteEvent(_Payload):
    """A free note in the log, about a job or a machine or neither."""

    type: Literal["NOTE"]
    job_id: RefId | None = None
    machine_id: RefId | None = None


EventPayload = Annotated[
    JobEvent | MachineStatusEvent | ProductionEvent | DowntimeEvent | LoginEvent | NoteEvent,
    Field(discriminator="type"),
]
TYPES = frozenset(
    t
    for model in (
        JobEvent,
        MachineStatusEvent,
        ProductionEvent,
        DowntimeEvent,
        LoginEvent,
        NoteEvent,
    )
    for t in get_args(model.model_fields["type"].annotation)
)


@cache
def _adapter() -> TypeAdapter[Any]:
    return TypeAdapter(EventPayload)


def validate_payload(type_: str, payload: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The payload as stored (numbers as decimal strings), or the field errors."""
    if type_ not in TYPES:
        return {}, [("type", f"unknown event type; one of {', '.join(sorted(TYPES))}")]
    if not isinstance(payload, dict):
        return {}, [("payload", "must be an object")]
    if "type" in payload:
        return {}, [("payload.type", "the type is given beside the payload, not in it")]
    try:
        model = _adapter().validate_python({**payload, "type": type_})
    except ValidationError as exc:
        errors = []
        for e in exc.errors(include_url=False):
            loc = [str(p) for p in e["loc"][1:]]  # the first element is the type tag
            errors.append((".".join(["payload", *loc]), e["msg"]))
        return {}, errors
    data = model.model_dump(mode="json", exclude={"type"}, exclude_none=True)
    return data, []


def safe_quantity(value: Any) -> Decimal | None:
    """A stored quantity as a number, or None if the row predates validation and holds
    something that is not a finite, non-negative number within range."""
    try:
        q = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    if not q.is_finite() or q < 0 or q > Decimal(10) ** 9:
        return None
    return q
