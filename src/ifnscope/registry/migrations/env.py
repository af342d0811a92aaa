"""Alembic environment: migrations run on a connection the registry hands over, in one
transaction (``registry.migrate``), so a failed upgrade leaves the database as it was."""

from __future__ import annotations

from alembic import context

from ifnscope.registry.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - always run through ifnscope.registry.migrate
    raise RuntimeError("run migrations with `ifnscope admin migrate`, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # ALTER TABLE on SQLite
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
