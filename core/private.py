"""Private files and directories whatever the umask: the data directory, the store and
its -wal/-shm, backups and key files belong to the user running Structura alone
(0700 directories, 0600 files). Started from a normal shell (umask 022) SQLite would
make the store world-readable, and it holds password hashes and business data.

``private_dir``/``touch_private`` make things private at creation; ``check_private``
runs at start-up, fixes what it finds and returns one warning per fixed path so the
operator learns that something had been readable by others. POSIX only: on Windows
the per-user profile directories are already private by ACL.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
POSIX = os.name == "posix"
# SQLite's companions of a store; they take the store file's mode when SQLite makes them.
SQLITE_SIDES = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """``path`` (and missing parents) created 0700; an existing one is left as is here
    (``check_private`` reports and fixes it)."""
    path = Path(path)
    if not path.exists():
        path.mkdir(parents=True, exist_ok=True)
        if POSIX:
            path.chmod(DIR_MODE)
    return path


def touch_private(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 if it does not exist (before SQLite opens
    it, so the store and the -wal/-shm SQLite makes beside it are private)."""
    path = Path(path)
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return path
    os.close(fd)
    return path


def _fix(path: Path, mode: int) -> str | None:
    try:
        current = path.stat().st_mode & 0o777
    except FileNotFoundError:
        return None
    if current & 0o077:
        path.chmod(mode)
        return f"{path} was readable by other users (mode {current:o}); now {mode:o}"
    return None


def check_private(dirs: Iterable[Path], files: Iterable[Path] = ()) -> list[str]:
    """Fix directories to 0700 and files (and a store's -wal/-shm) to 0600; one warning
    per path that had been open to others."""
    if not POSIX:
        return []
    warnings: list[str] = []
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            continue
        if (w := _fix(d, DIR_MODE)) is not None:
            warnings.append(w)
        for child in d.iterdir():
            if child.is_file() and (w := _fix(child, FILE_MODE)) is not None:
                warnings.append(w)
    for f in files:
        for p in (Path(f), *(Path(str(f) + s) for s in SQLITE_SIDES)):
            if (w := _fix(p, FILE_MODE)) is not None:
                warnings.append(w)
    for w in warnings:
        log.warning("%s", w)
    return warnings


def check_site_files(settings: object) -> list[str]:
    """The start-up check of a site: data directory, store, backups, key files."""
    data_dir = Path(getattr(settings, "data_dir"))  # noqa: B009 - duck-typed Settings
    dirs = [data_dir]
    backups = getattr(settings, "backup_dir", None) or data_dir / "backups"
    dirs.append(Path(backups))
    files = []
    if not getattr(settings, "database_url", ""):
        files.append(data_dir / "site.sqlite3")
    return check_private(dirs, files)


def fsync_dir(directory: Path) -> None:
    """Make a rename or a new file in ``directory`` durable (POSIX; Windows cannot open a
    directory, and NTFS renames are journaled)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
