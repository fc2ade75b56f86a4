"""Never reuse ids (SQLite AUTOINCREMENT) and give every RUNNING trial a lease (``trials.expires_at``).

Revision ID: 0002_ids_leases
Revises: 0001_initial

Why: SQLite hands out ``max(id) + 1`` for an ``INTEGER PRIMARY KEY``, so after the
newest study was deleted the next study created got its id, and a worker still
running the deleted study wrote its trials into the new one. With AUTOINCREMENT an
id is never handed out twice. PostgreSQL sequences never reuse ids already.

``expires_at`` is when a RUNNING trial becomes reclaimable: a heart-beating trial
extends it by ``stale_after`` at each heartbeat; an ask()/tell() trial has
``ask_lease`` seconds. Existing RUNNING trials get the lease they would have had.

SQLite cannot add AUTOINCREMENT to a table, so the four tables are rebuilt (Alembic
batch mode: copy, drop, rename) with foreign keys switched off by ``env.py`` for the
duration, so that dropping a parent cascades nothing; ``PRAGMA foreign_key_check``
must be clean before the transaction commits.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0002_ids_leases"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
_TABLES = ("studies", "trials", "reports", "evaluations")
#: Defaults of hpo.study (repeated here: a migration must not change when the code's defaults do).
_DEFAULT_STALE_AFTER = 120.0
_DEFAULT_ASK_LEASE = 86400.0


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


def _fill_leases(conn: sa.Connection) -> None:
    studies = sa.table("studies", sa.column("id"), sa.column("settings", sa.JSON))
    trials = sa.table(
        "trials", sa.column("id"), sa.column("study_id"), sa.column("state"), sa.column("started_at", TS),
        sa.column("heartbeat_at", TS), sa.column("expires_at", TS),
    )
    settings = {row.id: row.settings or {} for row in conn.execute(sa.select(studies.c.id, studies.c.settings))}
    running = conn.execute(
        sa.select(trials.c.id, trials.c.study_id, trials.c.started_at, trials.c.heartbeat_at)
        .where(trials.c.state == "RUNNING")
    ).all()
    for row in running:
        study = settings.get(row.study_id, {})
        if row.heartbeat_at is not None:
            start, lease = row.heartbeat_at, float(study.get("stale_after") or _DEFAULT_STALE_AFTER)
        else:
            start, lease = row.started_at, float(study.get("ask_lease") or _DEFAULT_ASK_LEASE)
        if start is None:
            continue
        conn.execute(
            sa.update(trials).where(trials.c.id == row.id)
            .values(expires_at=_aware(start) + dt.timedelta(seconds=lease))
        )


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        if conn.exec_driver_sql("PRAGMA foreign_keys").scalar():
            raise RuntimeError("migration 0002 must run with foreign keys off (see hpo/store/migrations/env.py)")
        for name in _TABLES:
            with op.batch_alter_table(name, recreate="always", table_kwargs={"sqlite_autoincrement": True}) as batch:
                if name == "trials":
                    batch.add_column(sa.Column("expires_at", TS, nullable=True))
        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise RuntimeError(f"migration 0002: foreign keys broken after the rebuild: {broken[:5]}")
    else:
        op.add_column("trials", sa.Column("expires_at", TS, nullable=True))
    _fill_leases(conn)


def downgrade() -> None:
    with op.batch_alter_table("trials") as batch:
        batch.drop_column("expires_at")
