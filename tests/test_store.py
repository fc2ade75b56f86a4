"""The store conformance suite on a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hpo.errors import SchemaVersionError, StorageURLError
from hpo.store import open_store
from hpo.store.engine import get_engine, normalize_url
from hpo.store.migrate import head_revision
from hpo.store.schema import SCHEMA_REVISION
from hpo.store.sql import SQLStore
from hpo.testing.store_suite import StoreConformance


class TestStoreConformance(StoreConformance):
    @pytest.fixture
    def store(self, storage_url: str) -> SQLStore:
        return SQLStore(storage_url)


def test_schema_revision_is_alembic_head() -> None:
    assert SCHEMA_REVISION == head_revision()


def test_new_store_is_stamped_and_reopens(storage_url: str) -> None:
    SQLStore(storage_url)
    with get_engine(storage_url).connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == SCHEMA_REVISION
    SQLStore(storage_url)  # already at head: no migration


def test_newer_schema_is_refused(storage_url: str) -> None:
    SQLStore(storage_url)
    with get_engine(storage_url).begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999_future'")
    with pytest.raises(SchemaVersionError, match="9999_future"):
        SQLStore(storage_url)


def test_sqlite_runs_in_wal_mode(sqlite_url: str) -> None:
    SQLStore(sqlite_url)
    with get_engine(sqlite_url).connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_no_pickle_columns(sqlite_url: str) -> None:
    store = SQLStore(sqlite_url)
    for table in sa.inspect(store.engine).get_table_names():
        for column in sa.inspect(store.engine).get_columns(table):
            assert "BLOB" not in str(column["type"]).upper() and "PICKLE" not in str(column["type"]).upper()


@pytest.mark.parametrize(
    "url, match",
    [
        ("", "empty"),
        ("not a url", "not a database URL"),
        ("mysql://u@h/db", "not supported"),
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
        ("sqlite:///x.db?synchronous=sometimes", "synchronous"),
        ("sqlite:///x.db?foo=1", "foo"),
        ("postgresql+psycopg:///db", "host"),
        ("postgresql+psycopg://u@localhost/", "database"),
    ],
)
def test_bad_storage_urls(url: str, match: str) -> None:
    with pytest.raises(StorageURLError, match=match):
        normalize_url(url)


def test_postgres_url_gets_psycopg_driver() -> None:
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"


def test_open_store_shares_one_object_per_url(sqlite_url: str) -> None:
    assert open_store(sqlite_url) is open_store(sqlite_url)
