"""kill -9 of a site process while clients write through its local API over HTTP.

Shared by the CI test (a few kills) and ``bench/bench_faults.py`` (200). A round:
start ``structura site serve``, let writer threads create and update clients, SIGKILL
the process at a random moment, then check the store file directly: every write that
got a 2xx is present at its acknowledged version or later, the outbox holds an entry
for every acknowledged write, and ``PRAGMA integrity_check`` says ok.

A write that was in flight when the process died may or may not be there: the client
never heard "saved", so either outcome keeps the promise.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from dataclasses import dataclass, field

import httpx

from bench.harness.sites import SiteData, SiteProcess, bearer, integrity, versions


@dataclass
class Acked:
    """What the server acknowledged: row id -> highest acknowledged version."""

    rows: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    writes: int = 0

    def record(self, row_id: str, version: int) -> None:
        with self.lock:
            self.writes += 1
            if version > self.rows.get(row_id, 0):
                self.rows[row_id] = version

    def pick(self, rng: random.Random) -> tuple[str, int] | None:
        with self.lock:
            if not self.rows:
                return None
            row_id = rng.choice(list(self.rows))
            return row_id, self.rows[row_id]


@dataclass
class Figures:
    kills: int = 0
    acked_writes: int = 0
    lost: int = 0
    behind: int = 0  # present, but at an older version than acknowledged
    integrity_failures: int = 0
    outbox_missing: int = 0
    restart_seconds: list[float] = field(default_factory=list)
    details: list[str] = field(default_factory=list)


def _writer(
    url: str, headers: dict[str, str], acked: Acked, stop: threading.Event, seed: int
) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=url, headers=headers, timeout=5) as http:
        n = 0
        while not stop.is_set():
            n += 1
            target = acked.pick(rng) if rng.random() < 0.4 else None
            try:
                if target is None:
                    r = http.post("/api/clients", json={"name": f"w{seed}-{n}"})
                else:
                    row_id, version = target
                    r = http.patch(
                        f"/api/clients/{row_id}",
                        json={"contact": f"c{n}"},
                        headers={"If-Match": str(version)},
                    )
            except httpx.TransportError:
                return  # the server died: whatever was in flight is unknown, not acked
            if r.status_code in (200, 201):
                body = r.json()
                acked.record(body["id"], int(body["version"]))
            elif r.status_code not in (409, 412, 428):  # a stale version is fine
                raise AssertionError(f"unexpected {r.status_code}: {r.text[:300]}")


def _outbox_versions(db_path: str, org_id: str) -> dict[str, int]:
    """Highest local version the outbox recorded per client id (the op that would
    carry the acknowledged write to the central server)."""
    conn = sqlite3.connect(db_path)
    try:
        rows = conn.execute(
            "SELECT entity_id, count(*) FROM outbox WHERE entity = 'clients' AND org_id = ? "
            "GROUP BY entity_id",
            (org_id,),
        )
        return {r[0]: int(r[1]) for r in rows}
    finally:
        conn.close()


def kill_rounds(
    data: SiteData,
    rounds: int,
    *,
    seed: int = 8,
    writers: int = 3,
    min_delay: float = 0.0,
    max_delay: float = 0.6,
    progress: bool = False,
) -> Figures:
    rng = random.Random(seed)
    headers = bearer(data.mint())
    acked = Acked()
    fig = Figures()
    for i in range(rounds):
        t0 = time.monotonic()
        proc = SiteProcess(data).start()
        fig.restart_seconds.append(time.monotonic() - t0)
        stop = threading.Event()
        errors: list[BaseException] = []

        def guard(
            url: str,
            headers: dict[str, str],
            acked: Acked,
            stop: threading.Event,
            seed: int,
            errors: list[BaseException] = errors,
        ) -> None:
            try:
                _writer(url, headers, acked, stop, seed)
            except BaseException as exc:  # reported below
                errors.append(exc)

        runners = [
            threading.Thread(
                target=guard,
                args=(proc.url, headers, acked, stop, seed * 1000 + i * 10 + w),
                daemon=True,
            )
            for w in range(writers)
        ]
        for t in runners:
            t.start()
        # Kill at a random moment once writes are flowing (the first request of a fresh
        # process takes a second to warm up; a kill before it tests nothing).
        start_writes = acked.writes
        deadline = time.monotonic() + 15
        while acked.writes == start_writes and time.monotonic() < deadline and not errors:
            time.sleep(0.005)
        time.sleep(rng.uniform(min_delay, max_delay))
        proc.kill9()
        stop.set()
        for t in runners:
            t.join(10)
        if errors:
            raise errors[0]
        fig.kills += 1
        # Check the file as the next start will find it (no process has it open).
        check = integrity(data.db_path)
        if check != "ok":
            fig.integrity_failures += 1
            fig.details.append(f"round {i}: integrity_check {check[:200]}")
        stored = versions(data.db_path, "clients", data.site.org_id)
        with acked.lock:
            expected = dict(acked.rows)
            fig.acked_writes = acked.writes
        lost = [k for k in expected if k not in stored]
        behind = [k for k, v in expected.items() if k in stored and stored[k] < v]
        fig.lost += len(lost)
        fig.behind += len(behind)
        outbox = _outbox_versions(str(data.db_path), data.site.org_id)
        # Every acknowledged version n of a row needs n outbox entries (create + updates).
        missing = [k for k, v in expected.items() if outbox.get(k, 0) < v]
        fig.outbox_missing += len(missing)
        if lost or behind or missing:
            fig.details.append(
                f"round {i}: lost {lost[:3]} behind {behind[:3]} outbox {missing[:3]}"
            )
        if progress and (i + 1) % 10 == 0:
            print(
                f"  {i + 1}/{rounds} kills, {fig.acked_writes} acked writes, "
                f"{fig.lost} lost, {fig.integrity_failures} integrity failures",
                flush=True,
            )
    return fig
