"""The sync wire's messages on their own: every type survives model -> JSON -> model
unchanged (Hypothesis), malformed messages are refused naming the field, and the JSON
Schema in the docs is the one the code produces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from core.sync import wire
from core.sync.notices import ChangeNotice
from core.sync.wire_schema import DOC_PATH, render

ROOT = Path(__file__).resolve().parents[2]

ids = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=64)
names = st.text(min_size=1, max_size=40)
small = st.integers(0, 2**53)
# JSON values as rows carry them (floats that survive JSON: finite).
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.text(max_size=20)
    | (st.floats(allow_nan=False, allow_infinity=False))
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=8,
)  # fmt: skip
rows = st.dictionaries(st.text(max_size=12), json_values, max_size=5)
opt_ids = st.none() | ids

ops = st.builds(
    wire.Op, op_id=ids, entity=names, entity_id=ids,
    kind=st.sampled_from(["create", "update", "delete"]), base_version=small, fields=rows,
    made_at=st.none() | st.text(max_size=40), made_by=opt_ids,
)  # fmt: skip
conflict_infos = st.builds(
    wire.ConflictInfo, id=ids, entity=names, entity_id=ids,
    kind=st.sampled_from(["field", "deleted", "rejected", "unique"]),
    op_id=opt_ids, device_id=opt_ids,
    rule=st.none() | st.sampled_from(["last_arrival", "central_wins", "delete_wins"]),
    fields=st.lists(st.text(max_size=10), max_size=3), losing_values=rows,
    winning_values=rows, reason=st.none() | st.text(max_size=50),
    created_at=st.none() | st.text(max_size=30), resolved_at=st.none() | st.text(max_size=30),
    resolved_by=opt_ids, resolution=st.none() | rows,
)  # fmt: skip
reasons = st.builds(wire.Reason, code=names, message=st.text(max_size=50), details=json_values)
op_results = st.one_of(
    st.builds(wire.Applied, op_id=ids, version=small),
    st.builds(wire.Merged, op_id=ids, version=small),
    st.builds(wire.ConflictResult, op_id=ids, version=small, conflict_id=ids,
              conflict=conflict_infos, row=rows),
    st.builds(wire.RejectedResult, op_id=ids, reason=reasons, row=st.none() | rows,
              version=st.none() | small),
)  # fmt: skip
feed_entries = st.builds(
    wire.FeedEntry, seq=st.integers(1, 2**53), entity=names, id=ids, version=small,
    deleted=st.booleans(), op_id=opt_ids, device_id=opt_ids, row=rows,
)  # fmt: skip

epochs = st.builds(wire.EpochInfo, id=ids, head=small)

STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "Op": ops,
    "PushRequest": st.builds(
        wire.PushRequest,
        device_id=opt_ids,
        schema_version=st.none() | small,
        ops=st.lists(ops, max_size=4),
    ),
    "OpResult": op_results,
    "PushAnswer": st.builds(
        wire.PushAnswer, results=st.lists(op_results, max_size=4), epoch=st.none() | epochs
    ),
    "FeedEntry": feed_entries,
    "PullAnswer": st.builds(
        wire.PullAnswer,
        entries=st.lists(feed_entries, max_size=4),
        next=small,
        more=st.booleans(),
        epoch=st.none() | epochs,
    ),
    "SnapshotCursor": st.builds(wire.SnapshotCursor, cursor=small),
    "SnapshotEntity": st.builds(wire.SnapshotEntity, entity=names),
    "SnapshotEnd": st.builds(wire.SnapshotEnd, end=st.just(True), rows=small),
    "ConflictInfo": conflict_infos,
    "ConflictList": st.builds(wire.ConflictList, conflicts=st.lists(conflict_infos, max_size=3)),
    "ResolveRequest": st.builds(
        wire.ResolveRequest,
        choice=st.sampled_from(["server", "mine", "values", "rename", "merge", "discard"]),
        values=st.none() | rows,
    ),
    "ChangeNotice": st.builds(
        ChangeNotice,
        entity=names,
        id=ids,
        kind=st.sampled_from(["create", "update", "delete", "sync"]),
        version=small,
        org_id=ids,
        source=st.sampled_from(["local", "sync"]),
    ),
    "EpochInfo": epochs,
    "VerifyReport": st.builds(
        wire.VerifyReport,
        differences=small,
        repaired=small,
        rows=st.lists(
            st.dictionaries(st.text(max_size=5), st.text(max_size=10), max_size=2), max_size=2
        ),
    ),
    "VerifyAnswer": st.builds(
        wire.VerifyAnswer,
        entity=names,
        buckets=st.none() | st.dictionaries(st.text(max_size=4), st.text(max_size=40), max_size=3),
        rows=st.none() | st.dictionaries(ids, st.text(max_size=32), max_size=3),
        data=st.none() | st.lists(rows, max_size=2),
    ),
}


def test_every_wire_message_has_a_strategy() -> None:
    assert set(STRATEGIES) == set(wire.MESSAGES)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_round_trip_through_json(name: str) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(wire.MESSAGES[name])

    @settings(max_examples=60, deadline=None)
    @given(STRATEGIES[name])
    def check(message: Any) -> None:
        text = adapter.dump_json(message)
        again = adapter.validate_json(text)
        assert again == message
        assert type(again) is type(message)
        # And as plain JSON, the way the other side's json.dumps sends it.
        assert adapter.validate_python(json.loads(text)) == message

    check()


def test_snapshot_lines_parse_to_their_messages() -> None:
    assert wire.snapshot_line({"cursor": 7}) == wire.SnapshotCursor(cursor=7)
    assert wire.snapshot_line({"entity": "jobs"}) == wire.SnapshotEntity(entity="jobs")
    assert wire.snapshot_line({"end": True, "rows": 3}) == wire.SnapshotEnd(end=True, rows=3)
    row = {"org_id": "o", "id": "x", "entity": "a field that happens to be called entity"}
    assert wire.snapshot_line(row) == row
    with pytest.raises(ValidationError):
        wire.snapshot_line({"cursor": "soon"})


def test_a_malformed_op_names_the_field() -> None:
    good = wire.Op(op_id="a", entity="jobs", entity_id="j", kind="update").model_dump()
    bad = [good, good | {"base_version": -1}, good | {"fields": 3}]
    with pytest.raises(ValidationError) as info:
        wire.PushRequest.model_validate({"ops": bad})
    assert [e["loc"] for e in info.value.errors()] == [
        ("ops", 1, "base_version"),
        ("ops", 2, "fields"),
    ]
    # A boolean is not a version, and a string of digits is not a number on this wire.
    for value in (True, "3"):
        with pytest.raises(ValidationError):
            wire.Op.model_validate(good | {"base_version": value})


def test_the_documented_schema_is_current() -> None:
    """docs/sync-wire.schema.json is generated (`python -m core.sync.wire_schema`)."""
    committed = (ROOT / DOC_PATH).read_text(encoding="utf-8")
    assert committed == render(), "stale: run `python -m core.sync.wire_schema`"
    doc = json.loads(committed)
    assert set(wire.MESSAGES) <= set(doc["$defs"])
    assert doc["x-schema-version"] == wire.SCHEMA_VERSION
    assert "sync-wire.schema.json" in (ROOT / "docs" / "sync.md").read_text(encoding="utf-8")
