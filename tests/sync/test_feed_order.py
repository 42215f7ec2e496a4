"""Guarantee 3: the feed never skips a change whose transaction committed late.

Two central transactions run at once. The first takes feed position 1 and does not
commit; the second must wait for it before it can take position 2, so a pull in between
sees neither (not position 2 alone, which would move a cursor past 1 for good), and a
pull after each commit sees each in order.
"""

from __future__ import annotations

import threading
import time

import pytest

from central.feed import read_feed
from core import writes
from core.writes import Actor

pytestmark = pytest.mark.pg


def pull(central, org_id, after):
    with central.read() as s:
        entries, cursor, _ = read_feed(s, org_id, after=after, limit=100)
    return [e.id for e in entries], cursor


def test_late_commit_of_lower_position_is_not_skipped(central, org_id):
    t1_holds, t1_go = threading.Event(), threading.Event()
    t2_started, t2_holds, t2_go = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def tx(name, holds, go, started=None):
        try:
            with central.write() as s:
                writes.create(s, actor=Actor.system(org_id), entity="clients",
                              data={"name": name}, id=name)  # fmt: skip
                if started:
                    started.set()
                central.recorder.finalize(s)  # takes the position; lock held until commit
                holds.set()
                assert go.wait(10)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t1 = threading.Thread(target=tx, args=("first", t1_holds, t1_go))
    t1.start()
    assert t1_holds.wait(10)
    t2 = threading.Thread(target=tx, args=("second", t2_holds, t2_go, t2_started))
    t2.start()
    assert t2_started.wait(10)
    time.sleep(0.5)
    # The second transaction has its row written but cannot get a position yet.
    assert not t2_holds.is_set()
    assert pull(central, org_id, 0) == ([], 0)

    t1_go.set()
    t1.join(10)
    assert t2_holds.wait(10)  # now it has position 2, still uncommitted
    ids, cursor = pull(central, org_id, 0)
    assert (ids, cursor) == (["first"], 1)

    t2_go.set()
    t2.join(10)
    assert not errors
    assert pull(central, org_id, cursor) == (["second"], 2)
    assert pull(central, org_id, 0) == (["first", "second"], 2)


def test_many_concurrent_writers_give_a_gapless_ordered_feed(central, org_id):
    """Readers polling while 8 writers commit never see a gap behind their cursor."""
    stop = threading.Event()
    seen: list[int] = []
    gaps: list[tuple[int, int]] = []

    def reader():
        cursor = 0
        while not stop.is_set() or cursor < 80:
            with central.read() as s:
                entries, _, _ = read_feed(s, org_id, after=cursor, limit=1000)
            for e in entries:
                if e.seq != cursor + 1:
                    gaps.append((cursor, e.seq))
                cursor = e.seq
                seen.append(cursor)
            if stop.is_set() and not entries and cursor >= 80:
                break

    def writer(w):
        for i in range(10):
            with central.write() as s:
                writes.create(s, actor=Actor.system(org_id), entity="clients",
                              data={"name": f"w{w}-{i}"})  # fmt: skip

    r = threading.Thread(target=reader)
    r.start()
    ws = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in ws:
        t.start()
    for t in ws:
        t.join(60)
    stop.set()
    r.join(60)
    assert gaps == [] and seen == list(range(1, 81))
