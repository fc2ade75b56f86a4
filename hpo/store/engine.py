"""Database engines for the store: URL validation, SQLite tuning, read-only opens.

SQLite (the embedded default) runs in WAL mode (switched on by
``hpo.store.migrate.ensure_schema`` once the schema checks out, see
:func:`enable_wal`) with a busy timeout, and every
write transaction starts with ``BEGIN IMMEDIATE`` so that concurrent writers
queue on the database lock instead of failing when a read lock cannot be
upgraded. ``synchronous=NORMAL`` keeps every committed transaction across a
crash of any process (the WAL is fsynced at checkpoints); append
``?synchronous=FULL`` to the URL to also survive power loss at some cost.

PostgreSQL (``postgresql+psycopg://user@host/db``) is the shared store for many
processes and machines.

``get_engine(url, read_only=True)`` (or ``sqlite:///PATH?mode=ro``) reads without
ever writing: the SQLite file must exist and is opened with a ``mode=ro`` URI,
PostgreSQL sessions are read-only transactions, and :func:`write_connection`
refuses the engine. Raw driver errors on every engine are translated into
``StorageError`` s by :mod:`hpo.store.errors`. The schema itself (creation,
migration, checks) is :mod:`hpo.store.migrate`, which imports this module (never the
other way round).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError

from hpo.errors import StorageError, StorageURLError
from hpo.store.errors import driver_missing, install, mask_password

__all__ = ["normalize_url", "get_engine", "write_connection", "is_read_only", "enable_wal", "dispose_engines"]

_SUPPORTED = {"sqlite": "sqlite:///PATH.db", "postgresql": "postgresql+psycopg://USER@HOST:PORT/DB"}
_SQLITE_PRAGMAS = {"synchronous": ("OFF", "NORMAL", "FULL", "EXTRA")}
#: SQLite URL options that are not pragmas: ``mode=ro`` opens the store read-only.
_SQLITE_OPTIONS = {"mode": ("ro",)}

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def _masked(url: str | URL) -> str:
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    return mask_password(url)


def normalize_url(url: str | URL) -> URL:
    """Validate a storage URL and fill in the default driver.

    Raises:
        StorageURLError: the URL is malformed or names an unsupported backend (messages never
            show the URL's password).
    """
    if not isinstance(url, (str, URL)):
        raise StorageURLError(
            f"storage: expected a URL string such as {_SUPPORTED['sqlite']!r}, but got {type(url).__name__} "
            f"{_masked(repr(url))[:200]}"
        )
    if isinstance(url, str) and not url.strip():
        raise StorageURLError(f"storage: expected a URL such as {_SUPPORTED['sqlite']!r}, but got an empty string")
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except (ArgumentError, ValueError) as exc:
        raise StorageURLError(
            f"storage: {_masked(url)[:200]!r} is not a database URL ({_masked(str(exc))[:200]}); expected one of "
            f"{sorted(_SUPPORTED.values())}"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in _SUPPORTED:
        raise StorageURLError(
            f"storage: backend {backend!r} is not supported; use one of {sorted(_SUPPORTED.values())}"
        )
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        if not parsed.host and "host" not in parsed.query:
            raise StorageURLError(f"storage: a PostgreSQL URL needs a host, but got {_masked(parsed)!r}")
        if not parsed.database:
            raise StorageURLError(f"storage: a PostgreSQL URL needs a database name, but got {_masked(parsed)!r}")
    else:
        if parsed.drivername not in ("sqlite", "sqlite+pysqlite"):
            raise StorageURLError(f"storage: SQLite driver {parsed.drivername!r} is not supported; use 'sqlite'")
        if not parsed.database or parsed.database == ":memory:":
            raise StorageURLError(
                "storage: an in-memory SQLite database cannot be shared between workers and is lost at "
                f"exit; give a file, e.g. {_SUPPORTED['sqlite']!r}"
            )
        allowed = {**_SQLITE_PRAGMAS, **_SQLITE_OPTIONS}
        for key, value in parsed.query.items():
            if key not in allowed:
                raise StorageURLError(
                    f"storage: unknown SQLite URL option {key!r}; allowed: {sorted(allowed)}"
                )
            if isinstance(value, tuple) or str(value).upper() not in [v.upper() for v in allowed[key]]:
                raise StorageURLError(
                    f"storage: {key}={value!r} is not allowed; use one of {allowed[key]}"
                    + (" (mode=ro opens the store read-only; leave it out to write)" if key == "mode" else "")
                )
    return parsed


def _url_read_only(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and str(url.query.get("mode", "")).lower() == "ro"


def _sqlite_engine(url: URL, read_only: bool) -> Engine:
    synchronous = str(url.query.get("synchronous", "NORMAL")).upper()
    path = Path(url.database).expanduser()
    if path.is_dir():
        raise StorageError(
            f"storage: {str(path.resolve())!r} is a folder, not a SQLite database file; give a file path, "
            f"e.g. 'sqlite:///{path / 'hpo.db'}'"
        )
    if read_only:
        if not path.exists():
            raise StorageError(
                f"storage: no SQLite store at {str(path.resolve())!r} (nothing was created); check the path, or "
                "create a store with `hpo run CONFIG` or hpo.create_study(...)"
            )
        # The file is opened read-only at the SQLite level; no WAL switch, nothing created.
        connect_url = sa.URL.create(
            "sqlite", database=f"file:{quote(str(path.resolve()))}?mode=ro", query={"uri": "true"}
        )
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            blocker = next((p for p in path.parent.parents if p.exists() and not p.is_dir()), None)
            if blocker is None and path.parent.exists() and not path.parent.is_dir():
                blocker = path.parent
            what = f"{str(blocker)!r} is a file, not a folder" if blocker is not None else exc.strerror
            raise StorageError(
                f"storage: cannot create the folder of the SQLite store {str(path)!r}: {what}; "
                "give a path in a folder"
            ) from exc
        connect_url = url.set(database=str(path), query={})
    engine = sa.create_engine(
        connect_url,
        connect_args={"timeout": 60.0},
        pool_size=16,
        max_overflow=32,
        pool_reset_on_return=None,
        execution_options={"hpo_read_only": read_only, "hpo_where": str(path.resolve())},
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let us emit BEGIN ourselves (pysqlite's implicit transactions are wrong for us).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        # No journal_mode=WAL here: it is persistent and would convert any database we merely
        # connect to; ensure_schema (hpo.store.migrate) switches a store once its schema checks out.
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _postgres_engine(url: URL, read_only: bool) -> Engine:
    # Every use of a connection here ends its transaction (commit, or rollback
    # on close), so the pool's extra reset round trip is skipped.
    options: dict[str, Any] = {"hpo_read_only": read_only, "hpo_where": url.render_as_string(hide_password=True)}
    if read_only:
        options["postgresql_readonly"] = True
    try:
        return sa.create_engine(
            url, pool_size=16, max_overflow=32, pool_recycle=1800, pool_reset_on_return=None,
            execution_options=options,
        )
    except ImportError as exc:
        raise driver_missing(exc, url) from None


def get_engine(url: str | URL, read_only: bool = False) -> Engine:
    """Return the process-wide engine for ``url`` (created once, shared by threads).

    Args:
        url: the store's URL; a SQLite URL with ``?mode=ro`` is always opened read-only.
        read_only: open for reading only: a SQLite file must exist and is opened with a ``mode=ro``
            URI (no WAL switch); PostgreSQL sessions are read-only transactions;
            :func:`write_connection` refuses such an engine.

    Raises:
        StorageURLError: a malformed URL.
        StorageError: a SQLite path that is a folder or has a file as a parent, a read-only open of a
            missing file, or a driver that is not installed. Driver errors on later connects and
            statements are translated by :mod:`hpo.store.errors`.
    """
    parsed = normalize_url(url)
    read_only = read_only or _url_read_only(parsed)
    key = f"{parsed.render_as_string(hide_password=False)}|ro={read_only}|pid={os.getpid()}"
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            if parsed.get_backend_name() == "sqlite":
                engine = _sqlite_engine(parsed, read_only)
            else:
                engine = _postgres_engine(parsed, read_only)
            install(engine, parsed, read_only)
            _engines[key] = engine
        elif read_only and parsed.get_backend_name() == "sqlite" and not Path(parsed.database).expanduser().exists():
            raise StorageError(
                f"storage: no SQLite store at {str(Path(parsed.database).expanduser().resolve())!r} (it was removed); "
                "nothing was created"
            )
        return engine


def enable_wal(engine: Engine) -> None:
    """Switch a writable SQLite store to WAL mode (persistent in the file; a no-op when it is already)."""
    if engine.dialect.name != "sqlite" or is_read_only(engine):
        return
    with engine.connect() as conn:
        raw = conn.connection.driver_connection  # outside any transaction: SQLite refuses the switch inside one
        mode = raw.execute("PRAGMA journal_mode=WAL").fetchone()
    if mode is None or str(mode[0]).lower() != "wal":
        raise StorageError(
            f"storage: cannot switch {engine.get_execution_options().get('hpo_where')} to WAL mode "
            f"(journal_mode stays {mode[0] if mode else None!r}); hpo needs WAL for concurrent workers"
        )


def is_read_only(engine: Engine) -> bool:
    """Whether ``engine`` was opened read-only by :func:`get_engine`."""
    return bool(engine.get_execution_options().get("hpo_read_only", False))


def write_connection(engine: Engine) -> sa.Connection:
    """A connection whose transactions take the write lock up front on SQLite.

    Raises:
        StorageError: ``engine`` was opened read-only (nothing is written).
    """
    if is_read_only(engine):
        place = engine.get_execution_options().get("hpo_where", "the store")
        raise StorageError(
            f"storage: {place} was opened read-only (a read command, or '?mode=ro' in the URL), so it cannot "
            "be written; nothing was written. Open it without mode=ro to write"
        )
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

