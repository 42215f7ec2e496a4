"""Who may do what in the console.

Three roles: ``central`` (every organisation, every action), ``org_admin`` (one
organisation: its sites, codes, devices and conflicts) and ``auditor`` (reads every
organisation, changes nothing). The role lives in ``central_admin_roles``; an admin
without a row is a central admin, as every admin was before roles existed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from central import enroll as svc
from core.errors import Forbidden, Invalid
from core.models import CentralAdminRole

ROLES = ("central", "org_admin", "auditor")


class ConsoleForbidden(Forbidden):
    code = "console_forbidden"


@dataclass(frozen=True)
class ConsoleUser:
    id: str
    name: str
    role: str
    org_id: str | None = None  # the one organisation of an org_admin

    def can_see(self, org_id: str) -> bool:
        return self.role != "org_admin" or self.org_id == org_id

    def can_change(self, org_id: str) -> bool:
        return self.role == "central" or (self.role == "org_admin" and self.org_id == org_id)

    def need_see(self, org_id: str) -> None:
        if not self.can_see(org_id):
            raise ConsoleForbidden(
                "this organisation is not yours to see",
                details=[{"field": "org_id", "message": org_id}],
            )

    def need_change(self, org_id: str) -> None:
        if not self.can_change(org_id):
            raise ConsoleForbidden(
                "your role may not change this organisation",
                details=[{"field": "role", "message": self.role}],
            )


def console_user(session: Session, user_id: str) -> ConsoleUser:
    """The admin behind a session (disabled or deleted admins are refused here, on
    every request)."""
    user = svc.admin_for_request(session, user_id)
    rec = session.get(CentralAdminRole, user_id)
    role, org = (rec.role, rec.org_id) if rec else ("central", None)
    return ConsoleUser(id=user.id, name=user.name, role=role, org_id=org)


def set_role(session: Session, user_id: str, role: str, org_id: str | None = None) -> None:
    if role not in ROLES:
        raise Invalid(f"unknown role '{role}'", details=[{"field": "role", "message": role}])
    if (role == "org_admin") != (org_id is not None):
        raise Invalid(
            "an organisation admin needs exactly one organisation",
            details=[{"field": "org_id", "message": "required for org_admin"}],
        )
    svc.admin_for_request(session, user_id)
    if org_id is not None:
        svc.get_org(session, org_id)
    rec = session.get(CentralAdminRole, user_id)
    if rec is None:
        session.add(CentralAdminRole(user_id=user_id, role=role, org_id=org_id))
    else:
        rec.role, rec.org_id = role, org_id
    session.flush()
