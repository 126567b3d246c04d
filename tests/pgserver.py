"""A throwaway PostgreSQL server for tests, from the distribution's own binaries.

:class:`PostgresServer` runs ``initdb`` in a fresh temporary folder, starts ``postgres`` on
loopback only (``127.0.0.1``, a free port, its Unix socket inside the same folder, trust
authentication for one superuser), and on exit stops it and deletes the folder. Nothing
outside the folder is touched.

PostgreSQL refuses to run as root. When the tests run as root (as CI does), the server runs as
the ``postgres`` system user that Debian's ``postgresql`` package creates (or ``nobody``), and
the folder is handed to that user.

Example:
    ```python
    with PostgresServer() as server:
        url = server.create_database("study")   # postgresql://fakezoo@127.0.0.1:PORT/study
    ```
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SUPERUSER = "fakezoo"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def find_bindir() -> Path:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres`` (newest version first)."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
        reverse=True,
    )
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(on_path)
    for initdb in candidates:
        bindir = Path(initdb).parent
        if (bindir / "pg_ctl").exists() and (bindir / "postgres").exists():
            return bindir
    raise PostgresUnavailable(
        "No PostgreSQL server binaries (initdb, pg_ctl) found under /usr/lib/postgresql/*/bin "
        "or on PATH: install them with `apt-get install postgresql`."
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_user() -> pwd.struct_passwd | None:
    """The unprivileged account to run the server as, or None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise PostgresUnavailable(
        "Running as root, and neither a 'postgres' nor a 'nobody' "
        "account exists to run PostgreSQL as."
    )


class PostgresServer:
    """A private PostgreSQL server on 127.0.0.1; use it as a context manager."""

    def __init__(self, bindir: Path | None = None):
        self.bindir = bindir or find_bindir()
        self.user = _server_user()
        self.port = 0
        self.root: Path | None = None

    # -- running the binaries as the right user --------------------------------------------
    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        options = {}
        if self.user is not None:
            options = dict(user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[])
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}
        result = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            env=env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
            **options,
        )
        if check and result.returncode != 0:
            log = self.root / "server.log" if self.root else None
            tail = log.read_text()[-2000:] if log and log.exists() else ""
            raise RuntimeError(
                f"{args[0]} failed ({result.returncode}): {result.stderr}{result.stdout}\n{tail}"
            )
        return result

    @property
    def url(self) -> str:
        """The URL of the ``postgres`` maintenance database."""
        return self.database_url("postgres")

    def database_url(self, name: str, driver: str = "postgresql") -> str:
        return f"{driver}://{SUPERUSER}@127.0.0.1:{self.port}/{name}"

    def start(self) -> PostgresServer:
        # Not under pytest's basetemp: that is mode 0700 and root's, closed to the server user.
        self.root = Path(tempfile.mkdtemp(prefix="fakezoo-pg-"))
        if self.user is not None:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        try:
            self._run(
                "initdb", "-D", "data", "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-sync"
            )
            for attempt in range(3):  # the free port may be taken between probe and bind
                self.port = free_port()
                options = (
                    f"-c listen_addresses=127.0.0.1 -p {self.port} "
                    f"-c unix_socket_directories={self.root} -c fsync=off "
                    f"-c synchronous_commit=off -c full_page_writes=off "
                    f"-c max_connections=100"
                )
                started = self._run(
                    "pg_ctl",
                    "start",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    "data",
                    "-l",
                    "server.log",
                    "-o",
                    options,
                    check=attempt == 2,
                )
                if started.returncode == 0:
                    break
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (immediately: it holds nothing to keep) and delete its folder."""
        if self.root is None:
            return
        if (self.root / "data" / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-D", "data", "-m", "immediate", "-w", check=False)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- databases -----------------------------------------------------------------------
    def execute(self, sql: str, database: str = "postgres") -> list[tuple]:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=database, autocommit=True
        ) as conn:
            cursor = conn.execute(sql)
            return cursor.fetchall() if cursor.description else []

    def create_database(self, name: str, driver: str = "postgresql") -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        self.execute(f'CREATE DATABASE "{name}"')
        return self.database_url(name, driver)

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.execute("SELECT 1")
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
