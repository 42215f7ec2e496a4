"""Every rule of the work through every entry point, with the same problem code.

One table of rules (a state, then the change that breaks a rule) and one function per
entry point: HTTP PATCH, HTTP batch, the shop-floor action, the desktop form presenter,
the legacy import, the sync push applied at the central server (PostgreSQL) and a
pulled change applied at a site. Each entry point answers with the rule's code:
a problem+json ``code``, a batch result's problem, a desktop message's code, an import
refusal or adaptation, a central conflict record, a site conflict record.

Where an entry point cannot express a change, the table says why (``None``): the import
only creates rows (no transition, no downtime), an action exists only for some changes,
and a pulled row is checked only against the invariants (one running job per machine,
no running machine with an open stop), because the central server already judged each
step and a site may see a job go from PENDING straight to COMPLETED.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from core import writes
from core.clock import utcnow, uuid7
from core.db import Store
from core.models import ConflictRecord
from core.serial import row_to_json
from core.site import SiteInfo
from core.sync import wire
from core.writes import Actor
from tests.sync.conftest import central, enroll_device, new_org  # noqa: F401 (fixture)

MACHINE, JOB_A, JOB_B = "m-1", "j-a", "j-b"


def _start(s: Any, sys: Actor, job: str) -> None:
    writes.update(s, actor=sys, entity="jobs", id=job, data={"status": "IN_PROGRESS"})


def _report(s: Any, sys: Actor, job: str, qty: str) -> None:
    writes.create(s, actor=sys, entity="production_reports", data={"job_id": job, "good_qty": qty})


@dataclass(frozen=True)
class Case:
    code: str
    setup: Callable[[Any, Actor], None]
    entity: str
    id: str
    data: dict[str, Any]
    action: tuple[str, str] | None = None  # (verb, job id) of the shop-floor action
    legacy_jobs: list[dict[str, Any]] | None = None  # the same state as an export
    legacy_machine: dict[str, Any] = field(default_factory=dict)
    pulled: tuple[str, str, dict[str, Any]] | None = None  # a pulled row breaking it


CASES = {
    "machine_busy": Case(
        "machine_busy",
        lambda s, a: _start(s, a, JOB_A),
        "jobs", JOB_B, {"status": "IN_PROGRESS"},
        action=("start", JOB_B),
        legacy_jobs=[{"status": "in_progress"}, {"status": "in_progress"}],
        pulled=("jobs", JOB_B, {"status": "IN_PROGRESS"}),
    ),
    "machine_stopped": Case(
        "machine_stopped",
        lambda s, a: writes.create(
            s, actor=a, entity="downtimes",
            data={"machine_id": MACHINE, "started_at": utcnow(), "reason": "MATERIAL"},
        ),
        "jobs", JOB_A, {"status": "IN_PROGRESS"},
        action=("start", JOB_A),
        pulled=("machines", MACHINE, {"status": "RUNNING"}),
    ),
    "machine_unavailable": Case(
        "machine_unavailable",
        lambda s, a: writes.update(
            s, actor=a, entity="machines", id=MACHINE, data={"status": "MAINTENANCE"}
        ),
        "jobs", JOB_A, {"status": "IN_PROGRESS"},
        action=("start", JOB_A),
        legacy_jobs=[{"status": "in_progress"}],
        legacy_machine={"status": "MAINTENANCE"},
    ),
    "short_close_reason_required": Case(
        "short_close_reason_required",
        lambda s, a: (_start(s, a, JOB_A), _report(s, a, JOB_A, "100")),
        "jobs", JOB_A, {"status": "COMPLETED"},
        action=("complete", JOB_A),
        legacy_jobs=[{"status": "completed", "producedMeters": 100}],
    ),
    "quantity_below_produced": Case(
        "quantity_below_produced",
        lambda s, a: (_start(s, a, JOB_A), _report(s, a, JOB_A, "3484")),
        "jobs", JOB_A, {"quantity": "100"},
        legacy_jobs=[{"status": "in_progress", "quantityMeters": 100, "producedMeters": 3484}],
    ),
    "job_transition": Case(
        "job_transition", lambda s, a: None, "jobs", JOB_A, {"status": "PAUSED"},
        action=("pause", JOB_A),
    ),
}  # fmt: skip


def plant(store: Store, org_id: str, case: Case) -> None:
    """A machine with two queued jobs, then the case's state, written on ``store``."""
    sys = Actor.system(org_id)
    with store.write() as s:
        machine = {"name": "Conformadora 1", "type": "CONFORMADORA", "ideal_rate": 40}
        writes.create(s, actor=sys, entity="machines", id=MACHINE, data=machine)
        for job, qty in ((JOB_A, "1000"), (JOB_B, "500")):
            writes.create(s, actor=sys, entity="jobs", id=job,
                          data={"title": job, "machine_id": MACHINE, "quantity": qty})  # fmt: skip
    with store.write() as s:
        case.setup(s, sys)


def version_of(store: Store, entity: str, org_id: str, id: str) -> int:
    from core.registry import spec_for

    with store.read() as s:
        return int(s.get(spec_for(entity).model, (org_id, id)).version)


# --- the entry points on a site ------------------------------------------------------------


def via_patch(ctx: dict[str, Any], case: Case) -> str | None:
    v = version_of(ctx["store"], case.entity, ctx["org"], case.id)
    r = ctx["client"].patch(
        f"/api/{case.entity}/{case.id}", json={**case.data, "version": v}, headers=ctx["office"]
    )
    assert r.status_code in (409, 422, 403), r.text
    return str(r.json()["code"])


def via_batch(ctx: dict[str, Any], case: Case) -> str | None:
    v = version_of(ctx["store"], case.entity, ctx["org"], case.id)
    op = {"op": "update", "id": case.id, "version": v, "data": case.data}
    r = ctx["client"].post(
        f"/api/{case.entity}/batch", json={"operations": [op]}, headers=ctx["office"]
    )
    assert r.status_code == 200, r.text
    [result] = r.json()["results"]
    return str(result["problem"]["code"])


def via_action(ctx: dict[str, Any], case: Case) -> str | None:
    if case.action is None:
        return None  # no action changes this (a quantity is edited in a form)
    verb, job = case.action
    r = ctx["client"].post(f"/api/jobs/{job}/{verb}", json={}, headers=ctx["office"])
    assert r.status_code in (409, 422, 403), r.text
    return str(r.json()["code"])


def via_desktop(ctx: dict[str, Any], case: Case) -> str | None:
    from desktop.presenters.form import FormPresenter
    from desktop.session import Session, office_user

    store, site = ctx["store"], ctx["site"]
    session = Session(store, site, office_user(store, site))
    form = FormPresenter(session, case.entity)
    messages: list[Any] = []
    form.failed.connect(messages.append)
    assert form.load(case.id)
    for name, value in case.data.items():
        form.set_value(name, Decimal(value) if name == "quantity" else value)
    assert form.save() is False
    [msg] = messages
    assert msg.text and msg.text != msg.code  # worded for a person, not the bare code
    return str(msg.code)


def via_import(ctx: dict[str, Any], case: Case, tmp_path: Path) -> str | None:
    """The same state as a legacy export: the import refuses the row with the rule's
    code, or keeps a past state the old app allowed, adapted, with the code in the
    report's warnings."""
    if case.legacy_jobs is None:
        return None  # the import creates rows: no transition, no downtime to import
    from core.legacy.files import read_export
    from core.legacy.importer import run_import

    machine = {"id": MACHINE, "name": "Conformadora 1", "type": "CONFORMADORA",
               "status": "IDLE", **case.legacy_machine}  # fmt: skip
    jobs = [
        {"id": f"j-{n}", "title": f"job {n}", "machineId": MACHINE, "quantityMeters": 1000, **j}
        for n, j in enumerate(case.legacy_jobs)
    ]
    path = tmp_path / "export.json"
    doc = {"version": 3, "machines": [machine], "jobs": jobs}
    path.write_text(json.dumps({"structura_erp_factory_data_v3": doc}), encoding="utf-8")
    report = run_import(ctx["store"], [read_export(path)], org_id=ctx["org"])
    said = [r.message for r in report.refused] + report.warnings
    found = [case.code for text in said if case.code in text]
    return found[0] if found else f"not reported: {said}"


SITE_ENTRIES = ("patch", "batch", "action", "desktop", "import")


@pytest.mark.parametrize("entry", SITE_ENTRIES)
@pytest.mark.parametrize("rule", list(CASES))
def test_a_rule_answers_the_same_code_at_every_site_entry_point(
    rule: str, entry: str, store: Store, site: SiteInfo, client: Any, as_: Any,
    tmp_path: Path, qapp: Any,
) -> None:  # fmt: skip
    case = CASES[rule]
    ctx = {"store": store, "site": site, "org": site.org_id, "client": client,
           "office": as_("office")}  # fmt: skip
    if entry != "import":
        plant(store, site.org_id, case)
    got = {
        "patch": via_patch,
        "batch": via_batch,
        "action": via_action,
        "desktop": via_desktop,
    }.get(entry, lambda c, k: via_import(c, k, tmp_path))(ctx, case)
    if got is None:
        pytest.skip(f"{entry} cannot express this change (see the module docstring)")
    assert got == case.code


# --- the sync entry points -------------------------------------------------------------------


@pytest.mark.pg
@pytest.mark.parametrize("rule", list(CASES))
def test_a_rule_broken_by_a_pushed_op_is_a_conflict_record_at_the_central_server(
    rule: str,
    central: Store,  # noqa: F811 (fixture)
) -> None:
    from central.push import push_batch
    from core.sync.conflicts import list_conflicts

    case = CASES[rule]
    org = new_org(central, "Acme")
    device = enroll_device(central, org, "Valencia")
    plant(central, org, case)
    before = version_of(central, case.entity, org, case.id)
    op = {"op_id": uuid7(), "entity": case.entity, "entity_id": case.id, "kind": "update",
          "base_version": before, "fields": case.data, "made_at": "0001-x"}  # fmt: skip
    [res] = push_batch(central, device.ctx, [wire.Op.model_validate(op)])
    assert res["status"] == "conflict" and res["reason"]["code"] == case.code
    assert version_of(central, case.entity, org, case.id) == before  # nothing applied
    with central.read() as s:
        [record] = list_conflicts(s, org)
    assert record["kind"] == "rule" and json.loads(record["reason"])["code"] == case.code
    assert record["losing_values"] == case.data


@pytest.mark.parametrize("rule", [r for r, c in CASES.items() if c.pulled])
def test_a_pulled_row_breaking_an_invariant_is_applied_and_kept_as_a_conflict_record(
    rule: str, store: Store, site: SiteInfo
) -> None:
    """The central row is the truth and is applied (every site converges); that it
    contradicts this site's own unsent change is a conflict record, not a silence."""
    from core.models import OutboxEntry
    from core.registry import spec_for
    from sync_agent.inbound import apply_entries

    case = CASES[rule]
    plant(store, site.org_id, CASES["job_transition"])  # the machine and jobs, synced...
    with store.write() as s:
        for entry in s.query(OutboxEntry):
            entry.status = "done"
    with store.write() as s:  # ...then this site's own change, not yet sent
        case.setup(s, Actor.system(site.org_id))
    assert case.pulled is not None
    entity, id, fields = case.pulled
    spec = spec_for(entity)
    with store.read() as s:
        data = row_to_json(s.get(spec.model, (site.org_id, id)))
    data.update(fields, version=data["version"] + 5)
    entry = wire.FeedEntry(
        seq=1, entity=entity, id=id, version=data["version"], deleted=False, op_id=uuid7(),
        device_id="other", row=data,
    )  # fmt: skip
    with store.write() as s:
        assert apply_entries(s, [entry], own_device="this-site") == 1
    with store.read() as s:
        row = s.get(spec.model, (site.org_id, id))
        assert all(getattr(row, k) == v for k, v in fields.items())
        [record] = s.query(ConflictRecord).filter_by(org_id=site.org_id).all()
        assert record.kind == "rule" and json.loads(record.reason)["code"] == case.code
