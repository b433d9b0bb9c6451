"""A throwaway PostgreSQL server for tests and benchmarks, from Debian's server binaries.

The test suite runs against SQLite and PostgreSQL alike; this starts a private cluster on a free
loopback port with its unix socket in its own temporary folder, so it never touches a system
server::

    server = PostgresServer.start()
    url = server.create_database("scratch")
    ...
    server.stop()

As root, the binaries run as the ``postgres`` operating-system user (``initdb`` refuses root).
The cluster runs with PostgreSQL's durable defaults (``fsync``, ``full_page_writes``,
``synchronous_commit`` on) and data checksums on, so the durability checks and crash tests test
what production runs. (They are not forced on the command line, so a test can turn one off with
``ALTER SYSTEM`` and see the app refuse the server.)
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from relapsewatch.store.errors import StoreError

__all__ = ["PostgresServer", "PostgresUnavailableError", "postgres_bin_dir"]

INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) were not found under /usr/lib/postgresql/*/bin; "
    "run scripts/install-system-deps (it installs Debian's postgresql package), then run the "
    "tests again. Both backends must be tested; the PostgreSQL tests are never skipped."
)


class PostgresUnavailableError(StoreError):
    """No PostgreSQL server binaries, or the throwaway server did not start."""


def postgres_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that has ``initdb`` and ``pg_ctl``."""
    found = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    found = [p for p in found if (p / "pg_ctl").exists()]
    if not found:
        raise PostgresUnavailableError(INSTALL_HINT)
    return found[-1]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PostgresServer:
    """A running throwaway cluster (see the module docstring)."""

    root: Path
    port: int
    bin_dir: Path
    run_as: str | None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    @classmethod
    def start(cls, *, parent: str | os.PathLike[str] | None = None) -> PostgresServer:
        """Create a cluster in a new temporary folder and start it on a free loopback port."""
        bin_dir = postgres_bin_dir()
        root = Path(tempfile.mkdtemp(prefix="rw-pg-", dir=parent))
        run_as: str | None = None
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(root, ignore_errors=True)
                raise PostgresUnavailableError(INSTALL_HINT) from None
            os.chown(root, account.pw_uid, account.pw_gid)
            run_as = "postgres"
        server = cls(root=root, port=_free_port(), bin_dir=bin_dir, run_as=run_as)
        try:
            server._run(
                "initdb",
                "-D",
                str(server.data_dir),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--data-checksums",
                "--no-sync",
            )
            server.launch()
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return server

    def _command(self, program: str, *args: str) -> list[str]:
        command = [str(self.bin_dir / program), *args]
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as, "--", *command]
        return command

    def _run(self, program: str, *args: str) -> str:
        done = subprocess.run(
            self._command(program, *args), capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            log = self.log_file.read_text() if self.log_file.exists() else ""
            raise PostgresUnavailableError(
                f"{program} failed ({done.returncode}): {done.stderr.strip()[-800:]}\n{log[-800:]}"
            )
        return done.stdout

    def launch(self) -> None:
        """Start (or restart after :meth:`crash`) the server; wait until it accepts connections."""
        options = " ".join(
            [
                f"-p {self.port}",
                f"-k {self.socket_dir}",
                "-c listen_addresses=127.0.0.1",
                "-c max_connections=60",
                "-c shared_buffers=32MB",
            ]
        )
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-w", "-t", "60",
            "-o", options, "start",
        )  # fmt: skip

    def crash(self) -> None:
        """Stop the server as a power cut would (``pg_ctl stop -m immediate``)."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        """Stop the server and delete its folder."""
        try:
            if (self.data_dir / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL for ``database`` on this server (loopback TCP, trust auth)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str, database: str = "postgres") -> str:
        """Run one SQL statement with ``psql`` (outside any transaction) and return its output."""
        return self._run(
            "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", str(self.socket_dir),
            "-p", str(self.port), "-U", "postgres", "-d", database, "-c", sql,
        )  # fmt: skip

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create a database (optionally copied from ``template``) and return its URL."""
        _check_identifier(name)
        clause = ""
        if template is not None:
            _check_identifier(template)
            clause = f" TEMPLATE {template}"
        self.execute(f"CREATE DATABASE {name}{clause}")
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, ending any session still connected to it."""
        _check_identifier(name)
        self.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def amcheck(self, database: str) -> str:
        """Run ``pg_amcheck --heapallindexed`` on ``database``; raise if it reports corruption."""
        self.execute("CREATE EXTENSION IF NOT EXISTS amcheck", database)
        return self._run(
            "pg_amcheck", "--heapallindexed", "-h", str(self.socket_dir), "-p", str(self.port),
            "-U", "postgres", database,
        )  # fmt: skip


def _check_identifier(name: str) -> None:
    if not name.replace("_", "").isalnum() or not name[0].isalpha():
        raise ValueError(f"`name` must be a plain SQL identifier, got {name!r}")
