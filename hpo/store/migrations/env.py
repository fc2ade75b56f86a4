"""Alembic environment: always run online with the connection hpo passes in."""

from __future__ import annotations

from alembic import context

from hpo.store.schema import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable by calling the alembic CLI directly
    raise RuntimeError("run migrations through `hpo db upgrade --storage URL`, not the alembic CLI")

sqlite = connection.dialect.name == "sqlite"
if sqlite and not connection.in_transaction():
    # Table rebuilds (copy, drop, rename) must not cascade the drop into the child
    # tables; SQLite ignores this pragma inside a transaction, so it is set on the raw
    # connection before ours begins, and restored after it ends.
    connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
try:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Serialise concurrent first opens of the same database.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7312020)")
        context.run_migrations()
finally:
    if sqlite and not connection.in_transaction():
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")
