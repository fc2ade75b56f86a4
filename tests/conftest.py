"""Shared pytest fixtures.

Storage backends:
  * ``postgres_server`` (session): one throwaway PostgreSQL server per xdist worker.
  * ``postgres_url``: a fresh, empty PostgreSQL database per test.
  * ``sqlite_url``: a fresh SQLite file per test.
  * ``storage_url``: parametrised over ``sqlite`` and ``postgres``.
"""

from __future__ import annotations

import os

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpo.testing.postgres import PostgresServer, PostgresUnavailable, start_postgres

# pytest-xdist runs two workers on this 2-core machine: one BLAS/OpenMP thread each
# (before torch or scikit-learn is imported), else their threads oversubscribe the cores.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use the PostgreSQL server directly get the ``postgres`` marker."""
    for item in items:
        if "postgres_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


# --------------------------------------------------------------------------- storage


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL server, started once per pytest(-xdist) worker."""
    try:
        server = start_postgres()
    except PostgresUnavailable as exc:
        missing = str(exc)
    else:
        missing = ""
    if missing:  # outside the except block: no chained traceback noise
        if _in_ci():
            pytest.fail(f"CI must install PostgreSQL (see .ci/run): {missing}", pytrace=False)
        pytest.skip(f"!!! POSTGRESQL NOT INSTALLED - PostgreSQL tests SKIPPED !!! {missing}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """SQLAlchemy URL of a brand-new, empty PostgreSQL database."""
    return postgres_server.new_database(f"test_{uuid.uuid4().hex[:16]}")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """SQLAlchemy URL of a brand-new SQLite file."""
    return f"sqlite:///{tmp_path}/hpo.db"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage_url(request: pytest.FixtureRequest) -> str:
    """The same test against each storage backend (ids: ``sqlite``, ``postgres``)."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture(autouse=True)
def _checkpoints_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Trials' default checkpoint folders go under the test's tmp_path, never into the checkout."""
    monkeypatch.setenv("HPO_CHECKPOINT_ROOT", str(tmp_path / "hpo-checkpoints"))
