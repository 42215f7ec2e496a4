"""What every presenter needs: the store, the site, and who is at the keyboard."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from core import writes
from core.db import Store
from core.models import User
from core.site import SiteInfo
from core.writes import Actor

FACTORY_ENTITIES = ("machines", "jobs", "projects", "clients", "inventory", "alerts",
                    "events", "downtimes")  # fmt: skip
TOUR_ENTITIES = ("shows", "show_costs", "travel", "calendar_entries", "finance_rules")


@dataclass
class Session:
    store: Store
    site: SiteInfo
    actor: Actor

    @property
    def org_id(self) -> str:
        return self.site.org_id

    def has(self, module: str) -> bool:
        return module in self.site.modules

    def write(self) -> Any:
        return self.store.write()

    def read(self) -> Any:
        return self.store.read()


def office_user(store: Store, site: SiteInfo, *, device_id: str | None = None) -> Actor:
    """The person at the desktop: the first active admin or office user; on a fresh
    store one is made, so that audit entries and messages have an author."""
    with store.read() as s:
        user = s.scalars(
            select(User)
            .where(User.org_id == site.org_id, User.deleted_at.is_(None),
                   User.is_active.is_(True), User.role.in_(("admin", "office")))
            .order_by(User.role, User.created_at)
            .limit(1)
        ).first()  # fmt: skip
        if user is not None:
            return Actor(site.org_id, user.id, user.role, device_id or site.site_id)
    with store.write() as s:
        row = writes.create(
            s,
            actor=Actor.system(site.org_id),
            entity="users",
            data={"name": "Office", "role": "admin", "language": "es"},
        )
        return Actor(site.org_id, row.id, "admin", device_id or site.site_id)
