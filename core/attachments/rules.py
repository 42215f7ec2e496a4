"""Rules of the work for attachments, run by the one write path for every caller.

- The owner (a job, a stop, a machine, a show, a travel leg) must exist and be live, and
  its module be on.
- Who may attach: operators to the shop floor's rows (jobs, downtime, machines), crew
  to the tour's (shows, travel), office and admin to everything. The same for deleting
  and for changing a caption.
- A row is made only together with its bytes: ``core.attachments.service`` stores the
  blob first and marks its hash on the unit of work; a create without that mark (the
  generic JSON POST, a batch, an import) is refused. Rows arriving by sync describe bytes
  stored elsewhere and are fetched on demand.
- After creation only the caption may change: the file name, type, size and hash
  describe bytes that do not change.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core.models import Downtime, Job, Machine, Organisation, Show, Travel
from core.rules import SYNC, EntityRules, WriteContext, refuse
from core.sync.unit import unit_of

OWNER_MODELS: dict[str, Any] = {
    "jobs": Job, "downtimes": Downtime, "machines": Machine, "shows": Show, "travel": Travel,
}  # fmt: skip
OWNER_MODULES = {"jobs": "factory", "downtimes": "factory", "machines": "factory",
                 "shows": "tour", "travel": "tour"}  # fmt: skip
# Which owners each role may attach to (and delete from); None: all.
ROLE_OWNERS: dict[str, frozenset[str] | None] = {
    "admin": None,
    "office": None,
    "operator": frozenset({"jobs", "downtimes", "machines"}),
    "crew": frozenset({"shows", "travel"}),
}
FIXED = ("owner_entity", "owner_id", "filename", "media_type", "size", "sha256", "created_by")


def may_attach(role: str, owner_entity: str) -> bool:
    if role == "system":
        return True
    allowed = ROLE_OWNERS.get(role, frozenset())
    return allowed is None or owner_entity in allowed


def check_owner(session: Session, actor: Any, entity: str, owner_id: Any, origin: str) -> None:
    """The role may attach to ``entity``, whose module is on and whose row ``owner_id``
    is live. Run by the write path, and by the service before it reads any bytes."""
    if entity not in OWNER_MODELS:
        raise refuse("attachment_owner_entity", 422, "owner_entity", owner_entity=entity)
    if str(actor.role) != "system" and not may_attach(str(actor.role), entity):
        raise refuse("attachment_owner_role", 403, "owner_entity", owner_entity=entity)
    if origin == SYNC:
        return  # the owner may arrive later in the same feed; it was checked where made
    module = OWNER_MODULES[entity]
    org = session.get(Organisation, str(actor.org_id))
    if org is not None and module not in (org.modules or ()):
        raise refuse("module_disabled", 403, module=module)
    key = (str(actor.org_id), owner_id)
    row: Any = unit_of(session).made_here.get(("row", entity, *key))
    if row is None:
        row = session.get(OWNER_MODELS[entity], key)
    if row is None or row.deleted_at is not None:
        raise refuse("attachment_owner_missing", 422, "owner_id", owner_entity=entity,
                     owner_id=owner_id)  # fmt: skip


def _owner(ctx: WriteContext) -> None:
    entity = str(ctx.values.get("owner_entity"))
    if ctx.kind == "create":
        check_owner(ctx.session, ctx.actor, entity, ctx.values.get("owner_id"), ctx.origin)
    elif ctx.is_person and not may_attach(str(ctx.actor.role), entity):
        raise refuse("attachment_owner_role", 403, "owner_entity", owner_entity=entity)


def _bytes_first(ctx: WriteContext) -> None:
    if ctx.kind != "create" or ctx.origin == SYNC:
        return
    if ctx.values.get("sha256") not in unit_of(ctx.session).blobs_stored:
        raise refuse("attachment_needs_bytes", 422, "sha256")


def _fixed(ctx: WriteContext) -> None:
    if ctx.kind != "update" or ctx.origin == SYNC:
        return
    for name in FIXED:
        if name in ctx.changed:
            raise refuse("attachment_field_fixed", 422, name, field_name=name)


RULES = {"attachments": EntityRules(checks=(_owner, _bytes_first, _fixed))}
