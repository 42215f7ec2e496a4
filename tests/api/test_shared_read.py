"""The board's single-flight cache: shared while nothing changed, never older than the
request."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from core.sync.notices import ChangeNotice
from local_api.shared_read import SharedRead


def _notice(entity: str) -> ChangeNotice:
    return ChangeNotice(entity=entity, id="x", kind="update", version=2, org_id="o")


def test_shared_until_a_change() -> None:
    calls: list[int] = []
    sr = SharedRead(lambda: calls.append(1) or len(calls))
    assert sr.get() == 1 and sr.get() == 1
    sr.on_changes([_notice("jobs")])
    assert sr.get() == 2 and len(calls) == 2


def test_concurrent_readers_share_one_computation() -> None:
    started = threading.Event()
    release = threading.Event()
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        started.set()
        release.wait(5)
        return len(calls)

    sr = SharedRead(compute)
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(sr.get())) for _ in range(8)]
    threads[0].start()
    started.wait(5)
    for t in threads[1:]:
        t.start()
    time.sleep(0.05)
    release.set()
    for t in threads:
        t.join(5)
    assert results == [1] * 8 and len(calls) == 1


def test_change_during_computation_is_not_missed() -> None:
    started = threading.Event()
    release = threading.Event()
    values = iter(["before", "after"])

    def compute() -> str:
        value = next(values)
        if value == "before":
            started.set()
            release.wait(5)
        return value

    sr = SharedRead(compute)
    first: list[str] = []
    t = threading.Thread(target=lambda: first.append(sr.get()))
    t.start()
    started.wait(5)
    sr.on_changes([_notice("jobs")])  # committed while the first computation runs
    late: list[str] = []
    t2 = threading.Thread(target=lambda: late.append(sr.get()))
    t2.start()
    time.sleep(0.05)
    release.set()
    t.join(5)
    t2.join(5)
    assert first == ["before"] and late == ["after"]


def test_errors_propagate_and_do_not_stick() -> None:
    state = {"fail": True}

    def compute() -> str:
        if state["fail"]:
            raise RuntimeError("db down")
        return "ok"

    sr = SharedRead(compute)
    with pytest.raises(RuntimeError):
        sr.get()
    state["fail"] = False
    assert sr.get() == "ok"
