"""Legacy rows -> input for the one write path.

Driven by the registry: a legacy key is turned into snake_case, renamed where the old
apps used another name (``quantityMeters`` -> ``quantity``), and coerced by the type of
the model column it lands in. Enum values take the allowed spelling of the schema's
``Literal``. Whatever has no column is kept in the row's ``extra`` instead of failing.
Validation itself (ranges, ISO codes, references) stays in the write path.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import JSON, Boolean, Date, Integer, inspect

from core.identity.schemas import ExistingPin, Password
from core.legacy import coerce as c
from core.orm.base import SYSTEM_COLUMNS
from core.orm.types import Fixed, UTCDateTime
from core.registry import spec_for
from core.serial import to_json


class RowRefused(Exception):
    """A row the import cannot take; ``field`` is the legacy key at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# Per-entity renames, keyed by the snake_case form of the legacy key. Keys already named
# like a column need no entry.
ALIASES: dict[str, dict[str, str]] = {
    "users": {"active": "is_active", "lang": "language", "mail": "email"},
    "clients": {"contact_name": "contact", "nif": "tax_id", "cif": "tax_id"},
    "projects": {"start": "start_date", "end_date": "due_date", "deadline": "due_date"},
    "machines": {
        "total_meters_produced": "total_meters",
        "next_maintenance_meters": "next_maintenance_at",
        "maintenance_interval_meters": "maintenance_interval",
        "colour": "color",
        "current_job": "current_job_id",
        "operators": "operator_ids",
        "status_changed_at": "status_since",
        "ideal_rate_m_min": "ideal_rate",
    },
    "jobs": {
        "quantity_meters": "quantity",
        "quantity_pieces": "quantity",
        "produced_meters": "produced_qty",
        "produced_pieces": "produced_qty",
        "produced_quantity": "produced_qty",
        "scrap_meters": "scrap_qty",
        "scrap_pieces": "scrap_qty",
        "scrap_quantity": "scrap_qty",
        "due_date": "due_at",
        "start_time": "started_at",
        "end_time": "completed_at",
        "queue_position": "sequence",
        "operators": "operator_ids",
    },
    "inventory": {
        "min_quantity": "reorder_point",
        "min_stock": "reorder_point",
        "quantity_meters": "quantity",
    },
    "alerts": {"created_at": "raised_at", "timestamp": "raised_at"},
    "messages": {
        "created_at": "sent_at",
        "timestamp": "sent_at",
        "from": "from_user_id",
        "to": "to_user_id",
        "text": "body",
    },
    "events": {"timestamp": "at", "created_at": "at", "data": "payload"},
    "shows": {
        "date": "starts_at",
        "date_event": "starts_at",
        "fee_currency": "currency",
        "mgmt_agency_pct": "mgmt_pct",
        "booking_agency_pct": "booking_pct",
        "timezone": "tz",
        "owner": "owner_id",
    },
    "show_costs": {"production": "is_production"},
}

# The other direction (export, compatibility APIs): our field -> the key the old apps
# stored it under, where that is not simply the camelCase of our name. Every entry is
# also an alias above, so what is written out reads back in to the same field.
LEGACY_NAMES: dict[str, dict[str, str]] = {
    "machines": {
        "total_meters": "totalMetersProduced",
        "next_maintenance_at": "nextMaintenanceMeters",
        "maintenance_interval": "maintenanceIntervalMeters",
    },
    "jobs": {
        "quantity": "quantityMeters",
        "produced_qty": "producedMeters",
        "scrap_qty": "scrapMeters",
        "due_at": "dueDate",
        "started_at": "startTime",
        "completed_at": "endTime",
    },
    "inventory": {"reorder_point": "minQuantity"},
    "alerts": {"raised_at": "createdAt"},
    "messages": {"sent_at": "createdAt"},
    "events": {"at": "timestamp"},
    "shows": {
        "starts_at": "date",
        "currency": "feeCurrency",
        "mgmt_pct": "mgmtAgencyPct",
        "booking_pct": "bookingAgencyPct",
        "tz": "timezone",
    },
}
# Job quantities in pieces: the old app named the unit in the key.
PIECES_NAMES = {
    "quantity": "quantityPieces",
    "produced_qty": "producedPieces",
    "scrap_qty": "scrapPieces",
}
# Our role -> the legacy role written out when the row does not remember its own.
LEGACY_ROLES = {"admin": "ADMIN", "office": "MANAGER", "operator": "OPERATOR", "crew": "CREW"}
# Flags the old apps kept instead of a time: legacy key -> (our time field, its "when").
FLAGS = {"alerts": {"dismissed": "dismissed_at"}, "messages": {"read": "read_at"}}

# Quantities whose legacy name carries the unit.
UNIT_FROM_KEY = {"quantity_meters": "m", "quantity_pieces": "pcs"}

# Legacy roles -> ours; the legacy role is kept in extra["legacy_role"].
ROLES = {
    "ADMIN": "admin",
    "MANAGER": "office",
    "LOGISTICS": "office",
    "OFFICE": "office",
    "OPERATOR": "operator",
    "CREW": "crew",
}

# Legacy keys with their own meaning (see _apply_specials).
SPECIALS = {"users": ("role",), "alerts": ("dismissed",), "messages": ("read",)}

# Keys that look like secrets: on an entity without such an input they are dropped,
# never kept in extra (a plaintext secret must not land anywhere).
SECRET_KEYS = frozenset({"pin", "password", "passcode", "secret", "token", "pin_code"})

_PIN = TypeAdapter(ExistingPin)
_PASSWORD = TypeAdapter(Password)


@dataclass
class MappedRow:
    entity: str
    id: str
    data: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    # Plaintext secret inputs (user PIN/password): hashed up front, never stored.
    secrets: dict[str, str] = field(default_factory=dict)
    # target field -> legacy key, to name the legacy field in a refusal
    sources: dict[str, str] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)

    def legacy_field(self, target: str) -> str:
        return self.sources.get(target, target)


Coercer = Callable[[Any], Any]


def _choice_coercer(choices: tuple[str, ...]) -> Coercer:
    def coerce(value: Any) -> Any:
        return c.to_choice(c.to_text(value), choices)

    return coerce


def _choices(annotation: Any) -> tuple[str, ...]:
    """The allowed values of a ``Literal`` field (also inside ``X | None``)."""
    if typing.get_origin(annotation) is typing.Literal:
        return tuple(str(a) for a in typing.get_args(annotation))
    out: tuple[str, ...] = ()
    for arg in typing.get_args(annotation):
        out += _choices(arg)
    return out


def _decimal(scale: int) -> Coercer:
    quantum = Decimal(1).scaleb(-scale)

    def conv(v: Any) -> Decimal | None:
        d = c.to_decimal(v)
        # Rounded to the column's scale: stray float digits (0.1 + 0.2) would otherwise
        # fail the schema's decimal_places check for a value we store rounded anyway.
        return None if d is None else d.quantize(quantum, rounding=ROUND_HALF_EVEN)

    return conv


@cache
def coercers(entity: str) -> dict[str, Coercer]:
    """Field -> coercer, from the model's column types and the schema's enums."""
    spec = spec_for(entity)
    columns = {col.key: col for col in inspect(spec.model).columns}
    out: dict[str, Coercer] = {}
    for name, info in spec.fields.model_fields.items():
        col = columns.get(name)
        ctype = col.type if col is not None else None
        choices = _choices(info.annotation)
        if choices:
            out[name] = _choice_coercer(choices)
        elif isinstance(ctype, Fixed):
            out[name] = _decimal(ctype.scale)
        elif isinstance(ctype, UTCDateTime):
            out[name] = c.to_timestamp
        elif isinstance(ctype, Date):
            out[name] = c.to_date
        elif isinstance(ctype, Boolean):
            out[name] = c.to_bool
        elif isinstance(ctype, Integer):
            out[name] = c.to_int
        elif isinstance(ctype, JSON):
            out[name] = c.to_id_list if name.endswith("_ids") else _json_value(info.annotation)
        elif name.endswith("_id") or name in spec.refs:
            out[name] = c.to_id
        elif name in spec.secret_inputs:
            out[name] = c.to_text
        else:
            out[name] = c.to_text
    return out


def _json_value(annotation: Any) -> Coercer:
    origin = typing.get_origin(annotation)
    if origin is dict:
        return c.to_dict
    if origin is list:
        return lambda v: [c.to_text(x) for x in c.to_id_list(v)] if isinstance(v, str) else v
    return lambda v: v


def _extra_value(value: Any) -> Any:
    """Values kept in extra must be JSON."""
    if isinstance(value, dict | list | str | int | float | bool) or value is None:
        return value
    return to_json(value)


def map_row(entity: str, raw: Mapping[str, Any], *, now: datetime | None = None) -> MappedRow:
    """One legacy row -> write-path input, or ``RowRefused`` naming the legacy field."""
    row_id = c.to_id(raw.get("id"))
    if row_id is None:
        raise RowRefused("id", "missing id")
    return _map(entity, raw, MappedRow(entity=entity, id=row_id, data={}), now, partial=False)


def map_changes(entity: str, raw: Mapping[str, Any], *, now: datetime | None = None) -> MappedRow:
    """Some fields of a legacy row (an update from an old app) -> write-path input.

    As ``map_row``, except that a flag set to false clears its time (an alert shown
    again, a message marked unread) and the id, if given, is left to the caller."""
    return _map(entity, raw, MappedRow(entity=entity, id="", data={}), now, partial=True)


def _map(
    entity: str, raw: Mapping[str, Any], row: MappedRow, now: datetime | None, *, partial: bool
) -> MappedRow:
    spec = spec_for(entity)
    conv = coercers(entity)
    aliases = ALIASES.get(entity, {})
    specials: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "id":
            continue
        skey = c.snake(key)
        target = aliases.get(skey, skey)
        if skey in spec.secret_inputs:
            if value not in (None, ""):
                row.secrets[skey] = _secret(skey, key, value)
            continue
        if skey in SECRET_KEYS:
            row.dropped.append(key)
            continue
        if skey in SPECIALS.get(entity, ()):
            specials[skey] = (key, value)
        elif target in conv and target not in row.data:
            try:
                row.data[target] = conv[target](value)
            except c.BadValue as exc:
                raise RowRefused(key, str(exc)) from None
            row.sources[target] = key
            if skey in UNIT_FROM_KEY and "unit" not in raw:
                row.data["unit"] = UNIT_FROM_KEY[skey]
        elif skey in SYSTEM_COLUMNS:
            # createdAt/updatedAt of the old app: no column of ours takes them (ours are
            # the import's own), so they are kept, typed, in extra.
            row.extra[skey] = _system_extra(skey, key, value)
        else:
            row.extra[key] = _extra_value(value)
    _apply_specials(entity, row, specials, now or datetime.now(UTC), partial=partial)
    return row


def _secret(skey: str, key: str, value: Any) -> str:
    # A PIN typed as a number (1234) is still a PIN; other types are refused below.
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str):
        text = ""
    adapter = _PIN if skey == "pin" else _PASSWORD
    try:
        return adapter.validate_python(text.strip())
    except ValidationError:
        # The message never includes the value: it is a secret.
        rule = "must be 4-12 digits" if skey == "pin" else "must be 8-256 characters"
        raise RowRefused(key, rule) from None


def _system_extra(skey: str, key: str, value: Any) -> Any:
    if skey.endswith("_at"):
        try:
            ts = c.to_timestamp(value)
        except c.BadValue:
            return _extra_value(value)
        return None if ts is None else ts.isoformat()
    return _extra_value(value)


def _apply_specials(
    entity: str,
    row: MappedRow,
    specials: dict[str, tuple[str, Any]],
    now: datetime,
    *,
    partial: bool = False,
) -> None:
    for skey, (key, value) in specials.items():
        if entity == "users" and skey == "role":
            legacy = value if isinstance(value, str) else None
            role = ROLES.get((legacy or "").strip().upper())
            if role is None:
                raise RowRefused(key, f"unknown role (expected one of {', '.join(ROLES)})")
            row.data["role"] = role
            row.sources["role"] = key
            row.extra["legacy_role"] = legacy
        elif entity == "alerts" and skey == "dismissed":
            # A change made now happened now, not when the alert was raised.
            _flag_to_time(row, key, value, "dismissed_at", "" if partial else "raised_at", now)
        elif entity == "messages" and skey == "read":
            _flag_to_time(row, key, value, "read_at", "" if partial else "sent_at", now)


def _flag_to_time(
    row: MappedRow, key: str, value: Any, target: str, when: str, now: datetime
) -> None:
    """``dismissed: true`` / ``read: true`` -> a time. The old apps kept only the flag,
    so the best time we have is when the alert was raised / the message sent."""
    try:
        flag = c.to_bool(value)
    except c.BadValue as exc:
        raise RowRefused(key, str(exc)) from None
    if flag and row.data.get(target) is None:
        row.data[target] = row.data.get(when) or now
        row.sources[target] = key
    elif flag is False and not when and target not in row.data:
        row.data[target] = None  # an update clearing the flag
        row.sources[target] = key
