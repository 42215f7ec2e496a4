"""Password and PIN login: look the account up, refuse while locked, verify the slow
hash outside any transaction, record the outcome and issue tokens.

Unknown accounts are throttled under their own key and verified against a dummy hash,
so neither timing nor lock state tells which accounts exist.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import new_token, utcnow
from core.db import Store
from core.errors import Forbidden, RateLimited, Unauthenticated
from core.identity import devices, pins, throttle
from core.identity.security import hash_secret, token_digest, verify_secret
from core.identity.sessions import ClientInfo
from core.identity.throttle import Caller
from core.identity.tokens import TokenPair, TokenPolicy, issue_tokens
from core.models import User
from core.writes import Actor

BAD_CREDENTIALS = "wrong user, e-mail, password or PIN"

# Argon2 work for unpaired callers runs on at most all cores but one: a flood of
# guesses from the LAN must leave a core for paired tablets (their verification does
# not take this gate). Waiting is short; past it the guess is refused as rate-limited.
_UNPAIRED_HASHING = threading.BoundedSemaphore(max(1, (os.cpu_count() or 2) - 1))
UNPAIRED_WAIT = 1.0

# A fixed argon2 hash of a random string: verifying against it makes an unknown account
# cost the same time as a real one.
_DUMMY_HASH: list[str] = []


def _dummy_verify(secret: str) -> None:
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(hash_secret(new_token(16)))
    verify_secret(_DUMMY_HASH[0], secret)


def identify(store: Store, org_id: str, device_id: str | None, device_key: str | None) -> Caller:
    """The caller of a login: paired when it proves the key of ``device_id``."""
    if not device_id or not device_key:
        return Caller(device_id=device_id, paired=False)
    with store.read() as s:
        return Caller(device_id, devices.is_paired(s, org_id, device_id, device_key))


@dataclass(frozen=True)
class _Candidate:
    org_id: str
    subject: str  # throttle key part: the user id, or a digest for unknown accounts
    user_id: str | None
    secret_hash: str | None
    active: bool


def _alert_burst(session: Session, org_id: str, user_id: str | None, caller: Caller) -> None:
    """Tell the office (an Alert row through the write path, so it syncs and is
    audited) that someone is guessing this account's PIN or password."""
    from core import writes

    who = user_id or "an unknown account"
    where = "a paired device" if caller.paired else "unpaired devices"
    writes.create(
        session,
        actor=Actor.system(org_id),
        entity="alerts",
        data={
            "severity": "WARNING",
            "kind": "login_guessing",
            "message": f"repeated wrong PIN or password for user {who} from {where}"[:200],
            "raised_at": utcnow(),
        },
    )


def _attempt(
    store: Store,
    policy: TokenPolicy,
    cand: _Candidate,
    secret: str,
    caller: Caller,
    *,
    pin: bool,
    client: ClientInfo | None = None,
) -> TokenPair:
    """Verify outside any transaction (argon2 takes tens of milliseconds and SQLite has
    one writer: hashing inside BEGIN IMMEDIATE would stall every other write on the
    floor), then record the outcome and issue tokens in one short write."""
    gate = None if caller.paired else _UNPAIRED_HASHING
    if gate is not None and not gate.acquire(timeout=UNPAIRED_WAIT):
        raise RateLimited("too many login attempts; try again in a moment", retry_after=1.0)
    try:
        if cand.secret_hash:
            ok = verify_secret(cand.secret_hash, secret)
        else:
            _dummy_verify(secret)
            ok = False
    finally:
        if gate is not None:
            gate.release()
    ok = ok and cand.active and cand.user_id is not None
    with store.write() as s:
        if not ok:
            if throttle.record_failure(s, cand.org_id, cand.subject, caller):
                _alert_burst(s, cand.org_id, cand.user_id, caller)
        else:
            user = s.get(User, (cand.org_id, cand.user_id))
            if user is not None and user.deleted_at is None and user.is_active:
                throttle.record_success(s, cand.org_id, cand.subject, caller)
                if caller.paired and caller.device_id:
                    devices.touch(s, cand.org_id, caller.device_id)
                pair = issue_tokens(
                    s, policy, user, caller.device_id, paired=caller.paired, client=client
                )
                if pin and pins.needs_change(secret):
                    pair = replace(pair, pin_change_required=True)
                return pair
    # Raised after the commit, so the failure counts.
    raise Unauthenticated(BAD_CREDENTIALS)


def _login(
    store: Store,
    policy: TokenPolicy,
    org_id: str,
    find: Callable[[Session], tuple[User | None, str]],
    secret: str,
    *,
    pin: bool,
    caller: Caller,
    client: ClientInfo | None,
) -> TokenPair:
    """The one login sequence: ``find`` gives the user (or None) and the subject the
    lock and throttle count under; the lock is checked before any hash is."""
    with store.read() as s:
        user, subject = find(s)
        throttle.check_lock(s, org_id, subject, caller)
        stored = (user.pin_hash if pin else user.password_hash) if user else None
        cand = _Candidate(
            org_id, subject, user.id if user else None, stored, bool(user and user.is_active)
        )
    return _attempt(store, policy, cand, secret, caller, pin=pin, client=client)


def login_password(
    store: Store,
    policy: TokenPolicy,
    *,
    org_id: str,
    email: str,
    password: str,
    device_id: str | None = None,
    device_key: str | None = None,
    caller: Caller | None = None,
    client: ClientInfo | None = None,
) -> TokenPair:
    """E-mail and password (office staff)."""
    email = email.strip().lower()

    def find(s: Session) -> tuple[User | None, str]:
        user = s.scalars(
            select(User).where(
                User.org_id == org_id, User.email == email, User.deleted_at.is_(None)
            )
        ).first()
        # Unknown e-mails are throttled under their own key so lock state tells nothing.
        return user, user.id if user is not None else "email:" + token_digest(email)[:32]

    caller = caller or identify(store, org_id, device_id, device_key)
    return _login(store, policy, org_id, find, password, pin=False, caller=caller, client=client)


def login_pin(
    store: Store,
    policy: TokenPolicy,
    *,
    org_id: str,
    user_id: str,
    pin: str,
    device_id: str | None = None,
    device_key: str | None = None,
    caller: Caller | None = None,
    client: ClientInfo | None = None,
) -> TokenPair:
    """User picked on the keypad plus numeric PIN (shop floor and crew)."""

    def find(s: Session) -> tuple[User | None, str]:
        user = s.get(User, (org_id, user_id))
        if user is not None and user.deleted_at is not None:
            user = None
        return user, user_id if user is not None else "unknown:" + token_digest(user_id)[:32]

    caller = caller or identify(store, org_id, device_id, device_key)
    return _login(store, policy, org_id, find, pin, pin=True, caller=caller, client=client)


def pin_users(session: Session, *, org_id: str) -> list[dict[str, Any]]:
    """The keypad list: active users with a PIN; nothing else about them."""
    rows = session.execute(
        select(User.id, User.name, User.role, User.language)
        .where(
            User.org_id == org_id,
            User.deleted_at.is_(None),
            User.is_active.is_(True),
            User.pin_hash.is_not(None),
        )
        .order_by(User.name)
    )
    return [{"id": r.id, "name": r.name, "role": r.role, "language": r.language} for r in rows]


def set_own_preferences(session: Session, *, actor: Actor, language: str) -> User:
    """A user changes their own language (users are otherwise admin-only). Goes through
    the write path, so it is audited and syncs like any other change."""
    from core import writes

    if actor.user_id is None:
        raise Forbidden("only a logged-in user has preferences")
    return writes.update(
        session,
        actor=actor,
        entity="users",
        id=actor.user_id,
        data={"language": language},
        check=False,
    )


def change_own_pin(store: Store, *, actor: Actor, current_pin: str, new_pin: str) -> User:
    """A user replaces their PIN (the keypad does this after ``pin_change_required``).
    The current PIN is checked like a login, so this is no way around the lockout."""
    from core import writes

    if actor.user_id is None:
        raise Forbidden("only a logged-in user has a PIN")
    caller = Caller(device_id=actor.device_id, paired=False)
    with store.read() as s:
        throttle.check_lock(s, actor.org_id, actor.user_id, caller)
        user = s.get(User, (actor.org_id, actor.user_id))
        stored = user.pin_hash if user else None
    if not verify_secret(stored, current_pin):
        with store.write() as s:
            throttle.record_failure(s, actor.org_id, actor.user_id, caller)
        raise Unauthenticated(BAD_CREDENTIALS)
    with store.write() as s:
        return writes.update(
            s,
            actor=actor,
            entity="users",
            id=actor.user_id,
            data={"pin": new_pin},
            check=False,
        )
