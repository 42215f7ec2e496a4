"""The registry of synced entities. One entry drives the CRUD routes, the sync apply
step, the legacy import and the Qt table models; adding an entity is adding an entry."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, Literal, get_args

from pydantic import BaseModel

from core import models as m
from core.attachments import schemas as ats
from core.factory import schemas as fs
from core.fields import partial_model, read_model
from core.identity import schemas as ps
from core.identity.pins import check_unique_pin
from core.rules import NONE, EntityRules, domain_rules
from core.tour import schemas as ts

ALL_ROLES = frozenset({"admin", "office", "operator", "crew"})
OFFICE = frozenset({"admin", "office"})
FACTORY_READERS = frozenset({"admin", "office", "operator"})
TOUR_READERS = frozenset({"admin", "office", "crew"})

# Conflict rules for two edits of the same field (docs/sync.md, guarantee 6):
# - "last_arrival": the edit that reaches the central server last wins; ordering comes
#   from the server, never from site clocks. The loser is kept as a conflict record.
# - "central_wins": the value already on the central server stays; the site's edit is
#   kept as a conflict record for someone to apply by hand if it was right.
ConflictRule = Literal["last_arrival", "central_wins"]

Check = Callable[[Mapping[str, Any]], list[tuple[str, str]]]
Defaults = Callable[[dict[str, Any], datetime, Any], None]
# (session, org_id, row id, values with the plaintext secret inputs): raises to refuse.
SecretCheck = Callable[[Any, str, str, Mapping[str, Any]], None]
Guard = Callable[[Any, Any, str, str, Mapping[str, Any]], list[tuple[str, str]]]


@dataclass(frozen=True)
class EntitySpec:
    name: str
    model: type[m.Synced]
    fields: type[BaseModel]
    module: str  # factory | tour | core
    label: tuple[str, str]  # (en, es)
    read_roles: frozenset[str]
    write_roles: frozenset[str] = OFFICE
    refs: Mapping[str, str] = field(default_factory=dict)
    list_refs: Mapping[str, str] = field(default_factory=dict)
    unique: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    default_sort: str = "-updated_at"
    title_field: str = "name"
    conflict_rule: ConflictRule = "last_arrival"
    append_only: bool = False
    secret_inputs: Mapping[str, str] = field(default_factory=dict)
    defaults: Defaults | None = None
    check: Check | None = None
    # Rules on secret inputs that need the store (unique PINs), before they are hashed.
    secret_check: SecretCheck | None = None
    # Like ``check``, with the session: rules that compare with other rows (look-alike
    # user names). Called with (session, model, org_id, row id, merged values).
    guard: Guard | None = None
    # Rules of the work (core.rules), filled from the domain packages by registry().
    rules: EntityRules = NONE
    # False: rows are made only by the entity's own service (attachments come with
    # their bytes), so the generic routes offer no create.
    generic_create: bool = True
    # Fields an operator may change through the generic update (beyond domain actions).
    create: type[BaseModel] = field(init=False)
    update: type[BaseModel] = field(init=False)
    read: type[BaseModel] = field(init=False)
    # Fields whose declared type does not admit None: a PATCH may still send null.
    not_null: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        base = self.fields.__name__.removesuffix("Fields")
        object.__setattr__(self, "create", self.fields)
        object.__setattr__(self, "update", partial_model(self.fields, f"{base}Update"))
        exclude = frozenset(self.secret_inputs)
        object.__setattr__(self, "read", read_model(self.fields, f"{base}Read", exclude=exclude))
        columns = self.model.__table__.columns
        not_null = {
            name
            for name, f in self.fields.model_fields.items()
            if (f.annotation is not None and type(None) not in get_args(f.annotation))
            or (name in columns and not columns[name].nullable)
        }
        object.__setattr__(self, "not_null", frozenset(not_null))

    @property
    def stored_fields(self) -> tuple[str, ...]:
        """User-visible columns: the fields model minus write-only secrets."""
        return tuple(f for f in self.fields.model_fields if f not in self.secret_inputs)


def _ordered(a: str, b: str, label: str) -> Check:
    def check(v: Mapping[str, Any]) -> list[tuple[str, str]]:
        if v.get(a) is not None and v.get(b) is not None and v[b] < v[a]:
            return [(b, f"{label} must not be before {a}")]
        return []

    return check


def _job_check(v: Mapping[str, Any]) -> list[tuple[str, str]]:
    errors = _ordered("started_at", "completed_at", "completed_at")(v)
    scrap, produced = v.get("scrap_qty"), v.get("produced_qty")
    if scrap is not None and produced is not None and scrap > produced:
        errors.append(("scrap_qty", "scrap cannot exceed the produced quantity"))
    return errors


def _now_default(*names: str) -> Defaults:
    def fill(values: dict[str, Any], now: datetime, actor: Any) -> None:
        for name in names:
            if values.get(name) is None:
                values[name] = now

    return fill


def _message_defaults(values: dict[str, Any], now: datetime, actor: Any) -> None:
    if values.get("sent_at") is None:
        values["sent_at"] = now
    if values.get("from_user_id") is None:
        values["from_user_id"] = actor.user_id


def _cost_defaults(values: dict[str, Any], now: datetime, actor: Any) -> None:
    if values.get("is_production") is None:
        values["is_production"] = values.get("type") in ts.PRODUCTION_TYPES


def _user_check(v: Mapping[str, Any]) -> list[tuple[str, str]]:
    return []


def _user_guard(
    session: Any, model: Any, org_id: str, row_id: str, v: Mapping[str, Any]
) -> list[tuple[str, str]]:
    from core.identity.lookalike import guard

    return guard(session, model, org_id, row_id, v)


@cache
def registry() -> dict[str, EntitySpec]:
    specs = [
        EntitySpec(
            "users", m.User, ps.UserFields, "core", ("Users", "Usuarios"),
            read_roles=ALL_ROLES, write_roles=frozenset({"admin"}), unique=("email",),
            search=("name", "email"), default_sort="name", conflict_rule="central_wins",
            secret_inputs=ps.SECRET_INPUTS, secret_check=check_unique_pin,
            check=_user_check, guard=_user_guard,
        ),
        EntitySpec(
            "clients", m.Client, fs.ClientFields, "factory", ("Clients", "Clientes"),
            read_roles=OFFICE, search=("name", "tax_id", "email", "contact"), default_sort="name",
        ),
        EntitySpec(
            "projects", m.Project, fs.ProjectFields, "factory", ("Projects", "Proyectos"),
            read_roles=FACTORY_READERS, refs={"client_id": "clients"},
            search=("name", "description"), default_sort="-start_date",
            check=_ordered("start_date", "due_date", "due_date"),
        ),
        EntitySpec(
            "machines", m.Machine, fs.MachineFields, "factory", ("Machines", "Máquinas"),
            read_roles=FACTORY_READERS, refs={"current_job_id": "jobs"},
            list_refs={"operator_ids": "users"}, search=("name", "brand", "category"),
            default_sort="name",
        ),
        EntitySpec(
            "jobs", m.Job, fs.JobFields, "factory", ("Jobs", "Órdenes"),
            read_roles=FACTORY_READERS, refs={"machine_id": "machines", "project_id": "projects"},
            list_refs={"operator_ids": "users"}, search=("title", "doc_number"),
            default_sort="sequence", title_field="title", check=_job_check,
        ),
        EntitySpec(
            "production_reports", m.ProductionReport, fs.ProductionReportFields, "factory",
            ("Production reports", "Partes de producción"), read_roles=FACTORY_READERS,
            write_roles=FACTORY_READERS,
            refs={"job_id": "jobs", "machine_id": "machines", "operator_id": "users",
                  "reverses_id": "production_reports"},
            search=("reason",), default_sort="-at", title_field="kind", append_only=True,
        ),
        EntitySpec(
            "inventory", m.InventoryItem, fs.InventoryFields, "factory",
            ("Inventory", "Inventario"),
            read_roles=FACTORY_READERS, unique=("sku",), search=("sku", "name", "location"),
            default_sort="sku",
        ),
        EntitySpec(
            "alerts", m.Alert, fs.AlertFields, "factory", ("Alerts", "Alertas"),
            read_roles=FACTORY_READERS, refs={"machine_id": "machines", "dismissed_by": "users"},
            search=("message",), default_sort="-raised_at", title_field="message",
            defaults=_now_default("raised_at"),
        ),
        EntitySpec(
            "messages", m.Message, fs.MessageFields, "core", ("Messages", "Mensajes"),
            read_roles=ALL_ROLES, write_roles=ALL_ROLES,
            refs={"from_user_id": "users", "to_user_id": "users"}, search=("body",),
            default_sort="-sent_at", title_field="body", defaults=_message_defaults,
        ),
        EntitySpec(
            "events", m.Event, fs.EventFields, "factory", ("Events", "Eventos"),
            read_roles=OFFICE, write_roles=ALL_ROLES, refs={"user_id": "users"},
            search=("type",), default_sort="-at", title_field="type", append_only=True,
            defaults=_now_default("at"),
        ),
        EntitySpec(
            "downtimes", m.Downtime, fs.DowntimeFields, "factory", ("Downtime", "Paradas"),
            read_roles=FACTORY_READERS, refs={"machine_id": "machines", "reported_by": "users"},
            search=("notes", "reason"), default_sort="-started_at", title_field="reason",
            check=_ordered("started_at", "ended_at", "ended_at"),
        ),
        EntitySpec(
            "shows", m.Show, ts.ShowFields, "tour", ("Shows", "Conciertos"),
            read_roles=TOUR_READERS, refs={"owner_id": "users"},
            search=("city", "venue", "tour", "notes"), default_sort="starts_at",
            title_field="city", conflict_rule="central_wins",
        ),
        EntitySpec(
            "show_costs", m.ShowCost, ts.ShowCostFields, "tour", ("Show costs", "Costes"),
            read_roles=OFFICE, refs={"show_id": "shows"}, search=("description", "type"),
            default_sort="-updated_at", title_field="type", defaults=_cost_defaults,
        ),
        EntitySpec(
            "travel", m.Travel, ts.TravelFields, "tour", ("Travel", "Viajes"),
            read_roles=TOUR_READERS, refs={"show_id": "shows"},
            search=("origin", "destination", "reference", "notes"), default_sort="departs_at",
            title_field="destination", check=_ordered("departs_at", "arrives_at", "arrives_at"),
        ),
        EntitySpec(
            "calendar_entries", m.CalendarEntry, ts.CalendarEntryFields, "tour",
            ("Calendar", "Calendario"), read_roles=TOUR_READERS, search=("title", "location"),
            default_sort="starts_on", title_field="title",
            check=_ordered("starts_on", "ends_on", "ends_on"),
        ),
        EntitySpec(
            "finance_rules", m.FinanceRule, ts.FinanceRuleFields, "tour",
            ("Finance rules", "Reglas financieras"), read_roles=OFFICE,
            refs={"user_id": "users"}, unique=("user_id",), default_sort="home_currency",
            title_field="home_currency", conflict_rule="central_wins",
        ),
        EntitySpec(
            "attachments", m.Attachment, ats.AttachmentFields, "core",
            ("Attachments", "Adjuntos"), read_roles=ALL_ROLES, write_roles=ALL_ROLES,
            search=("filename", "caption"), default_sort="-created_at", title_field="filename",
            generic_create=False,
        ),
    ]  # fmt: skip
    rules = domain_rules()
    for spec in specs:
        object.__setattr__(spec, "rules", rules.get(spec.name, NONE))
    return {s.name: s for s in specs}


def spec_for(name: str) -> EntitySpec:
    from core.errors import NotFound

    try:
        return registry()[name]
    except KeyError:
        raise NotFound(f"unknown entity '{name}'") from None


def spec_for_model(model: type) -> EntitySpec:
    for spec in registry().values():
        if spec.model is model:
            return spec
    raise KeyError(model)
