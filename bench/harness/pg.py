"""Throwaway PostgreSQL for tests and benchmarks (no pytest here).

- ``ThrowawayCluster``: a private cluster (``initdb`` + ``pg_ctl``) in a temporary
  directory, on a free port bound to 127.0.0.1; as root it runs as the ``postgres``
  user, since PostgreSQL refuses to run as root (and CI runs as root).
- ``fresh_database``: a uniquely named empty database, dropped afterwards.
- ``server_from_env``: ``STRUCTURA_TEST_PG_URL`` when set, else a throwaway cluster.

The cluster runs with fsync and synchronous commit off, which makes a ``CREATE
DATABASE`` per test cheap; never point this at data you care about. The pytest fixtures
on top of this are in tests/pg_fixture.py; the benchmarks use it directly.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

ENV_URL = "STRUCTURA_TEST_PG_URL"
SUPERUSER = "postgres"
_START_ATTEMPTS = 3
_START_TIMEOUT_S = 60


class PostgresUnavailable(RuntimeError):
    """No way to get a PostgreSQL server for the tests."""


# ---------------------------------------------------------------------------
# URL helpers (also useful to tests that talk to psycopg directly)


def sqlalchemy_url(url: str) -> str:
    """Normalise a PostgreSQL URL to the psycopg 3 SQLAlchemy dialect."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"not a PostgreSQL URL: {parsed!r}")
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The ``postgresql://`` form of a SQLAlchemy URL, for ``psycopg.connect``."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def _with_database(url: str, database: str) -> str:
    parsed: URL = make_url(url)
    return parsed.set(database=database).render_as_string(hide_password=False)


# ---------------------------------------------------------------------------
# Finding and running the server binaries


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))


def find_pg_bindir() -> Path:
    """Directory holding ``initdb`` and ``pg_ctl``: PATH first, then Debian's layout."""
    initdb = shutil.which("initdb")
    if initdb:
        for candidate in (Path(initdb).parent, Path(initdb).resolve().parent):
            if (candidate / "pg_ctl").is_file():
                return candidate
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    for bindir in debian:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or under "
        "/usr/lib/postgresql/*/bin. Install them (Debian/Ubuntu: apt-get install "
        f"postgresql, or run scripts/dev test) or set {ENV_URL} to a server URL."
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Runner:
    """Runs server commands as the current user, or as ``postgres`` when we are root.

    PostgreSQL refuses to run as root, and CI runs as root.
    """

    def __init__(self) -> None:
        self.as_root = hasattr(os, "geteuid") and os.geteuid() == 0
        self.prefix: list[str] = []
        self.su: str | None = None
        if not self.as_root:
            return
        # runuser/su live in /usr/sbin, which a non-login PATH may lack.
        search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/bin"])
        runuser = shutil.which("runuser", path=search)
        su = shutil.which("su", path=search)
        if runuser:
            self.prefix = [runuser, "-u", SUPERUSER, "--"]
        elif su:
            self.su = su
        else:
            raise PostgresUnavailable("running as root but neither runuser nor su is available")
        try:
            import pwd

            entry = pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise PostgresUnavailable(
                f"running as root and there is no '{SUPERUSER}' OS user to run the "
                f"throwaway cluster as; install the postgresql package or set {ENV_URL}"
            ) from None
        self.uid, self.gid = entry.pw_uid, entry.pw_gid

    def _command(self, args: list[str]) -> list[str]:
        if self.su:
            return [self.su, "-s", "/bin/sh", "-c", f"exec {shlex.join(args)}", SUPERUSER]
        return [*self.prefix, *args]

    def give(self, path: Path) -> None:
        if self.as_root:
            os.chown(path, self.uid, self.gid)

    def can_write(self, path: Path) -> bool:
        if not self.as_root:
            return os.access(path, os.W_OK | os.X_OK)
        result = subprocess.run(
            self._command(["test", "-w", str(path), "-a", "-x", str(path)]),
            cwd="/",
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def run(
        self, args: list[str], *, cwd: Path, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        # cwd matters: as `postgres` we may not be allowed into the caller's directory.
        return subprocess.run(
            self._command(args),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "LC_ALL": "C", "LANG": "C"},
        )


class ThrowawayCluster:
    """A private PostgreSQL cluster in a temporary directory.

    ``ThrowawayCluster(root)`` attaches to a cluster another process started there, so
    that whichever process is the last to need it can stop it (the pytest-xdist workers
    share one cluster, see tests/pg_fixture.py).
    """

    def __init__(self, root: Path | None = None) -> None:
        self.bindir = find_pg_bindir()
        self.runner = _Runner()
        self.root = root if root is not None else self._make_root()
        self.datadir = self.root / "data"
        self.sockdir = self.root / "sock"
        self.logfile = self.root / "server.log"
        self.port: int | None = None

    def _make_root(self) -> Path:
        root = Path(tempfile.mkdtemp(prefix="structura-pg-"))
        self.runner.give(root)
        if self.runner.can_write(root):
            return root
        # $TMPDIR is not reachable by the `postgres` user; /tmp always is.
        shutil.rmtree(root, ignore_errors=True)
        root = Path(tempfile.mkdtemp(prefix="structura-pg-", dir="/tmp"))
        self.runner.give(root)
        return root

    def _check(self, what: str, result: subprocess.CompletedProcess[str]) -> None:
        if result.returncode == 0:
            return
        log = self.logfile.read_text(errors="replace") if self.logfile.exists() else ""
        raise PostgresUnavailable(
            f"{what} failed (exit {result.returncode}) using {self.bindir}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}\n--- server log\n{log}"
        )

    def start(self) -> str:
        self.sockdir.mkdir()
        self.runner.give(self.sockdir)
        initdb = self.runner.run(
            [
                str(self.bindir / "initdb"),
                f"--pgdata={self.datadir}",
                "--auth=trust",
                f"--username={SUPERUSER}",
                "--encoding=UTF8",
                # C collation: byte order, like SQLite's BINARY, and present everywhere.
                "--locale=C",
                "--no-sync",
            ],
            cwd=self.root,
            timeout=_START_TIMEOUT_S * 2,
        )
        self._check("initdb", initdb)

        last: subprocess.CompletedProcess[str] | None = None
        for _ in range(_START_ATTEMPTS):
            port = _free_port()  # a race with other processes is possible; hence the retry
            options = " ".join(
                [
                    f"-p {port}",
                    f"-k {self.sockdir}",
                    "-c listen_addresses=127.0.0.1",
                    "-c fsync=off",
                    "-c synchronous_commit=off",
                    "-c full_page_writes=off",
                    "-c max_connections=200",
                ]
            )
            last = self.runner.run(
                [
                    str(self.bindir / "pg_ctl"),
                    f"--pgdata={self.datadir}",
                    f"--log={self.logfile}",
                    "--wait",
                    f"--timeout={_START_TIMEOUT_S}",
                    f"--options={options}",
                    "start",
                ],
                cwd=self.root,
                timeout=_START_TIMEOUT_S + 30,
            )
            if last.returncode == 0:
                self.port = port
                return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{port}/postgres"
        assert last is not None
        self._check("pg_ctl start", last)
        raise AssertionError("unreachable")

    def stop(self) -> None:
        try:
            # Also after a failed or timed-out start: a postmaster may be running anyway.
            if (self.datadir / "postmaster.pid").exists():
                self.runner.run(
                    [
                        str(self.bindir / "pg_ctl"),
                        f"--pgdata={self.datadir}",
                        "--mode=immediate",
                        "--wait",
                        "stop",
                    ],
                    cwd=self.root,
                    timeout=60,
                )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


# ---------------------------------------------------------------------------
# Databases


@contextmanager
def fresh_database(
    server_url: str, label: str = "db", *, template: str | None = None
) -> Iterator[str]:
    """Create a uniquely named database, empty or a copy of ``template`` (a database
    nobody is connected to); yield its URL; drop it afterwards."""
    slug = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:30]
    name = f"t_{slug}_{uuid.uuid4().hex[:12]}"
    admin = libpq_url(server_url)
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(create)
    try:
        yield _with_database(server_url, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextmanager
def server_from_env() -> Iterator[str]:
    """SQLAlchemy URL of a server's maintenance database: ``STRUCTURA_TEST_PG_URL`` when
    set, otherwise a throwaway cluster that is stopped and deleted on exit."""
    given = os.environ.get(ENV_URL)
    if given:
        yield sqlalchemy_url(given)
        return
    cluster = ThrowawayCluster()
    try:
        yield cluster.start()
    finally:
        cluster.stop()


# ---------------------------------------------------------------------------
# A streaming replica (hot standby) of a throwaway cluster


class ReplicaCluster:
    """A hot standby of ``primary`` made with ``pg_basebackup -R`` (which writes
    ``standby.signal`` and the ``primary_conninfo``), streaming on its own port.

    The primary needs ``wal_level=replica`` (initdb's default), WAL senders (default 10)
    and a ``replication`` line in pg_hba.conf; ``initdb --auth=trust`` writes one for
    127.0.0.1. ``recovery_min_apply_delay`` makes the replica lag on purpose in tests.
    """

    def __init__(self, primary: ThrowawayCluster) -> None:
        self.primary = primary
        self.runner = primary.runner
        self.bindir = primary.bindir
        self.root = primary.root
        self.datadir = self.root / "replica"
        self.logfile = self.root / "replica.log"
        self.port: int | None = None

    def start(self, *, apply_delay_ms: int = 0) -> str:
        assert self.primary.port is not None
        result = self.runner.run(
            [_tool(self.bindir, "pg_basebackup"), f"--pgdata={self.datadir}", "-h", "127.0.0.1",
             "-p", str(self.primary.port), "-U", SUPERUSER, "-R", "--checkpoint=fast",
             "--wal-method=stream", "--no-sync"],
            cwd=self.root, timeout=120,
        )  # fmt: skip
        self.primary._check("pg_basebackup", result)
        port = _free_port()
        options = " ".join([
            f"-p {port}", f"-k {self.primary.sockdir}", "-c listen_addresses=127.0.0.1",
            "-c hot_standby=on", "-c fsync=off", "-c max_connections=200",
            f"-c recovery_min_apply_delay={apply_delay_ms}ms",
        ])  # fmt: skip
        result = self.runner.run(
            [str(self.bindir / "pg_ctl"), f"--pgdata={self.datadir}", f"--log={self.logfile}",
             "--wait", f"--timeout={_START_TIMEOUT_S}", f"--options={options}", "start"],
            cwd=self.root, timeout=_START_TIMEOUT_S + 30,
        )  # fmt: skip
        if result.returncode != 0:
            log = self.logfile.read_text(errors="replace") if self.logfile.exists() else ""
            raise PostgresUnavailable(f"replica start failed: {result.stderr}\n{log}")
        self.port = port
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{port}/postgres"

    def stop(self) -> None:
        if (self.datadir / "postmaster.pid").exists():
            self.runner.run(
                [str(self.bindir / "pg_ctl"), f"--pgdata={self.datadir}", "--mode=immediate",
                 "--wait", "stop"],
                cwd=self.root, timeout=60,
            )  # fmt: skip


def _tool(bindir: Path, name: str) -> str:
    """A client tool next to initdb, else on PATH, else in Debian's layout."""
    for candidate in (bindir / name, Path(shutil.which(name) or "/nonexistent"),
                      *sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                              key=_version_key, reverse=True)):  # fmt: skip
        if candidate.is_file():
            return str(candidate)
    raise PostgresUnavailable(f"{name} not found (install the PostgreSQL client tools)")


def wait_for_database(url: str, timeout: float = 30.0) -> None:
    """Until the replica has replayed the database's creation and accepts connections."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(libpq_url(url), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
