"""The study store: SQLAlchemy on SQLite (embedded default) or PostgreSQL."""

from __future__ import annotations

import os
import threading

from hpo.store.base import Evaluation, Report, StudyStore, StudySummary, TrialColumns, TrialFields
from hpo.store.engine import normalize_url

__all__ = [
    "StudyStore", "StudySummary", "Report", "Evaluation", "TrialFields", "TrialColumns", "open_store", "DEFAULT_STORAGE",
]

#: The embedded default store: ``./hpo.db`` (override with the HPO_STORAGE environment variable).
DEFAULT_STORAGE = "sqlite:///hpo.db"

_stores: dict[tuple[str, bool, int], StudyStore] = {}
_lock = threading.Lock()


def open_store(storage: str | StudyStore | None = None, read_only: bool = False) -> StudyStore:
    """Open (and create or migrate if needed) the store at ``storage``.

    ``storage`` is a URL (``sqlite:///hpo.db``, ``postgresql+psycopg://user@host/db``),
    an existing store, or None for ``$HPO_STORAGE`` or the embedded default.
    One store object is shared per URL, mode and process.

    With ``read_only=True`` (or a SQLite URL with ``?mode=ro``) nothing is ever created or
    written: the store must exist at this code's schema revision, and its writing methods
    raise ``StorageError("... opened read-only ...")``.

    Raises:
        StorageURLError: a malformed URL.
        StorageError: (read-only) no store at the URL, or a database that is not an hpo store;
            a path or server that cannot be used (the message says why and what to do).
        SchemaVersionError: a store of a newer hpo, an Optuna storage, hpo's tables without a
            revision, or (read-only) an older revision (run ``hpo db upgrade``).
    """
    if isinstance(storage, StudyStore):
        return storage
    if storage is None:
        storage = os.environ.get("HPO_STORAGE") or DEFAULT_STORAGE
    url = normalize_url(storage)
    key = (url.render_as_string(hide_password=False), read_only, os.getpid())
    with _lock:
        store = _stores.get(key)
        if store is None:
            from hpo.store.sql import SQLStore

            store = SQLStore(url, read_only=read_only)
            _stores[key] = store
        return store
