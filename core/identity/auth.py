"""Login, tokens and who may see which rows: one import for the edges.

The work lives in focused modules, free of any web framework (the LAN API, the central
server and the desktop call them and map ``core.errors``):

- ``core.identity.security`` — slow salted hashes (argon2id) and token digests;
- ``core.identity.pins`` — the PIN policy for new PINs;
- ``core.identity.tokens`` — signing keys, access JWTs, refresh rotation, logout,
  session state and its cache;
- ``core.identity.throttle`` — lockout with exponential backoff, per account and
  kind of caller (paired device, or unpaired);
- ``core.identity.devices`` — pairing tablets and proving them at login;
- ``core.identity.login`` — password and PIN login, the keypad list, own settings;
- ``core.identity.scope`` — row visibility and write scope of personal roles.
"""

from __future__ import annotations

from core.identity.devices import complete_pairing, is_paired, start_pairing
from core.identity.login import (
    BAD_CREDENTIALS,
    change_own_pin,
    identify,
    login_password,
    login_pin,
    pin_users,
    set_own_preferences,
)
from core.identity.scope import PERSONAL, can_see, check_write_scope, row_scope
from core.identity.throttle import (
    ACCOUNT_BASE_LOCK,
    ACCOUNT_MAX_LOCK,
    ACCOUNT_THRESHOLD,
    DEVICE_BASE_LOCK,
    DEVICE_MAX_LOCK,
    DEVICE_THRESHOLD,
    Caller,
    check_lock,
    record_failure,
    record_success,
)
from core.identity.throttle import lock_seconds as _lock_seconds
from core.identity.tokens import (
    ACCESS,
    ALGORITHM,
    AUDIENCE,
    MIN_KEY_BYTES,
    REQUIRED_CLAIMS,
    Claims,
    FamilyRefused,
    ReusedToken,
    SessionCache,
    SigningKey,
    TokenPair,
    TokenPolicy,
    WeakKey,
    decode_access,
    issue_access,
    issue_tokens,
    logout,
    refresh,
    session_state,
)

__all__ = [
    "ACCESS",
    "ACCOUNT_BASE_LOCK",
    "ACCOUNT_MAX_LOCK",
    "ACCOUNT_THRESHOLD",
    "ALGORITHM",
    "AUDIENCE",
    "BAD_CREDENTIALS",
    "DEVICE_BASE_LOCK",
    "DEVICE_MAX_LOCK",
    "DEVICE_THRESHOLD",
    "MIN_KEY_BYTES",
    "PERSONAL",
    "REQUIRED_CLAIMS",
    "Caller",
    "Claims",
    "FamilyRefused",
    "ReusedToken",
    "SessionCache",
    "SigningKey",
    "TokenPair",
    "TokenPolicy",
    "WeakKey",
    "_lock_seconds",
    "can_see",
    "change_own_pin",
    "check_lock",
    "check_write_scope",
    "complete_pairing",
    "decode_access",
    "identify",
    "is_paired",
    "issue_access",
    "issue_tokens",
    "login_password",
    "login_pin",
    "logout",
    "pin_users",
    "record_failure",
    "record_success",
    "refresh",
    "row_scope",
    "session_state",
    "set_own_preferences",
    "start_pairing",
]
