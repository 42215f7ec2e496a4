"""Online backups of a site's SQLite store, their retention, a schedule, and restore.

Why the SQLite backup API and never a file copy: a copy of ``site.sqlite3`` taken while
the server writes can mix pages of two transactions, and misses whatever still sits in
``site.sqlite3-wal``. ``sqlite3.Connection.backup`` copies one consistent snapshot (a
single read transaction: in WAL mode writers go on meanwhile). Each copy is checked with
``PRAGMA integrity_check`` before it gets its final name, so a file named
``site-*.sqlite3`` in the backup directory is always a verified backup.

Restore replaces the store *atomically* (write a temporary file next to it, fsync,
rename) after making a safety copy of the current store, and refuses while another
process has the store open (a running ``structura site serve`` or desktop app).

What a restore loses and how sync heals it: the restored store has the feed cursor and
the outbox of backup time. Changes made here after the backup and already pushed come
back from the central feed; ops pushed after the backup are pushed again and answered
from the central server's record of applied ops, so they apply once (see
docs/operator-guide.md and tests/ops/test_restore_drill.py). Changes made after the
backup and never pushed are lost: back up often enough.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.private import fsync_dir

log = logging.getLogger(__name__)

PREFIX = "site-"
SAFETY_PREFIX = "pre-restore-"
SUFFIX = ".sqlite3"
DEFAULT_KEEP = 14
# SQLite's unix VFS keeps a shared lock on this byte of the -shm file for as long as a
# connection has the WAL index mapped (the "dead man switch", UNIX_SHM_DMS in os_unix.c).
_SHM_DMS_BYTE = 128


class BackupError(RuntimeError):
    pass


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    created_at: datetime
    size: int

    @property
    def name(self) -> str:
        return self.path.name


def store_file(source: Any) -> Path:
    """The SQLite file of a ``Store``, an SQLAlchemy URL or a path."""
    url = getattr(source, "url", source)
    text = str(url)
    if text.startswith("sqlite"):
        from sqlalchemy.engine import make_url

        database = make_url(text).database
        if not database or database == ":memory:":
            raise BackupError("an in-memory database has nothing to back up")
        return Path(database)
    if "://" in text:
        raise BackupError("only SQLite site stores are backed up here (central: pg_dump)")
    return Path(text)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


def integrity(path: Path) -> str:
    """``ok`` or SQLite's list of problems."""
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return f"not a valid SQLite database: {exc}"
    finally:
        conn.close()
    return "\n".join(str(r[0]) for r in rows)


def _copy(src: Path, dest: Path) -> None:
    """SQLite backup API from ``src`` to a new file ``dest``, self-contained (the copy
    is switched to a rollback journal so it is one file, with no -wal beside it)."""
    from core.private import touch_private

    source = _connect(src)
    touch_private(dest)  # a backup is as secret as the store
    target = sqlite3.connect(str(dest), isolation_level=None)
    try:
        # pages=-1: the whole database in one step, i.e. one read transaction and one
        # consistent snapshot; a stepwise copy would restart on every concurrent write.
        source.backup(target, pages=-1)
        target.execute("PRAGMA journal_mode = DELETE")
    finally:
        target.close()
        source.close()
    with open(dest, "rb") as fh:
        os.fsync(fh.fileno())


def _stamp(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z"


def _parse_stamp(name: str, prefix: str) -> datetime | None:
    stem = name.removeprefix(prefix).removesuffix(SUFFIX)
    try:
        base = datetime.strptime(stem[:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        return base.replace(microsecond=int(stem[15:18]) * 1000)
    except (ValueError, IndexError):
        return None


def create_backup(source: Any, directory: str | Path, *, keep: int = DEFAULT_KEEP,
                  prefix: str = PREFIX) -> BackupInfo:  # fmt: skip
    """Back up the store online into ``directory`` as ``site-<UTC time>.sqlite3``,
    verify the copy, then keep only the newest ``keep`` backups (0 keeps all)."""
    src = store_file(source)
    if not src.is_file():
        raise BackupError(f"no store at {src}")
    from core.private import private_dir

    directory = private_dir(Path(directory))
    name = f"{prefix}{_stamp()}{SUFFIX}"
    while (directory / name).exists():  # two backups within one millisecond
        time.sleep(0.002)
        name = f"{prefix}{_stamp()}{SUFFIX}"
    final = directory / name
    partial = directory / (name + ".partial")
    began = time.perf_counter()
    try:
        _copy(src, partial)
        result = integrity(partial)
        if result != "ok":
            raise BackupError(f"the copy failed its integrity check: {result[:500]}")
        os.replace(partial, final)
        fsync_dir(directory)
    finally:
        partial.unlink(missing_ok=True)
    info = BackupInfo(final, _parse_stamp(name, prefix) or datetime.now(UTC), final.stat().st_size)
    log.info("backup %s written (%d bytes, %.2f s, verified)", final, info.size,
             time.perf_counter() - began, extra={"backup": str(final)})  # fmt: skip
    if keep and prefix == PREFIX:
        prune(directory, keep)
    return info


def list_backups(directory: str | Path, prefix: str = PREFIX) -> list[BackupInfo]:
    """Verified backups in ``directory``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for path in directory.glob(f"{prefix}*{SUFFIX}"):
        created = _parse_stamp(path.name, prefix)
        if created is not None and path.is_file():
            found.append(BackupInfo(path, created, path.stat().st_size))
    return sorted(found, key=lambda b: b.created_at)


def prune(directory: str | Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups; returns what went."""
    backups = list_backups(directory)
    gone = [b.path for b in backups[: max(0, len(backups) - keep)]]
    for path in gone:
        path.unlink(missing_ok=True)
        log.info("backup %s removed (keeping %d)", path, keep)
    return gone


def store_in_use(path: Path) -> bool:
    """Does another process have this SQLite store open?

    Every connection of a WAL database holds a shared lock on one byte of the -shm file
    for its whole life; an exclusive test lock on that byte fails while any other
    process is connected. (POSIX only; elsewhere we cannot tell and say no.) Locks held
    by this process do not count: close our own connections first.
    """
    shm = Path(str(path) + "-shm")
    if os.name != "posix" or not shm.exists():
        return False
    import fcntl

    with open(shm, "rb+") as fh:
        try:
            fcntl.lockf(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB, 1, _SHM_DMS_BYTE)
        except OSError:
            return True
        fcntl.lockf(fh.fileno(), fcntl.LOCK_UN, 1, _SHM_DMS_BYTE)
    return False


def restore_backup(backup: str | Path, target: Any, *, safety_dir: str | Path | None = None,
                   check_in_use: bool = True) -> Path | None:  # fmt: skip
    """Replace the store ``target`` with the backup ``backup``.

    Verifies the backup, refuses while the store is open elsewhere, saves the current
    store as ``pre-restore-<time>.sqlite3`` in ``safety_dir`` (default: the backup's
    directory), then swaps the files atomically. Returns the safety copy (None when
    there was no store yet).
    """
    backup = Path(backup)
    dest = store_file(target)
    result = integrity(backup)
    if result != "ok":
        raise BackupError(f"{backup} failed its integrity check: {result[:500]}")
    if check_in_use and store_in_use(dest):
        raise BackupError(
            f"{dest} is open in another process (a running site server or desktop app); "
            "stop it first"
        )
    safety: Path | None = None
    if dest.is_file():
        safety = create_backup(dest, Path(safety_dir or backup.parent), keep=0,
                               prefix=SAFETY_PREFIX).path  # fmt: skip
        # Fold the WAL into the file, so no -wal of the old store outlives the swap.
        conn = _connect(dest)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    dest.parent.mkdir(parents=True, exist_ok=True)
    incoming = dest.with_name(dest.name + ".restoring")
    try:
        _copy(backup, incoming)
        # Back to WAL, the store's mode, inside the new file before it takes the name.
        conn = _connect(incoming)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
        finally:
            conn.close()
        for stale in (Path(str(dest) + "-wal"), Path(str(dest) + "-shm")):
            stale.unlink(missing_ok=True)
        os.replace(incoming, dest)
        fsync_dir(dest.parent)
    finally:
        incoming.unlink(missing_ok=True)
        for side in ("-wal", "-shm"):
            Path(str(incoming) + side).unlink(missing_ok=True)
    log.warning("store %s restored from %s (previous store saved as %s)", dest, backup, safety)
    return safety


# --- on a schedule ----------------------------------------------------------------------------


class BackupScheduler:
    """A daemon thread backing the store up every ``interval`` seconds.

    A desktop app runs for hours, not days: so the first backup is due ``interval``
    after the newest one already on disk (soon after start if that is long ago), not
    ``interval`` after this start.
    """

    def __init__(self, store: Any, directory: str | Path, interval: float, *,
                 keep: int = DEFAULT_KEEP, first_delay: float = 60.0) -> None:  # fmt: skip
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.source = store_file(store)
        self.directory = Path(directory)
        self.interval, self.keep, self.first_delay = interval, keep, first_delay
        self.last: BackupInfo | None = None
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def next_delay(self) -> float:
        newest = list_backups(self.directory)
        if not newest:
            return self.first_delay
        age = (datetime.now(UTC) - newest[-1].created_at).total_seconds()
        return max(self.first_delay, self.interval - age)

    def run_once(self) -> BackupInfo | None:
        try:
            self.last = create_backup(self.source, self.directory, keep=self.keep)
            self.last_error = None
        except Exception as exc:  # keep the schedule alive; say what went wrong
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("scheduled backup failed")
            return None
        return self.last

    def _run(self) -> None:
        delay = self.next_delay()
        while not self._stop.wait(delay):
            self.run_once()
            delay = self.interval

    def start(self) -> BackupScheduler:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="backup", daemon=True)
            self._thread.start()
            log.info("backups of %s every %.0f s into %s", self.source, self.interval,
                     self.directory)  # fmt: skip
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


def scheduler_from_settings(settings: Any, store: Any) -> BackupScheduler | None:
    """The scheduler the settings ask for (``STRUCTURA_BACKUP_HOURS``; 0 = none), not
    started. For SQLite stores only."""
    hours = float(getattr(settings, "backup_hours", 0) or 0)
    if hours <= 0 or not str(getattr(store, "url", "")).startswith("sqlite"):
        return None
    return BackupScheduler(store, backup_dir(settings), hours * 3600,
                           keep=int(getattr(settings, "backup_keep", DEFAULT_KEEP)))  # fmt: skip


def backup_dir(settings: Any) -> Path:
    explicit = getattr(settings, "backup_dir", None)
    return Path(explicit) if explicit else Path(settings.data_dir) / "backups"


# --- structura backup ... ---------------------------------------------------------------------


def _create(args: Any, settings: Any) -> int:
    directory = Path(args.dir) if args.dir else backup_dir(settings)
    keep = args.keep if args.keep is not None else int(getattr(settings, "backup_keep",
                                                               DEFAULT_KEEP))  # fmt: skip
    try:
        info = create_backup(settings.store_url(), directory, keep=keep)
    except BackupError as exc:
        log.error("%s", exc)
        return 1
    print(f"{info.path}\t{info.size} bytes\tintegrity ok")
    return 0


def _list(args: Any, settings: Any) -> int:
    directory = Path(args.dir) if args.dir else backup_dir(settings)
    for b in list_backups(directory):
        print(f"{b.path}\t{b.created_at.isoformat()}\t{b.size} bytes")
    for b in list_backups(directory, SAFETY_PREFIX):
        print(f"{b.path}\t{b.created_at.isoformat()}\t{b.size} bytes\t(pre-restore copy)")
    return 0


def _verify(args: Any, settings: Any) -> int:
    result = integrity(Path(args.file))
    print(f"{args.file}: {result}")
    return 0 if result == "ok" else 1


def _restore(args: Any, settings: Any) -> int:
    try:
        safety = restore_backup(args.file, settings.store_url())
    except BackupError as exc:
        log.error("%s", exc)
        return 1
    print(f"restored {settings.store_path} from {args.file}")
    if safety is not None:
        print(f"the store as it was is kept in {safety}")
    print(
        "run `structura sync once` (or start the app) to bring it current from the central server"
    )
    return 0


def register(sub: Any) -> None:
    """``structura backup create|list|verify|restore``."""
    p = sub.add_parser("backup", help="back up or restore the site store (SQLite)")
    bsub = p.add_subparsers(dest="backup_command", required=True)
    c = bsub.add_parser("create", help="back up the store now (online; verified)")
    c.add_argument("--dir", help="backup directory (default: DATA_DIR/backups)")
    c.add_argument("--keep", type=int, help=f"keep the newest N (default {DEFAULT_KEEP}; 0: all)")
    c.set_defaults(func=_create)
    ls = bsub.add_parser("list", help="list backups, oldest first")
    ls.add_argument("--dir", help="backup directory (default: DATA_DIR/backups)")
    ls.set_defaults(func=_list)
    v = bsub.add_parser("verify", help="run SQLite's integrity check on a backup file")
    v.add_argument("file")
    v.set_defaults(func=_verify)
    r = bsub.add_parser(
        "restore",
        help="replace the store with a backup (refused while the store is in use)",
        description="Replace the site store with FILE. The current store is kept as a "
        "pre-restore copy beside the backups. Stop the site server or desktop app first.",
    )
    r.add_argument("file")
    r.set_defaults(func=_restore)


def site_service(store: Any, settings: Any) -> BackupScheduler | None:
    """Entry point of the ``structura.site_services`` group: scheduled backups."""
    return scheduler_from_settings(settings, store)
