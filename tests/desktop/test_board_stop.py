"""The desktop board and job presenter over the rules of the work: a stopped machine's
card says why and since when and offers to end the stop; a refused action comes back
as a worded message with the rule's code."""

from __future__ import annotations

from typing import Any

from core import writes
from core.clock import utcnow
from core.factory import actions as ops
from desktop.i18n import set_language
from desktop.presenters.jobs import JobsPresenter
from desktop.views.board import BoardPage, status_line


def _plant(session: Any) -> tuple[str, str]:
    with session.write() as s:
        m = writes.create(s, actor=session.actor, entity="machines",
                          data={"name": "Conformadora 1", "type": "CONFORMADORA"})  # fmt: skip
        j = writes.create(s, actor=session.actor, entity="jobs",
                          data={"title": "C150", "machine_id": m.id, "quantity": 100})  # fmt: skip
        ops.report_downtime(s, actor=session.actor, machine_id=m.id, reason="MATERIAL",
                            started_at=utcnow())  # fmt: skip
    return m.id, j.id


def test_a_stopped_machine_is_shown_and_its_stop_ended_from_the_board(session: Any) -> None:
    _, job_id = _plant(session)
    page = BoardPage(session)
    page.model.refresh()
    [card] = [page.model.card(r) for r in range(page.model.rowCount())]
    assert card["stop"]["reason"] == "MATERIAL"
    assert status_line(card).startswith("stopped: MATERIAL since ")
    jobs = JobsPresenter(session)
    failures: list[Any] = []
    jobs.failed.connect(failures.append)
    assert jobs.start(job_id) is False  # not on a stopped machine
    assert failures[-1].code == "machine_stopped" and "Conformadora 1" in failures[-1].text
    set_language("es")
    try:
        assert jobs.start(job_id) is False
        assert "está parada" in failures[-1].text
    finally:
        set_language("en")
    assert page.end_stop(0) is True
    [card] = [page.model.card(r) for r in range(page.model.rowCount())]
    assert card["stop"] is None and card["status"] == "IDLE"
    assert jobs.start(job_id) is True
    assert jobs.complete(job_id, produced=40) is False
    assert failures[-1].code == "short_close_reason_required"
    assert jobs.complete(job_id, produced=0, reason="coil ran out") is True
