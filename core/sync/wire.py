"""The sync wire: every message between a site's agent and the central server, declared
once. The agent builds and reads these, the central server validates what it receives
against them (a push that does not match is refused whole with a 422 naming the field,
before anything is written), and the tests and the docs use them
(``docs/sync-wire.schema.json`` is generated from here by ``python -m
core.sync.wire_schema``).

Rows travel as JSON objects of stored column names (``core.serial.row_to_json``); their
values are checked by the entity's schema in the one write path, not here, so a value a
rule refuses is a per-op ``rejected`` result rather than a refused request.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from core.sync.notices import ChangeNotice

# Version of the sync wire format and of the entity schemas it carries. A central server
# serves clients in [MIN_SCHEMA_VERSION, SCHEMA_VERSION]; bump SCHEMA_VERSION when an
# entity gains or changes a field, and MIN when old clients can no longer be merged
# safely (guarantee 9: refuse them rather than write half-understood data).
SCHEMA_VERSION = 1
MIN_SCHEMA_VERSION = 1
SCHEMA_HEADER = "X-Structura-Schema"
# The epoch a site last synced in, and "CURSOR;MARK" (its feed cursor and the mark of the
# entry at it): how a central server restored from an older backup is found out.
EPOCH_HEADER = "X-Structura-Epoch"
CURSOR_HEADER = "X-Structura-Cursor"

MAX_PUSH_OPS = 5000

OpKind = Literal["create", "update", "delete"]
Id = Annotated[str, Field(min_length=1, max_length=64)]
Row = dict[str, Any]  # a row as JSON: stored column names, JSON values


class _Message(BaseModel):
    # Unknown keys are refused: a newer client must say so with its schema version.
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- push ---------------------------------------------------------------------------------


class Op(_Message):
    """One local change, as the site's outbox recorded it."""

    op_id: Id = Field(description="made where the change was made (UUIDv7); the key of "
                      "exactly-once")  # fmt: skip
    entity: str = Field(min_length=1, max_length=40)
    entity_id: Id
    kind: OpKind
    base_version: int = Field(default=0, ge=0, strict=True,
                              description="the central version the site last saw")  # fmt: skip
    fields: Row = Field(default_factory=dict, description="changed fields (all on create)")
    made_at: str | None = Field(default=None, max_length=40, description="hybrid-clock stamp; "
                                "informative only (clocks are not trusted)")  # fmt: skip
    made_by: str | None = Field(default=None, max_length=64)


class PushRequest(_Message):
    """``POST /api/sync/push``."""

    device_id: str | None = Field(default=None, max_length=64)
    schema_version: int | None = None
    ops: list[Op] = Field(max_length=MAX_PUSH_OPS)


class Reason(_Message):
    code: str
    message: str
    details: Any = None


class RuleReason(_Message):
    """Why a rule of the work refused an op: its code and parameters, for each edge to
    word in its own language (the same code and parameters as the site's problem+json)."""

    code: str
    params: dict[str, Any] = Field(default_factory=dict)
    details: Any = None


class ConflictInfo(_Message):
    """A conflict record, as listed and as carried in a ``conflict`` result."""

    id: str
    entity: str
    entity_id: str
    kind: Literal["field", "deleted", "rejected", "unique", "rule"] = Field(
        description="``unique``: a create whose unique value another row holds "
        "(``winning_values`` names it); ``rule``: "
        "a rule of the work refused the change (``reason`` names it)"
    )  # fmt: skip
    op_id: str | None
    device_id: str | None
    rule: str | None
    fields: list[str]
    losing_values: Row
    winning_values: Row
    reason: str | None
    created_at: str | None
    resolved_at: str | None
    resolved_by: str | None
    resolution: dict[str, Any] | None


class Applied(_Message):
    status: Literal["applied"] = "applied"
    op_id: str
    version: int


class Merged(_Message):
    """Applied on top of changes to other fields the site had not seen."""

    status: Literal["merged"] = "merged"
    op_id: str
    version: int


class ConflictResult(_Message):
    status: Literal["conflict"] = "conflict"
    op_id: str
    version: int
    conflict_id: str
    conflict: ConflictInfo
    row: Row | None = Field(description="the central row after the op (none when a rule "
                            "refused the create of a row the server does not have)")  # fmt: skip
    reason: RuleReason | None = Field(default=None, description="set on a conflict of kind "
                                      "``rule``: the rule that refused the op")  # fmt: skip


class RejectedResult(_Message):
    status: Literal["rejected"] = "rejected"
    op_id: str
    reason: Reason
    row: Row | None = Field(default=None, description="the central row, if it exists, so the "
                            "site can put its copy back")  # fmt: skip
    version: int | None = None


OpResult = Annotated[
    Applied | Merged | ConflictResult | RejectedResult, Field(discriminator="status")
]
OP_RESULT: TypeAdapter[Applied | Merged | ConflictResult | RejectedResult] = TypeAdapter(OpResult)


class EpochInfo(_Message):
    """The central server's current epoch for the organisation. A site that synced in
    another one meets a restored server: it gives back what the server lacks and re-reads
    the feed from ``head``."""

    id: str
    head: int = Field(ge=0, description="the feed position the epoch began at")


class PushAnswer(_Message):
    """One result per op, in the order of the request."""

    results: list[OpResult]
    epoch: EpochInfo | None = None


# -- pull ---------------------------------------------------------------------------------


class FeedEntry(_Message):
    """One row change in the central feed."""

    seq: int = Field(ge=1, description="feed position; positions become visible in "
                     "commit order")  # fmt: skip
    entity: str
    id: str
    version: int
    deleted: bool
    op_id: str | None
    device_id: str | None = Field(description="the device whose op made it (no echo)")
    row: Row = Field(description="the whole row as of this change (a tombstone if deleted)")


class PullAnswer(_Message):
    """``GET /api/sync/pull``."""

    entries: list[FeedEntry]
    next: int = Field(ge=0, description="the cursor to ask after next")
    more: bool
    epoch: EpochInfo | None = None


def entry_mark(entity: str, id: str, version: int, op_id: str | None = None) -> str:
    """What a site remembers of the feed entry at its cursor: a restored feed that has
    another entry (or none) there is found out. The op id tells apart a row made again
    after a restore at the same position and version as the one the site saw; a mark
    without it (an agent from before) is still understood: ``marks_match``."""
    return f"{entity}/{id}/{version}" + (f"/{op_id}" if op_id else "")


def marks_match(mark: str, entity: str, id: str, version: int, op_id: str | None) -> bool:
    """Whether a site's mark names this entry (ids hold no ``/``: they are checked ids)."""
    if mark.count("/") == 2:
        return mark == entry_mark(entity, id, version)
    return mark == entry_mark(entity, id, version, op_id or "-")


# -- snapshot (NDJSON, one message per line) ----------------------------------------------


class SnapshotCursor(_Message):
    """First line: the feed position the snapshot is consistent with."""

    cursor: int = Field(ge=0)


class SnapshotEntity(_Message):
    """Starts the rows of one entity (entities come in reference order)."""

    entity: str


class SnapshotEnd(_Message):
    """Last line; a snapshot without it was cut short."""

    end: Literal[True]
    rows: int = Field(ge=0)


SnapshotLine = SnapshotCursor | SnapshotEntity | SnapshotEnd | Row
_HEADERS: dict[frozenset[str], type[SnapshotCursor | SnapshotEntity | SnapshotEnd]] = {
    frozenset({"cursor"}): SnapshotCursor,
    frozenset({"entity"}): SnapshotEntity,
    frozenset({"end", "rows"}): SnapshotEnd,
}


def snapshot_line(obj: dict[str, Any]) -> SnapshotLine:
    """A parsed NDJSON line as its message; a row line stays a plain row (every row has
    at least ``org_id`` and ``id``, so it never has exactly a header's keys)."""
    if len(obj) > 2:  # the common case, a row: no set to build
        return obj
    header = _HEADERS.get(frozenset(obj))
    return header.model_validate(obj) if header is not None else obj


# -- verify -------------------------------------------------------------------------------


class VerifyAnswer(_Message):
    """``GET /api/sync/verify``: checksums of the organisation's live rows of one entity
    (``core.sync.verify``): per bucket, per sub-bucket of ``top``, or for one sub-bucket
    each live row's digest and the central rows (live and deleted) that fall in it."""

    entity: str
    buckets: dict[str, str] | None = None
    rows: dict[str, str] | None = None
    data: list[Row] | None = None


class VerifyReport(_Message):
    """``POST /api/sync/verify/report``: what a site's last verify found (the central
    admin API and console list it per device)."""

    differences: int = Field(ge=0)
    repaired: int = Field(ge=0)
    rows: list[dict[str, str]] = Field(default_factory=list, max_length=100)


# -- conflicts ----------------------------------------------------------------------------


class ConflictList(_Message):
    """``GET /api/sync/conflicts``."""

    conflicts: list[ConflictInfo]


class ResolveRequest(_Message):
    """``POST /api/sync/conflicts/{id}/resolve``."""

    choice: Literal["server", "mine", "values", "rename", "merge", "discard"] = Field(
        description="``rename``, ``merge``, ``discard``: for a ``unique`` conflict (create "
        "the row with new ``values``, write it into the row holding the value, drop it)"
    )
    values: Row | None = None


#: Every message type, by the name the JSON Schema document uses.
MESSAGES: dict[str, Any] = {
    "Op": Op,
    "PushRequest": PushRequest,
    "OpResult": OpResult,
    "PushAnswer": PushAnswer,
    "FeedEntry": FeedEntry,
    "PullAnswer": PullAnswer,
    "EpochInfo": EpochInfo,
    "VerifyAnswer": VerifyAnswer,
    "VerifyReport": VerifyReport,
    "SnapshotCursor": SnapshotCursor,
    "SnapshotEntity": SnapshotEntity,
    "SnapshotEnd": SnapshotEnd,
    "ConflictInfo": ConflictInfo,
    "ConflictList": ConflictList,
    "ResolveRequest": ResolveRequest,
    "ChangeNotice": ChangeNotice,
}
