"""Rules of the work, declared per entity by each domain package and run by the one
write path (``core.writes``) for every entry point: HTTP PATCH and batch, the domain
actions, the sync push applied at the central server, a pulled change applied at a site,
the legacy import and the desktop forms. An entry point never checks a rule itself; it
calls the write path and shows the coded error it gets back.

A domain package exposes ``RULES: dict[str, EntityRules]`` (entity name -> hooks); the
registry merges them into each ``EntitySpec``. Hooks take one ``WriteContext``:

- ``prepare``: fill values the caller left out (a job's place at the end of its
  machine's queue, a document number). Runs on create, before validation of required
  fields.
- ``checks``: refuse the change by raising ``core.errors.RuleBroken`` (a code and
  parameters, no sentence). They run after the row's own validation and see the stored
  row (``ctx.row``), the values it will have (``ctx.values``) and what changes
  (``ctx.changed``).
- ``after``: what follows from the change once the row is written (a job's totals
  from its production reports; a machine's status from its open downtime). A hook that
  writes other synced rows looks at ``ctx.origin``: a change applied from sync was
  already followed up where it was made, and those follow-ups arrive as their own ops.

``derived`` fields are computed from other rows (a job's produced quantity is the sum of
its production reports): a person may not set them, and values arriving by sync are
ignored because every store computes them itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from core.errors import RuleBroken
from core.sync import reasons

# Where a write comes from. "local": a person, an action, the import or the demo on this
# store. "sync": a change made on another store, applied here (central push apply).
LOCAL = "local"
SYNC = "sync"
# "import": the legacy import. Rows are checked like any other and get what a new row
# gets here (a document number, an opening balance), but the state they describe is
# history: no follow-up changes to other rows (a machine's status stays as exported).
IMPORT = "import"


@dataclass
class WriteContext:
    session: Session
    actor: Any  # core.writes.Actor (not imported: writes imports this module)
    entity: str
    kind: str  # create | update | delete
    row: Any  # the stored row (None on create; after-hooks: the written row)
    values: dict[str, Any]  # the row's fields as they will be (create: all given)
    changed: dict[str, Any]  # the fields this write sets
    origin: str = LOCAL
    # After an update: the changed fields' values before it (the row object is changed
    # in place, so after-hooks ask ``before()`` rather than the row).
    previous: dict[str, Any] | None = None
    # What a prepare or check hook hands to an after hook of the same write.
    carry: dict[str, Any] = field(default_factory=dict)

    @property
    def org_id(self) -> str:
        return str(self.actor.org_id)

    def before(self, name: str) -> Any:
        """A field's stored value before this write (None on create)."""
        if self.row is None or self.kind == "create":
            return None
        if self.previous is not None and name in self.previous:
            return self.previous[name]
        return getattr(self.row, name, None)

    def entering(self, name: str, value: Any) -> bool:
        """Whether this write brings ``name`` to ``value`` (a create with that value
        counts)."""
        return self.values.get(name) == value and (
            self.kind == "create" or (name in self.changed and self.before(name) != value)
        )

    def sets(self, *names: str) -> bool:
        """Whether this write sets any of ``names`` (on create: to a non-empty value)."""
        return any(n in self.changed for n in names)

    @property
    def made_here(self) -> bool:
        """A row new to the organisation, made on this store (not arriving by sync)."""
        return self.origin != SYNC

    @property
    def is_person(self) -> bool:
        return str(self.actor.role) != "system"


Hook = Callable[[WriteContext], None]


def batch_safe(hook: Hook) -> Hook:
    """Mark a hook whose outcome for one row does not depend on other rows of its entity
    made in the same write (it reads only the row's values, or state the transaction
    keeps itself, such as a document counter). ``core.writes.create_many`` checks and
    inserts the rows of an entity whose every hook is so marked as one set; any other
    entity's rows go one by one, each seeing the ones before it."""
    setattr(hook, "batch_safe", True)  # noqa: B010 (an attribute on a function)
    return hook


def is_batch_safe(hook: Hook) -> bool:
    return bool(getattr(hook, "batch_safe", False))


@dataclass(frozen=True)
class EntityRules:
    prepare: tuple[Hook, ...] = ()
    checks: tuple[Hook, ...] = ()
    after: tuple[Hook, ...] = ()
    derived: tuple[str, ...] = ()
    # The checks that state a fact about the store (one job running per machine, no
    # running machine with an open stop) rather than about a step: they are also run on
    # rows a site pulls from the central server, where a row may skip steps (a job seen
    # PENDING, then COMPLETED) but must not contradict this site's own unsent changes.
    invariants: tuple[Hook, ...] = ()


NONE = EntityRules()


def domain_rules() -> dict[str, EntityRules]:
    """Every domain package's rules, by entity. A package without rules is skipped, so
    one domain can add its rules without touching another's."""
    import importlib

    merged: dict[str, EntityRules] = {}
    for module in (
        "core.factory.rules",
        "core.tour.rules",
        "core.documents",
        "core.attachments.rules",
    ):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        rules: Mapping[str, EntityRules] = getattr(mod, "RULES", {})
        for entity, r in rules.items():
            old = merged.get(entity, NONE)
            merged[entity] = EntityRules(
                prepare=old.prepare + r.prepare,
                checks=old.checks + r.checks,
                after=old.after + r.after,
                derived=old.derived + r.derived,
                invariants=old.invariants + r.invariants,
            )
    return merged


def run(hooks: tuple[Hook, ...], ctx: WriteContext) -> None:
    for hook in hooks:
        hook(ctx)


def check_pulled(
    session: Session,
    actor: Any,
    entity: str,
    rules: EntityRules,
    row: Any,
    previous: dict[str, Any] | None,
    fields: tuple[str, ...],
) -> RuleBroken | None:
    """Run an entity's invariants on a row just pulled from the central server (already
    written: a pulled row is the central state and is never refused). ``previous``: the
    changed fields' local values before the pull, None if the row is new here. Returns
    the broken rule, for the caller to keep as a conflict record."""
    values = {f: getattr(row, f) for f in fields}
    kind = "create" if previous is None else "update"
    changed = dict(values) if previous is None else {k: values[k] for k in previous if k in values}
    ctx = WriteContext(session, actor, entity, kind, row, values, changed, SYNC, previous)
    try:
        run(rules.invariants, ctx)
    except RuleBroken as exc:
        return exc
    return None


def rule_reason(exc: RuleBroken) -> str:
    """A rule conflict record's ``reason`` (kind "rule"): the rule's code and
    parameters (``core.sync.reasons``), for each edge to word in its own language."""
    return reasons.encode(exc.code, **exc.params)


def refuse(code: str, status: int = 409, field: str | None = None, **params: Any) -> RuleBroken:
    """A rule error, for ``raise refuse("machine_busy", machine=..., job=...)``."""
    return RuleBroken(code, params, status=status, field=field)
