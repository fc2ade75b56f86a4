"""Database engines for the store: URL validation, SQLite tuning, schema upgrade.

SQLite (the embedded default) runs in WAL mode with a busy timeout, and every
write transaction starts with ``BEGIN IMMEDIATE`` so that concurrent writers
queue on the database lock instead of failing when a read lock cannot be
upgraded. ``synchronous=NORMAL`` keeps every committed transaction across a
crash of any process (the WAL is fsynced at checkpoints); append
``?synchronous=FULL`` to the URL to also survive power loss at some cost.

PostgreSQL (``postgresql+psycopg://user@host/db``) is the shared store for many
processes and machines.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError

from hpo.errors import SchemaVersionError, StorageURLError

__all__ = ["normalize_url", "get_engine", "write_connection", "ensure_schema", "dispose_engines"]

_SUPPORTED = {"sqlite": "sqlite:///PATH.db", "postgresql": "postgresql+psycopg://USER@HOST:PORT/DB"}
_SQLITE_PRAGMAS = {"synchronous": ("OFF", "NORMAL", "FULL", "EXTRA")}

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def normalize_url(url: str | URL) -> URL:
    """Validate a storage URL and fill in the default driver.

    Raises:
        StorageURLError: the URL is malformed or names an unsupported backend.
    """
    if not isinstance(url, (str, URL)):
        raise StorageURLError(f"storage: expected a URL string such as {_SUPPORTED['sqlite']!r}, but got {url!r}")
    if isinstance(url, str) and not url.strip():
        raise StorageURLError(f"storage: expected a URL such as {_SUPPORTED['sqlite']!r}, but got an empty string")
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except (ArgumentError, ValueError) as exc:
        raise StorageURLError(
            f"storage: {url!r} is not a database URL; expected one of {sorted(_SUPPORTED.values())}"
        ) from exc
    backend = parsed.get_backend_name()
    if backend not in _SUPPORTED:
        raise StorageURLError(
            f"storage: backend {backend!r} is not supported; use one of {sorted(_SUPPORTED.values())}"
        )
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        if not parsed.host and "host" not in parsed.query:
            raise StorageURLError(f"storage: a PostgreSQL URL needs a host, but got {str(parsed)!r}")
        if not parsed.database:
            raise StorageURLError(f"storage: a PostgreSQL URL needs a database name, but got {str(parsed)!r}")
    else:
        if parsed.drivername not in ("sqlite", "sqlite+pysqlite"):
            raise StorageURLError(f"storage: SQLite driver {parsed.drivername!r} is not supported; use 'sqlite'")
        if not parsed.database or parsed.database == ":memory:":
            raise StorageURLError(
                "storage: an in-memory SQLite database cannot be shared between workers and is lost at "
                f"exit; give a file, e.g. {_SUPPORTED['sqlite']!r}"
            )
        for key, value in parsed.query.items():
            if key not in _SQLITE_PRAGMAS and key != "mode":
                raise StorageURLError(
                    f"storage: unknown SQLite URL option {key!r}; allowed: {sorted(_SQLITE_PRAGMAS)}"
                )
            if key in _SQLITE_PRAGMAS and str(value).upper() not in _SQLITE_PRAGMAS[key]:
                raise StorageURLError(
                    f"storage: {key}={value!r} is not allowed; use one of {_SQLITE_PRAGMAS[key]}"
                )
    return parsed


def _sqlite_engine(url: URL, read_only: bool) -> Engine:
    synchronous = str(url.query.get("synchronous", "NORMAL")).upper()
    path = Path(url.database).expanduser()
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    if read_only:
        # The dashboard opens the file read-only at the SQLite level.
        connect_url = sa.URL.create("sqlite", database=f"file:{path.resolve()}?mode=ro", query={"uri": "true"})
    else:
        connect_url = url.set(database=str(path), query={})
    engine = sa.create_engine(
        connect_url, connect_args={"timeout": 60.0}, pool_size=16, max_overflow=32, pool_reset_on_return=None
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let us emit BEGIN ourselves (pysqlite's implicit transactions are wrong for us).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if not read_only:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def get_engine(url: str | URL, read_only: bool = False) -> Engine:
    """Return the process-wide engine for ``url`` (created once, shared by threads)."""
    parsed = normalize_url(url)
    key = f"{parsed.render_as_string(hide_password=False)}|ro={read_only}|pid={os.getpid()}"
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            if parsed.get_backend_name() == "sqlite":
                engine = _sqlite_engine(parsed, read_only)
            else:
                # Every use of a connection here ends its transaction (commit, or rollback
                # on close), so the pool's extra reset round trip is skipped.
                kwargs: dict[str, Any] = {
                    "pool_size": 16,
                    "max_overflow": 32,
                    "pool_recycle": 1800,
                    "pool_reset_on_return": None,
                }
                if read_only:
                    kwargs["execution_options"] = {"postgresql_readonly": True}
                engine = sa.create_engine(parsed, **kwargs)
            _engines[key] = engine
        return engine


def write_connection(engine: Engine) -> sa.Connection:
    """A connection whose transactions take the write lock up front on SQLite."""
    conn = engine.connect()
    if engine.dialect.name == "sqlite":
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
    return conn


def dispose_engines() -> None:
    """Close every pooled connection (after fork, or at the end of tests)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose(close=False)
        _engines.clear()


os.register_at_fork(after_in_child=lambda: _engines.clear())


def _current_revision(conn: sa.Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def ensure_schema(engine: Engine) -> None:
    """Create the schema or migrate it to this code's revision (Alembic).

    Concurrent callers are serialised (SQLite write lock, PostgreSQL advisory
    lock inside the migration), so many workers can open a new store at once.

    Raises:
        SchemaVersionError: the database was written by a newer hpo.
    """
    from hpo.store.migrate import known_revisions, upgrade
    from hpo.store.schema import SCHEMA_REVISION

    with engine.connect() as conn:
        current = _current_revision(conn)
    if current == SCHEMA_REVISION:
        return
    if current is not None and current not in known_revisions():
        raise SchemaVersionError(
            f"storage: the database schema revision {current!r} is unknown to this hpo (expects "
            f"{SCHEMA_REVISION!r}); upgrade hpo to read it"
        )
    upgrade(engine)
