"""The store's schema: Alembic migrations run programmatically, and the checks before them.

Every open of a store goes through :func:`ensure_schema`: a writable store is
created or migrated to this code's revision (``SCHEMA_REVISION``), a read-only
one is only checked. ``hpo db upgrade --storage URL`` calls :func:`upgrade`,
``hpo db current`` prints :func:`current_revision`, ``hpo db stamp`` calls
:func:`stamp`.

What a database can hold, and what each entry does with it:

- this code's revision: used as is;
- an older known revision: migrated by writers; readers are told to run
  ``hpo db upgrade`` (they never migrate);
- a revision this hpo does not know: written by a newer hpo, refused
  everywhere ("upgrade hpo");
- an Optuna storage (its ``version_info`` table, or an Optuna revision such as
  ``v3.2.0.a``): refused, it is not an hpo store;
- hpo's tables but no revision (``alembic_version`` missing or empty, e.g. a
  copy of the tables or a revision row deleted by hand): refused everywhere.
  hpo does not guess the revision, since running the migrations over existing
  tables fails and stamping the wrong revision would skip a migration; after
  checking, ``hpo db stamp`` records this code's revision when the tables'
  columns are exactly this code's;
- no tables of ours and no revision: writers create the schema (as before,
  also next to other tables); readers refuse ("not an hpo store").
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from hpo.errors import SchemaVersionError, StorageError
from hpo.store.engine import enable_wal, is_read_only, write_connection
from hpo.store.schema import SCHEMA_REVISION, Base

__all__ = [
    "alembic_config",
    "upgrade",
    "stamp",
    "known_revisions",
    "head_revision",
    "current_revision",
    "check_schema",
    "ensure_schema",
    "HPO_TABLES",
]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

#: The tables of an hpo store.
HPO_TABLES = frozenset(Base.metadata.tables)
_OPTUNA_REVISION = re.compile(r"^v\d+\.\d+")


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


@lru_cache(maxsize=1)
def known_revisions() -> frozenset[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return frozenset(rev.revision for rev in script.walk_revisions())


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(conn: sa.Connection) -> str | None:
    """The revision in ``alembic_version``; None when the table is missing or empty."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def _where(engine: Engine) -> str:
    return str(engine.get_execution_options().get("hpo_where") or engine.url.render_as_string(hide_password=True))


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:12])
    return shown + (f", ... ({len(names)} in all)" if len(names) > 12 else "")


def check_schema(engine: Engine, read_only: bool | None = None) -> str:
    """What the store behind ``engine`` needs: ``"ok"``, ``"create"`` or ``"upgrade"`` (writers only).

    Args:
        engine: the store's engine.
        read_only: check as a reader (nothing may be created or migrated); default: whether the
            engine was opened read-only.

    Raises:
        SchemaVersionError: a newer hpo's store, an Optuna storage, hpo's tables without a revision,
            or (readers) an older revision.
        StorageError: (readers) no hpo store in the database.
    """
    if read_only is None:
        read_only = is_read_only(engine)
    place = _where(engine)
    with engine.connect() as conn:
        tables = sorted(sa.inspect(conn).get_table_names())
        revision = current_revision(conn) if "alembic_version" in tables else None
    if revision == SCHEMA_REVISION:
        return "ok"
    known = known_revisions()
    if revision not in known and ("version_info" in tables or (revision and _OPTUNA_REVISION.match(revision))):
        raise SchemaVersionError(
            f"storage: {place} is an Optuna storage (revision {revision!r}), not an hpo store; read it with "
            "optuna, or give hpo another database"
        )
    if revision is not None and revision not in known:
        raise SchemaVersionError(
            f"storage: {place} was written by a newer hpo (schema revision {revision!r}; this hpo knows up to "
            f"{SCHEMA_REVISION!r}); upgrade hpo to use it"
        )
    if revision is not None:
        if read_only:
            raise SchemaVersionError(
                f"storage: {place} has the older schema revision {revision!r} (this hpo reads {SCHEMA_REVISION!r}) "
                f"and reading never migrates; run `hpo db upgrade --storage URL` first"
            )
        return "upgrade"
    ours = sorted(HPO_TABLES.intersection(tables))
    if ours:
        complete = len(ours) == len(HPO_TABLES)
        raise SchemaVersionError(
            f"storage: {place} has hpo's tables ({', '.join(ours)}) but no schema revision (the alembic_version "
            "table is missing or empty), so hpo cannot tell which migrations it has; nothing was changed. "
            + (
                "If these tables were written by this version of hpo, record its revision with "
                "`hpo db stamp --storage URL` (it checks the columns first)"
                if complete
                else f"It is not a complete hpo store (missing: {', '.join(sorted(HPO_TABLES - set(ours)))}); "
                "give hpo another database"
            )
        )
    if read_only:
        found = f"tables found: {_listing(tables)}" if tables else "an empty database"
        raise StorageError(
            f"storage: {place} holds no hpo store (not an hpo store: {found}); nothing was created. Create one with "
            "`hpo run CONFIG` or hpo.create_study(...), or check the URL"
        )
    return "create"


def ensure_schema(engine: Engine) -> None:
    """Create the schema or migrate it to this code's revision (Alembic); on a read-only engine only check it.

    Concurrent callers are serialised (SQLite write lock, PostgreSQL advisory
    lock inside the migration), so many workers can open a new store at once.

    Raises:
        SchemaVersionError, StorageError: see :func:`check_schema`.
    """
    if check_schema(engine) != "ok":
        _migrate(engine, "head")
    else:
        enable_wal(engine)


def _migrate(engine: Engine, revision: str) -> None:
    enable_wal(engine)
    cfg = alembic_config()
    with write_connection(engine) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database behind ``engine`` to ``revision`` in one locked transaction.

    Raises:
        SchemaVersionError: see :func:`check_schema` (nothing is migrated then).
    """
    check_schema(engine, read_only=False)
    _migrate(engine, revision)


def stamp(engine: Engine) -> str:
    """Record this code's revision in a store that has hpo's tables but no revision; returns the revision.

    Raises:
        SchemaVersionError: the store has a revision already, lacks some of hpo's tables, or their
            columns differ from this code's (then the tables are of another revision: not stamped).
    """
    place = _where(engine)
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        tables = set(inspector.get_table_names())
        revision = current_revision(conn) if "alembic_version" in tables else None
        if revision is not None:
            raise SchemaVersionError(
                f"storage: {place} already records schema revision {revision!r}; nothing to stamp "
                "(use `hpo db upgrade` to migrate it)"
            )
        missing = sorted(HPO_TABLES - tables)
        if missing:
            raise SchemaVersionError(
                f"storage: {place} lacks hpo's tables {missing}; only a store with all of them can be stamped"
            )
        diffs = []
        for name, table in Base.metadata.tables.items():
            have = {c["name"] for c in inspector.get_columns(name)}
            want = set(table.columns.keys())
            if have != want:
                diffs.append(f"{name}: extra {sorted(have - want)}, missing {sorted(want - have)}")
    if diffs:
        raise SchemaVersionError(
            f"storage: the tables in {place} are not those of revision {SCHEMA_REVISION!r} ({'; '.join(diffs)}); "
            "not stamped: they were written by another version of hpo"
        )
    enable_wal(engine)
    cfg = alembic_config()
    with write_connection(engine) as conn:
        cfg.attributes["connection"] = conn
        command.stamp(cfg, SCHEMA_REVISION)
    return SCHEMA_REVISION
