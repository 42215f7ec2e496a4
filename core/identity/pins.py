"""PINs: the policy for *new* PINs, and PIN uniqueness for PIN-only login.

Policy: at least ``MIN_PIN_LENGTH`` digits and none of the PINs people pick first (one
digit repeated, runs up or down, short patterns repeated, the well-known favourites).
Login still accepts older 4- and 5-digit PINs so nobody is locked out by the upgrade; a
login with such a PIN is answered with ``pin_change_required`` so the keypad asks for a
new one. Why 6 digits: with the lockout of ``core.identity.throttle`` an attacker gets a
few dozen guesses a day against one account (bench/bench_pin.py); 10**6 PINs minus the
deny list makes that decades, where 10**4 was months.

Uniqueness (PIN-only login, the old factory app's keypad: a PIN and nothing else): off
unless the site turns it on (``pin_only_login``). Turned on, a PIN must name one user,
so a PIN being set is refused when another active user has it already; the check is
called by the write path (``EntitySpec.secret_check``) for every way a PIN is set. PINs
are stored as salted argon2 hashes, so neither the check nor the login can look a PIN
up: both verify it against each user's hash, in a few threads (argon2 releases the
GIL). Sites have tens of users, not thousands. The login itself is
``core.identity.pin_only`` (it needs ``auth``, which needs the registry, which needs
this module: one module would be an import cycle).
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import Store
from core.errors import Conflict
from core.identity.security import verify_secret
from core.models import SyncState, User

MIN_PIN_LENGTH = 6
MAX_PIN_LENGTH = 12
# The login form's bounds: old PINs of 4 digits still log in (and are asked to change).
LOGIN_PIN_PATTERN = r"^[0-9]{4,12}$"

# Favourites that the rules below do not already catch (keypad shapes, dates-like).
_FAVOURITES = frozenset(
    {
        "112233",
        "123123",
        "123321",
        "147258",
        "159753",
        "147852",
        "258456",
        "654321",
        "696969",
        "789456",
        "102030",
        "131313",
        "199000",
        "200000",
        "142536",
        "321321",
        "520520",
        "123654",
        "852456",
        "963852",
    }
)


def _run(pin: str, step: int) -> bool:
    return all((int(b) - int(a)) % 10 == step for a, b in pairwise(pin))


def _repeats_short_pattern(pin: str) -> bool:
    # "121212", "123123", "12341234": a block of at most half the length, repeated.
    for size in range(1, len(pin) // 2 + 1):
        if len(pin) % size == 0 and pin[:size] * (len(pin) // size) == pin:
            return True
    return False


def pin_problem(pin: str) -> str | None:
    """A code naming why ``pin`` is refused as a new PIN, or None if it is fine."""
    if not pin.isascii() or not pin.isdigit():
        return "pin_digits_only"
    if len(pin) < MIN_PIN_LENGTH:
        return "pin_too_short"
    if len(pin) > MAX_PIN_LENGTH:
        return "pin_too_long"
    if _repeats_short_pattern(pin) or _run(pin, 1) or _run(pin, 9):
        return "pin_too_simple"
    if pin in _FAVOURITES or pin[:6] in _FAVOURITES:
        return "pin_too_common"
    return None


def needs_change(pin: str) -> bool:
    """An existing PIN that would not be accepted today."""
    return pin_problem(pin) is not None


def check_new_pin(pin: str) -> str:
    """Pydantic AfterValidator of the users' ``pin`` input."""
    problem = pin_problem(pin)
    if problem is not None:
        messages = {
            "pin_digits_only": "a PIN has digits only",
            "pin_too_short": f"a PIN needs at least {MIN_PIN_LENGTH} digits",
            "pin_too_long": f"a PIN has at most {MAX_PIN_LENGTH} digits",
            "pin_too_simple": "this PIN is too easy to guess (repeated digits or a run)",
            "pin_too_common": "this PIN is one of the most common ones",
        }
        raise ValueError(f"{messages[problem]} [{problem}]")
    return pin


# --- uniqueness (PIN-only login) ---

STATE_KEY = "pin_only_login"
SUBJECT = "pin-only"  # throttle subject: who is guessing is unknown until it works
_WORKERS = 4


def enabled(session: Session) -> bool:
    row = session.get(SyncState, STATE_KEY)
    return bool(row is not None and row.value)


def set_enabled(store: Store, on: bool) -> None:
    """Record the site's choice in the store, so every writer (desktop, LAN, sync,
    import) enforces unique PINs while it holds."""
    with store.read() as s:
        if enabled(s) == on:
            return  # the usual case: no write at start-up
    with store.write() as s:
        row = s.get(SyncState, STATE_KEY)
        if row is None:
            s.add(SyncState(key=STATE_KEY, value=on))
        elif row.value != on:
            row.value = on


def holders(session: Session, org_id: str, exclude: str | None) -> list[tuple[str, str]]:
    stmt = select(User.id, User.pin_hash).where(
        User.org_id == org_id,
        User.deleted_at.is_(None),
        User.is_active.is_(True),
        User.pin_hash.is_not(None),
    )
    return [(r.id, r.pin_hash) for r in session.execute(stmt) if r.id != exclude]


def matches(holders: list[tuple[str, str]], pin: str) -> list[str]:
    if not holders:
        return []
    with ThreadPoolExecutor(max_workers=min(_WORKERS, len(holders))) as pool:
        hits = pool.map(lambda h: verify_secret(h[1], pin), holders)
        return [h[0] for h, ok in zip(holders, hits, strict=True) if ok]


def check_unique_pin(
    session: Session, org_id: str, user_id: str, values: Mapping[str, Any]
) -> None:
    """Write-path hook: refuse a PIN another active user has, while PIN-only login is on."""
    pin = values.get("pin")
    if not pin or not enabled(session):
        return
    if matches(holders(session, org_id, user_id), pin):
        raise Conflict(
            "another user already has this PIN (PIN-only login needs unique PINs)",
            details=[{"field": "pin", "message": "already in use"}],
        )
