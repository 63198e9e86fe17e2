"""A real PostgreSQL server for the store tests, started by the tests themselves (no mocks, nothing shared).

* Debian's binaries (``postgresql`` package, which ``.ci/run`` installs when missing) in
  ``/usr/lib/postgresql/15/bin``, or ``$OUTCOMES_PG_BIN``.
* ``initdb`` into a new temporary folder.  PostgreSQL refuses to run as root, so when the tests run as root
  the server runs as an unprivileged OS user through ``runuser``: the ``postgres`` account Debian's package
  creates, or ``$OUTCOMES_PG_OS_USER``.  The folder (data and socket) belongs to that user, mode 0700.
* It listens on a Unix socket in that folder (trust: only that user and root can reach the folder) and on
  127.0.0.1 at a free port (password only, scram-sha-256): nothing beyond the loopback interface.
* fsync is off: the data folder is thrown away at the end of the session (``pg_ctl stop``, then deleted).
* One server per test session; each test gets a database of its own (``postgres_db``).

When the server cannot start, every PostgreSQL test FAILS with the server's log.  To leave them out on a
machine without PostgreSQL, set ``OUTCOMES_SKIP_POSTGRES=1``: they are then skipped, and say why.  The
variable is ignored under CI (``CI=true``), where the tests must run.
"""
from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

import pytest

def _pg_bin() -> Path:
    """$OUTCOMES_PG_BIN, else Debian's PostgreSQL 15, else the newest version Debian installed."""
    if os.environ.get("OUTCOMES_PG_BIN"):
        return Path(os.environ["OUTCOMES_PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    default = Path("/usr/lib/postgresql/15/bin")
    return default if (default / "initdb").exists() or not found else found[-1].parent


PG_BIN = _pg_bin()
SUPERUSER = "outcomes_test"
BACKENDS = ["sqlite", "postgresql"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One throwaway PostgreSQL server (see the module's docstring)."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="outcomes-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = _free_port()
        self.prefix: list[str] = []
        self._names = itertools.count(1)
        if os.geteuid() == 0:
            user = os.environ.get("OUTCOMES_PG_OS_USER", "postgres")
            try:
                account = pwd.getpwnam(user)
            except KeyError:
                raise RuntimeError(f"the tests run as root and PostgreSQL will not: they need an unprivileged OS "
                                   f"user {user!r} (Debian's postgresql package creates 'postgres'; or set "
                                   "OUTCOMES_PG_OS_USER)") from None
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self.prefix = ["runuser", "-u", user, "--"]
        self.root.chmod(0o700)

    def _run(self, *args: str) -> None:
        result = subprocess.run([*self.prefix, *args], capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
                               f"\n{log}")

    def start(self) -> "PostgresServer":
        for tool in ("initdb", "pg_ctl"):
            if not (PG_BIN / tool).exists():
                raise RuntimeError(f"{PG_BIN / tool} is missing: install Debian's postgresql package (.ci/run does) "
                                   "or set OUTCOMES_PG_BIN to the folder of initdb and pg_ctl")
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "-E", "UTF8", "--no-locale",
                  "--auth-local=trust", "--auth-host=scram-sha-256")
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root} "
                   "-c fsync=off -c full_page_writes=off -c max_connections=60 -c shared_buffers=32MB")
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
                  "-t", "120", "start")
        return self

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, dbname: str = "postgres", user: str = SUPERUSER) -> str:
        """A URL over the Unix socket (no password: trust in the private folder)."""
        return f"postgresql://{user}@{quote(str(self.root), safe='')}:{self.port}/{dbname}"

    def tcp_url(self, dbname: str, user: str) -> str:
        """A URL over 127.0.0.1 (the password comes from $PGPASSWORD or .pgpass)."""
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    def admin(self, sql: str, dbname: str = "postgres") -> list:
        import psycopg

        with psycopg.connect(self.url(dbname), autocommit=True) as con:
            cur = con.execute(sql)
            return cur.fetchall() if cur.description else []

    def new_database(self, prefix: str = "store") -> str:
        """A new, empty database; its name."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        self.admin(f'CREATE DATABASE "{name}"')
        return name


@pytest.fixture(scope="session")
def postgres_server():
    if os.environ.get("OUTCOMES_SKIP_POSTGRES") and not os.environ.get("CI"):
        pytest.skip("OUTCOMES_SKIP_POSTGRES is set: the PostgreSQL store tests are left out on this machine")
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise RuntimeError("psycopg is not installed: make installs it from requirements.lock") from exc
    server = PostgresServer()
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    yield server
    server.stop()


@pytest.fixture
def postgres_db(postgres_server) -> str:
    """The URL of a new, empty database on the test server (one per test)."""
    return postgres_server.url(postgres_server.new_database())


@pytest.fixture(params=BACKENDS)
def store_db(request, tmp_path):
    """Where a test's store lives: an SQLite file, and (second run) a PostgreSQL database of its own."""
    if request.param == "sqlite":
        return tmp_path / "store.sqlite"
    return request.getfixturevalue("postgres_db")
