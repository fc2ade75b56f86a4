"""Alembic environment: always run online with the connection hpo passes in."""

from __future__ import annotations

from alembic import context

from hpo.store.schema import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable by calling the alembic CLI directly
    raise RuntimeError("run migrations through `hpo db upgrade --storage URL`, not the alembic CLI")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        # Serialise concurrent first opens of the same database.
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7312020)")
    context.run_migrations()
