"""The maintenance counter: metres produced advance a machine's counter (each production
report adds its metres, on every store: core.factory.rules); warn at 90 % of the
interval and raise an alert when maintenance is due."""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from core import writes
from core.db import flush_for
from core.errors import Invalid
from core.models import Alert, Machine
from core.registry import registry
from core.writes import Actor, get_live

# Warn at 90 % of the maintenance interval: early enough to plan the stop into a shift.
WARN_FRACTION = Decimal("0.9")


def raise_alert(
    session: Session, actor: Actor, machine: Machine, kind: str, severity: str, message: str
) -> None:
    """One open alert per machine and kind: a rule that fires again does not pile up."""
    flush_for(session, Alert)
    # On the connection, not through the session: the alerts of this transaction were
    # just flushed, nothing else pending matters to this query, and a Core select needs
    # none of the ORM's execution layer (it runs on every report once a machine is due).
    params = {"org": actor.org_id, "machine": machine.id, "kind": kind}
    open_alert = session.connection().execute(_open_alert(), params).first()
    if open_alert is None:
        writes.create(
            session,
            actor=Actor.system(actor.org_id, actor.device_id),
            entity="alerts",
            data={"machine_id": machine.id, "severity": severity, "kind": kind, "message": message},
        )


@functools.cache
def _open_alert() -> Select[Any]:
    a = Alert.__table__.c
    live = (a.dismissed_at.is_(None), a.deleted_at.is_(None))
    where = (a.org_id == bindparam("org"), a.machine_id == bindparam("machine"))
    return select(a.id).where(*where, a.kind == bindparam("kind"), *live).limit(1)


def check_maintenance(session: Session, *, actor: Any, machine: Machine) -> None:
    total = machine.total_meters
    due_at, interval = machine.next_maintenance_at, machine.maintenance_interval
    if due_at is None:
        return
    if total >= due_at:
        raise_alert(
            session, actor, machine, "maintenance_due", "CRITICAL",
            f"Maintenance due on {machine.name} ({total} m of {due_at} m)",
        )  # fmt: skip
    elif interval and total >= due_at - interval * (1 - WARN_FRACTION):
        raise_alert(
            session, actor, machine, "maintenance_soon", "WARNING",
            f"Maintenance soon on {machine.name} ({due_at - total} m left)",
        )  # fmt: skip


def record_maintenance(session: Session, *, actor: Actor, machine_id: str) -> Machine:
    """Maintenance done: the next one is due one interval from now."""
    machine = get_live(session, registry()["machines"], actor.org_id, machine_id)
    if not machine.maintenance_interval:
        raise Invalid(
            "the machine has no maintenance interval",
            details=[{"field": "maintenance_interval", "message": "not set"}],
        )
    return writes.update(
        session,
        actor=actor,
        entity="machines",
        id=machine.id,
        data={"next_maintenance_at": machine.total_meters + machine.maintenance_interval},
        check=False,
    )
