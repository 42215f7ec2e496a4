"""The tour's one time model, as functions every view calls.

A show, a travel leg or a calendar entry happens somewhere: it is stored as a UTC
instant plus the IANA zone of that place (``starts_at`` + ``tz``), and every list, form,
calendar, day sheet, PDF, ICS file and web page shows it in that place's local time. A
day off is a date, not a midnight. The office's own ("home") time is shown beside a
local time only where the two differ.

Local input is read as the wall-clock time of the place: 21:30 typed for a show in
Valencia is 21:30 in Valencia whatever the laptop's zone. Around a DST change a wall
time can be missing (the spring-forward hour) or happen twice (the autumn hour): a
missing one is refused with a coded error, a repeated one means its first occurrence
(the usual reading of a printed schedule).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel

from core.errors import Invalid

# Input forms of a local wall-clock time (an ISO 8601 offset, if given, wins).
_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


def zone(tz: str | None) -> ZoneInfo:
    """The zone of ``tz``; rows stored before zones were required read as UTC."""
    try:
        return ZoneInfo(tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def zone_field(model: type[BaseModel], name: str) -> str | None:
    """The field holding the zone of the instant field ``name`` (``starts_at`` -> ``tz``),
    as declared on the schema, or None for an instant that belongs to no place."""
    info = model.model_fields.get(name)
    extra = info.json_schema_extra if info is not None else None
    if isinstance(extra, dict):
        value = extra.get("x-zone-field")
        return value if isinstance(value, str) else None
    return None


def local(instant: datetime, tz: str | None) -> datetime:
    """The instant as the wall-clock time of the place (aware, in its zone)."""
    if instant.tzinfo is None:  # stored instants are UTC; never read a naive one as local
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(zone(tz))


def local_date(instant: datetime, tz: str | None) -> date:
    """The day the instant falls on where it happens (the day it belongs to)."""
    return local(instant, tz).date()


def nonexistent(field: str, wall: datetime, tz: str) -> Invalid:
    params = {"time": wall.strftime("%Y-%m-%d %H:%M"), "tz": tz}
    return Invalid(
        "time_nonexistent",
        details=[{"field": field, "code": "time_nonexistent", "params": params,
                  "message": "time_nonexistent"}],
    )  # fmt: skip


def to_instant(wall: datetime, tz: str | None, *, field: str = "starts_at") -> datetime:
    """A local wall-clock time in ``tz`` as a UTC instant.

    An aware ``wall`` is already an instant and is only normalised to UTC. A wall time
    that does not exist there (skipped by a DST change) raises ``Invalid`` with the code
    ``time_nonexistent``; a repeated one is its first occurrence (``fold=0``)."""
    if wall.tzinfo is not None:
        return wall.astimezone(UTC)
    z = zone(tz)
    aware = wall.replace(tzinfo=z, fold=0)
    instant = aware.astimezone(UTC)
    if instant.astimezone(z).replace(tzinfo=None) != wall:
        raise nonexistent(field, wall, tz or "UTC")
    return instant


def parse_local(text: str, tz: str | None, *, field: str = "starts_at") -> datetime:
    """'2026-03-29 21:30' typed for a place in ``tz`` -> the UTC instant. Raises
    ``ValueError`` for text that is no date and time, ``Invalid`` for a skipped time."""
    text = text.strip()
    for fmt in _FORMATS:
        try:
            wall = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return to_instant(wall, tz, field=field)
    # An explicit offset ("...+09:00", "...Z") names the instant itself.
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        return to_instant(value, tz, field=field)
    return value.astimezone(UTC)


def zone_city(tz: str | None) -> str:
    """'America/New_York' -> 'New York': the place name people read in a zone id."""
    name = (tz or "UTC").rsplit("/", 1)[-1]
    return name.replace("_", " ")


def home_zone() -> tzinfo:
    """The office's zone: the IANA zone of the device the office uses (its own clock).

    A zone, not today's offset: a show in March is compared with the office's March
    clock, summer time included."""
    from tzlocal import get_localzone

    return get_localzone()


@dataclass(frozen=True)
class LocalTime:
    """One instant as it reads where it happens, and at home when that differs."""

    instant: datetime  # UTC
    tz: str
    local: datetime  # aware, in tz
    home: datetime | None  # aware, in the home zone; None when the offsets agree

    @property
    def date(self) -> date:
        return self.local.date()

    @property
    def time(self) -> time:
        return self.local.time()

    def text(self, *, with_date: bool = True, with_zone: bool = True) -> str:
        fmt = "%Y-%m-%d %H:%M" if with_date else "%H:%M"
        out = self.local.strftime(fmt)
        return f"{out} {zone_city(self.tz)}" if with_zone else out

    def home_text(self) -> str:
        """'17:30 (-1 day)' style home time, or '' when home is the same clock."""
        if self.home is None:
            return ""
        shift = (self.home.date() - self.local.date()).days
        day = f" ({shift:+d}d)" if shift else ""
        return self.home.strftime("%H:%M") + day

    def as_json(self) -> dict[str, Any]:
        return {
            "tz": self.tz,
            "local": self.local.isoformat(timespec="minutes"),
            "local_date": self.local.date().isoformat(),
            "local_time": self.local.strftime("%H:%M"),
            "utc_offset": self.local.strftime("%z"),
            "home": self.home.isoformat(timespec="minutes") if self.home else None,
        }


def local_time(instant: datetime, tz: str | None, home: tzinfo | None = None) -> LocalTime:
    here = local(instant, tz)
    there = instant.astimezone(home) if home is not None else None
    if there is not None and there.utcoffset() == here.utcoffset():
        there = None
    return LocalTime(here.astimezone(UTC), tz or "UTC", here, there)
