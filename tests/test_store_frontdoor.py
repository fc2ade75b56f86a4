"""The store's front door: URLs, read-only opens, storage errors that say what to do, schema edge cases.

Everything runs for real: SQLite files (with SQLite's own limits standing in for a
full disk and a read-only medium), a real PostgreSQL server, a real Optuna storage.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import hpo
from hpo.cli import main
from hpo.errors import SchemaVersionError, StorageError, StorageURLError, TrialStateError
from hpo.records import TrialState
from hpo.store import open_store
from hpo.store.engine import dispose_engines, get_engine, normalize_url
from hpo.store.sql import SQLStore

SPACE = {"x": hpo.Float(0.0, 1.0)}
READ_COMMANDS = [["studies"], ["status", "s"], ["export", "s"], ["db", "current"]]


@pytest.fixture(autouse=True)
def _fresh_engines(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("HPO_STORAGE", raising=False)
    yield
    dispose_engines()  # tests below change files behind pooled connections


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with a hash of its bytes (a WAL index ``-shm`` file: only that it exists,
    since SQLite updates it on reads too)."""
    return {
        str(p.relative_to(folder)): "exists" if p.name.endswith("-shm") else hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _study(url: str, name: str = "s") -> hpo.Study:
    study = hpo.create_study(name=name, space=SPACE, storage=url, sampler="random", seed=0)
    study.optimize(lambda t: t["x"], n_trials=2, show_progress_bar=False)
    return study


def _count_studies(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM studies").fetchone()[0])


# -- 12: URLs -------------------------------------------------------------------------------------
def test_mode_ro_url_is_honoured_and_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    _study(f"sqlite:///{path}")
    ro = f"sqlite:///{path}?mode=ro"
    before = _snapshot(tmp_path)
    with pytest.raises(StorageError, match="opened read-only"):
        hpo.create_study(name="other", space=SPACE, storage=ro, sampler="random")
    with pytest.raises(StorageError, match="opened read-only"):
        hpo.delete_study("s", ro)
    assert [s.name for s in hpo.list_studies(ro)] == ["s"]
    assert len(hpo.load_study("s", ro, sampler="random").trials) == 2
    assert _snapshot(tmp_path) == before and _count_studies(path) == 1
    # a mistyped read-only URL creates nothing
    with pytest.raises(StorageError, match="no SQLite store at"):
        open_store(f"sqlite:///{tmp_path}/typo/s.db?mode=ro")
    assert not (tmp_path / "typo").exists()


def test_unsupported_sqlite_mode_is_refused_naming_the_option() -> None:
    with pytest.raises(StorageURLError, match="mode"):
        normalize_url("sqlite:///x.db?mode=rwc")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:secret@h:notaport/db",
        "postgresql+psycopg://admin:p%40secret@db.example:port/hpo",
    ],
)
def test_bad_url_messages_never_show_the_password(url: str) -> None:
    with pytest.raises(StorageURLError) as info:
        normalize_url(url)
    assert "secret" not in str(info.value)
    assert "storage" in str(info.value)


# -- 13: reads never create or write --------------------------------------------------------------
@pytest.mark.parametrize("argv", READ_COMMANDS, ids=lambda a: "-".join(a))
def test_read_commands_on_a_mistyped_path_create_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    monkey = tmp_path / "typo" / "deeper" / "hpo.db"
    code, out, err = _cli(capsys, *argv, "--storage", f"sqlite:///{monkey}")
    assert code == 2
    assert "no SQLite store at" in err and str(monkey) in err and "hpo run" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", READ_COMMANDS, ids=lambda a: "-".join(a))
def test_read_commands_leave_a_foreign_database_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    path = tmp_path / "theirs.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO people (name) VALUES ('ada')")
    before = _snapshot(tmp_path)
    code, out, err = _cli(capsys, *argv, "--storage", f"sqlite:///{path}")
    assert code == 2
    assert "not an hpo store" in err and "tables found: people" in err
    assert _snapshot(tmp_path) == before  # no tables added, not switched to WAL, no -wal/-shm files
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_read_only_store_reads_and_refuses_every_write(storage_url: str) -> None:
    _study(storage_url)
    store = open_store(storage_url, read_only=True)
    assert store is not open_store(storage_url)  # one object per URL and mode
    assert [s.name for s in store.list_studies()] == ["s"]
    record = store.get_study("s")
    assert len(store.get_trials(record.study_id)) == 2
    writes = [
        lambda: store.create_study("t", {"x": {"type": "float", "low": 0, "high": 1}}, [], [], None, {}),
        lambda: store.delete_study("s"),
        lambda: store.create_trial(record.study_id, {"x": 0.5}, TrialState.WAITING),
        lambda: store.heartbeat(record.study_id, [0], lease=60.0),
    ]
    for write in writes:
        with pytest.raises(StorageError, match="opened read-only"):
            write()
    writable = open_store(storage_url)
    assert [s.name for s in writable.list_studies()] == ["s"]
    assert len(writable.get_trials(record.study_id)) == 2


@pytest.mark.postgres
def test_read_only_open_of_an_empty_postgres_database_creates_no_schema(postgres_url: str) -> None:
    with pytest.raises(StorageError, match="not an hpo store"):
        open_store(postgres_url, read_only=True)
    with get_engine(postgres_url).connect() as conn:
        assert sa.inspect(conn).get_table_names() == []


def test_write_paths_still_create_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/new/folder/hpo.db"
    code, out, err = _cli(capsys, "db", "upgrade", "--storage", url)
    assert code == 0, err
    code, out, err = _cli(capsys, "studies", "--storage", url)
    assert code == 0 and "no studies" in out
    with pytest.raises(StorageError, match="no SQLite store at"):
        open_store(f"sqlite:///{tmp_path}/other.db", read_only=True)
    open_store(f"sqlite:///{tmp_path}/other.db")
    assert (tmp_path / "other.db").is_file()


# -- 14: raw driver errors become StorageErrors that say what to do -------------------------------
def test_sqlite_path_whose_parent_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    for url in (f"sqlite:///{tmp_path}/afile/hpo.db", f"sqlite:///{tmp_path}/afile/sub/hpo.db"):
        with pytest.raises(StorageError, match="is a file, not a folder"):
            open_store(url)
    assert (tmp_path / "afile").read_text(encoding="utf-8") == "x"


def test_sqlite_path_that_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    for read_only in (False, True):
        with pytest.raises(StorageError, match="is a folder, not a SQLite database file"):
            open_store(f"sqlite:///{tmp_path}/adir", read_only=read_only)
    assert list((tmp_path / "adir").iterdir()) == []


def test_a_text_file_is_not_a_sqlite_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database\n" * 20, encoding="utf-8")
    before = _snapshot(tmp_path)
    for read_only in (False, True):
        with pytest.raises(StorageError, match="is not a SQLite database"):
            open_store(f"sqlite:///{path}", read_only=read_only)
    code, out, err = _cli(capsys, "studies", "--storage", f"sqlite:///{path}")
    assert code == 2 and "is not a SQLite database" in err
    assert _snapshot(tmp_path) == before


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_postgres_says_where_and_hides_the_password(capsys: pytest.CaptureFixture[str]) -> None:
    port = _free_port()
    url = f"postgresql+psycopg://hpo:secret@127.0.0.1:{port}/db"
    for read_only in (False, True):
        with pytest.raises(StorageError, match=rf"cannot connect to PostgreSQL at 127\.0\.0\.1:{port}: .*"
                           r"is the server running\?") as info:
            open_store(url, read_only=read_only)
        assert "secret" not in str(info.value)
    code, out, err = _cli(capsys, "studies", "--storage", url)
    assert code == 2 and "cannot connect to PostgreSQL" in err and "secret" not in err


def test_missing_driver_names_the_package() -> None:
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        pass
    else:  # pragma: no cover - depends on the environment
        pytest.skip("psycopg2 is installed here: the missing-driver error cannot be produced")
    with pytest.raises(StorageError, match=r"pip install psycopg2-binary.*postgresql\+psycopg://") as info:
        open_store("postgresql+psycopg2://hpo:secret@127.0.0.1/db")
    assert "secret" not in str(info.value)


def _limit_on_connect(store: SQLStore, pragma: str) -> None:
    """Run ``pragma`` on every new connection of the store's engine (after closing the pooled ones)."""

    @sa.event.listens_for(store.engine, "connect")
    def _limit(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute(pragma)

    store.engine.dispose()


def test_full_disk_is_reported_and_nothing_is_written(tmp_path: Path) -> None:
    path = tmp_path / "full.db"
    url = f"sqlite:///{path}"
    study = _study(url)
    store = study.store
    assert isinstance(store, SQLStore)
    with sqlite3.connect(path) as conn:
        pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    _limit_on_connect(store, f"PRAGMA max_page_count = {pages}")  # SQLite's own SQLITE_FULL: no page to grow into
    big = {f"p{i}": {"type": "float", "low": 0.0, "high": 1.0} for i in range(4000)}
    with pytest.raises(StorageError, match="database or disk is full") as info:
        store.create_study("big", big, [{"name": "value", "direction": "minimize"}], [], None, {})
    assert str(path) in str(info.value) and "free disk space" in str(info.value)
    assert isinstance(info.value.__cause__, (sqlite3.Error, sa.exc.DBAPIError))
    dispose_engines()
    assert _count_studies(path) == 1


def test_read_only_medium_is_reported_and_hpo_errors_pass_through(tmp_path: Path) -> None:
    """``PRAGMA query_only`` gives SQLite's real SQLITE_READONLY (as root, chmod would not stop writes)."""
    path = tmp_path / "ro.db"
    study = _study(f"sqlite:///{path}")
    trial = study.get_trials([TrialState.COMPLETE])[0]
    with pytest.raises(TrialStateError):  # our own errors are never rewritten
        study.store.finish_trial(study.study_id, trial.number, TrialState.COMPLETE, {"value": 1.0})
    store = study.store
    assert isinstance(store, SQLStore)
    _limit_on_connect(store, "PRAGMA query_only = ON")
    with pytest.raises(StorageError, match="read-only") as info:
        store.create_study("t", {"x": {"type": "float", "low": 0, "high": 1}}, [], [], None, {})
    assert "permissions" in str(info.value)
    dispose_engines()
    assert _count_studies(path) == 1


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="as root, chmod does not stop writes")
def test_read_only_file_and_folder(tmp_path: Path) -> None:  # pragma: no cover - skipped when run as root
    folder = tmp_path / "locked"
    folder.mkdir()
    path = folder / "s.db"
    _study(f"sqlite:///{path}")
    dispose_engines()
    path.chmod(0o444)
    folder.chmod(0o555)
    try:
        with pytest.raises(StorageError, match="read-only"):
            _study(f"sqlite:///{path}", name="t")
    finally:
        folder.chmod(0o755)
        path.chmod(0o644)


# -- 15: schema edge cases ------------------------------------------------------------------------
def test_store_of_a_newer_hpo_says_upgrade_hpo_everywhere(
    storage_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from dashboard.reader import DashboardReader

    _study(storage_url)
    with get_engine(storage_url).begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    dispose_engines()
    entries = [
        lambda: SQLStore(storage_url),
        lambda: open_store(storage_url, read_only=True),
        lambda: DashboardReader(storage_url),
    ]
    for entry in entries:
        with pytest.raises(SchemaVersionError, match="written by a newer hpo") as info:
            entry()
        assert "9999_from_the_future" in str(info.value) and "upgrade hpo" in str(info.value)
        assert "db upgrade" not in str(info.value)
    for argv in (["db", "upgrade"], ["db", "current"], ["studies"], ["status", "s"]):
        code, out, err = _cli(capsys, *argv, "--storage", storage_url)
        assert code == 2, argv
        assert "written by a newer hpo" in err and "upgrade hpo" in err and "Traceback" not in err
    with get_engine(storage_url).connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "9999_from_the_future"


@pytest.mark.parametrize("damage", ["DELETE FROM alembic_version", "DROP TABLE alembic_version"])
def test_hpo_tables_without_a_revision_are_refused_then_stamped(
    storage_url: str, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    _study(storage_url)
    with get_engine(storage_url).begin() as conn:
        conn.exec_driver_sql(damage)
    dispose_engines()
    for read_only in (False, True):
        with pytest.raises(SchemaVersionError, match="no schema revision") as info:
            SQLStore(storage_url, read_only=read_only)
        assert "hpo db stamp" in str(info.value) and "already exists" not in str(info.value)
    code, out, err = _cli(capsys, "db", "upgrade", "--storage", storage_url)
    assert code == 2 and "no schema revision" in err
    code, out, err = _cli(capsys, "db", "stamp", "--storage", storage_url)
    assert code == 0, err
    from hpo.store.schema import SCHEMA_REVISION

    assert SCHEMA_REVISION in out
    dispose_engines()
    assert len(hpo.load_study("s", storage_url, sampler="random").trials) == 2


def test_stamp_refuses_tables_of_another_revision(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    _study(sqlite_url)
    with get_engine(sqlite_url).begin() as conn:
        conn.exec_driver_sql("DELETE FROM alembic_version")
        conn.exec_driver_sql("ALTER TABLE trials ADD COLUMN lease_expires_at TIMESTAMP")
    code, out, err = _cli(capsys, "db", "stamp", "--storage", sqlite_url)
    assert code == 2 and "not stamped" in err and "lease_expires_at" in err
    with get_engine(sqlite_url).connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 0


def test_an_optuna_storage_is_named_as_such(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    optuna = pytest.importorskip("optuna")
    path = tmp_path / "optuna.db"
    study = optuna.create_study(study_name="theirs", storage=f"sqlite:///{path}")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    del study
    url = f"sqlite:///{path}"
    before = _snapshot(tmp_path)
    for read_only in (False, True):
        with pytest.raises(SchemaVersionError, match="is an Optuna storage .*not an hpo store") as info:
            open_store(url, read_only=read_only)
        assert "upgrade hpo" not in str(info.value)
    for argv in (["studies"], ["db", "upgrade"], ["db", "current"]):
        code, out, err = _cli(capsys, *argv, "--storage", url)
        assert code == 2 and "Optuna storage" in err, argv
    assert _snapshot(tmp_path) == before


def test_current_revision_lives_in_migrate_and_engine_never_imports_migrate(sqlite_url: str) -> None:
    """The dependency is one way: migrate imports engine, engine never imports migrate (no re-export)."""
    import ast
    import inspect

    import hpo.store.engine as engine_module
    from hpo.store.migrate import current_revision
    from hpo.store.schema import SCHEMA_REVISION

    tree = ast.parse(inspect.getsource(engine_module))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert "hpo.store.migrate" not in imported and "hpo.registry" not in imported  # no lazy re-export either
    assert not hasattr(engine_module, "ensure_schema") and not hasattr(engine_module, "current_revision")
    open_store(sqlite_url)
    with get_engine(sqlite_url).connect() as conn:
        assert current_revision(conn) == SCHEMA_REVISION
