"""Raw database-driver errors translated into :class:`~hpo.errors.StorageError` s that say what to do.

The store installs :func:`install` on every engine it creates (SQLAlchemy's
``handle_error`` event), so an error of sqlite3 or psycopg on connect or in a
statement reaches the caller as a ``StorageError`` naming the store (a SQLite
file's path, or a PostgreSQL URL without its password) and the remedy; the
original error stays attached as ``__cause__``. Errors that are not about the
store's location or medium (constraint violations, SQL errors, lock timeouts)
pass through unchanged, and so does every :class:`~hpo.errors.HpoError`.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from hpo.errors import HpoError, StorageError

__all__ = ["mask_password", "translate", "driver_missing", "install", "where"]

_PASSWORD = re.compile(r"(://[^/@:\s]*:)[^@/\s]*@")
_MAX_REASON = 300

#: pip packages of the drivers SQLAlchemy knows for our backends (module name -> package).
_DRIVER_PACKAGES = {
    "psycopg": "psycopg[binary]",
    "psycopg2": "psycopg2-binary",
    "pg8000": "pg8000",
    "asyncpg": "asyncpg",
    "psycopg2cffi": "psycopg2cffi",
}


def mask_password(text: str) -> str:
    """``scheme://user:PASSWORD@host`` -> ``scheme://user:***@host`` anywhere in ``text``."""
    return _PASSWORD.sub(r"\1***@", text)


def _reason(exc: BaseException) -> str:
    text = mask_password(" ".join(str(exc).split()))
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."


def where(url: URL) -> str:
    """How messages name a store: a SQLite file's absolute path, or the URL without its password."""
    if url.get_backend_name() == "sqlite" and url.database:
        from pathlib import Path

        return str(Path(url.database).expanduser().resolve())
    return url.render_as_string(hide_password=True)


def _host_port(url: URL) -> str:
    host = url.host or str(url.query.get("host", "localhost"))
    return f"{host}:{url.port or 5432}"


def _sqlite(exc: sqlite3.Error, place: str, read_only: bool) -> StorageError | None:
    name = getattr(exc, "sqlite_errorname", "") or ""
    reason = _reason(exc)
    if name == "SQLITE_NOTADB":
        return StorageError(
            f"storage: {place} is not a SQLite database ({reason}); give the path of an hpo store, "
            "or a new file name for a new store"
        )
    if name == "SQLITE_FULL":
        return StorageError(
            f"storage: cannot write to {place}: the database or disk is full ({reason}); the transaction was "
            "rolled back; free disk space (or raise the quota) and retry"
        )
    if name.startswith("SQLITE_READONLY"):
        if read_only:  # the store was opened read-only on purpose: the caller asked for this
            return None
        return StorageError(
            f"storage: cannot write to {place}: it is read-only ({reason}); check the permissions of the file "
            "and its folder and that the file system is mounted writable, or read it with '?mode=ro'"
        )
    if name.startswith("SQLITE_CANTOPEN"):
        return StorageError(
            f"storage: cannot open the SQLite file {place} ({reason}); its folder must exist, and both must be "
            "readable (and writable, to write)"
        )
    if name.startswith("SQLITE_CORRUPT"):
        return StorageError(f"storage: the SQLite file {place} is corrupt ({reason}); restore it from a backup")
    if name.startswith("SQLITE_IOERR"):
        return StorageError(f"storage: I/O error on the SQLite file {place} ({reason}); check the disk")
    if name in ("SQLITE_PERM", "SQLITE_AUTH"):
        return StorageError(f"storage: permission denied on the SQLite file {place} ({reason})")
    return None


def _postgres(exc: Exception, url: URL, read_only: bool) -> StorageError | None:
    sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    reason = _reason(exc)
    at = _host_port(url)
    text = str(exc)
    connecting = any(mark in text for mark in ("connection failed", "could not connect", "connection to server"))
    if sqlstate is None and connecting:
        if "password authentication failed" in text or "no password supplied" in text:
            return StorageError(
                f"storage: PostgreSQL at {at} refused user {url.username!r}: authentication failed; check the "
                "user and password in the URL (passwords are never shown)"
            )
        if "does not exist" in text and "database" in text:
            return StorageError(
                f"storage: the database {url.database!r} does not exist on the PostgreSQL server at {at}; "
                f"create it (createdb {url.database}) or fix the URL"
            )
        first = text.strip().splitlines()[0] if text.strip() else text
        short = _reason(first.rsplit("failed: ", 1)[-1])  # psycopg: "... port P failed: REASON"
        return StorageError(f"storage: cannot connect to PostgreSQL at {at}: {short}; is the server running?")
    if sqlstate is None:
        return None
    if sqlstate == "53100":
        return StorageError(
            f"storage: the PostgreSQL server at {at} is out of disk space ({reason}); the transaction was "
            "rolled back; free space on the server and retry"
        )
    if sqlstate == "25006" and not read_only:
        return StorageError(
            f"storage: the PostgreSQL server at {at} accepts only reads ({reason}); is it a standby? "
            "Point the URL at the primary"
        )
    if sqlstate == "42501":
        return StorageError(
            f"storage: user {url.username!r} may not do this on {url.database!r} at {at} ({reason}); grant the "
            "user the privileges on the database (or its schema)"
        )
    if sqlstate in ("28P01", "28000"):
        return StorageError(f"storage: PostgreSQL at {at} refused user {url.username!r}: {reason}")
    if sqlstate == "3D000":
        return StorageError(f"storage: the database {url.database!r} does not exist on the PostgreSQL server at {at}")
    return None


def translate(exc: BaseException, url: URL, read_only: bool = False) -> StorageError | None:
    """The :class:`StorageError` for a raw driver error on the store at ``url``, or None to let it pass.

    Args:
        exc: the DBAPI exception (sqlite3 or psycopg), or a SQLAlchemy ``DBAPIError`` wrapping one.
        url: the store's URL (its password is never put into a message).
        read_only: the store was opened read-only: its "read-only" errors are the expected refusal
            and pass through.
    """
    if isinstance(exc, HpoError):
        return None
    if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None:
        exc = exc.orig
    if isinstance(exc, sqlite3.Error):
        return _sqlite(exc, where(url), read_only)
    if type(exc).__module__.split(".")[0] in ("psycopg", "psycopg2") and isinstance(exc, Exception):
        return _postgres(exc, url, read_only)
    return None


def driver_missing(exc: ImportError, url: URL) -> StorageError:
    """The error for a URL whose database driver is not installed."""
    module = (exc.name or "").split(".")[0] or url.get_driver_name()
    package = _DRIVER_PACKAGES.get(module, module)
    hint = ""
    if url.get_backend_name() == "postgresql" and url.get_driver_name() != "psycopg":
        hint = " or use a 'postgresql+psycopg://USER@HOST:PORT/DB' URL (psycopg 3 comes with hpo)"
    return StorageError(
        f"storage: the database driver {module!r} for {url.drivername!r} URLs is not installed "
        f"({_reason(exc)}); install it with `pip install {package}`{hint}"
    )


def install(engine: Engine, url: URL, read_only: bool) -> None:
    """Translate the raw driver errors of ``engine`` (connects and statements) with :func:`translate`."""

    @sa.event.listens_for(engine, "handle_error")
    def _translate(context: Any) -> BaseException | None:
        return translate(context.original_exception, url, read_only)
