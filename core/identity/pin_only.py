"""PIN-only login (the factory app's ``{pin}``), when the site enables it.

Apart from ``core.identity.pins`` because the registry needs the PIN rules there and this
needs ``auth``, which needs the registry: one module would be an import cycle.
"""

from __future__ import annotations

from core.db import Store
from core.errors import Unauthenticated
from core.identity import auth
from core.identity.pins import SUBJECT, enabled, holders, matches
from core.models import User


def login(
    store: Store,
    policy: auth.TokenPolicy,
    *,
    org_id: str,
    pin: str,
    device_id: str | None = None,
    caller: auth.Caller | None = None,
) -> auth.TokenPair:
    """The user whose PIN this is, when PIN-only login is on; the keypad's lockout
    (a caller that did not prove a paired device's key counts as unpaired)."""
    caller = caller or auth.Caller(device_id=device_id, paired=False)
    with store.read() as s:
        if not enabled(s):
            raise Unauthenticated("PIN-only login is not enabled on this site")
        auth.check_lock(s, org_id, SUBJECT, caller)
        candidates = holders(s, org_id, None)
    found = matches(candidates, pin)
    with store.write() as s:
        user = s.get(User, (org_id, found[0])) if len(found) == 1 else None
        if user is None or user.deleted_at is not None or not user.is_active:
            # Two users with one PIN (set before the rule held) log in with neither.
            auth.record_failure(s, org_id, SUBJECT, caller)
        else:
            auth.record_success(s, org_id, SUBJECT, caller)
            return auth.issue_tokens(s, policy, user, caller.device_id, paired=caller.paired)
    raise Unauthenticated(auth.BAD_CREDENTIALS)
