"""Alembic environment for the state store; run programmatically by
:func:`flitstack_connectors.runs.store.upgrade` with an open connection."""
from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
