"""Secrets the site must be able to read back (its device secret for the central
server) are stored in the site database only *sealed*: encrypted (Fernet: AES-128-CBC
plus HMAC-SHA256, from ``cryptography``) with a key that is kept outside the store.

Where the key lives: the platform keyring when one is installed and usable (the
``keyring`` package with a real backend: Windows Credential Locker, macOS Keychain,
Secret Service), else a key file ``site-secrets.key`` (0600) in the user's config
directory (``STRUCTURA_CONFIG_DIR`` overrides it). So a copied store or a backup that
leaks does not leak the device secret, and a store moved to another machine needs
re-enrolment rather than silently carrying the credential along.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from core.private import FILE_MODE, private_dir

log = logging.getLogger(__name__)

PREFIX = "sealed:v1:"
KEY_FILE = "site-secrets.key"
KEYRING_SERVICE = "structura"
KEYRING_NAME = "site-secrets-key"


class VaultError(RuntimeError):
    """A sealed secret that cannot be opened here (key missing or different)."""


def config_dir() -> Path:
    override = os.environ.get("STRUCTURA_CONFIG_DIR")
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Preferences"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
    return base / "structura"


def _keyring_key() -> bytes | None:
    if os.environ.get("STRUCTURA_CONFIG_DIR"):
        return None  # an explicit directory wins (tests, portable installs)
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    try:
        if isinstance(keyring.get_keyring(), fail.Keyring):
            return None
        value = keyring.get_password(KEYRING_SERVICE, KEYRING_NAME)
        if value is None:
            value = Fernet.generate_key().decode()
            keyring.set_password(KEYRING_SERVICE, KEYRING_NAME, value)
        return value.encode()
    except Exception as exc:  # any backend failure: fall back to the key file
        log.warning("keyring not usable (%s); using a key file", type(exc).__name__)
        return None


def _file_key() -> bytes:
    path = private_dir(config_dir()) / KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        if os.name == "posix" and path.stat().st_mode & 0o077:
            log.warning("%s was readable by other users; now 600", path)
            path.chmod(FILE_MODE)
        return path.read_bytes().strip()
    key = Fernet.generate_key()
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
        fh.flush()
        os.fsync(fh.fileno())
    return key


def _fernet() -> Fernet:
    return Fernet(_keyring_key() or _file_key())


def seal(secret: str) -> str:
    return PREFIX + _fernet().encrypt(secret.encode()).decode()


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def unseal(value: str) -> str:
    if not is_sealed(value):
        raise VaultError("not a sealed secret")
    try:
        return _fernet().decrypt(value.removeprefix(PREFIX).encode()).decode()
    except InvalidToken:
        raise VaultError(
            "the device secret was sealed with another key (store copied from another "
            "machine or key file lost): enrol this site again"
        ) from None
