"""The throwaway PostgreSQL server behind the ``postgres_*`` fixtures."""

from __future__ import annotations

import psycopg

from hpo.testing.postgres import PostgresServer


def _conninfo(url: str) -> str:
    """``postgresql+psycopg://...`` (SQLAlchemy) -> ``postgresql://...`` (libpq)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def test_server_accepts_connections(postgres_server: PostgresServer) -> None:
    assert postgres_server.url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    with psycopg.connect(_conninfo(postgres_server.url)) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
        assert conn.execute("select current_database()").fetchone() == ("hpo",)


def test_new_database_gives_distinct_working_databases(postgres_server: PostgresServer) -> None:
    first, second = postgres_server.new_database("fixture_a"), postgres_server.new_database("fixture_b")
    assert first != second
    with psycopg.connect(_conninfo(first), autocommit=True) as conn:
        conn.execute("create table t (x int)")
        conn.execute("insert into t values (42)")
        assert conn.execute("select x from t").fetchall() == [(42,)]
    with psycopg.connect(_conninfo(second)) as conn:
        assert conn.execute("select current_database()").fetchone() == ("fixture_b",)
        assert conn.execute("select to_regclass('t')").fetchone() == (None,)


def test_postgres_url_is_fresh_per_test(postgres_url: str) -> None:
    with psycopg.connect(_conninfo(postgres_url)) as conn:
        tables = conn.execute(
            "select count(*) from information_schema.tables where table_schema = 'public'"
        ).fetchone()
        assert tables == (0,)


def test_storage_url_backends(storage_url: str) -> None:
    assert storage_url.startswith(("sqlite:///", "postgresql+psycopg://"))
