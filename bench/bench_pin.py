"""How many PIN guesses a day an attacker gets against one account, and how long a
6-digit PIN holds, under the real lockout (core.identity.throttle) on a real store.

The attacker is on the LAN without a paired device (a paired tablet has its own
counter and is not what they hold). They guess as fast as the lockout lets them,
day and night: every time the lock ends, the next guess. The clock is simulated (the
throttle's ``utcnow`` is replaced) so a week runs in seconds; the lockout code, the
database rows and the decisions are the real ones. The in-memory request buckets are
not modelled: they only slow the attacker further.

    python -m bench.bench_pin [--days 7]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.db import sqlite_url
from core.errors import RateLimited
from core.identity import pins, throttle
from core.identity.throttle import Caller
from core.site import ensure_site, open_store


def simulate(days: int) -> list[int]:
    """Wrong guesses the lockout lets through on each simulated day."""
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    real = throttle.utcnow
    throttle.utcnow = lambda: now[0]
    per_day = [0] * days
    end = now[0] + timedelta(days=days)
    start = now[0]
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(sqlite_url(Path(tmp) / "pin.sqlite3"))
        try:
            org = ensure_site(store, org_name="Bench", site_name="S").org_id
            caller = Caller(device_id="attacker-phone", paired=False)
            while now[0] < end:
                try:
                    with store.read() as s:
                        throttle.check_lock(s, org, "victim", caller)
                except RateLimited:
                    with store.read() as s:
                        row = throttle.state(s, org, "victim", caller)
                        assert row is not None and row.locked_until is not None
                        now[0] = max(now[0], row.locked_until) + timedelta(milliseconds=1)
                    continue
                with store.write() as s:
                    throttle.record_failure(s, org, "victim", caller)
                per_day[(now[0] - start).days] += 1
                now[0] += timedelta(seconds=2)  # one try per 2 s (the account bucket)
        finally:
            store.dispose()
            throttle.utcnow = real
    return per_day


def allowed_pins(length: int) -> int:
    return sum(pins.pin_problem(f"{i:0{length}d}") is None for i in range(10**length))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    per_day = simulate(args.days)
    steady = sum(per_day[1:]) / max(1, len(per_day) - 1)
    space6 = allowed_pins(6)
    print(f"guesses per day against one account: first day {per_day[0]}, "
          f"then {steady:.1f}/day (days 2-{args.days}: {per_day[1:]})")  # fmt: skip
    print(f"6-digit PINs the policy allows: {space6:,} of 1,000,000")
    days6 = (space6 / 2) / steady
    print(f"expected time to find a 6-digit PIN: {days6:,.0f} days ({days6 / 365:,.0f} years)")
    days4 = (10**4 / 2) / steady
    print(f"an older 4-digit PIN (flagged for change) at the same rate: {days4:,.0f} days")
    print(f"(simulated {args.days} days in {time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
