"""Slow salted hashes for PINs, passwords and device credentials (argon2id), and fast
keyed digests for high-entropy random tokens (refresh tokens, enrolment codes)."""

from __future__ import annotations

import hashlib
import hmac
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


@cache
def _hasher() -> PasswordHasher:
    # OWASP's argon2id baseline (19 MiB, 2 passes). PINs have few possible values, so the
    # hash only slows an attacker who stole the database; lockout protects the live login.
    return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_secret(secret: str) -> str:
    return _hasher().hash(secret)


def verify_secret(stored_hash: str | None, secret: str) -> bool:
    if not stored_hash:
        # Spend the same time as a real check so timing does not tell which users exist.
        _hasher().hash(secret)
        return False
    try:
        return _hasher().verify(stored_hash, secret)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def token_digest(token: str) -> str:
    """Digest of a random token with 256 bits of entropy: a slow hash adds nothing there."""
    return hashlib.sha256(token.encode()).hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
