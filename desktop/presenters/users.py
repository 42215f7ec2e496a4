"""Users and PINs from the office: set or reset a PIN, deactivate and reactivate.

Every change goes through the write path (``core.writes``), which hashes the PIN and
applies the PIN rules; a refused PIN comes back as a coded field error, shown in words.
If core offers a dedicated PIN function (``core.identity.auth.set_pin``), it is used.
"""

from __future__ import annotations

from typing import Any

from core import writes
from core.errors import DomainError
from desktop.presenters.errors import UserMessage, user_message


def _version(session: Any, user_id: str) -> int:
    from core.models import User

    with session.read() as s:
        user = s.get(User, (session.org_id, user_id))
        if user is None or user.deleted_at is not None:
            raise writes.NotFound(f"users '{user_id}'")
        return int(user.version)


def set_pin(session: Any, user_id: str, pin: str) -> UserMessage | None:
    """None when the PIN is set; else the message (field ``pin``) to show."""
    try:
        from core.identity import auth

        core_set_pin = getattr(auth, "set_pin", None)
        with session.write() as s:
            if core_set_pin is not None:
                core_set_pin(s, actor=session.actor, user_id=user_id, pin=pin)
            else:
                writes.update(s, actor=session.actor, entity="users", id=user_id,
                              data={"pin": pin}, version=_version(session, user_id))  # fmt: skip
    except DomainError as exc:
        return user_message(exc)
    return None


def set_active(session: Any, user_id: str, active: bool) -> UserMessage | None:
    try:
        with session.write() as s:
            version = _version(session, user_id)
            writes.update(s, actor=session.actor, entity="users", id=user_id,
                          data={"is_active": active}, version=version)  # fmt: skip
    except DomainError as exc:
        return user_message(exc)
    return None
