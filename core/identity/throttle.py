"""Login lockout that an attacker cannot turn against the users.

Failures are counted per *account and kind of client*, never per client IP (the floor
shares one NAT and a few terminals):

- ``pdev:<org>:<user>:<device>`` — the account on one *paired* device, i.e. a client
  that proved its device key (``core.identity.devices``). Only attempts that carry that
  key count here, so nobody elsewhere on the LAN can lock a paired tablet: a sniffed
  device id without its key is just another unpaired client.
- ``acct:<org>:<user>`` — the account from every unpaired client (any device id, or
  none: ids without a key are attacker-chosen labels and earn nothing).

Each key locks with exponential backoff once it reaches its threshold: the first lock
is ``base`` seconds, each further failure doubles it, up to ``cap``. The count does not
reset after idle minutes (a window that resets gives a patient attacker a fresh
allowance every quarter hour); it resets only on a success *of the same kind* (a user
logging in on her paired tablet does not refill the attacker's unpaired allowance), and
is forgotten after ``FORGET`` without any failure.

Locked attempts are refused before any hash is computed, so they cost nothing. The
first lock of a burst returns True from ``record_failure`` so the caller can raise an
alert for the office (``core.identity.login``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import RateLimited
from core.models import LoginThrottle

# A paired device: a typo or two more than a person makes, then backoff to 15 min.
DEVICE_THRESHOLD = 5
DEVICE_BASE_LOCK = 30.0
DEVICE_MAX_LOCK = 15 * 60.0
# Unpaired clients together: a little more room (office browsers before pairing),
# backoff capped at an hour, which bounds an attacker to ~24 guesses a day.
ACCOUNT_THRESHOLD = 10
ACCOUNT_BASE_LOCK = 30.0
ACCOUNT_MAX_LOCK = 60 * 60.0
FORGET = timedelta(days=7)


@dataclass(frozen=True)
class Caller:
    """Who is attempting: the device id it claims, and whether it proved the key."""

    device_id: str | None = None
    paired: bool = False


def lock_seconds(failures: int, threshold: int, base: float, cap: float) -> float:
    if failures < threshold:
        return 0.0
    # The exponent is bounded before the power so a huge count cannot overflow.
    return min(cap, base * 2 ** min(failures - threshold, 32))


def key_for(org_id: str, subject: str, caller: Caller) -> tuple[str, int, float, float]:
    """(key, threshold, base, cap) of the counter this attempt belongs to."""
    if caller.paired and caller.device_id:
        return (
            f"pdev:{org_id}:{subject}:{caller.device_id}",
            DEVICE_THRESHOLD,
            DEVICE_BASE_LOCK,
            DEVICE_MAX_LOCK,
        )
    return f"acct:{org_id}:{subject}", ACCOUNT_THRESHOLD, ACCOUNT_BASE_LOCK, ACCOUNT_MAX_LOCK


def _locked(until: datetime, now: datetime) -> RateLimited:
    wait = max(1.0, (until - now).total_seconds())
    return RateLimited(
        "too many failed attempts; try again later",
        retry_after=wait,
        details={"retry_after": round(wait)},
    )


def check_lock(session: Session, org_id: str, subject: str, caller: Caller) -> None:
    """Refuse (429) while this account is locked for this kind of caller. No hashing."""
    now = utcnow()
    key = key_for(org_id, subject, caller)[0]
    row = session.get(LoginThrottle, key)
    if row is not None and row.locked_until is not None and row.locked_until > now:
        raise _locked(row.locked_until, now)


def record_failure(session: Session, org_id: str, subject: str, caller: Caller) -> bool:
    """Count a failure; True when this failure started a lock (a guessing burst)."""
    now = utcnow()
    key, threshold, base, cap = key_for(org_id, subject, caller)
    row = session.get(LoginThrottle, key)
    if row is None:
        forget_stale(session, now)
        row = LoginThrottle(key=key, failures=0, window_started_at=now, locked_until=None)
        session.add(row)
    elif now - row.window_started_at > FORGET:
        row.failures = 0
    row.failures += 1
    # ``window_started_at`` holds the latest failure (for FORGET).
    row.window_started_at = now
    wait = lock_seconds(row.failures, threshold, base, cap)
    if wait:
        row.locked_until = now + timedelta(seconds=wait)
    return row.failures == threshold


PRUNE_BATCH = 200


def forget_stale(session: Session, now: datetime) -> int:
    """Drop counters with no failure for ``FORGET`` and no lock running: they would be
    reset at their next failure anyway, and guesses at made-up user ids would otherwise
    grow the table forever. Run when a new counter is made (so the table cannot outgrow
    the attempts), a bounded batch at a time."""
    stale = (
        select(LoginThrottle.key)
        .where(
            LoginThrottle.window_started_at < now - FORGET,
            or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < now),
        )
        .limit(PRUNE_BATCH)
    )
    keys = list(session.scalars(stale))
    if keys:
        session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(keys)))
    return len(keys)


def record_success(session: Session, org_id: str, subject: str, caller: Caller) -> None:
    key = key_for(org_id, subject, caller)[0]
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))


def state(session: Session, org_id: str, subject: str, caller: Caller) -> LoginThrottle | None:
    return session.get(LoginThrottle, key_for(org_id, subject, caller)[0])
