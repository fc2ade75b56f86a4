"""The study store: SQLAlchemy on SQLite (embedded default) or PostgreSQL."""

from __future__ import annotations

import os
import threading

from hpo.store.base import Evaluation, Report, StudyStore, StudySummary
from hpo.store.engine import normalize_url

__all__ = ["StudyStore", "StudySummary", "Report", "Evaluation", "open_store", "DEFAULT_STORAGE"]

#: The embedded default store: ``./hpo.db`` (override with the HPO_STORAGE environment variable).
DEFAULT_STORAGE = "sqlite:///hpo.db"

_stores: dict[tuple[str, int], StudyStore] = {}
_lock = threading.Lock()


def open_store(storage: str | StudyStore | None = None) -> StudyStore:
    """Open (and create or migrate if needed) the store at ``storage``.

    ``storage`` is a URL (``sqlite:///hpo.db``, ``postgresql+psycopg://user@host/db``),
    an existing store, or None for ``$HPO_STORAGE`` or the embedded default.
    One store object is shared per URL and process.
    """
    if isinstance(storage, StudyStore):
        return storage
    if storage is None:
        storage = os.environ.get("HPO_STORAGE") or DEFAULT_STORAGE
    url = normalize_url(storage)
    key = (url.render_as_string(hide_password=False), os.getpid())
    with _lock:
        store = _stores.get(key)
        if store is None:
            from hpo.store.sql import SQLStore

            store = SQLStore(url)
            _stores[key] = store
        return store
