"""A real, throwaway PostgreSQL server for tests.

``start_postgres()`` runs ``initdb`` into a fresh temporary directory and starts a
private server on a free 127.0.0.1 port with durability off (fast); ``stop()`` (also
run at exit, or by a watchdog if this process is killed) kills it and deletes the
directory.  PostgreSQL refuses to run as root, so under root the server binaries run
as the ``postgres`` system user.

    with PostgresServer() as pg:
        url = pg.new_database("case_1")  # postgresql+psycopg://...
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

__all__ = ["PostgresServer", "PostgresUnavailable", "find_postgres_bindir", "start_postgres"]

INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH nor under /usr/lib/postgresql"
    "/*/bin. Install them: `apt-get install -y postgresql` (Debian/Ubuntu), `brew install postgresql`."
)
_SERVER_OPTIONS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are not installed."""


def find_postgres_bindir() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``: PATH first, then the
    highest version under ``/usr/lib/postgresql/*/bin``."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl and Path(initdb).parent == Path(pg_ctl).parent:
        return Path(initdb).parent

    def version(bindir: str) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", Path(bindir).parent.name))

    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        if os.access(Path(bindir, "initdb"), os.X_OK) and os.access(Path(bindir, "pg_ctl"), os.X_OK):
            return Path(bindir)
    raise PostgresUnavailable(INSTALL_HINT)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """A private PostgreSQL server in a temporary directory (see module doc)."""

    user = "postgres"

    def __init__(self, dbname: str = "hpo", start_attempts: int = 3) -> None:
        self.bindir = find_postgres_bindir()
        self.dbname = dbname
        self.start_attempts = start_attempts
        self.port: int | None = None
        self.basedir: Path | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None

    def start(self) -> PostgresServer:
        """initdb, start the server, create ``self.dbname``; returns self."""
        if self.port is not None:
            return self
        self.basedir = Path(tempfile.mkdtemp(prefix="hpo-pg-"))
        atexit.register(self.stop)
        try:
            if os.geteuid() == 0:
                try:
                    shutil.chown(self.basedir, user="postgres")
                except LookupError:
                    raise PostgresUnavailable(f"root needs a `postgres` user. {INSTALL_HINT}") from None
            self._run("initdb", "-D", str(self.datadir), "-U", self.user, "--auth=trust",
                      "-E", "UTF8", "--locale=C", "--no-sync")
            self._start_server()
            self._start_watchdog()
            self.new_database(self.dbname)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_server(self) -> None:
        log = self.datadir.parent / "log"
        for attempt in range(1, self.start_attempts + 1):
            log.unlink(missing_ok=True)
            port = _free_port()
            opts = f"-h 127.0.0.1 -p {port} -k {shlex.quote(str(self.basedir))} {_SERVER_OPTIONS}"
            try:
                self._run("pg_ctl", "-D", str(self.datadir), "-o", opts, "-w", "-t", "60",
                          "start", "-l", str(log))
            except RuntimeError:
                text = log.read_text(errors="replace") if log.exists() else ""
                if attempt < self.start_attempts and "could not bind" in text:
                    continue  # another process grabbed the port first: pick another
                raise RuntimeError(f"PostgreSQL failed to start; server log:\n{text[-3000:]}") from None
            self.port = port
            return

    def _start_watchdog(self) -> None:
        """Stop the server even if this process dies without running atexit (SIGKILL,
        crash): a detached shell waits for EOF on a pipe only we hold open."""
        stop = shlex.join(self._command("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "stop"))
        script = f"cat >/dev/null; {stop} >/dev/null 2>&1; rm -rf {shlex.quote(str(self.basedir))}"
        self._watchdog = subprocess.Popen(["sh", "-c", script], stdin=subprocess.PIPE, cwd="/",
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          start_new_session=True)

    def stop(self) -> None:
        """Kill the server (``pg_ctl stop -m immediate``) and delete its directory."""
        atexit.unregister(self.stop)
        if self.basedir is None:
            return
        if self.datadir.joinpath("postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):  # already gone
                self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.basedir, ignore_errors=True)
        if self._watchdog is not None:
            assert self._watchdog.stdin is not None
            self._watchdog.stdin.close()  # EOF: it repeats the (now no-op) cleanup and exits
            self._watchdog.wait(timeout=60)
            self._watchdog = None
        self.basedir = None
        self.port = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def datadir(self) -> Path:
        assert self.basedir is not None, "server not started"
        return self.basedir / "data"

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the default database (``hpo``)."""
        return self.url_for(self.dbname)

    def url_for(self, dbname: str) -> str:
        """SQLAlchemy URL (psycopg 3 driver) of database ``dbname`` on this server."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self._port()}/{dbname}"

    def conninfo(self, dbname: str | None = None) -> str:
        """libpq connection string, for ``psycopg.connect``."""
        return f"host=127.0.0.1 port={self._port()} user={self.user} dbname={dbname or self.dbname}"

    def new_database(self, name: str) -> str:
        """CREATE DATABASE ``name`` (a fresh, empty one) and return its URL."""
        with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def _port(self) -> int:
        if self.port is None:
            raise RuntimeError("PostgreSQL server is not running")
        return self.port

    def _command(self, tool: str, *args: str) -> list[str]:
        """Command line for a server binary, as the ``postgres`` user when we are root."""
        cmd = [str(self.bindir / tool), *args]
        if os.geteuid() != 0:
            return cmd
        if shutil.which("runuser"):
            return ["runuser", "-u", "postgres", "--", *cmd]
        return ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(cmd)]

    def _run(self, tool: str, *args: str) -> None:
        cmd = self._command(tool, *args)
        proc = subprocess.run(cmd, cwd=self.basedir, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"{shlex.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")


def start_postgres(dbname: str = "hpo") -> PostgresServer:
    """Start a throwaway server with database ``dbname``; call ``stop()`` when done."""
    return PostgresServer(dbname).start()
