"""A throw-away PostgreSQL server (Debian's package) for tests, benchmarks and demos.

``PostgresServer(state_dir)`` initialises a cluster under ``state_dir/pgdata`` (trust auth,
loopback only, ``fsync=off``: it holds nothing that cannot be rebuilt from the chain), starts
it on a free port and stops it again. PostgreSQL refuses to run as root, and CI runs as root:
then the data folder is given to the ``postgres`` user and ``initdb``/``pg_ctl`` run through
``runuser -u postgres --``. The state folder must be reachable by that user (a folder under
``/tmp`` made by :func:`tempfile.mkdtemp` is; pytest's ``tmp_path`` is not).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

from chain.anvil import free_port
from streams.errors import PostgresError

SUPERUSER = "postgres"


def postgres_bindir() -> Path:
    """Folder of ``initdb`` and ``pg_ctl`` (Debian keeps them under /usr/lib/postgresql/N/bin)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[4]))
    for c in reversed(candidates):
        if (Path(c) / "initdb").exists():
            return Path(c)
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise PostgresError(
        "PostgreSQL's server is not installed (initdb not found): `apt-get install -y postgresql` "
        "(listed in requirements/apt.txt; `make setup` installs it)"
    )


class PostgresServer:
    """One PostgreSQL cluster on loopback. Use as a context manager or ``start``/``stop``."""

    def __init__(self, state_dir: Path, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.state_dir = Path(state_dir)
        self.data_dir = self.state_dir / "pgdata"
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.bindir = postgres_bindir()
        self._as_root = os.geteuid() == 0

    def _cmd(self, *args: str) -> list[str]:
        if self._as_root:
            return ["runuser", "-u", SUPERUSER, "--", *args]
        return list(args)

    def _run(self, *args: str, timeout_s: float = 60) -> str:
        try:
            proc = subprocess.run(
                self._cmd(*args), capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PostgresError(f"{Path(args[0]).name} failed: {exc}") from exc
        if proc.returncode != 0:
            raise PostgresError(
                f"{Path(args[0]).name} exited {proc.returncode}: "
                f"{(proc.stderr or proc.stdout).strip()[-800:]}"
            )
        return proc.stdout

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL of ``database`` on this server."""
        return f"postgresql+psycopg://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        return f"host={self.host} port={self.port} user={SUPERUSER} dbname={database}"

    @property
    def running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server's processes have used so far: the postmaster
        and its children, the backends of the connections included (Linux ``/proc``); for
        benchmarks on a shared machine, where wall time alone says little. Backends that
        have exited no longer count, so read it while the measured connections are open."""
        try:
            postmaster = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError) as exc:
            raise PostgresError(f"the server at {self.data_dir} is not running: {exc}") from exc
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
            if int(entry.name) == postmaster or int(fields[1]) == postmaster:
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / tick

    def init(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            shutil.chown(self.state_dir, SUPERUSER, SUPERUSER)
            shutil.chown(self.data_dir, SUPERUSER, SUPERUSER)
            probe = subprocess.run(
                ["runuser", "-u", SUPERUSER, "--", "test", "-w", str(self.data_dir)], check=False
            )
            if probe.returncode != 0:
                raise PostgresError(
                    f"the {SUPERUSER} user cannot write {self.data_dir}: put the state folder "
                    "where it can reach it (e.g. a tempfile.mkdtemp() folder under /tmp)"
                )
        os.chmod(self.data_dir, 0o700)
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )

    def start(self, timeout_s: float = 30) -> PostgresServer:
        """Initialise (once) and start the server; returns when it accepts connections."""
        self.init()
        if self.running:
            return self
        options = (
            f"-h {self.host} -p {self.port} -k {self.data_dir} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.data_dir / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            str(int(timeout_s)),
            "start",
            timeout_s=timeout_s + 10,
        )
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with psycopg.connect(self.dsn(), connect_timeout=2):
                    return self
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise PostgresError(
                        f"PostgreSQL on port {self.port} did not answer: {exc}"
                    ) from exc
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server (fast shutdown); the data folder stays."""
        if not self.running:
            return
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def create_database(self, name: str | None = None) -> str:
        """Create a database (a fresh random name by default) and return its URL."""
        name = name or f"bright_{uuid.uuid4().hex[:12]}"
        if not name.replace("_", "").isalnum():
            raise PostgresError(f"database names here are letters, digits and _: {name!r}")
        try:
            with psycopg.connect(self.dsn(), autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            raise PostgresError(f"creating database {name} failed: {exc}") from exc
        return self.url(name)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
